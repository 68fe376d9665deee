"""The Lambda layers' requirement files, written from pyproject.toml: one source of truth for the pins.

``[tool.maas.layers]`` names the distributions each layer holds; their versions are the ``==`` pins of the
project's dependencies and extras. ``python -m maas.deployment.requirements`` writes each
``layers/<layer>/requirements.txt``; ``--check`` fails when a file differs from what it would write (a test runs
that). ``layers/lambda-runtime.txt`` is no layer: it pins what the Lambda runtime provides (boto3), for
``maas local up --from-build``.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
HEADER = "# Written by `python -m maas.deployment.requirements` from pyproject.toml: change the pins there.\n"
RUNTIME_PROVIDED = "lambda-runtime"


class PinError(ValueError):
    """pyproject.toml does not pin a layer's package exactly once."""


def _project(root: Path) -> dict[str, Any]:
    with (root / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def pins(project: dict[str, Any]) -> dict[str, str]:
    """Every ``name==version`` pin of the project's dependencies and extras, by canonical name."""
    groups = [project["project"].get("dependencies", [])]
    groups += project["project"].get("optional-dependencies", {}).values()
    found: dict[str, str] = {}
    for text in (t for group in groups for t in group):
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(project["project"]["name"]):
            continue  # an extra that includes another extra
        exact = [s.version for s in requirement.specifier if s.operator == "=="]
        if not exact:
            continue
        if found.setdefault(name, exact[0]) != exact[0]:
            raise PinError(f"{name} is pinned to both {found[name]} and {exact[0]} in pyproject.toml")
    return found


def layer_requirements(project: dict[str, Any]) -> dict[str, list[str]]:
    """Layer (or ``lambda-runtime``) -> its ``name==version`` lines."""
    pinned = pins(project)
    layers: dict[str, list[str]] = project["tool"]["maas"]["layers"]
    owner: dict[str, str] = {}
    result = {}
    for layer, names in layers.items():
        lines = []
        for raw in names:
            name = canonicalize_name(raw)
            if name in owner:
                raise PinError(f"{name} is in both the {owner[name]} and the {layer} layer")
            if name not in pinned:
                raise PinError(f"the {layer} layer holds {name}, which pyproject.toml does not pin with ==")
            owner[name] = layer
            lines.append(f"{name}=={pinned[name]}")
        result[layer] = lines
    return result


def render(lines: list[str]) -> str:
    return HEADER + "".join(f"{line}\n" for line in lines)


def requirement_files(root: Path = ROOT) -> dict[Path, str]:
    """Each file's path and the text it should have."""
    files = {}
    for layer, lines in layer_requirements(_project(root)).items():
        path = root / "layers" / (f"{layer}.txt" if layer == RUNTIME_PROVIDED else f"{layer}/requirements.txt")
        files[path] = render(lines)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the Lambda layers' requirements.txt from pyproject.toml")
    parser.add_argument("--check", action="store_true", help="fail if a file differs; write nothing")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    stale = []
    for path, text in requirement_files(args.root).items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(args.root)}")
    if stale:
        names = ", ".join(str(p.relative_to(args.root)) for p in stale)
        print(f"out of date with pyproject.toml: {names}; run python -m maas.deployment.requirements", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
