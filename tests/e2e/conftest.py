"""End-to-end tests: the local runtime started as a user starts it, driven over HTTP, S3 and events."""

from __future__ import annotations

import json
import os
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

# Set (to a `sam build` folder) by `make test-built`: every function then runs from its built code and layers
# on the Lambda runtime's Python, as deployed, instead of from this virtual environment.
FROM_BUILD = os.environ.get("MAAS_E2E_FROM_BUILD")

# What `make test-built` runs on the built functions (`-m built`): for each function of the template, tests that
# go through it. A run from a build fails when a function is missing here or a test named here is not found.
BUILT_COVERAGE = {
    "AuthorizerFunction": [
        "test_e2e_auth.py::test_no_key_is_401",
        "test_e2e_auth.py::test_bearer_and_x_api_key_both_work",
        "test_e2e_auth.py::test_missing_scope_is_403",
    ],
    "ControlPlaneFunction": [
        "test_e2e_auth.py::test_keys_are_shown_once_and_stored_only_as_hashes",
        "test_e2e_models.py::test_model_requests_are_validated",
        "test_e2e_grants.py::test_grant_use_limit_and_revoke",
        "test_e2e_docs_browser.py::test_swagger_ui_authorises_with_a_key_and_tries_a_call",
    ],
    "ValidateModelFunction": [
        "test_e2e_models.py::test_register_validates_and_announces",
        "test_e2e_models.py::test_bad_artifacts_fail_with_a_reason",
        "test_e2e_isolation.py::test_a_bundle_with_its_data_file_becomes_ready_and_serves_over_v2",
        "test_e2e_isolation.py::test_a_memory_bomb_fails_with_its_measured_size",
        "test_e2e_isolation.py::test_onnx_external_data_naming_the_operator_key_file_fails_and_echoes_nothing",
    ],
    "InferenceFunction": [
        "test_e2e_inference.py::test_infer_matches_onnxruntime",
        "test_e2e_inference.py::test_binary_tensor_extension",
        "test_e2e_inference.py::test_tritonclient_works_unchanged",
        "test_e2e_inference.py::test_every_datatype_round_trips_in_json_and_binary",
        "test_e2e_quotas.py::test_tenant_quota_throttles_a_burst_and_recovers",
        "test_e2e_triton_clients.py::test_tritonclient_reads_statistics_the_index_and_configs",
        "test_e2e_metrics.py::test_inference_emf_records_reach_the_logs_and_maas_stats_counts_them",
    ],
    "ShadowFunction": ["test_e2e_aliases.py::test_shadow_never_alters_responses_and_reports_agreement"],
    "OptimizeFunction": ["test_e2e_aliases.py::test_optimize_builds_a_quantized_version_to_canary"],
    "JobsFunction": [
        "test_e2e_jobs.py::test_prefer_respond_async_on_the_v2_route_queues_a_job",
        "test_e2e_jobs.py::test_idempotency_key_returns_the_same_job_and_refuses_another_body",
        "test_e2e_jobs.py::test_large_requests_and_results_go_through_the_jobs_bucket",
    ],
    "IngressFunction": [
        "test_e2e_jobs.py::test_events_from_unregistered_sources_or_with_bad_detail_land_in_the_dead_letter_queue",
        "test_e2e_jobs.py::test_an_event_whose_inputs_do_not_fit_the_model_fails_at_once",
    ],
    "CpuJobsFunction": ["test_e2e_jobs.py::test_a_cpu_target_model_runs_its_jobs_in_the_cpu_jobs_function"],
    "BatchSplitFunction": [
        "test_e2e_batch.py::test_columns_that_do_not_fit_fail_the_job_with_the_reason",
        "test_e2e_batch.py::test_a_direct_inbox_write_starts_a_job",
    ],
    "BatchWorkerFunction": [
        "test_e2e_batch.py::test_jsonl_in_order_with_ids_and_a_malformed_line_in_errors",
        "test_e2e_batch.py::test_csv_with_an_id_column_and_feature_columns",
        "test_e2e_batch.py::test_parquet_with_a_list_column_per_input",
    ],
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    listed = {test for tests in BUILT_COVERAGE.values() for test in tests}
    found = set()
    for item in items:
        name = item.nodeid.split("[")[0].rsplit("/", 1)[-1]
        if name in listed:
            item.add_marker(pytest.mark.built)
            found.add(name)
    if not FROM_BUILD:
        return
    from maas.deployment.artifacts import read_build

    uncovered = {f.logical_id for f in read_build(Path(FROM_BUILD))} - set(BUILT_COVERAGE)
    if uncovered:
        raise pytest.UsageError(f"no end-to-end test of {', '.join(sorted(uncovered))} in BUILT_COVERAGE")
    whole_suite = any(Path(str(arg)).resolve() == Path(__file__).parent for arg in config.args)
    if whole_suite and listed - found:
        raise pytest.UsageError(f"BUILT_COVERAGE names tests that do not exist: {', '.join(sorted(listed - found))}")


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One local runtime for the session, started with `maas local up --detach` on free ports."""
    state_dir = tmp_path_factory.mktemp("maas-state")
    started = maas_cli(
        "local",
        "up",
        "--detach",
        *(["--from-build", FROM_BUILD] if FROM_BUILD else []),
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
    assert bool(state["from_build"]) == bool(FROM_BUILD)
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
