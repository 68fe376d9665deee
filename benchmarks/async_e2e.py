"""Async jobs end to end through the local runtime: jobs per second, and submit -> SUCCEEDED p50 / p99.

Starts its own runtime (`maas local up --detach`, free ports, a temporary state folder), registers a small MLP
twice (gpu target for jobs, cpu target for the synchronous baseline), then:
- baseline, same run: the same requests as synchronous OIP infers through the same gateway (one round trip);
- async: N jobs from C clients, each submitting and polling its job until SUCCEEDED.
Latency is measured by the client (submit sent -> SUCCEEDED seen, so it includes up to one poll interval)
and by the platform (the job's finished_at - created_at).

Usage: .venv/bin/python benchmarks/async_e2e.py [--jobs 300] [--clients 16]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, percentile, print_json, print_table

POLL_SECONDS = 0.05


def maas(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "maas.cli.main", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr + done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    from maas.local.state import read_env
    from maas.modelkit import export_mlp

    state = Path(tempfile.mkdtemp(prefix="maas-bench-"))
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
    )
    try:
        env = read_env(state / "local.env")
        url, admin = env["MAAS_URL"], env["MAAS_API_KEY"]
        http = requests.Session()

        def call(method: str, path: str, key: str, **kwargs: object) -> requests.Response:
            return http.request(method, url + path, headers={"Authorization": f"Bearer {key}"}, timeout=60, **kwargs)  # type: ignore[arg-type]

        call("POST", "/v1/tenants", admin, json={"tenant_id": "bench", "name": "bench"})
        key = call("POST", "/v1/tenants/bench/keys", admin, json={"scopes": ["publish", "invoke", "read"]}).json()[
            "api_key"
        ]
        model_path = export_mlp(state / "mlp.onnx", [16, 64, 4])
        for name, target in (("mlp-gpu", "gpu"), ("mlp-cpu", "cpu")):
            call("POST", "/v1/models", key, json={"name": name, "framework": "onnx", "target": target})
            created = call("POST", f"/v1/models/{name}/versions", key, json={}).json()
            upload = created["upload"]
            requests.request(
                upload["method"], upload["url"], data=model_path.read_bytes(), headers=upload["headers"], timeout=60
            )
            while call("GET", f"/v1/models/{name}/versions/1", key).json()["status"] == "PENDING_UPLOAD":
                time.sleep(0.1)

        rng = np.random.default_rng(0)
        bodies = [
            {
                "inputs": [
                    {"name": "input", "shape": [1, 16], "datatype": "FP32", "data": rng.standard_normal(16).tolist()}
                ]
            }
            for _ in range(args.jobs)
        ]
        for body in bodies[:20]:  # warm both paths
            call("POST", "/v2/models/mlp-cpu/infer", key, json=body)
            submitted = call("POST", "/v1/models/mlp-gpu/jobs", key, json=body).json()
            while call("GET", f"/v1/jobs/{submitted['job_id']}", key).json()["status"] != "SUCCEEDED":
                time.sleep(POLL_SECONDS)

        def sync_one(body: dict[str, object]) -> float:
            started = time.perf_counter()
            response = call("POST", "/v2/models/mlp-cpu/infer", key, json=body)
            assert response.status_code == 200, response.text
            return time.perf_counter() - started

        def async_one(body: dict[str, object]) -> tuple[float, float]:
            started = time.perf_counter()
            response = call("POST", "/v1/models/mlp-gpu/jobs", key, json=body)
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]
            while True:
                job = call("GET", f"/v1/jobs/{job_id}", key).json()
                if job["status"] == "SUCCEEDED":
                    break
                assert job["status"] in ("QUEUED", "RUNNING"), job
                time.sleep(POLL_SECONDS)
            client = time.perf_counter() - started
            server = (
                datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["created_at"])
            ).total_seconds()
            return client, server

        with ThreadPoolExecutor(args.clients) as pool:
            started = time.perf_counter()
            sync_latencies = list(pool.map(sync_one, bodies))
            sync_seconds = time.perf_counter() - started
            started = time.perf_counter()
            async_results = list(pool.map(async_one, bodies))
            async_seconds = time.perf_counter() - started
    finally:
        maas("local", "down", "--state-dir", str(state))

    client_ms = [c * 1000 for c, _ in async_results]
    server_ms = [s * 1000 for _, s in async_results]
    sync_ms = [s * 1000 for s in sync_latencies]
    figures = {
        "jobs": args.jobs,
        "clients": args.clients,
        "async_jobs_per_second": round(args.jobs / async_seconds, 1),
        "async_client_p50_ms": round(percentile(client_ms, 0.5), 1),
        "async_client_p99_ms": round(percentile(client_ms, 0.99), 1),
        "async_platform_p50_ms": round(percentile(server_ms, 0.5), 1),
        "async_platform_p99_ms": round(percentile(server_ms, 0.99), 1),
        "sync_requests_per_second": round(args.jobs / sync_seconds, 1),
        "sync_p50_ms": round(percentile(sync_ms, 0.5), 1),
        "sync_p99_ms": round(percentile(sync_ms, 0.99), 1),
    }
    figures["async_over_sync_p50"] = round(figures["async_client_p50_ms"] / figures["sync_p50_ms"], 2)
    figures["async_over_sync_throughput"] = round(
        figures["async_jobs_per_second"] / figures["sync_requests_per_second"], 2
    )
    print_table(
        ["path", "per second", "p50 ms", "p99 ms"],
        [
            [
                "sync infer (baseline)",
                figures["sync_requests_per_second"],
                figures["sync_p50_ms"],
                figures["sync_p99_ms"],
            ],
            [
                "async job, client",
                figures["async_jobs_per_second"],
                figures["async_client_p50_ms"],
                figures["async_client_p99_ms"],
            ],
            ["async job, platform", "", figures["async_platform_p50_ms"], figures["async_platform_p99_ms"]],
        ],
    )
    print(f"async/sync: p50 x{figures['async_over_sync_p50']}, throughput x{figures['async_over_sync_throughput']}")
    print_json(figures)


if __name__ == "__main__":
    main()
