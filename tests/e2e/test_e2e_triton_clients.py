"""Clients that work unchanged, through the local runtime: tritonclient's statistics, repository index and model
configuration; kserve's own REST client (JSON and binary, in its own virtual environment); a grantee listing the
models shared with it; and statistics that stay their owner's."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest

from e2e_helpers import ROOT, Platform, TenantKeys, assert_error, register_bytes

KSERVE_PYTHON = Path(os.environ.get("MAAS_KSERVE_PYTHON", ROOT / ".venv-kserve" / "bin" / "python"))
STATS_BOUND_SECONDS = 60  # generous: the local runtime flushes usage and statistics every second


@pytest.fixture(scope="module")
def owner(platform: Platform, make_tenant: Callable[..., TenantKeys], models_dir: Path) -> TenantKeys:
    tenant = make_tenant("publish,invoke,read")
    tiny = (models_dir / "tiny.onnx").read_bytes()
    assert register_bytes(platform, tenant["publish,invoke,read"], "tiny", tiny)["status"] == "READY"
    return tenant


def triton_client(platform: Platform) -> Any:
    import tritonclient.http as triton

    return triton.InferenceServerClient(platform.url.removeprefix("http://"))


def triton_infer(client: Any, model: str, key: str, x: np.ndarray) -> np.ndarray:
    import tritonclient.http as triton

    tensor = triton.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer(model, [tensor], headers={"Authorization": f"Bearer {key}"})
    return np.asarray(result.as_numpy("logits"))


def wait_for_stats(client: Any, model: str, key: str, *, successes: int, failures: int = 0) -> dict[str, Any]:
    """Poll until the counts have been flushed (no timing is asserted: the bound only stops a broken run)."""
    deadline = time.monotonic() + STATS_BOUND_SECONDS
    while True:
        (entry,) = client.get_inference_statistics(model, "1", headers={"Authorization": f"Bearer {key}"})[
            "model_stats"
        ]
        stats = entry["inference_stats"]
        if (stats["success"]["count"], stats["fail"]["count"]) == (successes, failures):
            return dict(entry)
        assert stats["success"]["count"] <= successes, entry  # never more than were made
        assert time.monotonic() < deadline, f"the counts never reached {successes}/{failures}: {entry}"
        time.sleep(0.2)


def test_tritonclient_reads_statistics_the_index_and_configs(platform: Platform, owner: TenantKeys) -> None:
    from tritonclient.utils import InferenceServerException

    key = owner["publish,invoke,read"]
    headers = {"Authorization": f"Bearer {key}"}
    client = triton_client(platform)
    try:
        # Given a version nobody called yet: listed with zeros
        (idle,) = client.get_inference_statistics("tiny", headers=headers)["model_stats"]
        assert (idle["name"], idle["version"], idle["inference_count"]) == ("tiny", "1", 0)

        # When three calls succeed and one does not fit the model
        x = np.random.default_rng(5).standard_normal((2, 16)).astype(np.float32)
        for _ in range(3):
            triton_infer(client, "tiny", key, x)
        with pytest.raises(InferenceServerException, match="does not fit"):
            triton_infer(client, "tiny", key, np.zeros((1, 15), dtype=np.float32))

        # Then tritonclient reads the counts, summed across the function's processes, once flushed
        entry = wait_for_stats(client, "tiny", key, successes=3, failures=1)
        assert entry["inference_count"] == entry["execution_count"] == 3
        assert entry["last_inference"] > 1_700_000_000_000  # milliseconds since the epoch
        assert entry["inference_stats"]["compute_infer"]["count"] == 3
        assert entry["inference_stats"]["compute_infer"]["ns"] > 0
        every = client.get_inference_statistics(headers=headers)["model_stats"]
        assert [(e["name"], e["inference_count"]) for e in every] == [("tiny", 3)]

        # and the repository index and the model configuration, as Triton answers them
        assert client.get_model_repository_index(headers=headers) == [
            {"name": "tiny", "version": "1", "state": "READY", "reason": ""}
        ]
        config = client.get_model_config("tiny", headers=headers)
        assert config["platform"] == "onnxruntime_onnx"
        assert config["max_batch_size"] > 0
        assert config["input"] == [{"name": "input", "data_type": "TYPE_FP32", "dims": [16]}]
        assert config["output"] == [{"name": "logits", "data_type": "TYPE_FP32", "dims": [4]}]
        assert client.get_model_config("tiny", "1", headers=headers) == config

        # and model control is refused plainly, not as a missing model
        with pytest.raises(InferenceServerException, match="not supported") as refused:
            client.load_model("tiny", headers=headers)
        assert refused.value.status() == "400"
        with pytest.raises(InferenceServerException, match="not supported"):
            client.unload_model("tiny", headers=headers)
    finally:
        client.close()


def test_a_grantee_lists_shared_models_and_its_calls_count_on_the_owners_stats(
    platform: Platform, make_tenant: Callable[..., TenantKeys], models_dir: Path
) -> None:
    owner, partner, stranger = (make_tenant("publish,invoke,read") for _ in range(3))
    own, theirs, other = (t["publish,invoke,read"] for t in (owner, partner, stranger))
    tiny = (models_dir / "tiny.onnx").read_bytes()
    assert register_bytes(platform, own, "scorer", tiny)["status"] == "READY"
    ref = f"{owner.tenant_id}.scorer"
    assert platform.call("GET", "/v1/shared-models", theirs).json() == {"models": []}

    # Given the owner shares the model with the partner
    granted = platform.call(
        "PUT", f"/v1/models/scorer/grants/{partner.tenant_id}", own, json_body={"actions": ["infer", "read"]}
    )
    assert granted.status_code == 200, granted.text

    # Then the partner finds it, under the name it calls it by
    (listed,) = platform.call("GET", "/v1/shared-models", theirs).json()["models"]
    assert (listed["owner"], listed["name"], listed["ref"]) == (owner.tenant_id, "scorer", ref)
    assert listed["actions"] == ["infer", "read"]
    assert platform.call("GET", "/v1/shared-models", other).json() == {"models": []}
    assert platform.call("GET", "/v1/shared-models", own).json() == {"models": []}

    # and its calls count on the owner's model, which only the owner reads
    client = triton_client(platform)
    try:
        x = np.ones((1, 16), dtype=np.float32)
        triton_infer(client, ref, theirs, x)
        triton_infer(client, "scorer", own, x)
        wait_for_stats(client, "scorer", own, successes=2)
    finally:
        client.close()
    assert_error(platform.call("GET", f"/v2/models/{ref}/stats", theirs), 403, "FORBIDDEN")
    assert_error(platform.call("GET", f"/v2/models/{ref}/stats", other), 404, "NOT_FOUND")
    assert_error(platform.call("GET", f"/v2/models/{ref}/config", other), 404, "NOT_FOUND")
    assert platform.call("GET", f"/v2/models/{ref}/config", theirs).json()["name"] == ref
    assert platform.call("GET", "/v2/models/stats", other).json() == {"model_stats": []}
    assert platform.call("POST", "/v2/repository/index", other).json() == []

    # When the grant is revoked, the partner's list is empty again
    revoked = platform.call("DELETE", f"/v1/models/scorer/grants/{partner.tenant_id}", own)
    assert revoked.status_code == 204
    assert platform.call("GET", "/v1/shared-models", theirs).json() == {"models": []}


def test_kserve_rest_client_works_unchanged_in_json_and_binary(
    platform: Platform, owner: TenantKeys, models_dir: Path
) -> None:
    if not KSERVE_PYTHON.exists():
        if "MAKELEVEL" in os.environ:  # `make test` builds the environment first: missing there is a failure
            pytest.fail(f"{KSERVE_PYTHON} is missing: `make kserve-venv` creates it")
        pytest.skip(f"kserve's environment {KSERVE_PYTHON} is absent (make kserve-venv)")
    x = np.random.default_rng(9).standard_normal((3, 16)).astype(np.float32)
    spec = {"name": "input", "shape": list(x.shape), "rows": x.reshape(-1).tolist()}
    script = Path(__file__).with_name("kserve_client.py")
    done = subprocess.run(
        [str(KSERVE_PYTHON), str(script), platform.url, owner["publish,invoke,read"], "tiny", json.dumps(spec)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["ready"] is True
    expected = onnxruntime.InferenceSession(str(models_dir / "tiny.onnx")).run(None, {"input": x})[0]
    for mode in ("json", "binary"):
        assert results[mode]["id"] == f"kserve-{mode == 'binary'}"
        assert results[mode]["model_name"] == "tiny"
        np.testing.assert_allclose(np.asarray(results[mode]["outputs"]["logits"]), expected, rtol=1e-5)
