"""Batch predictions end to end through the local runtime, against one process doing the same work.

- end to end: N rows of JSONL uploaded through `POST /v1/batch-jobs`, split, run in shards by the batch worker
  function, assembled; rows per second from the upload to SUCCEEDED;
- baseline, same run: one process reading the same file, parsing its lines, running onnxruntime on shards of
  the same size and writing JSONL predictions (and, for reference, `session.run` alone on the same shards);
- the split function's peak memory (VmHWM of its process) after N rows, and after 10x N rows (goal: flat).

Usage: .venv/bin/python benchmarks/batch_throughput.py [--rows 100000] [--memory-factor 10] [--shard-rows 1000]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, print_json, print_table

GOAL_RATIO = 0.5


def maas(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "maas.cli.main", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr + done.stdout)


def write_rows(path: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with path.open("wb") as out:
        for start in range(0, rows, 10_000):
            block = rng.standard_normal((min(10_000, rows - start), 16)).astype(np.float32).round(4)
            out.write(b"".join(b'{"inputs":{"input":' + json.dumps(r.tolist()).encode() + b"}}\n" for r in block))


def baseline(path: Path, model: Path, out: Path, shard_rows: int) -> tuple[float, float]:
    """(rows/s of read + parse + run + write in one process, rows/s of session.run alone on the same shards)."""
    import onnxruntime
    import orjson

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    started = time.perf_counter()
    run_seconds = 0.0
    rows = 0
    with path.open("rb") as source, out.open("wb") as sink:
        shard: list[list[float]] = []

        def flush() -> None:
            nonlocal run_seconds, rows
            x = np.asarray(shard, dtype=np.float32)
            t0 = time.perf_counter()
            y = session.run(None, {"input": x})[0]
            run_seconds += time.perf_counter() - t0
            sink.write(
                b"".join(
                    orjson.dumps({"id": str(rows + i), "outputs": {"logits": v.tolist()}}) + b"\n"
                    for i, v in enumerate(y)
                )
            )
            rows += len(shard)
            shard.clear()

        for line in source:
            shard.append(orjson.loads(line)["inputs"]["input"])
            if len(shard) >= shard_rows:
                flush()
        if shard:
            flush()
    return rows / (time.perf_counter() - started), rows / run_seconds


def stage_seconds(job: dict[str, object]) -> dict[str, float]:
    """Where the end-to-end time went, from the job's own timestamps (upload -> split -> shards -> assembly)."""
    from datetime import datetime

    manifest = job.get("manifest") or {}
    created = datetime.fromisoformat(str(job["created_at"]))
    finished = datetime.fromisoformat(str(job["finished_at"]))
    return {
        "job_seconds": round((finished - created).total_seconds(), 2),
        "manifest_seconds": float(manifest.get("seconds", 0)) if isinstance(manifest, dict) else 0.0,
    }


def split_peak_kib(state: Path) -> int:
    """The largest VmHWM among the split function's processes."""
    current = json.loads((state / "local.json").read_text())
    peaks = []
    for pid in current["functions"].get("BatchSplitFunction", []):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
    return max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-factor", type=int, default=10)
    parser.add_argument("--shard-rows", type=int, default=1000)
    args = parser.parse_args()

    from maas.local.state import read_env
    from maas.modelkit import export_mlp

    work = Path(tempfile.mkdtemp(prefix="maas-batch-bench-"))
    model = export_mlp(work / "mlp.onnx", [16, 32, 4])
    small, large = work / "small.jsonl", work / "large.jsonl"
    write_rows(small, args.rows, 0)
    base_rps, run_rps = baseline(small, model, work / "baseline.jsonl", args.shard_rows)

    state = work / "state"
    maas(
        "local",
        "up",
        "--detach",
        "--state-dir",
        str(state),
        "--port",
        str(free_port()),
        "--aws-port",
        str(free_port()),
        "--template",
        str(ROOT / "template.yaml"),
        "--gpu-workers",
        "0",
        "--parameter-overrides",
        f"BatchShardRows={args.shard_rows}",
    )
    try:
        env = read_env(state / "local.env")
        url, admin = env["MAAS_URL"], env["MAAS_API_KEY"]

        def call(method: str, path: str, key: str, **kwargs: object) -> requests.Response:
            return requests.request(
                method, url + path, headers={"Authorization": f"Bearer {key}"}, timeout=120, **kwargs
            )  # type: ignore[arg-type]

        call("POST", "/v1/tenants", admin, json={"tenant_id": "bench", "name": "bench"})
        key = call("POST", "/v1/tenants/bench/keys", admin, json={"scopes": ["publish", "invoke", "read"]}).json()[
            "api_key"
        ]
        call("POST", "/v1/models", key, json={"name": "mlp", "framework": "onnx"})
        upload = call("POST", "/v1/models/mlp/versions", key, json={}).json()["upload"]
        requests.put(upload["url"], data=model.read_bytes(), headers=upload["headers"], timeout=60)
        while call("GET", "/v1/models/mlp/versions/1", key).json()["status"] == "PENDING_UPLOAD":
            time.sleep(0.1)

        def run(path: Path, wait_for: str) -> tuple[float, dict[str, object]]:
            started = time.perf_counter()
            job = call("POST", "/v1/batch-jobs", key, json={"model": "mlp", "format": "jsonl"}).json()
            with path.open("rb") as body:
                requests.put(job["upload"]["url"], data=body, headers=job["upload"]["headers"], timeout=600)
            while True:
                current = call("GET", f"/v1/batch-jobs/{job['job_id']}", key).json()
                if current["status"] in (wait_for, "SUCCEEDED", "PARTIAL", "FAILED"):
                    return time.perf_counter() - started, current
                time.sleep(0.1)

        seconds, job = run(small, "SUCCEEDED")
        assert job["status"] == "SUCCEEDED", job
        stages = stage_seconds(job)
        e2e_rps = args.rows / seconds
        peak_small = split_peak_kib(state)
        write_rows(large, args.rows * args.memory_factor, 1)
        run(large, "RUNNING")  # the split is what is measured: it is done once the job RUNS
        peak_large = split_peak_kib(state)
    finally:
        maas("local", "down", "--state-dir", str(state))

    figures = {
        "rows": args.rows,
        "shard_rows": args.shard_rows,
        "e2e_rows_per_s": round(e2e_rps, 1),
        "baseline_pipeline_rows_per_s": round(base_rps, 1),
        "baseline_session_run_rows_per_s": round(run_rps, 1),
        "ratio_vs_pipeline": round(e2e_rps / base_rps, 3),
        "ratio_vs_session_run": round(e2e_rps / run_rps, 4),
        "split_peak_rss_mib": round(peak_small / 1024, 1),
        "split_peak_rss_mib_at_10x": round(peak_large / 1024, 1),
        "split_memory_growth": round(peak_large / peak_small, 3),
        "rows_10x": args.rows * args.memory_factor,
        "goal_ratio": GOAL_RATIO,
        **stages,
    }
    print_table(
        ["path", "rows/s"],
        [
            ["end to end (local runtime)", figures["e2e_rows_per_s"]],
            ["one process: read, parse, run, write", figures["baseline_pipeline_rows_per_s"]],
            ["session.run alone, same shards", figures["baseline_session_run_rows_per_s"]],
        ],
    )
    print(
        f"ratio vs one process {figures['ratio_vs_pipeline']} (goal >= {GOAL_RATIO}); "
        f"vs session.run alone {figures['ratio_vs_session_run']}"
    )
    print(
        f"split peak RSS: {figures['split_peak_rss_mib']} MiB after {args.rows} rows, "
        f"{figures['split_peak_rss_mib_at_10x']} MiB after {figures['rows_10x']} rows "
        f"(x{figures['split_memory_growth']})"
    )
    print_json(figures)


if __name__ == "__main__":
    main()
