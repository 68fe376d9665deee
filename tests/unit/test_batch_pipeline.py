"""A batch job end to end on fakes: an upload -> split -> shards -> assembly, and what SQS and S3 do to it.

SQS delivers shards again (a duplicate, a redelivery after a worker died) and S3 its notifications; workers
die holding a claim. Whatever happens, every row ends in the results once and the job is announced once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from maas.batch.assembly import BatchAssembler
from maas.batch.predict import CachedModelPredictor
from maas.batch.service import BatchService
from maas.batch.settings import BatchSettings
from maas.batch.shards import ShardRunner
from maas.batch.split import BatchSplitter
from maas.domain import Framework, Model, ModelVersion, Scope, Signature, Target, Tenant, VersionStatus
from maas.domain.batch import (
    ASSEMBLY_STALE_SECONDS,
    SPLIT_STALE_SECONDS,
    BatchFormat,
    BatchJob,
    BatchStatus,
    ShardMessage,
    outbox_prefix,
)
from maas.errors import ConflictError, ModelLoadError, NotFoundError
from maas.inference.service import VersionResolver

from tests.fakes import InMemoryBatchStore, InMemoryBlobStore, InMemoryRegistryStore, RecordingPublisher, RecordingQueue
from tests.unit.factories import principal

INBOX, OUTBOX = "inbox", "outbox"
KEY = "batch/acme/scorer/1/daily.jsonl"
SIGNATURE = Signature.model_validate(
    {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}],
    }
)


class Doubling:
    """A model that doubles the first two of its three inputs and refuses any batch holding a 13."""

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["x"]
        if (x == 13).any():
            raise ValueError("thirteen")
        return {"y": x[:, :2] * 2}


@dataclass
class FakeModels:
    """A model cache holding ``Doubling`` for every version, or failing to load when ``broken``."""

    broken: bool = False
    loaded: list[int] = field(default_factory=list)

    def session(self, version: ModelVersion) -> Doubling:
        if self.broken:
            raise ModelLoadError("the artifact does not parse")
        self.loaded.append(version.version)
        return Doubling()


class InterruptibleBlobStore(InMemoryBlobStore):
    """A blob store that runs an action once, just before the next write to a key ending in a suffix: a worker
    killed there (the action raises), or one that stalls there while another worker goes on (the action runs it)."""

    def __init__(self) -> None:
        super().__init__()
        self._interrupt: tuple[str, Callable[[], None]] | None = None

    def interrupt(self, suffix: str, action: Callable[[], None]) -> None:
        self._interrupt = (suffix, action)

    def _before_write(self, key: str) -> None:
        if self._interrupt is not None and key.endswith(self._interrupt[0]):
            _, action = self._interrupt
            self._interrupt = None
            action()

    def put(self, bucket: str, key: str, data: bytes) -> str:
        self._before_write(key)
        return super().put(bucket, key, data)

    def put_file(self, bucket: str, key: str, path: str) -> None:
        self._before_write(key)
        super().put_file(bucket, key, path)


def killed() -> None:
    raise SystemExit("killed")  # nothing the code handles: the process is gone, SQS or S3 delivers again


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class BatchPlatform:
    """The API, split, shards and assembly of one platform, on one set of fakes."""

    def __init__(self, shard_rows: int = 2, max_input_bytes: int = 10**6) -> None:
        self.registry = InMemoryRegistryStore()
        self.blobs = InterruptibleBlobStore()
        self.store = InMemoryBatchStore()
        self.events = RecordingPublisher()
        self.cpu_queue, self.gpu_queue = RecordingQueue(), RecordingQueue()
        self.models = FakeModels()
        self.clock = Clock()
        settings = BatchSettings(
            inbox_bucket=INBOX, outbox_bucket=OUTBOX, shard_rows=shard_rows, max_input_bytes=max_input_bytes
        )
        resolver = VersionResolver(self.registry, 0, aliases=self.registry)
        assembler = BatchAssembler(self.store, self.blobs, self.events, settings=settings, clock=self.clock)
        self.service = BatchService(self.store, resolver, self.blobs, settings=settings)
        self.splitter = BatchSplitter(
            self.store,
            resolver,
            self.blobs,
            assembler,
            settings=settings,
            tenants=self.registry,
            cpu_shards=self.cpu_queue,
            gpu_shards=self.gpu_queue,
            clock=self.clock,
        )
        predictor = CachedModelPredictor(self.models)  # type: ignore[arg-type]  # only session() is used
        self.runner = ShardRunner(self.store, resolver, self.blobs, predictor, assembler, settings=settings)
        self.registry.create_tenant(Tenant(tenant_id="acme", name="Acme"))
        self.registry.create_tenant(Tenant(tenant_id="globex", name="Globex"))
        self.add_model("acme", "scorer")

    def add_model(self, tenant_id: str, name: str, target: Target = Target.CPU) -> None:
        self.registry.create_model(Model(tenant_id=tenant_id, name=name, framework=Framework.ONNX, target=target))
        self.registry.put_version(
            ModelVersion(
                tenant_id=tenant_id,
                model=name,
                version=self.registry.allocate_version(tenant_id, name),
                status=VersionStatus.READY,
                artifact_key=f"{tenant_id}/{name}/1/model.onnx",
                sha256="0" * 64,
                signature=SIGNATURE,
            )
        )

    def upload(self, data: bytes, key: str = KEY) -> BatchJob | None:
        """The file lands in the inbox, and S3 tells the split function."""
        self.blobs.put(INBOX, key, data)
        return self.splitter.split(INBOX, key)

    def deliver(self, count: int | None = None) -> None:
        """SQS hands the next ``count`` shard messages (all, when None) to workers."""
        while self.cpu_queue.messages and count != 0:
            self.runner.run_shard(self.cpu_queue.messages.pop(0))
            count = None if count is None else count - 1

    def job(self, job_id: str) -> BatchJob:
        found = self.store.get_batch("acme", job_id)
        assert found is not None
        return found

    def outbox(self, job: BatchJob, name: str) -> bytes:
        return b"".join(self.blobs.iter_bytes(OUTBOX, f"{outbox_prefix(job.tenant_id, job.job_id)}/{name}"))

    def predictions(self, job: BatchJob) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.outbox(job, "predictions.jsonl").splitlines()]

    def errors(self, job: BatchJob) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.outbox(job, "errors.jsonl").splitlines()]


def jsonl(*rows: object) -> bytes:
    """One line per row: a list is a row's ``x``; bytes are written as they are (a malformed line)."""
    lines = []
    for i, row in enumerate(rows):
        lines.append(row if isinstance(row, bytes) else json.dumps({"id": f"r{i}", "inputs": {"x": row}}).encode())
    return b"\n".join(lines) + b"\n"


@pytest.fixture
def platform() -> BatchPlatform:
    return BatchPlatform()


def test_an_upload_runs_through_split_shards_and_assembly_and_is_announced_once(platform: BatchPlatform) -> None:
    # Given a job started through the API
    started, upload = platform.service.start(principal("acme", Scope.INVOKE), "scorer", "1", BatchFormat.JSONL, "daily")
    assert (started.status, started.inbox_key, upload.method) == (BatchStatus.PENDING_UPLOAD, KEY, "PUT")
    assert upload.headers == {"Content-Type": "application/x-ndjson"}
    # When its file of five rows arrives: three shards of at most two rows wait on the CPU queue
    split = platform.upload(jsonl(*([i, i, i] for i in range(5))))
    assert split is not None
    assert split.job_id == started.job_id
    assert (split.status, split.total_rows, split.total_shards, split.version) == (BatchStatus.RUNNING, 5, 3, 1)
    shards = [ShardMessage.model_validate_json(m) for m in platform.cpu_queue.messages]
    assert [(m.shard, m.rows, m.version) for m in shards] == [(0, 2, 1), (1, 2, 1), (2, 1, 1)]
    assert platform.gpu_queue.messages == []
    assert platform.events.events == []
    # Then the last shard assembles the job: every row once, in order, with its id
    platform.deliver()
    done = platform.job(started.job_id)
    assert (done.status, done.shards_done, done.rows_done, done.rows_failed) == (BatchStatus.SUCCEEDED, 3, 5, 0)
    assert done.announced
    assert platform.predictions(done) == [{"id": f"r{i}", "outputs": {"y": [2.0 * i, 2.0 * i]}} for i in range(5)]
    assert platform.errors(done) == []
    manifest = json.loads(platform.outbox(done, "manifest.json"))
    assert (manifest["rows"], manifest["rows_succeeded"], manifest["rows_failed"], manifest["shards"]) == (5, 5, 0, 3)
    assert done.manifest == manifest
    prefix = f"s3://{OUTBOX}/acme/batch/{done.job_id}"
    assert platform.events.events == [
        (
            "BatchJobCompleted",
            {
                "tenant_id": "acme",
                "job_id": done.job_id,
                "model": "scorer",
                "version": 1,
                "status": "SUCCEEDED",
                "rows": 5,
                "rows_failed": 0,
                "predictions": f"{prefix}/predictions.jsonl",
                "errors": f"{prefix}/errors.jsonl",
                "manifest": f"{prefix}/manifest.json",
            },
        )
    ]
    reader = principal("acme", Scope.READ)
    assert set(platform.service.downloads(platform.service.get(reader, done.job_id))) == {
        "predictions",
        "errors",
        "manifest",
    }


def test_a_duplicate_shard_delivery_adds_no_row_and_no_second_event(platform: BatchPlatform) -> None:
    job = platform.upload(jsonl(*([i, i, i] for i in range(5))))
    assert job is not None
    first, second, last = platform.cpu_queue.messages
    platform.runner.run_shard(first)
    platform.runner.run_shard(first)  # SQS delivers at least once
    running = platform.job(job.job_id)
    assert (running.status, running.shards_done, running.rows_done) == (BatchStatus.RUNNING, 1, 2)
    platform.runner.run_shard(second)
    platform.runner.run_shard(last)
    platform.runner.run_shard(last)  # after the job is done
    platform.runner.run_shard(second)
    done = platform.job(job.job_id)
    assert (done.status, done.shards_done, done.rows_done, done.rows_failed) == (BatchStatus.SUCCEEDED, 3, 5, 0)
    assert [p["id"] for p in platform.predictions(done)] == [f"r{i}" for i in range(5)]
    assert len(platform.events.of_type("BatchJobCompleted")) == 1
    assert platform.events.of_type("BatchJobFailed") == []


def test_an_assembly_whose_worker_died_is_taken_over_once_its_claim_is_stale(platform: BatchPlatform) -> None:
    job = platform.upload(jsonl(*([i, i, i] for i in range(3))))
    assert job is not None
    platform.deliver(1)
    # Given the worker of the last shard claims the assembly and is killed while it uploads the predictions
    platform.blobs.interrupt("predictions.jsonl", killed)
    last = platform.cpu_queue.messages.pop(0)
    with pytest.raises(SystemExit):
        platform.runner.run_shard(last)
    assert platform.job(job.job_id).status == BatchStatus.ASSEMBLING
    # When SQS redelivers the shard while that claim is still live: the shard is not counted again, nothing ends
    platform.clock.now += ASSEMBLY_STALE_SECONDS - 1
    platform.runner.run_shard(last)
    assert (platform.job(job.job_id).status, platform.job(job.job_id).shards_done) == (BatchStatus.ASSEMBLING, 2)
    assert platform.events.events == []
    # Then a redelivery after the claim went stale takes the assembly over and finishes the job once
    platform.clock.now += 2
    platform.runner.run_shard(last)
    platform.runner.run_shard(last)
    done = platform.job(job.job_id)
    assert (done.status, done.shards_done, done.rows_done) == (BatchStatus.SUCCEEDED, 2, 3)
    assert [p["id"] for p in platform.predictions(done)] == ["r0", "r1", "r2"]
    assert len(platform.events.events) == 1
    assert platform.events.of_type("BatchJobCompleted")[0]["rows"] == 3


def test_an_assembly_taken_over_while_its_worker_stalled_is_announced_by_the_new_one_only(
    platform: BatchPlatform,
) -> None:
    job = platform.upload(jsonl(*([i, i, i] for i in range(3))))
    assert job is not None
    platform.deliver(1)
    last = platform.cpu_queue.messages.pop(0)

    def stall_until_taken_over() -> None:
        platform.clock.now += ASSEMBLY_STALE_SECONDS + 1
        platform.runner.run_shard(last)  # the redelivery takes the stale assembly over and finishes the job

    # Given the last shard's worker stalls in its assembly until another takes it over and finishes
    platform.blobs.interrupt("predictions.jsonl", stall_until_taken_over)
    platform.runner.run_shard(last)
    # Then the stalled one, going on, writes no outcome and announces nothing: one event
    done = platform.job(job.job_id)
    assert (done.status, done.rows_done) == (BatchStatus.SUCCEEDED, 3)
    assert len(platform.events.events) == 1
    assert [p["id"] for p in platform.predictions(done)] == ["r0", "r1", "r2"]


def test_a_split_whose_worker_died_is_taken_over_and_its_shards_count_once(platform: BatchPlatform) -> None:
    # Given the split is killed after sending shard 0, while it writes shard 1
    platform.blobs.interrupt("shards/000001.jsonl", killed)
    with pytest.raises(SystemExit):
        platform.upload(jsonl(*([i, i, i] for i in range(5))))
    (job,) = platform.store.batches.values()
    assert (job.status, len(platform.cpu_queue.messages)) == (BatchStatus.SPLITTING, 1)
    # When S3 notifies again before the claim is stale: nothing is split twice
    platform.clock.now += SPLIT_STALE_SECONDS - 1
    again = platform.splitter.split(INBOX, KEY)
    assert again is not None
    assert again.status == BatchStatus.SPLITTING
    assert len(platform.cpu_queue.messages) == 1
    # Then a notification after it went stale splits the file, and the shard sent twice counts once
    platform.clock.now += 2
    taken = platform.splitter.split(INBOX, KEY)
    assert taken is not None
    assert (taken.status, taken.total_shards) == (BatchStatus.RUNNING, 3)
    assert [ShardMessage.model_validate_json(m).shard for m in platform.cpu_queue.messages] == [0, 0, 1, 2]
    platform.deliver()
    done = platform.job(job.job_id)
    assert (done.status, done.shards_done, done.rows_done) == (BatchStatus.SUCCEEDED, 3, 5)
    assert [p["id"] for p in platform.predictions(done)] == [f"r{i}" for i in range(5)]
    assert len(platform.events.of_type("BatchJobCompleted")) == 1
    assert platform.splitter.split(INBOX, KEY).status == BatchStatus.SUCCEEDED  # type: ignore[union-attr]
    assert len(platform.cpu_queue.messages) == 0


def test_bad_rows_are_reported_in_errors_and_the_others_still_run(platform: BatchPlatform) -> None:
    job = platform.upload(jsonl([0, 0, 0], b"{not json", [1, 1], [13, 0, 0], [4, 4, 4]))
    assert job is not None
    assert (job.total_rows, job.split_errors, job.total_shards) == (5, 1, 2)
    platform.deliver()
    done = platform.job(job.job_id)
    assert (done.status, done.rows_done, done.rows_failed, done.error) == (BatchStatus.PARTIAL, 2, 3, None)
    assert platform.predictions(done) == [
        {"id": "r0", "outputs": {"y": [0.0, 0.0]}},
        {"id": "r4", "outputs": {"y": [8.0, 8.0]}},
    ]
    errors = platform.errors(done)
    assert [(e["row"], e["id"]) for e in errors] == [(1, "1"), (2, "r2"), (3, "r3")]  # in row order
    assert "not valid JSON" in errors[0]["error"]
    assert "shape" in errors[1]["error"]
    assert "thirteen" in errors[2]["error"]
    (completed,) = platform.events.of_type("BatchJobCompleted")
    assert (completed["status"], completed["rows"], completed["rows_failed"]) == ("PARTIAL", 5, 3)


@pytest.mark.parametrize(
    ("rows", "broken", "reason_in_errors"),
    [
        pytest.param([[13, 0, 0], [13, 1, 1], [13, 2, 2]], False, "thirteen", id="the-model-refuses-every-row"),
        pytest.param([[0, 0, 0], [1, 1, 1]], True, "could not be loaded", id="the-model-does-not-load"),
        pytest.param([b"{", b"nope"], False, "not valid JSON", id="every-line-malformed"),
    ],
)
def test_a_job_where_no_row_runs_fails_with_one_event(
    platform: BatchPlatform, rows: list[object], broken: bool, reason_in_errors: str
) -> None:
    platform.models.broken = broken
    job = platform.upload(jsonl(*rows))
    assert job is not None
    platform.deliver()
    done = platform.job(job.job_id)
    assert (done.status, done.error, done.rows_done, done.rows_failed) == (
        BatchStatus.FAILED,
        "no row could be run; see errors.jsonl",
        0,
        len(rows),
    )
    assert done.announced
    assert all(reason_in_errors in e["error"] for e in platform.errors(done))
    assert platform.predictions(done) == []
    assert platform.events.events == [
        (
            "BatchJobFailed",
            {
                "tenant_id": "acme",
                "job_id": job.job_id,
                "model": "scorer",
                "reason": "no row could be run; see errors.jsonl",
            },
        )
    ]


def csv_file(header: list[str], *rows: list[object]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode()


@pytest.mark.parametrize(
    ("key", "data", "reason"),
    [
        pytest.param(
            "batch/acme/scorer/1/t.csv", csv_file(["a", "b"], [1, 2]), "do not fit the model", id="columns-do-not-fit"
        ),
        pytest.param(KEY, b"\n\n", "the file has no data rows", id="no-rows"),
        pytest.param(KEY, b"x" * 2000, "over the limit of 1000", id="too-large"),
        pytest.param("batch/acme/scorer/7/t.jsonl", jsonl([1, 1, 1]), "version 7 of model", id="no-such-version"),
        pytest.param("batch/acme/globex.scorer/1/t.jsonl", jsonl([1, 1, 1]), "not found", id="not-granted"),
    ],
)
def test_a_split_that_cannot_run_the_file_fails_the_job_with_one_event(key: str, data: bytes, reason: str) -> None:
    platform = BatchPlatform(max_input_bytes=1000)
    platform.add_model("globex", "scorer")
    job = platform.upload(data, key)
    assert job is not None
    assert job.status == BatchStatus.FAILED
    assert job.error is not None
    assert reason in job.error
    assert platform.cpu_queue.messages == []
    (failed,) = platform.events.of_type("BatchJobFailed")
    assert failed == {"tenant_id": "acme", "job_id": job.job_id, "model": job.model, "reason": job.error}
    assert platform.events.of_type("BatchJobCompleted") == []
    assert platform.job(job.job_id).announced
    # a redelivered notification changes nothing
    assert platform.splitter.split(INBOX, key).status == BatchStatus.FAILED  # type: ignore[union-attr]
    assert len(platform.events.events) == 1


def test_a_gpu_target_models_shards_go_to_the_gpu_queue(platform: BatchPlatform) -> None:
    platform.add_model("acme", "big", Target.GPU)
    job = platform.upload(jsonl([1, 1, 1]), "batch/acme/big/1/t.jsonl")
    assert job is not None
    assert (job.status, job.target) == (BatchStatus.RUNNING, Target.GPU)
    assert (len(platform.gpu_queue.messages), platform.cpu_queue.messages) == (1, [])


def test_inbox_objects_outside_the_layout_or_of_unknown_tenants_start_nothing(platform: BatchPlatform) -> None:
    assert platform.upload(jsonl([1, 1, 1]), "batch/acme/scorer/daily.jsonl") is None
    assert platform.upload(jsonl([1, 1, 1]), "batch/initech/scorer/1/t.jsonl") is None
    assert platform.store.batches == {}
    assert (platform.cpu_queue.messages, platform.events.events) == ([], [])


def test_a_direct_inbox_write_makes_its_own_job(platform: BatchPlatform) -> None:
    job = platform.upload(jsonl([1, 1, 1]))
    assert job is not None
    assert (job.source, job.name, job.version_ref, job.inbox_key) == ("inbox", "daily", "1", KEY)
    listed = platform.service.list_jobs(principal("acme", Scope.READ))
    assert [j.job_id for j in listed] == [job.job_id]


def test_the_api_refuses_a_second_job_of_the_same_name_and_hides_unknown_jobs(platform: BatchPlatform) -> None:
    caller = principal("acme", Scope.INVOKE, Scope.READ)
    job, _ = platform.service.start(caller, "scorer", "1", BatchFormat.CSV, "daily")
    with pytest.raises(ConflictError):
        platform.service.start(caller, "scorer", "1", BatchFormat.CSV, "daily")
    with pytest.raises(NotFoundError):
        platform.service.get(principal("globex", Scope.READ), job.job_id)
    with pytest.raises(NotFoundError):
        platform.service.start(caller, "nothing", None, BatchFormat.CSV, None)
    assert platform.service.downloads(platform.service.get(caller, job.job_id)) == {}  # not done yet
    assert [j.job_id for j in platform.service.list_jobs(caller)] == [job.job_id]
