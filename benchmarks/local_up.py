"""How long `maas local up --detach` takes to be ready, against starting a bare moto server in the same run.

Usage: .venv/bin/python benchmarks/local_up.py [--runs 3]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bare_moto_seconds() -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait()


def local_up_seconds() -> tuple[float, float]:
    """(wall seconds of `maas local up --detach` until it returns ready, the runtime's own ready figure)."""
    with tempfile.TemporaryDirectory() as state_dir:
        cli = [sys.executable, "-m", "maas.cli.main", "local"]
        started = time.perf_counter()
        up = subprocess.run(
            [
                *cli,
                "up",
                "--detach",
                "--state-dir",
                state_dir,
                "--port",
                str(free_port()),
                "--aws-port",
                str(free_port()),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if up.returncode != 0:
            raise SystemExit(f"maas local up failed:\n{up.stderr}")
        reported = json.loads((Path(state_dir) / "local.json").read_text())["ready_seconds"]
        subprocess.run([*cli, "down", "--state-dir", state_dir], cwd=ROOT, capture_output=True, check=True)
        return wall, float(reported)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bare, wall, reported = [], [], []
    for _ in range(args.runs):
        bare.append(bare_moto_seconds())
        w, r = local_up_seconds()
        wall.append(w)
        reported.append(r)
    figures = {
        "runs": args.runs,
        "bare_moto_start_s": round(statistics.median(bare), 2),
        "local_up_wall_s": round(statistics.median(wall), 2),
        "local_up_ready_s": round(statistics.median(reported), 2),
        "local_up_vs_bare_moto_ratio": round(statistics.median(wall) / statistics.median(bare), 2),
        "goal_local_up_s": 15,
    }
    print(f"{'figure':32} {'median':>8}")
    for key in ("bare_moto_start_s", "local_up_wall_s", "local_up_ready_s", "local_up_vs_bare_moto_ratio"):
        print(f"{key:32} {figures[key]:>8}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
