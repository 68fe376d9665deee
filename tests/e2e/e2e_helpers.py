"""Helpers for the end-to-end tests: the platform as a client sees it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

ROOT = Path(__file__).resolve().parents[2]
MAX_BATCH_INPUT_BYTES = 20_000_000
JOB_LEASE_SECONDS = 4  # a killed worker's job runs again after this
MAX_ARTIFACT_BYTES = 2_000_000
MAX_MODEL_MEMORY_BYTES = 256 * 1024 * 1024  # a memory bomb over it is FAILED with its measured size
REGISTRY_CACHE_SECONDS = 1  # how long the inference function may serve an old alias target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def maas_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maas.cli.main", *args],
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        text=True,
        capture_output=True,
        timeout=timeout,
    )


@dataclass
class Platform:
    url: str
    admin_key: str
    env: dict[str, str]
    state_dir: Path

    def call(
        self, method: str, path: str, key: str | None = None, *, json_body: Any = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key}")
        return requests.request(method, self.url + path, json=json_body, headers=headers, timeout=60, **kwargs)

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@dataclass
class TenantKeys:
    tenant_id: str
    keys: dict[str, str]

    def __getitem__(self, scopes: str) -> str:
        return self.keys[scopes]


@dataclass
class BusTap:
    """An SQS queue subscribed to every event the platform puts on its bus."""

    sqs: Any
    queue_url: str

    def events(self, wait: float = 10, until: Callable[[list[dict[str, Any]]], bool] | None = None) -> list[Any]:
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            for message in messages:
                seen.append(json.loads(message["Body"]))
            if messages:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )
            if until and until(seen):
                break
        return seen


def upload(upload_info: dict[str, Any], data: bytes) -> None:
    response = requests.request(
        upload_info["method"], upload_info["url"], data=data, headers=upload_info["headers"], timeout=60
    )
    assert response.status_code in (200, 204), response.text


def wait_for_status(platform: Platform, key: str, model: str, version: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = platform.call("GET", f"/v1/models/{model}/versions/{version}", key).json()
        if body["status"] != "PENDING_UPLOAD" or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def register_bytes(platform: Platform, key: str, model: str, data: bytes, sha256: str | None = None) -> dict[str, Any]:
    """Create the model if needed, register a version, upload ``data``, wait for the outcome."""
    if platform.call("GET", f"/v1/models/{model}", key).status_code == 404:
        created = platform.call("POST", "/v1/models", key, json_body={"name": model, "framework": "onnx"})
        assert created.status_code == 201, created.text
    response = platform.call(
        "POST", f"/v1/models/{model}/versions", key, json_body={"sha256": sha256} if sha256 else {}
    )
    assert response.status_code == 201, response.text
    upload(response.json()["upload"], data)
    return wait_for_status(platform, key, model, response.json()["version"])


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "code"}
    assert body["code"] == code
    assert body["error"]
    return body


def still_running(pids: list[int], wait: float = 10) -> list[int]:
    """The processes among ``pids`` that have not exited within ``wait`` seconds."""
    from maas.local.state import pid_alive

    deadline = time.monotonic() + wait
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if pid_alive(p)]
