"""N concurrent clients against the local runtime's gateway: requests per second, p50, p99, errors.

The baseline, measured in the same run with the same clients, is a bare threaded HTTP server on loopback that
answers a fixed JSON body: what this machine's loopback HTTP costs before the platform does anything.
Requests are OIP v2 infer calls on the tiny MLP, through the authorizer and the inference function.
Loopback only; bounded in count and time.

Usage: .venv/bin/python benchmarks/gateway_load.py [--clients 8] [--seconds 10]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, percentile, print_json, print_table

MAX_REQUESTS_PER_CLIENT = 20_000


def load(url: str, body: bytes, headers: dict[str, str], clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    parts = urlsplit(url)

    def client() -> None:
        # http.client, one keep-alive connection per client: the lightest Python client, so that the figures
        # are the server's rather than the client library's
        mine, failed = [], 0
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if time.monotonic() > deadline:
                    break
                started = time.perf_counter()
                try:
                    connection.request("POST", parts.path, body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    connection.close()
                    ok = False
                mine.append(time.perf_counter() - started)
                failed += 0 if ok else 1
        finally:
            connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors[0],
    }


class _Fixed(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    payload = b'{"model_name":"tiny","model_version":"1","outputs":[]}'

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    from maas.cli.client import MaasClient
    from maas.local.state import read_env
    from maas.modelkit import export_mlp

    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]})

    bare = ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    bare.daemon_threads = True
    threading.Thread(target=bare.serve_forever, daemon=True).start()
    bare_url = f"http://127.0.0.1:{bare.server_address[1]}/v2/models/tiny/infer"
    baseline = load(bare_url, body.encode(), {"content-type": "application/json"}, args.clients, args.seconds)
    bare.shutdown()

    with tempfile.TemporaryDirectory() as tmp:
        cli = [sys.executable, "-m", "maas.cli.main", "local"]
        ports = ["--port", str(free_port()), "--aws-port", str(free_port())]
        up = subprocess.run(
            [*cli, "up", "--detach", "--state-dir", tmp, *ports], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if up.returncode != 0:
            raise SystemExit(up.stderr)
        try:
            env = read_env(Path(tmp) / "local.env")
            operator = MaasClient(env["MAAS_URL"], env["MAAS_API_KEY"])
            operator.create_tenant("load", "load test")
            key = operator.create_key("load", ["publish", "invoke"])["api_key"]
            team = MaasClient(env["MAAS_URL"], key)
            model = export_mlp(Path(tmp) / "tiny.onnx", [16, 32, 4])
            assert team.register("tiny", model)["status"] == "READY"
            url = f"{env['MAAS_URL']}/v2/models/tiny/infer"
            headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
            load(url, body.encode(), headers, args.clients, 2)  # warm: instances scale out, sessions load
            platform = load(url, body.encode(), headers, args.clients, args.seconds)
            state = json.loads((Path(tmp) / "local.json").read_text())
        finally:
            subprocess.run([*cli, "down", "--state-dir", tmp], cwd=ROOT, capture_output=True, check=False)

    rows = [
        [
            "bare HTTP server",
            baseline["requests"],
            f"{baseline['rps']:.0f}",
            f"{baseline['p50_ms']:.2f}",
            f"{baseline['p99_ms']:.2f}",
            baseline["errors"],
        ],
        [
            "MaaS gateway infer",
            platform["requests"],
            f"{platform['rps']:.0f}",
            f"{platform['p50_ms']:.2f}",
            f"{platform['p99_ms']:.2f}",
            platform["errors"],
        ],
    ]
    print(f"{args.clients} clients, {args.seconds:.0f} s, loopback")
    print_table(["server", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows)
    instances = {name: len(pids) for name, pids in state["functions"].items()}
    print(f"function instances at the end: {instances}")
    print_json(
        {
            "clients": args.clients,
            "seconds": args.seconds,
            "rps": round(platform["rps"], 1),
            "p50_ms": round(platform["p50_ms"], 2),
            "p99_ms": round(platform["p99_ms"], 2),
            "errors": platform["errors"],
            "requests": platform["requests"],
            "bare_rps": round(baseline["rps"], 1),
            "bare_p50_ms": round(baseline["p50_ms"], 3),
            "rps_ratio_to_bare": round(platform["rps"] / baseline["rps"], 3),
            "goal_errors": 0,
        }
    )


if __name__ == "__main__":
    main()
