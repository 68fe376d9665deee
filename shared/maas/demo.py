"""``make demo``: the platform's main job, end to end, on the local runtime.

Starts the local runtime, creates a tenant and an API key, trains a small classifier on scikit-learn's bundled
digits, exports it to ONNX, registers it through the API, waits for validation and prints the signature;
then stops everything it started. Runs again cleanly: each start provisions a fresh emulator.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from maas.cli.client import MaasClient
from maas.cli.main import print_signature
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


def main() -> int:
    started = time.perf_counter()
    step("Starting the local runtime (moto server, gateway, functions) from template.yaml")
    _maas("local", "down", "--state-dir", str(STATE_DIR))  # a demo interrupted earlier
    gateway, aws = _free_port(3000), _free_port(4566)
    up = _maas("local", "up", "--detach", "--state-dir", str(STATE_DIR), "--port", str(gateway), "--aws-port", str(aws))
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
    model, x_test, _y_test = train_digits_classifier()
    print(f"trained in {time.perf_counter() - t0:.1f} s; {len(x_test)} held-out digits kept for later")

    with tempfile.TemporaryDirectory() as tmp:
        import torch

        path = export_onnx(
            model, torch.zeros(1, 64), Path(tmp) / "digits.onnx", input_names=["pixels"], output_names=["logits"]
        )
        print(f"exported to ONNX: {path.stat().st_size} bytes")

        step("Registering it through the API: presigned upload to S3, then validation")
        version = team.register("digits", path, progress=True)
    print(f"digits version {version['version']}: {version['status']}")
    if version["status"] != "READY":
        print(f"validation failed: {version.get('failure_reason')}")
        return 1
    print(f"  sha256 {version['sha256']} ({version['size_bytes']} bytes)")
    print_signature(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
