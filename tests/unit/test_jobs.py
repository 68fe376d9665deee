"""Async jobs on fakes and a real ONNX model: submission, idempotency, ingress, and the worker engine's
exactly-once rules (claims, leases, duplicates, poison, failures that must not retry)."""

from __future__ import annotations

import json
import time

import numpy as np
import onnxruntime
import pytest

from maas.backends.loader import backend_loader
from maas.domain import Scope, Target
from maas.domain.jobs import INLINE_REQUEST_BYTES, Job, JobStatus
from maas.errors import ConflictError, InvalidRequestError, NotFoundError, PayloadTooLargeError
from maas.inference.cache import ModelCache
from maas.inference.service import VersionResolver
from maas.jobs.service import EventSources, Ingress, JobLimits, JobService
from maas.worker.engine import Action, JobProcessor

from tests.fakes import (
    InMemoryBlobStore,
    InMemoryEventSourceStore,
    InMemoryJobStore,
    InMemoryRegistryStore,
    RecordingPublisher,
    RecordingQueue,
)
from tests.unit.factories import principal
from tests.unit.test_inference_service import BUCKET, ready_version

ACME = principal("acme", Scope.INVOKE, Scope.READ, Scope.PUBLISH)


class World:
    def __init__(self, mlp_onnx: bytes, tmp_path, clock=time.time) -> None:
        self.store = InMemoryRegistryStore()
        self.blobs = InMemoryBlobStore()
        self.jobs = InMemoryJobStore()
        self.events = RecordingPublisher()
        self.version = ready_version(self.store, self.blobs, "acme", "tiny", mlp_onnx)
        model = self.store.get_model("acme", "tiny")
        assert model is not None
        self.store.update_model(model.model_copy(update={"target": Target.GPU}))
        self.service = JobService(
            self.jobs,
            VersionResolver(self.store, 0, aliases=self.store),
            self.blobs,
            "jobs-bucket",
            self.events,
            limits=JobLimits(max_request_bytes=2_000_000),
        )
        self.clock_value = [1_000.0]
        self.processor = JobProcessor(
            self.jobs,
            self.store,
            ModelCache(self.blobs, BUCKET, tmp_path / "cache", 10_000_000, loader=backend_loader(use_cuda=False)),
            self.blobs,
            bucket="jobs-bucket",
            events=self.events,
            worker_id="w1",
            lease_seconds=30,
            max_attempts=3,
            clock=clock,
        )
        (tmp_path / "m.onnx").write_bytes(mlp_onnx)
        self.session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])

    def message(self, job: Job) -> str:
        return json.dumps(
            {"detail-type": "InferenceJobQueued", "detail": {"tenant_id": job.tenant_id, "job_id": job.job_id}}
        )


def body(rows: np.ndarray, request_id: str | None = None) -> str:
    doc: dict[str, object] = {
        "inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}]
    }
    if request_id:
        doc["id"] = request_id
    return json.dumps(doc)


@pytest.fixture
def world(mlp_onnx: bytes, tmp_path) -> World:
    return World(mlp_onnx, tmp_path)


X = np.arange(32, dtype=np.float32).reshape(2, 16) / 32


# --- submission ---------------------------------------------------------------------------------------------
def test_submit_records_a_queued_job_pinned_to_the_alias_version_and_announces_its_target(world: World) -> None:
    job, created = world.service.submit(ACME, "tiny", None, body(X), None)
    assert created
    assert (job.status, job.version, job.alias, job.target) == (JobStatus.QUEUED, 1, "production", Target.GPU)
    assert job.request_body == body(X).encode()
    assert world.events.of_type("InferenceJobQueued") == [
        {"tenant_id": "acme", "job_id": job.job_id, "model": "tiny", "version": 1, "target": "gpu"}
    ]


def test_inputs_that_do_not_fit_are_refused_before_anything_is_stored(world: World) -> None:
    with pytest.raises(InvalidRequestError, match="shape"):
        world.service.submit(ACME, "tiny", None, body(np.zeros((1, 15), np.float32)), None)
    assert world.jobs.jobs == {}
    assert world.events.events == []


def test_a_large_request_goes_to_the_bucket_not_into_the_item(world: World) -> None:
    rows = np.zeros((1000, 16), np.float32)
    job, _ = world.service.submit(ACME, "tiny", None, body(rows), None)
    assert len(body(rows)) > INLINE_REQUEST_BYTES
    assert job.request_body is None
    assert job.request_key == f"acme/jobs/{job.job_id}/request"
    assert b"".join(world.blobs.iter_bytes("jobs-bucket", job.request_key)) == body(rows).encode()


def test_over_the_size_limit_is_413(world: World) -> None:
    with pytest.raises(PayloadTooLargeError):
        world.service.submit(ACME, "tiny", None, "x" * 2_000_001, None)


def test_an_idempotency_key_replays_the_job_and_refuses_another_body(world: World) -> None:
    first, created = world.service.submit(ACME, "tiny", None, body(X), None, idempotency_key="k-1")
    again, created_again = world.service.submit(ACME, "tiny", None, body(X), None, idempotency_key="k-1")
    assert created
    assert not created_again
    assert again.job_id == first.job_id
    assert len(world.jobs.jobs) == 1
    with pytest.raises(ConflictError):
        world.service.submit(ACME, "tiny", None, body(X * 2), None, idempotency_key="k-1")


def test_another_tenants_model_and_job_are_not_found(world: World) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    other = principal("globex", Scope.INVOKE, Scope.READ)
    with pytest.raises(NotFoundError):
        world.service.submit(other, "tiny", None, body(X), None)
    with pytest.raises(NotFoundError):
        world.service.get(other, job.job_id)
    assert world.service.list(other) == []


def test_only_a_queued_job_can_be_cancelled_and_a_cancelled_job_never_runs(world: World) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    assert world.service.cancel(ACME, job.job_id).status == JobStatus.CANCELLED
    assert world.processor.handle(world.message(job)).action == Action.DONE
    assert world.jobs.get_job("acme", job.job_id).status == JobStatus.CANCELLED  # type: ignore[union-attr]
    with pytest.raises(ConflictError):
        world.service.cancel(ACME, job.job_id)


def test_a_lost_announcement_fails_the_job_instead_of_leaving_it_queued(world: World) -> None:
    world.events.failures = 1
    with pytest.raises(Exception, match="could not be queued"):
        world.service.submit(ACME, "tiny", None, body(X), None)
    (stored,) = world.jobs.jobs.values()
    assert stored.status == JobStatus.FAILED


# --- ingress ------------------------------------------------------------------------------------------------
def ingress(world: World) -> tuple[Ingress, RecordingQueue, EventSources]:
    sources = EventSources(InMemoryEventSourceStore())
    dead = RecordingQueue()
    return Ingress(world.service, sources.store, dead), dead, sources


def requested(source: str, detail: object, event_id: str = "e-1") -> dict[str, object]:
    return {"id": event_id, "source": source, "detail-type": "InferenceRequested", "detail": detail}


def test_an_event_from_a_registered_source_becomes_a_job_once_per_event_id(world: World) -> None:
    gate, dead, sources = ingress(world)
    sources.register(ACME, "acme.orders")
    event = requested("acme.orders", {"model": "tiny", "request": json.loads(body(X, "r-1"))})
    first = gate.handle(event)
    again = gate.handle(event)  # EventBridge delivers at least once
    assert first is not None
    assert again is not None
    assert first.job_id == again.job_id
    assert (first.tenant_id, first.source) == ("acme", "acme.orders")
    assert dead.messages == []


@pytest.mark.parametrize(
    ("source", "detail", "code"),
    [
        ("strangers", {"model": "tiny", "request": {}}, "UNKNOWN_SOURCE"),
        ("orders", {"model": "tiny", "request": {}}, "UNKNOWN_SOURCE"),  # the name without its tenant
        ("globex.orders", {"model": "tiny", "request": {}}, "UNKNOWN_SOURCE"),  # another tenant's namespace
        ("acme.", {"model": "tiny", "request": {}}, "UNKNOWN_SOURCE"),
        ("acme.orders", {"request": {}}, "INVALID_DETAIL"),
        ("acme.orders", {"model": "tiny", "request": {}, "surprise": 1}, "INVALID_DETAIL"),
        ("acme.orders", {"model": "nope", "request": json.loads(body(X))}, "NOT_FOUND"),
    ],
)
def test_rejected_events_go_to_the_dead_letter_queue_with_the_reason(world, source, detail, code) -> None:
    gate, dead, sources = ingress(world)
    sources.register(ACME, "acme.orders")
    assert gate.handle(requested(source, detail)) is None
    (letter,) = [json.loads(m) for m in dead.messages]
    assert letter["code"] == code
    assert letter["reason"]
    assert letter["event"]["source"] == source
    assert world.jobs.jobs == {}


def test_an_event_whose_inputs_do_not_fit_is_a_failed_job_at_once(world: World) -> None:
    gate, _dead, sources = ingress(world)
    sources.register(ACME, "acme.orders")
    job = gate.handle(requested("acme.orders", {"model": "tiny", "request": json.loads(body(np.zeros((1, 3))))}))
    assert job is not None
    assert (job.status, job.error_code, job.attempts) == (JobStatus.FAILED, "INVALID_REQUEST", 0)
    assert [e["job_id"] for e in world.events.of_type("InferenceFailed")] == [job.job_id]
    assert world.events.of_type("InferenceJobQueued") == []


@pytest.mark.parametrize("shape", [[1] * 70, [2**63 - 1, 0]], ids=["70-dimensions", "overflow"])
def test_an_event_with_a_shape_numpy_cannot_hold_is_a_failed_job_at_once(world: World, shape: list[int]) -> None:
    gate, dead, sources = ingress(world)
    sources.register(ACME, "acme.orders")
    request = {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": []}]}
    job = gate.handle(requested("acme.orders", {"model": "tiny", "request": request}))
    assert job is not None
    assert (job.status, job.error_code, job.attempts) == (JobStatus.FAILED, "INVALID_REQUEST", 0)
    assert "input 'input': shape" in (job.error or "")
    assert dead.messages == []


GLOBEX_PUBLISHER = principal("globex", Scope.PUBLISH, Scope.READ)


def test_event_sources_are_named_in_their_tenants_namespace(world: World) -> None:
    _, _, sources = ingress(world)
    registered = sources.register(ACME, "acme.orders")
    assert (registered.tenant_id, registered.source) == ("acme", "acme.orders")
    assert sources.register(ACME, "acme.shop.eu-1_b").source == "acme.shop.eu-1_b"
    with pytest.raises(ConflictError):  # registering one's own source twice
        sources.register(ACME, "acme.orders")
    assert [s.source for s in sources.list(ACME)] == ["acme.orders", "acme.shop.eu-1_b"]
    assert sources.list(GLOBEX_PUBLISHER) == []


@pytest.mark.parametrize(
    "source", ["orders", "globex.orders", "acme", "acme.", "acme..x", "acme.-x", "acmeco.x", "ACME.x", "acme.a b"]
)
def test_a_source_outside_the_tenants_namespace_is_400(world: World, source: str) -> None:
    _, _, sources = ingress(world)
    with pytest.raises(InvalidRequestError, match=r"named 'acme\.<name>'"):
        sources.register(ACME, source)


def test_no_tenant_can_squat_or_probe_another_tenants_source(world: World) -> None:
    # Given globex registered globex.orders
    _, _, sources = ingress(world)
    sources.register(GLOBEX_PUBLISHER, "globex.orders")

    # When acme tries that name, and one nobody registered in globex's namespace
    with pytest.raises(InvalidRequestError) as taken:
        sources.register(ACME, "globex.orders")
    with pytest.raises(InvalidRequestError) as free:
        sources.register(ACME, "globex.billing")

    # Then both answers are the same 400: acme learns nothing, and cannot take globex's names
    assert taken.value.message == free.value.message
    with pytest.raises(NotFoundError):
        sources.delete(ACME, "globex.orders")
    assert [s.source for s in sources.list(GLOBEX_PUBLISHER)] == ["globex.orders"]


def test_reserved_sources_are_refused(world: World) -> None:
    _, _, sources = ingress(world)
    for tenant_id in ("aws", "maas-team"):
        with pytest.raises(InvalidRequestError, match="reserved"):
            sources.register(principal(tenant_id, Scope.PUBLISH), f"{tenant_id}.orders")


def test_events_run_as_the_tenant_the_source_names(world: World) -> None:
    # Given acme and globex each registered a source of their own
    gate, dead, sources = ingress(world)
    sources.register(ACME, "acme.orders")
    sources.register(GLOBEX_PUBLISHER, "globex.orders")
    detail = {"model": "tiny", "request": json.loads(body(X, "r-1"))}

    # When each sends an event naming acme's model "tiny"
    mine = gate.handle(requested("acme.orders", detail, "e-1"))
    theirs = gate.handle(requested("globex.orders", detail, "e-2"))

    # Then acme's runs as acme; globex's runs as globex, which has no such model
    assert mine is not None
    assert (mine.tenant_id, mine.source) == ("acme", "acme.orders")
    assert theirs is None
    (letter,) = [json.loads(m) for m in dead.messages]
    assert (letter["event"]["source"], letter["code"]) == ("globex.orders", "NOT_FOUND")


# --- the worker engine --------------------------------------------------------------------------------------
def test_the_engine_runs_a_job_once_and_announces_it_once(world: World) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X, "r-9"), None)
    handled = world.processor.handle(world.message(job))
    assert handled.action == Action.DONE
    done = world.service.get(ACME, job.job_id)
    assert done.status == JobStatus.SUCCEEDED
    result = world.service.result_document(done)
    assert result is not None
    assert result["id"] == "r-9"
    expected = world.session.run(None, {"input": X})[0]
    np.testing.assert_allclose(np.array(result["outputs"][0]["data"]).reshape(2, 4), expected, rtol=1e-6)
    assert done.queue_ms is not None
    assert done.run_ms is not None
    # a duplicate delivery changes nothing and sends nothing
    assert world.processor.handle(world.message(job)).action == Action.DONE
    assert world.service.get(ACME, job.job_id) == done
    assert [e["job_id"] for e in world.events.of_type("InferenceCompleted")] == [job.job_id]


def test_a_job_held_under_a_live_lease_comes_back_later(world: World) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    now = time.time()
    assert world.jobs.claim_job("acme", job.job_id, token="other", worker="w0", lease_until=now + 20, now=now)
    handled = world.processor.handle(world.message(job))
    assert handled.action == Action.RETRY
    assert 15 <= handled.delay <= 22
    assert world.jobs.get_job("acme", job.job_id).lease_token == "other"  # type: ignore[union-attr]


def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(world: World) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    now = time.time()
    world.jobs.claim_job("acme", job.job_id, token="dead", worker="w0", lease_until=now - 1, now=now - 31)
    assert world.processor.handle(world.message(job)).action == Action.DONE
    done = world.service.get(ACME, job.job_id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)


def test_a_job_that_stopped_its_worker_every_time_is_failed_and_dead_lettered(world: World) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    for attempt in range(3):  # three workers died holding it
        now = time.time()
        assert world.jobs.claim_job("acme", job.job_id, token=f"t{attempt}", worker="w", lease_until=now - 1, now=now)
    handled = world.processor.handle(world.message(job))
    assert handled.action == Action.DEAD
    assert "stopped each time" in handled.reason
    failed = world.service.get(ACME, job.job_id)
    assert (failed.status, failed.error_code) == (JobStatus.FAILED, "WORKER_CRASHED")
    assert [e["job_id"] for e in world.events.of_type("InferenceFailed")] == [job.job_id]


def test_inputs_the_worker_cannot_run_fail_without_retry(world: World) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    stored = world.jobs.jobs[("acme", job.job_id)]
    stored.request_body = body(np.zeros((1, 3), np.float32)).encode()  # as if the version's signature had changed
    assert world.processor.handle(world.message(job)).action == Action.DONE
    failed = world.service.get(ACME, job.job_id)
    assert (failed.status, failed.error_code, failed.attempts) == (JobStatus.FAILED, "INVALID_REQUEST", 1)


def test_a_model_that_fails_on_the_inputs_fails_the_job_as_the_models_error_without_retry(
    world: World, monkeypatch
) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    backend = world.processor.models.session(world.version)

    def failing(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise RuntimeError("kernel refused the input (/tmp/maas-models/acme/model.onnx)")

    monkeypatch.setattr(backend, "run", failing)
    assert world.processor.handle(world.message(job)).action == Action.DONE
    failed = world.service.get(ACME, job.job_id)
    assert (failed.status, failed.error_code, failed.attempts) == (JobStatus.FAILED, "MODEL_ERROR", 1)
    assert failed.error == "the model could not run on these inputs: kernel refused the input (<path>)"


def test_an_infrastructure_error_releases_the_job_for_another_attempt(world: World, monkeypatch) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)

    def unreachable(*args: object, **kwargs: object) -> object:
        raise ConnectionError("S3 is unreachable (injected)")

    monkeypatch.setattr(world.blobs, "iter_bytes", unreachable)
    handled = world.processor.handle(world.message(job))
    assert handled.action == Action.RETRY
    assert world.jobs.get_job("acme", job.job_id).status == JobStatus.QUEUED  # type: ignore[union-attr]


def test_a_worker_that_lost_its_lease_writes_nothing(world: World, monkeypatch) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    original = world.processor._run

    def slow_then_stolen(claimed: Job):
        outcome = original(claimed)
        stored = world.jobs.jobs[("acme", job.job_id)]
        stored.lease_token = "thief"  # another worker took it over meanwhile
        return outcome

    monkeypatch.setattr(world.processor, "_run", slow_then_stolen)
    assert world.processor.handle(world.message(job)).action == Action.DONE
    assert world.jobs.get_job("acme", job.job_id).status == JobStatus.RUNNING  # type: ignore[union-attr]
    assert world.events.of_type("InferenceCompleted") == []


def test_a_message_that_names_no_job_is_dead_lettered(world: World) -> None:
    assert world.processor.handle("not json").action == Action.DEAD
    assert world.processor.handle(json.dumps({"detail": {"x": 1}})).action == Action.DEAD


def test_concurrent_jobs_share_batches(world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    jobs = [world.service.submit(ACME, "tiny", None, body(X[:1] * i), None)[0] for i in range(24)]
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda j: world.processor.handle(world.message(j)).action, jobs))
    assert results == [Action.DONE] * 24
    stats = world.processor.batch_stats()
    assert stats["rows"] == 24
    assert stats["batches"] < 24  # at least two jobs ran in one batch
    for i, job in enumerate(jobs):
        result = world.service.result_document(world.service.get(ACME, job.job_id))
        assert result is not None
        expected = world.session.run(None, {"input": X[:1] * i})[0]
        np.testing.assert_allclose(np.array(result["outputs"][0]["data"]).reshape(1, 4), expected, rtol=1e-5, atol=1e-6)


def test_max_concurrent_jobs_limits_what_is_queued_or_running(world: World) -> None:
    from maas.domain.access import Quota
    from maas.errors import TooManyRequestsError
    from maas.quotas import QuotaEnforcer

    world.store.put_quota("acme", Quota(requests_per_second=1000, max_concurrent_jobs=2))
    world.service.quotas = QuotaEnforcer(world.store, cache_seconds=0)
    first, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    world.service.submit(ACME, "tiny", None, body(X), None)
    with pytest.raises(TooManyRequestsError, match="max_concurrent_jobs") as refused:
        world.service.submit(ACME, "tiny", None, body(X), None)
    assert refused.value.headers["Retry-After"] == "1"
    # once one finishes, there is room again
    assert world.processor.handle(world.message(first)).action == Action.DONE
    world.service.submit(ACME, "tiny", None, body(X), None)


def test_an_event_that_could_not_be_sent_is_sent_by_the_next_delivery_once(world: World) -> None:
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    world.events.failures = 1  # the bus is unreachable just when the outcome is announced
    with pytest.raises(ConnectionError):
        world.processor.handle(world.message(job))
    assert world.service.get(ACME, job.job_id).status == JobStatus.SUCCEEDED
    assert world.events.of_type("InferenceCompleted") == []
    for _ in range(2):  # the message comes back, twice
        assert world.processor.handle(world.message(job)).action == Action.DONE
    assert [e["job_id"] for e in world.events.of_type("InferenceCompleted")] == [job.job_id]
