"""Hostile artifacts through the local runtime, as an attacker with a ``publish`` key tried them.

Each test repeats an attack that once worked (see the issue on tenant isolation): the operator's key read from
the state directory's ``local.env`` through ONNX external data or a TorchScript ``torch.from_file``, another
tenant's cached model rewritten by a TorchScript module, a few hundred bytes of ONNX taking gigabytes.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from onnx import numpy_helper
from test_e2e_jobs import register_torchscript, wait_for_jobs, wait_for_new_worker, worker_pid

from maas.sandbox.confine import probe

from e2e_helpers import MAX_MODEL_MEMORY_BYTES, Platform, TenantKeys, maas_cli, register_bytes
from tests.hostile import bomb, bundle_of, external_indices, gather_model, member, script_forward, tar_of

confinable = pytest.mark.skipif(not probe().can_confine, reason="this kernel offers no Landlock or no seccomp")
SIGNATURE = {
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}],
}


def secret_figures(platform: Platform) -> list[str]:
    """What the operator's key file looks like once a runtime has read it as numbers, or as text."""
    raw = (platform.state_dir / "local.env").read_bytes()
    return [platform.admin_key, str(int.from_bytes(raw[:8], "little", signed=True)), str(raw[0])]


# --- ONNX -------------------------------------------------------------------------------------------------------
def test_onnx_external_data_naming_the_operator_key_file_fails_and_echoes_nothing(
    platform: Platform, make_tenant: Callable[..., TenantKeys]
) -> None:
    key = make_tenant("publish,read")["publish,read"]
    for location in ("local.env", "../local.env", "logs/moto.log"):
        version = register_bytes(platform, key, "leak", gather_model(external_indices(location)).SerializeToString())

        assert version["status"] == "FAILED"
        reason = version["failure_reason"]
        assert "external data" in reason
        assert "maas models register" in reason
        assert not any(figure in reason for figure in secret_figures(platform)[:2])
        assert str(platform.state_dir) not in reason


def test_a_bundle_with_its_data_file_becomes_ready_and_serves_over_v2(
    platform: Platform, make_tenant: Callable[..., TenantKeys]
) -> None:
    key = make_tenant()["publish,invoke,read"]
    model = gather_model(numpy_helper.from_array(np.array([1], np.int64), "idx"))
    version = register_bytes(platform, key, "bundled", bundle_of(model))
    assert version["status"] == "READY", version
    assert version["bundle"] is True

    answer = platform.call(
        "POST",
        "/v2/models/bundled/infer",
        key,
        json_body={"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0.25]}]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [1.25]


def test_a_bundle_with_a_dotdot_member_fails_and_writes_nothing_outside(
    platform: Platform, make_tenant: Callable[..., TenantKeys]
) -> None:
    key = make_tenant("publish,read")["publish,read"]
    archive = tar_of([member("model.onnx", b"x"), member("../../escaped.txt", b"owned")])
    version = register_bytes(platform, key, "escape", archive)
    assert version["status"] == "FAILED"
    assert "'..'" in version["failure_reason"]
    assert not list(platform.state_dir.parent.rglob("escaped.txt"))


def test_the_cli_inlines_external_weights_that_torch_export_writes_and_names_the_fix_when_they_are_missing(
    platform: Platform, make_tenant: Callable[..., TenantKeys], tmp_path: Path
) -> None:
    import torch

    tenant = make_tenant()
    env = {"MAAS_URL": platform.url, "MAAS_API_KEY": tenant["publish,invoke,read"]}
    module = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).eval()
    path = tmp_path / "exported.onnx"
    torch.onnx.export(module, (torch.zeros(1, 16),), str(path), input_names=["input"], output_names=["logits"])
    assert (tmp_path / "exported.onnx.data").exists()  # torch's default: the weights beside the model

    registered = maas_cli("models", "register", "exported", str(path), "--wait", env=env)
    assert registered.returncode == 0, registered.stderr + registered.stdout
    assert "inlined the weights" in registered.stderr
    assert "READY" in registered.stdout
    x = np.random.default_rng(0).standard_normal((1, 16)).astype(np.float32)
    answer = platform.call(
        "POST",
        "/v2/models/exported/infer",
        tenant["publish,invoke,read"],
        json_body={"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": x.ravel().tolist()}]},
    )
    assert answer.status_code == 200, answer.text
    expected = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(np.asarray(answer.json()["outputs"][0]["data"]), expected.ravel(), atol=1e-5)

    (tmp_path / "exported.onnx.data").unlink()
    lone = maas_cli("models", "register", "exported", str(path), "--wait", env=env)
    assert lone.returncode == 2
    assert "exported.onnx.data" in lone.stderr
    assert "external_data=False" in lone.stderr


def test_a_memory_bomb_fails_with_its_measured_size(platform: Platform, make_tenant: Callable[..., TenantKeys]):
    key = make_tenant("publish,read")["publish,read"]
    floats = (MAX_MODEL_MEMORY_BYTES + 64 * 1024 * 1024) // 4  # a model of a few hundred bytes, 320 MiB at run time
    data = bomb(floats)
    assert len(data) < 400

    version = register_bytes(platform, key, "bomb", data)

    assert version["status"] == "FAILED"
    assert version["memory_bytes"] > MAX_MODEL_MEMORY_BYTES
    assert f"({version['memory_bytes']} bytes)" in version["failure_reason"]
    assert "MaxModelMemoryBytes" in version["failure_reason"]


# --- TorchScript on the GPU worker --------------------------------------------------------------------------------
def _submit(platform: Platform, key: str, model: str, x: np.ndarray, name: str = "x") -> dict[str, Any]:
    body = {"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    response = platform.call("POST", f"/v1/models/{model}/jobs", key, json_body=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    return wait_for_jobs(platform, key, [job_id])[job_id]


def _conditional(source: str) -> str:
    """A forward that behaves in its smoke run (small inputs) and attacks when a job sends large ones."""
    return f"if x.sum() > 1000.0:\n{_indent(source)}\nreturn x * 2.0\n"


def _indent(source: str) -> str:
    return "\n".join("    " + line for line in source.strip().splitlines())


@confinable
def test_torchscript_from_file_of_the_operator_key_fails_the_job_and_no_bytes_come_back(
    platform: Platform, make_tenant: Callable[..., TenantKeys], tmp_path: Path
) -> None:
    key = make_tenant()["publish,invoke,read"]
    secret = platform.state_dir / "local.env"
    source = _conditional(
        f'b = torch.from_file("{secret}", shared=False, size=4, dtype=torch.uint8)\nreturn x + b.to(torch.float32)\n'
    )
    path = script_forward(tmp_path / "reader" / "model.pt", source)
    version = register_torchscript(platform, key, "reader", path.read_bytes(), SIGNATURE)
    assert version["status"] == "READY", version  # its smoke run behaves

    job = _submit(platform, key, "reader", np.full((1, 4), 1000.0, np.float32))

    assert job["status"] == "FAILED"
    assert job["error"]["code"] == "MODEL_ERROR"
    assert "denied" in job["error"]["error"].lower()
    assert job.get("result") is None
    assert not any(figure in str(job) for figure in secret_figures(platform)[:1])
    # the same model still serves honest requests
    honest = _submit(platform, key, "reader", np.ones((1, 4), np.float32))
    assert honest["status"] == "SUCCEEDED", honest


@confinable
def test_a_torchscript_module_that_writes_into_another_tenants_cached_model_changes_nothing(
    platform: Platform, make_tenant: Callable[..., TenantKeys], tmp_path: Path
) -> None:
    from maas.modelkit import export_torchscript_mlp

    # Given a victim whose TorchScript model is in the worker's cache
    victim = make_tenant()
    victim_key = victim["publish,invoke,read"]
    signature = export_torchscript_mlp(tmp_path / "victim.pt", [4, 8, 4], seed=2)
    victim_version = register_torchscript(
        platform, victim_key, "mine", (tmp_path / "victim.pt").read_bytes(), signature
    )
    assert victim_version["status"] == "READY", victim_version
    rows = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    first = _submit(platform, victim_key, "mine", rows, name="input")
    assert first["status"] == "SUCCEEDED", first
    cached = platform.state_dir / "worker-models" / victim.tenant_id / victim_version["sha256"] / "model.pt"
    assert cached.exists()

    # When an attacker's module writes into that file
    attacker = make_tenant()["publish,invoke,read"]
    source = _conditional(
        f'b = torch.from_file("{cached}", shared=True, size=64, dtype=torch.uint8)\n'
        "return x + b.fill_(7).to(torch.float32).sum() * 0.0\n"
    )
    path = script_forward(tmp_path / "writer" / "model.pt", source)
    assert register_torchscript(platform, attacker, "writer", path.read_bytes(), SIGNATURE)["status"] == "READY"
    attack = _submit(platform, attacker, "writer", np.full((1, 4), 1000.0, np.float32))

    # Then the write is refused, the file is intact, and after a worker restart the victim's numbers are the same
    assert attack["status"] == "FAILED"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == victim_version["sha256"]
    old = worker_pid(platform)
    os.kill(old, signal.SIGKILL)
    wait_for_new_worker(platform, old)
    again = _submit(platform, victim_key, "mine", rows, name="input")
    assert again["status"] == "SUCCEEDED", again
    assert again["result"]["outputs"] == first["result"]["outputs"]
