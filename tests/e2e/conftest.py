"""End-to-end tests: the local runtime started as a user starts it, driven over HTTP, S3 and events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from maas.local.state import read_env, read_state

from e2e_helpers import (
    JOB_LEASE_SECONDS,
    MAX_ARTIFACT_BYTES,
    MAX_BATCH_INPUT_BYTES,
    MAX_MODEL_MEMORY_BYTES,
    REGISTRY_CACHE_SECONDS,
    BusTap,
    Platform,
    TenantKeys,
    free_port,
    maas_cli,
    still_running,
)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One local runtime for the session, started with `maas local up --detach` on free ports."""
    state_dir = tmp_path_factory.mktemp("maas-state")
    started = maas_cli(
        "local",
        "up",
        "--detach",
        "--state-dir",
        str(state_dir),
        "--port",
        str(free_port()),
        "--aws-port",
        str(free_port()),
        "--parameter-overrides",
        f"MaxArtifactBytes={MAX_ARTIFACT_BYTES}",
        f"MaxModelMemoryBytes={MAX_MODEL_MEMORY_BYTES}",
        f"RegistryCacheSeconds={REGISTRY_CACHE_SECONDS}",
        f"JobLeaseSeconds={JOB_LEASE_SECONDS}",
        f"MaxBatchInputBytes={MAX_BATCH_INPUT_BYTES}",
    )
    assert started.returncode == 0, started.stderr + started.stdout
    env = read_env(state_dir / "local.env")
    state = read_state(state_dir)
    assert state is not None
    yield Platform(env["MAAS_URL"], env["MAAS_API_KEY"], env, state_dir)

    current = read_state(state_dir) or state  # GPU workers restarted by tests have new pids
    pids = [
        state["pid"],
        state["emulator"]["pid"],
        *(p for ps in state["functions"].values() for p in ps),
        *(w["pid"] for w in current.get("workers", [])),
    ]
    stopped = maas_cli("local", "down", "--state-dir", str(state_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert not still_running(pids), "maas local down left processes running"


@pytest.fixture(scope="session")
def make_tenant(platform: Platform) -> Callable[..., TenantKeys]:
    """A new tenant with one key per requested scope set, e.g. make_tenant("publish,read", "read")."""

    def make(*scope_sets: str) -> TenantKeys:
        tenant_id = f"t-{uuid.uuid4().hex[:10]}"
        created = platform.call(
            "POST", "/v1/tenants", platform.admin_key, json_body={"tenant_id": tenant_id, "name": tenant_id}
        )
        assert created.status_code == 201, created.text
        keys = {}
        for scopes in scope_sets or ("publish,invoke,read",):
            response = platform.call(
                "POST",
                f"/v1/tenants/{tenant_id}/keys",
                platform.admin_key,
                json_body={"scopes": scopes.split(",")},
            )
            assert response.status_code == 201, response.text
            keys[scopes] = response.json()["api_key"]
        return TenantKeys(tenant_id, keys)

    return make


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from maas.modelkit import export_mlp

    folder = tmp_path_factory.mktemp("models")
    export_mlp(folder / "tiny.onnx", [16, 32, 4])
    return folder


@pytest.fixture(scope="session")
def bus_tap(platform: Platform) -> BusTap:
    sqs, events = platform.aws("sqs"), platform.aws("events")
    queue_url = sqs.create_queue(QueueName=f"tap-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = platform.env["MAAS_RESOURCE_EventBus"]
    events.put_rule(Name="tap-all", EventBusName=bus, EventPattern=json.dumps({"source": ["maas"]}))
    events.put_targets(Rule="tap-all", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
    return BusTap(sqs, queue_url)
