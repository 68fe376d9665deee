"""Async jobs end to end through the local runtime: jobs per second, and submit -> SUCCEEDED p50 / p99.

Starts its own runtime (`maas local up --detach`, free ports, a temporary state folder), registers a small MLP
twice (gpu target for jobs, cpu target for the synchronous baseline), then:
- baseline, same run: the same requests as synchronous OIP infers through the same gateway (one round trip);
- async: N jobs submitted by C clients; completion seen on the event bus.
Latency is measured by the client (submit sent -> its InferenceCompleted event read from a queue subscribed to
the bus: no polling load on the API) and by the platform (the job's finished_at - created_at).

Usage: .venv/bin/python benchmarks/async_e2e.py [--jobs 300] [--clients 16]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, percentile, print_json, print_table


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
        import boto3

        aws = {
            "endpoint_url": env["AWS_ENDPOINT_URL"],
            "region_name": env["AWS_DEFAULT_REGION"],
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        sqs, events = boto3.client("sqs", **aws), boto3.client("events", **aws)
        tap = sqs.create_queue(QueueName="bench-tap")["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = env["MAAS_RESOURCE_EventBus"]
        pattern = {"source": ["maas"], "detail-type": ["InferenceCompleted", "InferenceFailed"]}
        events.put_rule(Name="bench-done", EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule="bench-done", EventBusName=bus, Targets=[{"Id": "tap", "Arn": tap_arn}])

        local = threading.local()

        def session() -> requests.Session:
            if not hasattr(local, "http"):
                local.http = requests.Session()
            return local.http  # type: ignore[no-any-return]

        def post(path: str, body: object) -> requests.Response:
            return session().post(url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)

        def collect(count: int, done: dict[str, float]) -> None:
            """Completion times from the bus (no polling load on the API)."""
            while len(done) < count:
                messages = sqs.receive_message(QueueUrl=tap, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []
                )
                now = time.perf_counter()
                for message in messages:
                    done[json.loads(message["Body"])["detail"]["job_id"]] = now
                if messages:
                    sqs.delete_message_batch(
                        QueueUrl=tap,
                        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                    )

        # warm both paths with the same concurrency as the measurement (instances start as Lambda scales out)
        with ThreadPoolExecutor(args.clients) as pool:
            warm = bodies[: args.clients * 3]
            list(pool.map(lambda b: post("/v2/models/mlp-cpu/infer", b), warm))
            warm_done: dict[str, float] = {}
            warm_ids = [post("/v1/models/mlp-gpu/jobs", b).json()["job_id"] for b in warm]
            collect(len(warm_ids), warm_done)

        def sync_one(body: dict[str, object]) -> float:
            started = time.perf_counter()
            response = post("/v2/models/mlp-cpu/infer", body)
            assert response.status_code == 200, response.text
            return time.perf_counter() - started

        submitted: dict[str, float] = {}

        def submit_one(body: dict[str, object]) -> None:
            started = time.perf_counter()
            response = post("/v1/models/mlp-gpu/jobs", body)
            assert response.status_code == 202, response.text
            submitted[response.json()["job_id"]] = started

        with ThreadPoolExecutor(args.clients) as pool:
            started = time.perf_counter()
            sync_latencies = list(pool.map(sync_one, bodies))
            sync_seconds = time.perf_counter() - started
            completed: dict[str, float] = {}
            collector = threading.Thread(target=collect, args=(args.jobs, completed))
            collector.start()
            started = time.perf_counter()
            list(pool.map(submit_one, bodies))
            submit_seconds = time.perf_counter() - started
            collector.join(300)
            async_seconds = max(completed.values()) - started
        records = [
            session().get(f"{url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}, timeout=60).json()
            for job_id in submitted
        ]
        async_results = [
            (
                completed[r["job_id"]] - submitted[r["job_id"]],
                (datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["created_at"])).total_seconds(),
            )
            for r in records
        ]
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
        "submit_per_second": round(args.jobs / submit_seconds, 1),
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
                "async job, submit -> event",
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
