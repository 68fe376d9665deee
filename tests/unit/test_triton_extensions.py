"""Triton's extensions on fakes and a real ONNX model: statistics counted and flushed, the repository index,
model configurations, model control refused, and the models shared with a grantee."""

from __future__ import annotations

import json

import pytest

from maas.access import AccessPolicy, Grants
from maas.api.inference import OipApi
from maas.domain import Batching, Framework, Model, Scope, Target, VersionStatus, utcnow
from maas.domain.access import Action
from maas.domain.stats import InferenceCounters
from maas.errors import ForbiddenError, InvalidRequestError, NotFoundError
from maas.inference.cache import ModelCache
from maas.inference.repository import ModelRepository
from maas.inference.service import InferenceLimits, InferenceService, VersionResolver
from maas.inference.stats import ModelStatistics
from maas.quotas import UsageRecorder
from maas.registry import Registry

from tests.fakes import InMemoryRegistryStore
from tests.unit.factories import principal
from tests.unit.test_inference_service import BUCKET, event, ready_version, request_body

OWNER = principal("acme", Scope.INVOKE, Scope.READ)
GRANTEE = principal("globex", Scope.INVOKE, Scope.READ)
STRANGER = principal("initech", Scope.INVOKE, Scope.READ)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(store, blobs, mlp_onnx, tmp_path, clock) -> OipApi:
    ready_version(store, blobs, "acme", "tiny", mlp_onnx)
    Grants(store, store).put(
        principal("acme", Scope.PUBLISH), "tiny", "globex", [Action.INFER], aliases=None, quota=None
    )
    resolver = VersionResolver(store, ttl_seconds=0, aliases=store)
    access = AccessPolicy(store)
    service = InferenceService(
        resolver,
        ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=10_000_000),
        InferenceLimits(max_request_bytes=50_000),
        access=access,
        usage=UsageRecorder(store, flush_seconds=10, clock=clock),
    )
    return OipApi(
        service,
        statistics=ModelStatistics(store, store, resolver, access),
        repository=ModelRepository(store, resolver, access),
    )


def stats_of(api: OipApi, who=OWNER, name: str | None = "tiny", version: str | None = None) -> list[dict]:
    assert api.statistics is not None
    return api.statistics.statistics(who, name, version)["model_stats"]


def infer(api: OipApi, who, name: str, body: str) -> None:
    api.service.infer(who, name, None, body, None)


def test_stats_count_successes_and_failures_after_a_flush(api: OipApi, clock: Clock) -> None:
    # Given a version nobody called: zeros, as Triton reports a loaded model
    (idle,) = stats_of(api)
    assert (idle["name"], idle["version"], idle["inference_count"], idle["last_inference"]) == ("tiny", "1", 0, 0)
    assert idle["batch_stats"] == []

    # When the owner makes three good calls and one that does not fit the signature
    _, body = request_body(2)
    for _ in range(3):
        infer(api, OWNER, "tiny", body)
    bad = json.dumps({"inputs": [{"name": "input", "shape": [1, 15], "datatype": "FP32", "data": [0] * 15}]})
    with pytest.raises(InvalidRequestError):
        infer(api, OWNER, "tiny", bad)
    assert stats_of(api)[0]["inference_count"] == 0  # counted in memory, not flushed yet

    # Then the next request after the flush interval writes them (before counting itself), one item per version
    clock.now += 11
    infer(api, OWNER, "tiny", body)
    (entry,) = stats_of(api)
    stats = entry["inference_stats"]
    assert entry["inference_count"] == entry["execution_count"] == 3
    assert stats["success"]["count"] == 3
    assert stats["success"]["ns"] > 0
    assert stats["fail"]["count"] == 1
    assert stats["fail"]["ns"] > 0
    for phase in ("compute_input", "compute_infer", "compute_output"):
        assert stats[phase]["count"] == 3
        assert stats[phase]["ns"] > 0
    phases = sum(stats[p]["ns"] for p in ("compute_input", "compute_infer", "compute_output"))
    assert phases == stats["success"]["ns"]
    assert entry["last_inference"] == int((clock.now - 11) * 1000)
    assert entry["batch_stats"][0]["batch_size"] == 1
    assert entry["batch_stats"][0]["compute_infer"]["count"] == 3


def test_a_grantees_calls_count_on_the_owners_model_and_only_the_owner_reads_them(
    api: OipApi, store: InMemoryRegistryStore, clock: Clock
) -> None:
    _, body = request_body(1)
    infer(api, GRANTEE, "acme.tiny", body)
    clock.now += 11
    infer(api, OWNER, "tiny", body)

    assert stats_of(api)[0]["inference_count"] == 1  # the grantee's call, flushed by the owner's
    assert store.list_inference_stats("globex") == []
    with pytest.raises(ForbiddenError, match="GET /v1/tenants/globex/usage"):
        stats_of(api, GRANTEE, "acme.tiny")
    with pytest.raises(NotFoundError):  # not shared with initech: no such model
        stats_of(api, STRANGER, "acme.tiny")
    with pytest.raises(NotFoundError):
        stats_of(api, STRANGER, "tiny")  # initech has no 'tiny' of its own
    assert stats_of(api, STRANGER, None) == []  # nor any model at all
    (usage,) = store.list_usage("globex")  # the grantee's own use of it
    assert (usage["model"], usage["requests"]) == ("acme.tiny", 1)


def test_stats_of_all_models_one_version_and_archived_versions(
    api: OipApi, store: InMemoryRegistryStore, blobs, mlp_onnx: bytes
) -> None:
    ready_version(store, blobs, "acme", "tiny", mlp_onnx)  # version 2
    ready_version(store, blobs, "acme", "other", mlp_onnx)
    store.add_inference_stats("acme", "tiny", 1, InferenceCounters(success_count=5, last_inference_ms=7))
    assert [e["version"] for e in stats_of(api, version="production")] == ["1"]  # an alias names its version
    assert store.set_version_status("acme", "tiny", 1, VersionStatus.ARCHIVED, VersionStatus.READY)

    every = [(e["name"], e["version"], e["inference_count"]) for e in stats_of(api, name=None)]
    assert every == [("other", "1", 0), ("tiny", "1", 5), ("tiny", "2", 0)]  # an archived version keeps its counts
    assert [e["version"] for e in stats_of(api, version="1")] == ["1"]
    with pytest.raises(NotFoundError):
        stats_of(api, version="9")
    with pytest.raises(ForbiddenError):
        stats_of(api, principal("acme"))  # a key without the read scope (nor one implying it)


def test_repository_index_states_and_the_ready_filter(api: OipApi, store: InMemoryRegistryStore, blobs) -> None:
    registry = Registry(store, blobs, artifacts_bucket=BUCKET)
    publisher = principal("acme", Scope.PUBLISH)
    registry.create_model(publisher, "pending", "onnx", "")
    registry.create_version(publisher, "pending", None)
    registry.create_model(publisher, "empty", "onnx", "")
    failed, _ = registry.create_version(publisher, "empty", None)
    failed.status, failed.failure_reason = VersionStatus.FAILED, "not an ONNX model"
    assert store.finish_version(failed)
    repository = api.repository
    assert repository is not None

    assert repository.index(OWNER) == [
        {"name": "empty", "version": "1", "state": "UNAVAILABLE", "reason": "validation failed: not an ONNX model"},
        {
            "name": "pending",
            "version": "1",
            "state": "LOADING",
            "reason": "waiting for its artifact to be uploaded and validated",
        },
        {"name": "tiny", "version": "1", "state": "READY", "reason": ""},
    ]
    assert repository.index(OWNER, ready=True) == [{"name": "tiny", "version": "1", "state": "READY", "reason": ""}]
    assert repository.index(GRANTEE) == []  # a grantee's index is its own models; shared ones are in /v1
    store.models[("acme", "tiny")].deleted_at = utcnow()
    assert [e["name"] for e in repository.index(OWNER)] == ["empty", "pending"]


def test_model_config_as_triton_writes_it(api: OipApi, store: InMemoryRegistryStore) -> None:
    repository = api.repository
    assert repository is not None
    config = repository.config(OWNER, "tiny", None)
    assert config == {
        "name": "tiny",
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "version_policy": {"specific": {"versions": [1]}},
        "max_batch_size": 32,  # both tensors start with a free dimension: Triton's batch dimension, left out
        "input": [{"name": "input", "data_type": "TYPE_FP32", "dims": [16]}],
        "output": [{"name": "logits", "data_type": "TYPE_FP32", "dims": [4]}],
    }
    # a grantee with the read action sees it under the name it calls it by; a GPU model shows its batcher
    model = store.models[("acme", "tiny")]
    model.target, model.batching = Target.GPU, Batching(max_batch_size=8, max_queue_delay_ms=2.5)
    Grants(store, store).put(
        principal("acme", Scope.PUBLISH), "tiny", "globex", [Action.READ], aliases=None, quota=None
    )
    shared = repository.config(GRANTEE, "acme.tiny", "1")
    assert (shared["name"], shared["max_batch_size"]) == ("acme.tiny", 8)
    assert shared["dynamic_batching"] == {"max_queue_delay_microseconds": 2500}
    with pytest.raises(NotFoundError):
        repository.config(STRANGER, "acme.tiny", None)
    with pytest.raises(NotFoundError):
        repository.config(OWNER, "tiny", "7")


def test_model_config_without_a_batch_dimension_keeps_full_shapes() -> None:
    from maas.domain import Framework, Model, ModelVersion, Signature, TensorSpec
    from maas.inference.repository import triton_config

    model = Model(tenant_id="acme", name="fixed", framework=Framework.TORCHSCRIPT)
    version = ModelVersion(
        tenant_id="acme",
        model="fixed",
        version=3,
        artifact_key="k",
        status=VersionStatus.READY,
        signature=Signature(
            inputs=[TensorSpec(name="text", datatype="BYTES", shape=[1])],
            outputs=[TensorSpec(name="ids", datatype="INT64", shape=[-1, 8])],
        ),
    )
    config = triton_config("fixed", model, version)
    assert (config["platform"], config["backend"], config["max_batch_size"]) == ("pytorch_libtorch", "pytorch", 0)
    assert config["input"] == [{"name": "text", "data_type": "TYPE_STRING", "dims": [1]}]
    assert config["output"] == [{"name": "ids", "data_type": "TYPE_INT64", "dims": [-1, 8]}]


def test_routes_answer_tritons_json_and_refuse_model_control(api: OipApi, store: InMemoryRegistryStore) -> None:
    read = {"scopes": "read"}
    stats = api.handle(event("GET /v2/models/stats", {}, **read))
    assert stats["statusCode"] == 200
    assert json.loads(stats["body"])["model_stats"][0]["name"] == "tiny"
    versioned = api.handle(event("GET /v2/models/{name}/versions/{version}/stats", {"name": "tiny", "version": "1"}))
    assert json.loads(versioned["body"])["model_stats"][0]["version"] == "1"
    config = api.handle(event("GET /v2/models/{name}/config", {"name": "tiny"}, **read))
    assert json.loads(config["body"])["platform"] == "onnxruntime_onnx"

    store.create_model(Model(tenant_id="acme", name="empty", framework=Framework.ONNX))  # no version: not ready
    for body, names in (
        (None, ["empty", "tiny"]),
        ("", ["empty", "tiny"]),
        ('{"ready": true}', ["tiny"]),
        ('{"ready": false}', ["empty", "tiny"]),
        ("{}", ["empty", "tiny"]),
    ):
        index = api.handle(event("POST /v2/repository/index", {}, body=body, **read))
        assert index["statusCode"] == 200, index
        assert [e["name"] for e in json.loads(index["body"])] == names
    for bad in ("not json", '{"ready": "yes"}', "[1]"):
        refused = api.handle(event("POST /v2/repository/index", {}, body=bad, **read))
        assert refused["statusCode"] == 400
        assert json.loads(refused["body"])["code"] == "INVALID_REQUEST"

    for action in ("load", "unload"):
        control = api.handle(event(f"POST /v2/repository/models/{{name}}/{action}", {"name": "tiny"}))
        assert control["statusCode"] == 400
        assert f"model control ({action}) is not supported" in json.loads(control["body"])["error"]
        anonymous = api.handle(event(f"POST /v2/repository/models/{{name}}/{action}", {"name": "tiny"}, tenant=None))
        assert anonymous["statusCode"] == 401
    other = api.handle(event("GET /v2/models/{name}/stats", {"name": "tiny"}, tenant="initech"))
    assert other["statusCode"] == 404
    server = json.loads(api.handle(event("GET /v2", {}))["body"])
    assert "statistics" in server["extensions"]
    assert "model_repository" not in server["extensions"]


def test_unconfigured_extensions_are_404() -> None:
    bare = OipApi(service=None)  # type: ignore[arg-type]
    for route in ("GET /v2/models/stats", "GET /v2/models/{name}/config", "POST /v2/repository/index"):
        assert bare.handle(event(route, {"name": "m"}))["statusCode"] == 404


def test_a_flush_that_fails_never_fails_the_request_and_loses_nothing(store: InMemoryRegistryStore) -> None:
    clock = Clock()
    recorder = UsageRecorder(store, flush_seconds=10, clock=clock)
    failures = [RuntimeError("DynamoDB is down")]

    def flaky(*args: object) -> None:
        if failures:
            raise failures.pop()
        InMemoryRegistryStore.add_inference_stats(store, *args)  # type: ignore[arg-type]

    store.add_inference_stats = flaky  # type: ignore[method-assign]
    recorder.record_inference("acme", "m", 1, ok=True, total_ns=10, phases_ns=(1, 8, 1))
    clock.now += 11
    recorder.record_inference("acme", "m", 1, ok=False, total_ns=5)  # this flush fails; the call does not
    clock.now += 11
    recorder.record("acme", "m")  # the next flush writes both
    (stats,) = store.list_inference_stats("acme")
    assert (stats.counters.success_count, stats.counters.fail_count, stats.counters.compute_infer_ns) == (1, 1, 8)
    assert stats.counters.last_inference_ms == int((clock.now - 11) * 1000)


def test_shared_models_list_what_others_granted_and_still_exists(store: InMemoryRegistryStore, blobs) -> None:
    registry = Registry(store, blobs, artifacts_bucket=BUCKET)
    grants = Grants(store, store)
    for owner, name in (("acme", "tiny"), ("acme", "gone"), ("initech", "big")):
        registry.create_model(principal(owner, Scope.PUBLISH), name, "onnx", "")
        grants.put(principal(owner, Scope.PUBLISH), name, "globex", [Action.INFER], aliases=None, quota=None)
    registry.delete_model(principal("acme", Scope.PUBLISH), "gone")

    shared = grants.shared_with(principal("globex", Scope.READ))
    assert [(g.owner, g.model) for g in shared] == [("acme", "tiny"), ("initech", "big")]
    assert grants.shared_with(principal("acme", Scope.READ)) == []
    with pytest.raises(ForbiddenError):
        grants.shared_with(principal("globex"))
