"""The runtime's files under the state folder (``.maas`` by default).

- ``local.json``: what runs: the supervisor's PID, the URLs, each function's instance PIDs, and whether it is ready.
- ``local.env``: ``MAAS_URL``, ``MAAS_API_KEY``, ``AWS_ENDPOINT_URL`` and the resource names, for the CLI and tests.
- ``logs/``: the runtime's own log and one log per function.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "local.json"
ENV_FILE = "local.env"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child has not exited for kill(0), but it serves nothing
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data


def running_state(state_dir: Path) -> dict[str, Any] | None:
    """The state of a runtime whose supervisor is alive, else None."""
    state = read_state(state_dir)
    if state and pid_alive(int(state.get("pid", 0))):
        return state
    return None


def write_env(state_dir: Path, values: dict[str, str]) -> Path:
    path = state_dir / ENV_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    os.chmod(tmp, 0o600)  # it holds the admin key
    os.replace(tmp, path)
    return path


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def recorded_children(state: dict[str, Any]) -> list[int]:
    """The PIDs a runtime recorded for what it started: function instances, GPU workers and the emulator."""
    pids = [p for pids in state.get("functions", {}).values() for p in pids]
    pids += [w["pid"] for w in state.get("workers", []) if w.get("pid")]
    emulator = state.get("emulator", {}).get("pid")
    return [*pids, *([emulator] if emulator else [])]


def clean_up_after_dead_runtime(state_dir: Path) -> int:
    """A runtime killed without stopping leaves its state file and children: stop them; returns how many."""
    import signal

    leftover = read_state(state_dir)
    if leftover is None or pid_alive(int(leftover.get("pid", 0))):
        return 0
    orphans = [p for p in recorded_children(leftover) if pid_alive(p)]
    for pid in orphans:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return len(orphans)
