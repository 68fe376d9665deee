"""The job engine: one queued job in, one outcome out, exactly once, with dynamic batching across jobs.

``JobProcessor.handle`` takes one message body (the ``InferenceJobQueued`` event a rule delivered) and says what
to do with the message: delete it (DONE), let it come back later (RETRY), or dead-letter it (DEAD). The job's
item decides, through conditional writes:

- a finished job (a duplicate delivery) is only announced, if its event was not sent yet;
- a job another worker holds under a live lease comes back after that lease;
- a job whose earlier holders all stopped before finishing (``max_attempts`` claims) is FAILED and dead-lettered;
- otherwise the job is claimed under a fresh token, run through the version's ``DynamicBatcher``, and its
  outcome written only while the token still holds. Inputs that do not fit the model fail at once, without retry.

The same processor serves the GPU worker (``maas.worker.consumer``) and the CPU jobs function; every job runs
through the model pipeline (``maas.inference.pipeline``).
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from maas.backends.base import Backend, Tensors
from maas.batch.shards import ShardRunner
from maas.domain import Batching, Model, ModelVersion, VersionStatus, utcnow
from maas.domain.jobs import INLINE_RESULT_BYTES, Job, JobOutcome, JobStatus
from maas.errors import InvalidRequestError, MaasError, ModelLoadError, ModelRunError
from maas.events import InferenceCompleted, InferenceFailed
from maas.inference.cache import ModelCache
from maas.inference.pipeline import decode, postprocess, predict, preprocess
from maas.jobs.service import result_key
from maas.memo import TtlCache
from maas.metrics import DEAD_LETTER, JOB, record
from maas.observability import logger
from maas.ports import BlobStore, EventPublisher, JobStore, RegistryStore
from maas.validation import ArtifactValidator
from maas.worker.batcher import DynamicBatcher


class Action(StrEnum):
    DONE = "DONE"
    RETRY = "RETRY"
    DEAD = "DEAD"


@dataclass(frozen=True)
class Handled:
    action: Action
    job_id: str | None = None
    delay: int = 0
    reason: str = ""


class JobFailedError(Exception):
    """The job cannot succeed (its inputs, its model, its version); it is FAILED without retry."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def parse_job_message(body: str) -> tuple[str, str]:
    """(tenant, job id) from an ``InferenceJobQueued`` event, or from a bare ``{"tenant_id", "job_id"}``."""
    doc = json.loads(body)
    detail = doc.get("detail", doc) if isinstance(doc, dict) else None
    if not isinstance(detail, dict) or not isinstance(detail.get("tenant_id"), str) or not detail.get("job_id"):
        raise ValueError("the message names no tenant_id and job_id")
    return detail["tenant_id"], str(detail["job_id"])


class JobProcessor:
    def __init__(
        self,
        jobs: JobStore,
        registry: RegistryStore,
        models: ModelCache,
        blobs: BlobStore,
        *,
        bucket: str,
        events: EventPublisher,
        worker_id: str,
        lease_seconds: float = 60,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
        validator: ArtifactValidator | None = None,
        batches: ShardRunner | None = None,
    ) -> None:
        self.jobs = jobs
        self.registry = registry
        self.models = models
        self.blobs = blobs
        self.bucket = bucket
        self.events = events
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.clock = clock
        self.validator = validator
        self.batches = batches
        self._batchers: dict[tuple[object, ...], DynamicBatcher] = {}
        # READY versions never change but for their status; a model's batching settings may: read at most every 2 s
        self._registry_cache = TtlCache(2)
        self._lock = threading.Lock()
        self.completed = 0

    # --- one message ----------------------------------------------------------------------------------------
    def handle(self, body: str, on_claim: Callable[[Job], None] | None = None) -> Handled:
        handled = self._handle(body, on_claim)
        if handled.action == Action.DEAD:  # the consumer sends it to the dead-letter queue
            record(DEAD_LETTER, {"DeadLetters": 1}, job_id=handled.job_id, reason=handled.reason[:200])
        return handled

    def _handle(self, body: str, on_claim: Callable[[Job], None] | None) -> Handled:
        kind = _kind(body)
        if kind == "validate":
            return self._validate(body)
        if kind == "shard":
            return self._shard(body)
        try:
            tenant_id, job_id = parse_job_message(body)
        except (ValueError, TypeError) as exc:
            return Handled(Action.DEAD, reason=f"not a job message: {exc}")
        # Claim first (one conditional write, the common case); read only when the claim is refused.
        now, token = self.clock(), uuid.uuid4().hex
        claimed = self.jobs.claim_job(
            tenant_id,
            job_id,
            token=token,
            worker=self.worker_id,
            lease_until=now + self.lease_seconds,
            now=now,
            max_attempts=self.max_attempts,
        )
        if claimed is None:
            return self._not_claimed(tenant_id, job_id, now)
        if on_claim is not None:
            on_claim(claimed)
        try:
            outcome = self._run(claimed)
        except Exception:
            # Not the job's fault (S3, DynamoDB, a stopping batcher): hand it back for another attempt.
            logger.exception("job attempt failed; released", extra={"job_id": job_id})
            self.jobs.release_job(tenant_id, job_id, token)
            return Handled(Action.RETRY, job_id, delay=1)
        if not self.jobs.finish_job(tenant_id, job_id, outcome, token=token, expect=(JobStatus.RUNNING,)):
            logger.warning("lease lost before finishing; the other holder decides", extra={"job_id": job_id})
            return Handled(Action.DONE, job_id)
        self.completed += 1
        _record_job(claimed, outcome, self.worker_id)
        logger.info(
            "job finished",
            extra={"job_id": job_id, "status": outcome.status, "worker": self.worker_id, "run_ms": outcome.run_ms},
        )
        self._announce(claimed.model_copy(update=outcome.model_dump(exclude_none=True)))
        return Handled(Action.DONE, job_id)

    def _validate(self, body: str) -> Handled:
        """A TorchScript version the validate function handed over: load it with torch, READY or FAILED."""
        if self.validator is None:
            return Handled(Action.DEAD, reason="this worker does not validate models")
        doc = json.loads(body)
        # conditional on PENDING_UPLOAD: runs once
        self.validator.handle_upload(str(doc["bucket"]), str(doc["key"]), doc.get("version_id"))
        return Handled(Action.DONE)

    def _shard(self, body: str) -> Handled:
        """A batch job's shard for a gpu-target model; counted once, whatever SQS redelivers."""
        if self.batches is None:
            return Handled(Action.DEAD, reason="this worker runs no batch shards")
        try:
            self.batches.run_shard(body)
        except Exception:
            logger.exception("shard failed; it comes back")
            return Handled(Action.RETRY, delay=2)
        return Handled(Action.DONE)

    def _not_claimed(self, tenant_id: str, job_id: str, now: float) -> Handled:
        """A duplicate of a finished job, a job held under a live lease, or one that is gone."""
        job = self.jobs.get_job(tenant_id, job_id)
        if job is None:
            logger.warning("job unknown or expired; message dropped", extra={"job_id": job_id})
            return Handled(Action.DONE, job_id)
        if job.status.is_final:
            self._announce(job)  # repairs an event lost between the outcome's write and its announcement
            return Handled(Action.DONE, job_id)
        if job.status == JobStatus.RUNNING and (job.lease_until or 0) > now:
            return Handled(Action.RETRY, job_id, delay=math.ceil(job.lease_until or now) - int(now) + 1)
        if job.attempts >= self.max_attempts:  # every holder so far stopped before finishing
            return self._give_up(job)
        return Handled(Action.RETRY, job_id, delay=1)  # it moved between the claim and the read: look again

    def _give_up(self, job: Job) -> Handled:
        reason = (
            f"the job was started {job.attempts} times and its worker stopped each time before finishing "
            "(a crash, out of memory, or killed); it is not retried again"
        )
        outcome = JobOutcome(status=JobStatus.FAILED, error=reason, error_code="WORKER_CRASHED")
        if self.jobs.finish_job(
            job.tenant_id, job.job_id, outcome, token=None, expect=(JobStatus.RUNNING, JobStatus.QUEUED)
        ):
            finished = self.jobs.get_job(job.tenant_id, job.job_id)
            if finished is not None:
                self._announce(finished)
        return Handled(Action.DEAD, job.job_id, reason=reason)

    # --- running --------------------------------------------------------------------------------------------
    def _run(self, job: Job) -> JobOutcome:
        """The model pipeline, with the version's batcher between preprocess and postprocess."""
        started = utcnow()
        queue_ms = (started - job.created_at).total_seconds() * 1000
        try:
            version, model = self._version(job)
            signature = version.signature
            assert signature is not None  # READY versions carry one
            body = job.request_body if job.request_body is not None else self._read(job.request_key)
            request = decode(body, job.request_header_length)
            feeds = preprocess(request, signature)
            try:
                self.models.session(version)  # load before batching: a load error is the artifact's, not the batch's
            except ModelLoadError as exc:
                raise JobFailedError(f"the model could not be loaded: {exc}", "MODEL_LOAD_FAILED") from exc
            batcher = self._batcher(version, model.batching)
            run_started = time.perf_counter()
            outputs = predict(lambda batch: batcher.submit(batch).result(), feeds)
            run_ms = (time.perf_counter() - run_started) * 1000
        except ModelRunError as failed:
            return JobOutcome(
                status=JobStatus.FAILED, error=failed.message, error_code="MODEL_ERROR", queue_ms=queue_ms
            )
        except InvalidRequestError as invalid:
            return JobOutcome(
                status=JobStatus.FAILED, error=invalid.message, error_code=invalid.code, queue_ms=queue_ms
            )
        except JobFailedError as failed:
            return JobOutcome(status=JobStatus.FAILED, error=failed.message, error_code=failed.code, queue_ms=queue_ms)

        encoded, header = postprocess(request, signature, outputs, model=job.model, version=str(version.version))
        outcome = JobOutcome(status=JobStatus.SUCCEEDED, queue_ms=queue_ms, run_ms=run_ms, batch_rows=_rows(feeds))
        if header is None and len(encoded) <= INLINE_RESULT_BYTES:
            outcome.result_body = encoded
        else:
            outcome.result_key = result_key(job.tenant_id, job.job_id)
            outcome.result_header_length = header
            self.blobs.put(self.bucket, outcome.result_key, encoded)
        return outcome

    def _version(self, job: Job) -> tuple[ModelVersion, Model]:
        cache = self._registry_cache
        version = cache.get(
            ("version", job.owner, job.model_name, job.version),
            lambda: self.registry.get_version(job.owner, job.model_name, job.version),
            keep=lambda v: v is not None and v.status == VersionStatus.READY,
        )
        model = cache.get(
            ("model", job.owner, job.model_name),
            lambda: self.registry.get_model(job.owner, job.model_name),
            keep=lambda m: m is not None and m.deleted_at is None,
        )
        if version is None or model is None or model.deleted_at is not None:
            raise JobFailedError(f"version {job.version} of model '{job.model}' no longer exists", "NOT_FOUND")
        if version.status != VersionStatus.READY:
            raise JobFailedError(f"version {job.version} of model '{job.model}' is {version.status}", "NOT_READY")
        return version, model

    def _read(self, key: str | None) -> bytes:
        if key is None:
            raise JobFailedError("the job has no request body", "INVALID_REQUEST")
        return b"".join(self.blobs.iter_bytes(self.bucket, key))

    def _batcher(self, version: ModelVersion, batching: Batching) -> DynamicBatcher:
        key = (version.sha256, batching.max_batch_size, batching.max_queue_delay_ms)
        with self._lock:
            batcher = self._batchers.get(key)
            if batcher is None:
                models = self.models

                def run(inputs: Tensors) -> Tensors:
                    backend: Backend = models.session(version)
                    return backend.run(inputs)

                batcher = DynamicBatcher(
                    run, max_batch_size=batching.max_batch_size, max_queue_delay_ms=batching.max_queue_delay_ms
                )
                self._batchers[key] = batcher
        return batcher

    def close(self, timeout: float = 10) -> None:
        with self._lock:
            batchers = list(self._batchers.values())
            self._batchers.clear()
        for batcher in batchers:
            batcher.close(timeout)

    def batch_stats(self) -> dict[str, Any]:
        with self._lock:
            batchers = list(self._batchers.values())
        batches = sum(b.stats.batches for b in batchers)
        rows = sum(b.stats.rows for b in batchers)
        return {"batches": batches, "rows": rows, "mean_batch_rows": rows / batches if batches else 0.0}

    # --- events ---------------------------------------------------------------------------------------------
    def _announce(self, job: Job) -> None:
        """Publish the job's outcome once it is written; marked sent, so a redelivery repairs a lost event."""
        if job.announced or job.status == JobStatus.CANCELLED:
            return
        if job.status == JobStatus.SUCCEEDED:
            location = f"s3://{self.bucket}/{job.result_key}" if job.result_key else "inline"
            self.events.publish(
                InferenceCompleted(
                    tenant_id=job.tenant_id,
                    job_id=job.job_id,
                    model=job.model,
                    version=job.version,
                    queue_ms=job.queue_ms,
                    run_ms=job.run_ms,
                    result_location=location,
                ),
            )
        else:
            self.events.publish(
                InferenceFailed(
                    tenant_id=job.tenant_id,
                    job_id=job.job_id,
                    model=job.model,
                    version=job.version,
                    error=job.error or "unknown",
                    code=job.error_code or MaasError.code,
                    queue_ms=job.queue_ms,
                    run_ms=job.run_ms,
                ),
            )
        self.jobs.mark_job_announced(job.tenant_id, job.job_id)


def _record_job(job: Job, outcome: JobOutcome, worker: str) -> None:
    failed = outcome.status != JobStatus.SUCCEEDED
    record(
        JOB,
        {
            "Jobs": 1,
            "JobsFailed": 1 if failed else 0,
            "JobAttempts": job.attempts,
            "JobQueueWait": round(outcome.queue_ms or 0.0, 3),
            "JobRunTime": round(outcome.run_ms or 0.0, 3),
        },
        code=(outcome.error_code or MaasError.code) if failed else None,
        tenant_id=job.tenant_id,
        model=job.model,
        model_version=str(job.version),
        job_id=job.job_id,
        status=outcome.status.value,
        worker=worker,
    )


def _kind(body: str) -> str | None:
    """``validate`` and ``shard`` messages share gpu-jobs with the jobs' ``InferenceJobQueued`` events."""
    if '"kind"' not in body:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) else None


def _rows(feeds: Tensors) -> int:
    first = next(iter(feeds.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


class RetryLaterError(RuntimeError):
    """Raised by a queue consumer that cannot settle a message now (Lambda: a batch item failure)."""
