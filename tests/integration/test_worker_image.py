"""The GPU worker image's Python environment runs both commands of its entrypoint (infra/worker/entrypoint.sh).

The image installs ``.[gpu]`` and nothing else. Its environment is laid out here from this virtual environment:
a folder with only the distributions that ``maas[gpu]`` requires, transitively, linked file by file, the CPU
onnxruntime standing in for onnxruntime-gpu (the same version and Python API). ``maas worker run`` and
``maas worker serve`` then start on it under ``python -S``, which sees nothing else of this environment: an
import of something the image lacks fails here, not when the container starts.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import Distribution, distribution
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from maas.backends.onnx import load_session
from maas.modelkit import export_mlp

REPO_ROOT = Path(__file__).resolve().parents[2]
STAND_INS = {"onnxruntime-gpu": "onnxruntime"}  # no CUDA here; the image's onnxruntime-gpu has the same API


def image_distributions(extra: str = "gpu") -> dict[str, Distribution]:
    """What ``pip install ".[gpu]"`` installs, as the distributions of this environment."""
    found: dict[str, Distribution] = {}
    pending = [(text, {extra}) for text in distribution("maas").requires or []]
    while pending:
        text, extras = pending.pop()
        requirement = Requirement(text)
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in extras | {""}):
            continue
        name = canonicalize_name(requirement.name)
        name = STAND_INS.get(name, name)
        if name in found or name == "maas":
            continue
        found[name] = distribution(name)
        pending += [(t, set(requirement.extras)) for t in found[name].requires or []]
    return found


@pytest.fixture(scope="module")
def image_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("image-site-packages")
    for dist in image_distributions().values():
        for file in dist.files or []:
            if file.parts[0] == "..":  # console scripts
                continue
            source, target = Path(str(dist.locate_file(file))), site / file
            if source.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source)
    (site / "maas").symlink_to(REPO_ROOT / "shared" / "maas")  # `COPY shared/ shared/` + pip install
    return site


def image_python(site: Path, *args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen[str]:
    """``python -S -P`` with only the image's packages on the path: none of this virtual environment's."""
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.Popen(
        [sys.executable, "-S", "-P", *args],
        env={**base, "PYTHONPATH": str(site), "POWERTOOLS_SERVICE_NAME": "maas-worker", **(env or {})},
        cwd=site,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(40)
    finally:
        if process.poll() is None:
            process.kill()
    return code, process.stdout.read() if process.stdout else ""


def test_the_image_lacks_what_only_development_installs(image_site: Path) -> None:
    # Given the image's packages, when the CLI's HTTP client and the dev tools are imported, then they are missing
    # (so the tests below would fail on an import the image cannot satisfy).
    probe = image_python(image_site, "-c", "import onnxruntime, torch, pyarrow, maas.cli.main; import requests")
    output = probe.communicate(timeout=120)[0]
    assert probe.returncode == 1
    assert "No module named 'requests'" in output


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_worker_run_polls_the_queue_and_drains_on_sigterm(image_site: Path, moto_endpoint: str) -> None:
    aws = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    queue = boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_queue(QueueName="gpu-jobs")["QueueUrl"]
    settings = {
        "REGISTRY_TABLE": "registry",
        "JOBS_TABLE": "jobs",
        "ARTIFACTS_BUCKET": "artifacts",
        "JOBS_BUCKET": "jobs",
        "EVENT_BUS_NAME": "maas-events",
        "JOBS_QUEUE_URL": queue,
        "WORKER_DRAIN_SECONDS": "2",
    }
    # When the entrypoint's default command starts (the console script `maas` = maas.cli.main:main)
    worker = image_python(image_site, "-m", "maas.cli.main", "worker", "run", env={**aws, **settings})
    try:
        deadline = time.monotonic() + 90
        lines = []
        while not any("worker starting" in line for line in lines):
            assert worker.poll() is None, "".join(lines) + (worker.stdout.read() if worker.stdout else "")
            assert time.monotonic() < deadline, "the worker did not start"
            lines.append(worker.stdout.readline() if worker.stdout else "")
        started = json.loads(next(line for line in lines if "worker starting" in line))
        time.sleep(1)  # it long-polls the queue
    finally:
        code, rest = stop(worker)
    # Then it ran on torch and onnxruntime (no CUDA here) and stopped cleanly when told to
    assert started["cuda"] is False
    assert code == 0, "".join(lines) + rest


def test_worker_serve_answers_ping_and_invocations(image_site: Path, tmp_path: Path) -> None:
    export_mlp(tmp_path / "model.onnx", [16, 32, 4])
    port = free_port()
    # When the entrypoint's `serve` command starts (SageMaker's contract) on the model folder
    server = image_python(
        image_site,
        "-m",
        "maas.cli.main",
        "worker",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env={"SM_MODEL_DIR": str(tmp_path)},
    )
    x = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    body = {"inputs": [{"name": "input", "shape": [2, 16], "datatype": "FP32", "data": x.ravel().tolist()}]}
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the worker did not get ready"
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/ping")
                ping = connection.getresponse()
                ping.read()
                if ping.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        connection.request("POST", "/invocations", json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        status, answer = response.status, json.loads(response.read())
        connection.close()
    finally:
        code, output = stop(server)
    # Then it answers what onnxruntime computes on the same model, and drains on SIGTERM
    assert status == 200, answer
    expected = load_session(str(tmp_path / "model.onnx")).run(None, {"input": x})[0]
    got = np.asarray(answer["outputs"][0]["data"], dtype=np.float32).reshape(answer["outputs"][0]["shape"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert code == 0, output
