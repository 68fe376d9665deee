"""Where the CLI finds the API: ``--url`` / ``--api-key``, then ``MAAS_URL`` / ``MAAS_API_KEY``, then the local
runtime's ``local.env`` (in ``--state-dir`` / ``MAAS_STATE_DIR``, else ``.maas`` here or in a folder above).
And the upload progress bar the CLI draws."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from maas.cli.errors import ApiError
from maas.local.state import ENV_FILE, read_env


def find_local_env(start: Path | None = None) -> Path | None:
    """``.maas/local.env`` in the current folder or one above it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".maas" / ENV_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve_credentials(
    url: str | None = None, api_key: str | None = None, state_dir: str | Path | None = None
) -> tuple[str, str | None]:
    """Explicit values, then MAAS_URL / MAAS_API_KEY, then ``local.env`` in ``state_dir`` (or ``MAAS_STATE_DIR``),
    else in ``.maas`` here or in a folder above."""
    url = url or os.environ.get("MAAS_URL")
    api_key = api_key or os.environ.get("MAAS_API_KEY")
    state_dir = state_dir or os.environ.get("MAAS_STATE_DIR")
    if not (url and api_key):
        env_file = Path(state_dir) / ENV_FILE if state_dir else find_local_env()
        if env_file is not None and not env_file.is_file():
            env_file = None
        if env_file:
            values = read_env(env_file)
            url = url or values.get("MAAS_URL")
            api_key = api_key or values.get("MAAS_API_KEY")
    if not url:
        raise ApiError(0, "NO_ENDPOINT", "no MAAS_URL: start the local runtime (maas local up) or set MAAS_URL")
    return url.rstrip("/"), api_key


def progress_bar(label: str, total: int, stream: Any = sys.stderr) -> Callable[[int], None]:
    """A one-line bar redrawn in place on a terminal; elsewhere (logs, CI) a single line when done."""
    interactive = stream.isatty()

    def report(done: int) -> None:
        if not interactive:
            if done >= total:
                stream.write(f"{label}: {total} bytes uploaded\n")
            return
        width = 30
        filled = int(width * done / total) if total else width
        stream.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} bytes")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return report
