"""Finding the Lambda runtime's Python (python3.12) on a workstation, wherever it was installed.

The layers hold CPython 3.12 extension modules, so only that Python can run the built functions (and compile
their .pyc). A ``python3.12`` on PATH may be a pyenv shim that refuses to run, so each candidate is asked its
version. ``python -m maas.deployment.interpreter 3.12`` prints the path (the Makefile uses it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


class InterpreterNotFoundError(LookupError):
    """No Python of the wanted version could be found."""


def version_of(python: str) -> str | None:
    """``"3.12"`` for a Python 3.12 interpreter; None when it does not run."""
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _candidates(version: str) -> Iterator[str]:
    name = f"python{version}"
    on_path = shutil.which(name)
    if on_path:
        yield on_path
    # Version managers keep their interpreters outside PATH (pyenv puts shims there that only run the versions
    # a user selected); the newest patch release first.
    roots = [
        Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions",
        Path.home() / ".local" / "share" / "uv" / "python",
    ]
    for root in roots:
        found = [p for p in root.glob(f"*{version}.*/bin/{name}") if p.is_file()]
        yield from (str(p) for p in sorted(found, key=_patch_release, reverse=True))
    for folder in ("/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"):
        yield f"{folder}/{name}"


def _patch_release(path: Path) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", path.parts[-3])
    return tuple(map(int, match.groups())) if match else (0,)


def find_python(version: str) -> str:
    """The path of a working Python ``version`` (e.g. ``"3.12"``)."""
    for candidate in _candidates(version):
        if version_of(candidate) == version:
            return candidate
    raise InterpreterNotFoundError(
        f"no Python {version} found (on PATH, under pyenv or uv): install one, or name it with --python"
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m maas.deployment.interpreter 3.12", file=sys.stderr)
        return 2
    try:
        print(find_python(args[0]))
    except InterpreterNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
