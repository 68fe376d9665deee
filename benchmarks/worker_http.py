"""The GPU worker's HTTP server (``python -m maas.worker.http``) against KServe's model server, same model, same client.

The baseline, measured in the same run, is KServe 0.21 (``kserve.Model`` + ``ModelServer``: REST, Open Inference
Protocol v2, one uvicorn worker, onnxruntime with the worker's session options; benchmarks/_kserve_server.py) in
its own virtual environment, build/bench-kserve-venv, created here on first use; the project's .venv never gets
KServe. Each server runs alone, one after the other, on the same ONNX model, answering the same client:
http.client on keep-alive connections, OIP v2 JSON ``POST /v2/models/{name}/infer`` on one row.

Figures, per model (tiny MLP 16->32->4, medium MLP 256->1024->1024->10):
- server CPU time per request at concurrency 1: the server's utime + stime (and its children's, from /proc)
  before and after N requests, divided by N; p50 and p99 latency;
- requests/s with 8 concurrent keep-alive connections for a fixed time, p50, p99, and CPU per request there.
Ratios are maas / KServe: CPU below 1 and requests/s above 1 are maas ahead. Loopback only; bounded in count
and time. The client shares the machine's cores with the server: compare the two servers, not absolute numbers.

Usage: .venv/bin/python benchmarks/worker_http.py [--requests 3000] [--seconds 5] [--clients 8]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, percentile, print_json, print_table

KSERVE_VENV = ROOT / "build" / "bench-kserve-venv"
KSERVE_REQUIREMENTS = ["kserve==0.21.0", "onnxruntime==1.32.0", "numpy==2.4.6"]
KSERVE_SERVER = Path(__file__).resolve().parent / "_kserve_server.py"
MODELS = {"tiny": [16, 32, 4], "medium": [256, 1024, 1024, 10]}
GOALS = {"cpu_ratio_below": 1.0, "rps_ratio_above": 1.0}
MAX_REQUESTS_PER_CLIENT = 50_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def kserve_python() -> Path:
    """The benchmark's own environment with KServe; created (pip, from the package index) when missing."""
    python = KSERVE_VENV / "bin" / "python"
    stamp = KSERVE_VENV / ".requirements"
    wanted = "\n".join(KSERVE_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"creating {KSERVE_VENV.relative_to(ROOT)} with {' '.join(KSERVE_REQUIREMENTS)} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(KSERVE_VENV)], check=True)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *KSERVE_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if pip.returncode != 0:
        raise SystemExit(f"pip could not install {KSERVE_REQUIREMENTS}:\n{pip.stdout[-2000:]}{pip.stderr[-3000:]}")
    stamp.write_text(wanted)
    return python


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and every live descendant, plus the children it has reaped."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        child = int(entry.name)
        parents[child] = int(fields[1])
        times[child] = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    total, family = 0.0, {pid}
    for candidate in sorted(times):  # children have larger pids than their parents, nearly always
        if candidate == pid or parents.get(candidate) in family:
            family.add(candidate)
            total += times[candidate]
    return total


@contextmanager
def running(command: list[str], port: int, model: str, cwd: Path) -> Iterator[int]:
    """Start a server, wait until its model is ready, yield its pid; stop it afterwards."""
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not ready(port, model):
                if process.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"{command[0]} exited:\n{log.read().decode(errors='replace')[-3000:]}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"{command[0]} did not get ready in 120 s")
                time.sleep(0.2)
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def ready(port: int, model: str) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", f"/v2/models/{model}/ready")
        return connection.getresponse().status == 200
    except OSError:
        return False


def infer(connection: http.client.HTTPConnection, path: str, body: bytes) -> bytes:
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {data[:200]!r}")
    return data


def sequential(port: int, path: str, body: bytes, pid: int, requests: int) -> dict[str, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(200):  # warm: first requests, lazy imports, caches
        infer(connection, path, body)
    latencies = []
    cpu_before = cpu_seconds(pid)
    for _ in range(requests):
        started = time.perf_counter()
        infer(connection, path, body)
        latencies.append(time.perf_counter() - started)
    cpu = cpu_seconds(pid) - cpu_before
    connection.close()
    return {
        "cpu_us": cpu / requests * 1e6,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def concurrent(port: int, path: str, body: bytes, pid: int, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client() -> None:
        mine, failed = [], 0
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        infer(connection, path, body)  # connected before the clock starts
        start.wait()
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() > deadline[0]:
                break
            started = time.perf_counter()
            try:
                infer(connection, path, body)
                mine.append(time.perf_counter() - started)
            except (OSError, RuntimeError, http.client.HTTPException):
                connection.close()
                failed += 1
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    cpu_before = cpu_seconds(pid)
    began = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    cpu = cpu_seconds(pid) - cpu_before
    return {
        "rps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu_us": cpu / max(1, len(latencies)) * 1e6,
        "errors": errors[0],
    }


def check_answer(port: int, path: str, body: bytes, expected: np.ndarray, server: str) -> None:
    """Both servers must compute the model's answer: the figures compare equal work."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    document = json.loads(infer(connection, path, body))
    connection.close()
    got = np.asarray(document["outputs"][0]["data"], dtype=np.float32).reshape(expected.shape)
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
        raise SystemExit(f"{server} answered {got.ravel()[:4]}..., onnxruntime says {expected.ravel()[:4]}...")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000, help="requests at concurrency 1, per server and model")
    parser.add_argument("--seconds", type=float, default=5, help="seconds at --clients concurrent connections")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    from maas.backends.onnx import load_session
    from maas.modelkit import export_mlp

    kserve = kserve_python()
    figures: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model, sizes in MODELS.items():
            model_dir = Path(tmp) / model
            model_dir.mkdir()
            export_mlp(model_dir / "model.onnx", sizes)
            row = np.random.default_rng(0).standard_normal((1, sizes[0])).astype(np.float32)
            expected = load_session(str(model_dir / "model.onnx")).run(None, {"input": row})[0]
            body = json.dumps(
                {
                    "inputs": [
                        {"name": "input", "shape": [1, sizes[0]], "datatype": "FP32", "data": row.ravel().tolist()}
                    ]
                }
            ).encode()
            path = f"/v2/models/{model}/infer"
            servers = {
                "kserve": ([str(kserve), str(KSERVE_SERVER)], Path(tmp)),
                "maas": ([sys.executable, "-m", "maas.worker.http", "--host", "127.0.0.1"], ROOT),
            }
            figures[model] = {}
            for server, (command, cwd) in servers.items():
                port = free_port()
                flags = ["--model-dir", str(model_dir), "--model-name", model, "--port", str(port)]
                with running([*command, *flags], port, model, cwd) as pid:
                    check_answer(port, path, body, expected, server)
                    one = sequential(port, path, body, pid, args.requests)
                    many = concurrent(port, path, body, pid, args.clients, args.seconds)
                figures[model][server] = {
                    "cpu_us": one["cpu_us"],
                    "p50_ms": one["p50_ms"],
                    "p99_ms": one["p99_ms"],
                    "rps": many["rps"],
                    "load_p50_ms": many["p50_ms"],
                    "load_p99_ms": many["p99_ms"],
                    "load_cpu_us": many["cpu_us"],
                    "errors": many["errors"],
                }

    rows = []
    for model, by_server in figures.items():
        for server, f in by_server.items():
            rows.append(
                [
                    model,
                    server,
                    f"{f['cpu_us']:.0f}",
                    f"{f['p50_ms']:.2f}",
                    f"{f['p99_ms']:.2f}",
                    f"{f['rps']:.0f}",
                    f"{f['load_p50_ms']:.2f}",
                    f"{f['load_p99_ms']:.2f}",
                    f"{f['load_cpu_us']:.0f}",
                    f["errors"],
                ]
            )
        maas, base = by_server["maas"], by_server["kserve"]
        rows.append(
            [
                model,
                "maas/kserve",
                f"{maas['cpu_us'] / base['cpu_us']:.2f}",
                f"{maas['p50_ms'] / base['p50_ms']:.2f}",
                f"{maas['p99_ms'] / base['p99_ms']:.2f}",
                f"{maas['rps'] / base['rps']:.2f}",
                f"{maas['load_p50_ms'] / base['load_p50_ms']:.2f}",
                f"{maas['load_p99_ms'] / base['load_p99_ms']:.2f}",
                f"{maas['load_cpu_us'] / base['load_cpu_us']:.2f}",
                "",
            ]
        )
    print(f"concurrency 1: {args.requests} requests; concurrency {args.clients}: {args.seconds:.0f} s; loopback")
    print_table(
        [
            "model",
            "server",
            "cpu us/req (c1)",
            "p50 ms",
            "p99 ms",
            f"req/s (c{args.clients})",
            "p50 ms",
            "p99 ms",
            "cpu us/req",
            "errors",
        ],
        rows,
    )
    out: dict[str, object] = {"requests": args.requests, "seconds": args.seconds, "clients": args.clients}
    for model, by_server in figures.items():
        for server, f in by_server.items():
            for key, value in f.items():
                out[f"{model}_{server}_{key}"] = round(value, 3) if isinstance(value, float) else value
        out[f"{model}_cpu_ratio"] = round(by_server["maas"]["cpu_us"] / by_server["kserve"]["cpu_us"], 3)
        out[f"{model}_rps_ratio"] = round(by_server["maas"]["rps"] / by_server["kserve"]["rps"], 3)
    out["goals"] = GOALS
    print_json(out)


if __name__ == "__main__":
    main()
