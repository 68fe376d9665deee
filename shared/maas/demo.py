"""``make demo``: the platform's main job, end to end, on the local runtime.

Starts the local runtime, creates a tenant and an API key, trains a small classifier on scikit-learn's bundled
digits, exports it to ONNX, registers it through the API and waits for validation, classifies the held-out
digits over HTTP with the Open Inference Protocol v2, prints accuracy, requests per second and latency, then
stops everything it started. Runs again cleanly: each start provisions a fresh emulator.

``python -m maas.demo --from-build [DIR]`` (``make demo-built``) runs the same on the functions as ``sam build``
made them (``maas local up --from-build``).
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from maas.cli.client import MaasClient
from maas.cli.output import print_signature
from maas.local.state import read_env

STATE_DIR = Path(".maas/demo")


def _free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])


def _maas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maas.cli.main", *args], check=False, text=True, capture_output=True)


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m maas.demo")
    parser.add_argument(
        "--from-build", nargs="?", const=".aws-sam/build", metavar="DIR", help="run the functions sam build made"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    built = ["--from-build", args.from_build] if args.from_build else []
    source = f"the build in {args.from_build}" if args.from_build else "template.yaml"
    step(f"Starting the local runtime (moto server, gateway, functions) from {source}")
    _maas("local", "down", "--state-dir", str(STATE_DIR))  # a demo interrupted earlier
    gateway, aws = _free_port(3000), _free_port(4566)
    up = _maas(
        "local", "up", "--detach", "--state-dir", str(STATE_DIR), "--port", str(gateway), "--aws-port", str(aws), *built
    )
    print(up.stdout or up.stderr, end="")
    if up.returncode != 0:
        return 1
    try:
        return run_demo()
    finally:
        step("Stopping everything")
        print(_maas("local", "down", "--state-dir", str(STATE_DIR)).stdout, end="")
        print(f"demo finished in {time.perf_counter() - started:.1f} s")


def run_demo() -> int:
    env = read_env(STATE_DIR / "local.env")
    operator = MaasClient(env["MAAS_URL"], env["MAAS_API_KEY"])

    step("Creating tenant 'demo' and an API key with the publish, invoke and read scopes")
    operator.create_tenant("demo", "Demo team")
    key = operator.create_key("demo", ["publish", "invoke", "read"], "make demo")
    print(f"key {key['key_id']} for tenant demo (the key is shown once; the platform keeps only its hash)")
    team = MaasClient(env["MAAS_URL"], key["api_key"])

    step("Training a torch classifier on scikit-learn's bundled digits (8x8 images, 10 classes)")
    from maas.modelkit import export_onnx, train_digits_classifier

    t0 = time.perf_counter()
    model, x_test, y_test = train_digits_classifier()
    print(f"trained in {time.perf_counter() - t0:.1f} s; {len(x_test)} held-out digits kept for later")

    with tempfile.TemporaryDirectory() as tmp:
        import torch

        path = export_onnx(
            model, torch.zeros(1, 64), Path(tmp) / "digits.onnx", input_names=["pixels"], output_names=["logits"]
        )
        print(f"exported to ONNX: {path.stat().st_size} bytes")

        step("Registering it through the API: presigned upload to S3, then validation")
        version = team.register("digits", path, progress=True)
        # the same file as a gpu-target model: served by the GPU worker through async jobs
        gpu_version = team.register("digits-gpu", path, target="gpu")
    print(f"digits version {version['version']}: {version['status']}")
    if version["status"] != "READY":
        print(f"validation failed: {version.get('failure_reason')}")
        return 1
    print(f"  sha256 {version['sha256']} ({version['size_bytes']} bytes)")
    print_signature(version)

    step(f"Classifying the {len(x_test)} held-out digits over HTTP (OIP v2 infer, one digit per request, 4 clients)")
    if classify(team, x_test, y_test) != 0:
        return 1
    if gpu_version["status"] != "READY":
        print(f"digits-gpu validation failed: {gpu_version.get('failure_reason')}")
        return 1
    step("The same digits as async jobs on the GPU worker (gpu target; CPU here): EventBridge -> SQS -> worker")
    return classify_async(team, x_test, y_test)


def classify_async(team: MaasClient, x_test: Any, y_test: Any, rows_per_job: int = 10, clients: int = 4) -> int:
    import numpy as np

    local = threading.local()

    def client() -> MaasClient:
        found: MaasClient | None = getattr(local, "client", None)
        if found is None:
            found = local.client = MaasClient(team.url, team.api_key)
        return found

    def submit_and_wait(start: int) -> Any:
        chunk = x_test[start : start + rows_per_job]
        request = {
            "inputs": [
                {"name": "pixels", "shape": list(chunk.shape), "datatype": "FP32", "data": chunk.ravel().tolist()}
            ]
        }
        job_id = client().submit_job("digits-gpu", request)["job_id"]
        return client().wait_for_job(job_id, timeout=120, interval=0.05)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:  # each client submits a job (202 Accepted), then polls it
        jobs = list(pool.map(submit_and_wait, range(0, len(x_test), rows_per_job)))
    wall = time.perf_counter() - started
    failed = [j for j in jobs if j["status"] != "SUCCEEDED"]
    if failed:
        print(f"{len(failed)} jobs did not succeed: {failed[0].get('error')}")
        return 1
    predictions = np.concatenate(
        [
            np.asarray(j["result"]["outputs"][0]["data"]).reshape(j["result"]["outputs"][0]["shape"]).argmax(1)
            for j in jobs
        ]
    )
    accuracy = float((predictions == y_test).mean())
    queue_ms = sorted(j["timings"]["queue_ms"] for j in jobs)
    run_ms = sorted(j["timings"]["run_ms"] for j in jobs)
    print(f"{len(jobs)} jobs of up to {rows_per_job} digits from {clients} clients")
    print(f"accuracy          {accuracy:.1%} (the same model as above)")
    print(f"jobs/second       {len(jobs) / wall:.1f} ({len(x_test) / wall:.0f} digits/s, submit to SUCCEEDED)")
    print(f"queue p50         {statistics.median(queue_ms):.0f} ms (accepted -> a worker took it)")
    print(f"run p50           {statistics.median(run_ms):.1f} ms (in the worker's dynamic batcher)")
    print("every job also announced InferenceCompleted on the maas-events bus")
    return 0 if accuracy > 0.9 else 1


def classify(team: MaasClient, x_test: Any, y_test: Any, clients: int = 4) -> int:
    import numpy as np

    def one(i: int) -> tuple[int, float]:
        request = {
            "id": f"digit-{i}",
            "inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": x_test[i].tolist()}],
        }
        t0 = time.perf_counter()
        response = session_client().infer("digits", request)
        elapsed = time.perf_counter() - t0
        assert response["id"] == f"digit-{i}"
        return int(np.argmax(response["outputs"][0]["data"])), elapsed

    local = threading.local()

    def session_client() -> MaasClient:
        # one HTTP connection per client thread, kept alive, as a real client would
        client: MaasClient | None = getattr(local, "client", None)
        if client is None:
            client = local.client = MaasClient(team.url, team.api_key)
        return client

    # Warm-up, not timed: the first requests start more instances of the inference function (as Lambda scales
    # out) and each loads the model once; the figures below are the warm platform's.
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients * 4)))
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(len(x_test))))
    wall = time.perf_counter() - started
    predictions = np.array([p for p, _ in results])
    latencies = sorted(ms for _, ms in results)
    accuracy = float((predictions == y_test).mean())
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
    print(f"accuracy          {accuracy:.1%} ({int((predictions == y_test).sum())}/{len(y_test)})")
    print(f"requests/second   {len(results) / wall:.0f}")
    print(f"latency p50       {p50:.1f} ms")
    print(f"latency p99       {p99:.1f} ms")
    return 0 if accuracy > 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
