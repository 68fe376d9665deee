"""Model registration and validation through the local runtime: HTTP, presigned S3 uploads, events."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from e2e_helpers import (
    MAX_ARTIFACT_BYTES,
    BusTap,
    Platform,
    assert_error,
    register_bytes,
    upload,
    wait_for_status,
)


@pytest.fixture(scope="module")
def tiny(models_dir: Path) -> bytes:
    return (models_dir / "tiny.onnx").read_bytes()


def test_register_validates_and_announces(platform: Platform, make_tenant, tiny: bytes, bus_tap: BusTap) -> None:
    tenant = make_tenant("publish,read")
    key = tenant["publish,read"]
    created = platform.call(
        "POST", "/v1/models", key, json_body={"name": "tiny", "framework": "onnx", "description": "16 -> 4"}
    )
    assert created.status_code == 201
    assert created.json()["name"] == "tiny"

    version = platform.call(
        "POST", "/v1/models/tiny/versions", key, json_body={"sha256": hashlib.sha256(tiny).hexdigest()}
    )
    assert version.status_code == 201
    body = version.json()
    assert body["version"] == 1
    assert body["status"] == "PENDING_UPLOAD"
    assert body["upload"]["method"] == "PUT"
    assert body["upload"]["url"].startswith("http")

    upload(body["upload"], tiny)
    ready = wait_for_status(platform, key, "tiny", 1)

    assert ready["status"] == "READY", ready
    assert ready["sha256"] == hashlib.sha256(tiny).hexdigest()
    assert ready["size_bytes"] == len(tiny)
    assert ready["signature"] == {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 16]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 4]}],
    }
    assert ready["created_at"]
    assert ready["failure_reason"] is None
    listed = platform.call("GET", "/v1/models/tiny/versions", key).json()["versions"]
    assert [v["version"] for v in listed] == [1]

    def mine(seen: list) -> list:
        return [e for e in seen if e["detail"].get("tenant_id") == tenant.tenant_id]

    events = mine(bus_tap.events(until=lambda seen: len(mine(seen)) >= 2))
    assert [e["detail-type"] for e in events] == ["ModelVersionReady", "AliasUpdated"]
    ready_event, alias = events
    assert ready_event["source"] == "maas"
    assert ready_event["detail"]["model"] == "tiny"
    assert ready_event["detail"]["version"] == 1
    # the first READY version becomes the model's production alias
    assert alias["detail"]["alias"] == "production"
    assert alias["detail"]["routes"] == [{"version": 1, "weight": 100}]
    assert alias["detail"]["reason"] == "default"
    assert ready_event["detail"]["signature"]["inputs"][0]["shape"] == [-1, 16]


class _Exploit:
    """Unpickling this would create a file: proof that validation never unpickles."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _torch_save_bytes() -> bytes:
    import torch

    from maas.modelkit import mlp

    buffer = io.BytesIO()
    torch.save(mlp([4, 2]), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("case", "reason_part"),
    [
        ("corrupt", "not a well-formed ONNX model"),
        ("sha_mismatch", "sha256 mismatch"),
        ("torch_save", "zip archive"),
        ("pickle", "pickle"),
        ("too_large", "over the limit"),
        ("empty", "empty"),
    ],
)
def test_bad_artifacts_fail_with_a_reason(
    platform: Platform, make_tenant, tiny: bytes, tmp_path: Path, bus_tap: BusTap, case: str, reason_part: str
) -> None:
    tenant = make_tenant("publish,read")
    key = tenant["publish,read"]
    marker = tmp_path / "unpickled"
    data, declared = {
        "corrupt": (tiny[: len(tiny) // 2], None),
        "sha_mismatch": (tiny, "0" * 64),
        "torch_save": (_torch_save_bytes(), None),
        "pickle": (pickle.dumps(_Exploit(str(marker))), None),
        "too_large": (os.urandom(MAX_ARTIFACT_BYTES + 1), None),
        "empty": (b"", None),
    }[case]

    version = register_bytes(platform, key, "model", data, declared)

    assert version["status"] == "FAILED"
    assert reason_part in version["failure_reason"]
    assert "/tmp" not in version["failure_reason"]
    assert version["signature"] is None
    assert not marker.exists()
    events = bus_tap.events(until=lambda seen: any(e["detail"].get("tenant_id") == tenant.tenant_id for e in seen))
    mine = [e for e in events if e["detail"].get("tenant_id") == tenant.tenant_id]
    assert [e["detail-type"] for e in mine] == ["ModelVersionFailed"]
    assert reason_part in mine[0]["detail"]["reason"]


def test_tenants_cannot_see_each_other(platform: Platform, make_tenant, tiny: bytes) -> None:
    alice, bob = make_tenant("publish,read"), make_tenant("publish,read")
    a, b = alice["publish,read"], bob["publish,read"]
    assert register_bytes(platform, a, "secret-model", tiny)["status"] == "READY"

    assert platform.call("GET", "/v1/models", b).json()["models"] == []
    for method, path in (
        ("GET", "/v1/models/secret-model"),
        ("GET", "/v1/models/secret-model/versions"),
        ("GET", "/v1/models/secret-model/versions/1"),
        ("POST", "/v1/models/secret-model/versions"),
    ):
        theirs = platform.call(method, path, b, json_body={} if method == "POST" else None)
        missing = platform.call(
            method, path.replace("secret-model", "no-such-model"), b, json_body={} if method == "POST" else None
        )
        assert_error(theirs, 404, "NOT_FOUND")
        # exactly what a model that does not exist looks like: nothing leaks
        assert theirs.json()["error"].replace("secret-model", "X") == missing.json()["error"].replace(
            "no-such-model", "X"
        )
        assert alice.tenant_id not in theirs.text

    # Bob's model of the same name is his own
    assert register_bytes(platform, b, "secret-model", tiny)["version"] == 1
    assert platform.call("GET", "/v1/models/secret-model/versions", a).json()["versions"][0]["status"] == "READY"
    assert len(platform.call("GET", "/v1/models/secret-model/versions", a).json()["versions"]) == 1


def test_model_requests_are_validated(platform: Platform, make_tenant) -> None:
    key = make_tenant("publish,read")["publish,read"]
    assert_error(
        platform.call("POST", "/v1/models", key, json_body={"name": "m", "framework": "tensorflow"}),
        400,
        "INVALID_REQUEST",
    )
    assert_error(
        platform.call("POST", "/v1/models", key, json_body={"name": "Bad/Name", "framework": "onnx"}),
        400,
        "INVALID_REQUEST",
    )
    assert_error(
        platform.call("POST", "/v1/models", key, json_body={"name": "m", "framework": "onnx", "x": 1}),
        400,
        "INVALID_REQUEST",
    )
    assert_error(
        platform.call("POST", "/v1/models", key, data="[", headers={"content-type": "application/json"}),
        400,
        "INVALID_REQUEST",
    )
    assert platform.call("POST", "/v1/models", key, json_body={"name": "m", "framework": "onnx"}).status_code == 201
    assert_error(
        platform.call("POST", "/v1/models", key, json_body={"name": "m", "framework": "onnx"}), 409, "CONFLICT"
    )
    assert_error(
        platform.call("POST", "/v1/models/m/versions", key, json_body={"sha256": "xyz"}), 400, "INVALID_REQUEST"
    )
    assert_error(platform.call("GET", "/v1/models/m/versions/0", key), 400, "INVALID_REQUEST")
    assert_error(platform.call("GET", "/v1/models/m/versions/Abc!", key), 400, "INVALID_REQUEST")
    assert_error(platform.call("GET", "/v1/models/m/versions/no-such-alias", key), 404, "NOT_FOUND")
    assert_error(platform.call("GET", "/v1/models/m/versions/7", key), 404, "NOT_FOUND")


def test_version_numbers_never_repeat_under_concurrency(platform: Platform, make_tenant) -> None:
    key = make_tenant("publish,read")["publish,read"]
    assert platform.call("POST", "/v1/models", key, json_body={"name": "busy", "framework": "onnx"}).status_code == 201

    def create(_: int) -> int:
        response = platform.call("POST", "/v1/models/busy/versions", key, json_body={})
        assert response.status_code == 201, response.text
        return int(response.json()["version"])

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(create, range(16)))

    assert sorted(numbers) == list(range(1, 17))
    listed = platform.call("GET", "/v1/models/busy/versions", key).json()["versions"]
    assert [v["version"] for v in listed] == list(range(1, 17))


def test_presigned_upload_targets_its_version(platform: Platform, make_tenant, tiny: bytes) -> None:
    """The upload URL is signed for the version's own artifact key (S3 checks the signature; moto does not)."""
    key = make_tenant("publish,read")["publish,read"]
    platform.call("POST", "/v1/models", key, json_body={"name": "scoped", "framework": "onnx"})
    info = platform.call("POST", "/v1/models/scoped/versions", key, json_body={}).json()["upload"]
    assert "/models/" in info["url"]
    assert "/scoped/1/model.onnx" in info["url"]
    assert "X-Amz-Signature=" in info["url"]
    response = requests.put(info["url"], data=tiny, headers=info["headers"], timeout=30)
    assert response.status_code == 200
