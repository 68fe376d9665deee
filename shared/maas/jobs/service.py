"""Submitting and following asynchronous jobs: through the API, and through ``InferenceRequested`` events.

A submission is checked exactly as a synchronous request is (scope, grant, alias, quota, the tensors against
the signature), pinned to the version its alias chose, stored, and announced as ``InferenceJobQueued``; a rule
per target routes that event to the queue its workers read. Nothing large travels in a message: the request is
in the job item, or in the jobs bucket when over ``INLINE_REQUEST_BYTES``.

    job, created = jobs.submit(principal, "resnet", None, body, None, idempotency_key="order-42")
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from maas.access import AccessPolicy
from maas.authz import require
from maas.domain import Principal, Scope
from maas.domain.access import Action, ModelAccess
from maas.domain.aliases import DEFAULT_ALIAS
from maas.domain.jobs import INLINE_REQUEST_BYTES, EventSource, Job, JobOutcome, JobStatus, new_job_id, source_tenant
from maas.domain.paging import Page
from maas.errors import (
    ConflictError,
    InvalidRequestError,
    MaasError,
    NotFoundError,
    NotReadyError,
    PayloadTooLargeError,
    TooManyRequestsError,
)
from maas.events import InferenceFailed, InferenceJobQueued, InferenceRequestedDetail
from maas.inference.pipeline import decode, preprocess
from maas.inference.service import VersionResolver
from maas.metrics import DEAD_LETTER, record
from maas.observability import logger
from maas.ports import BlobStore, EventPublisher, EventSourceStore, JobStore
from maas.quotas import QuotaEnforcer, UsageRecorder

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_SOURCE = re.compile(r"^[a-z0-9-]+\.[A-Za-z0-9][A-Za-z0-9._-]*$")


def request_key(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}/jobs/{job_id}/request"


def result_key(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}/jobs/{job_id}/response"


@dataclass
class JobLimits:
    max_request_bytes: int = 6 * 1024 * 1024
    result_url_expires: int = 3600


class JobService:
    def __init__(
        self,
        store: JobStore,
        resolver: VersionResolver,
        blobs: BlobStore,
        bucket: str,
        events: EventPublisher,
        *,
        access: AccessPolicy | None = None,
        quotas: QuotaEnforcer | None = None,
        usage: UsageRecorder | None = None,
        limits: JobLimits | None = None,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.blobs = blobs
        self.bucket = bucket
        self.events = events
        self.access = access
        self.quotas = quotas
        self.usage = usage
        self.limits = limits or JobLimits()

    # --- submit ---------------------------------------------------------------------------------------------
    def _access(self, principal: Principal, ref: str, version: str | None) -> ModelAccess:
        access = (
            self.access.model(principal, ref, Action.INFER) if self.access else ModelAccess(principal.tenant_id, ref)
        )
        access.check_ref(version, DEFAULT_ALIAS)
        return access

    def submit(
        self,
        principal: Principal,
        ref: str,
        version: str | None,
        body: str | bytes,
        header_length: int | None,
        *,
        idempotency_key: str | None = None,
        source: str = "api",
    ) -> tuple[Job, bool]:
        """Accept one OIP v2 infer request as a job; returns (job, created). A replayed key returns the first job."""
        require(principal, Scope.INVOKE)
        raw = body.encode() if isinstance(body, str) else body
        if len(raw) > self.limits.max_request_bytes:
            raise PayloadTooLargeError(f"the request is {len(raw)} bytes; the limit is {self.limits.max_request_bytes}")
        if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise InvalidRequestError("an Idempotency-Key is 1 to 200 visible ASCII characters")
        access = self._access(principal, ref, version)
        model = self.resolver.model(access.owner, access.model)
        self._admit(principal, access, ref)
        request = decode(raw, header_length)
        target = self.resolver.resolve(access.owner, access.model, version, request.id)
        signature = target.version.signature
        if signature is None:
            raise NotReadyError(f"version {target.version.version} of model '{ref}' has no signature yet")
        preprocess(request, signature)  # checked as a synchronous request is, so that a bad one is 400 at once

        job = Job(
            tenant_id=principal.tenant_id,
            job_id=new_job_id(),
            model=ref,
            owner=access.owner,
            model_name=access.model,
            version=target.version.version,
            alias=target.alias,
            target=model.target,
            source=source,
            key_id=principal.key_id,
            request_id=request.id,
            idempotency_key=idempotency_key,
            request_header_length=header_length,
        )
        if len(raw) <= INLINE_REQUEST_BYTES:
            job.request_body = raw
        else:
            job.request_key = request_key(job.tenant_id, job.job_id)
            self.blobs.put(self.bucket, job.request_key, raw)
        body_hash = _hash(ref, version, header_length, raw) if idempotency_key else None
        stored, created = self.store.create_job(job, body_hash)
        if created or stored.status == JobStatus.QUEUED:
            # A replay of a QUEUED job announces it again: if the first announcement was lost, this one routes it;
            # if not, the worker's claim makes the second delivery a no-op.
            self._announce_queued(stored)
        logger.info("job queued" if created else "job replayed", extra={"job_id": stored.job_id, "model": ref})
        return stored, created

    def _admit(self, principal: Principal, access: ModelAccess, name: str) -> None:
        """The rate quotas, as for a synchronous request; then ``max_concurrent_jobs`` (QUEUED + RUNNING).

        The concurrency count is read at submission: submissions racing each other may pass it by their number.
        """
        if self.quotas is not None:
            self.quotas.admit(principal, access)
            for bucket, quota in self.quotas.limits(principal, access):
                limit = quota.max_concurrent_jobs
                if limit is None:
                    continue
                model = name if bucket.startswith("grant#") else None
                active = self.store.count_active_jobs(principal.tenant_id, model=model, stop_at=limit)
                if active >= limit:
                    scope = "this grant" if model else "this tenant"
                    raise TooManyRequestsError(
                        f"{active} jobs of {scope} are queued or running, its limit (max_concurrent_jobs); "
                        "retry when one finishes",
                        headers={"Retry-After": "1"},
                    )
        if self.usage is not None:
            self.usage.record(principal.tenant_id, name)

    def _announce_queued(self, job: Job) -> None:
        try:
            self.events.publish(
                InferenceJobQueued(
                    tenant_id=job.tenant_id, job_id=job.job_id, model=job.model, version=job.version, target=job.target
                ),
            )
        except Exception as exc:
            outcome = JobOutcome(status=JobStatus.FAILED, error="the job could not be queued", error_code="NOT_QUEUED")
            self.store.finish_job(job.tenant_id, job.job_id, outcome, token=None, expect=(JobStatus.QUEUED,))
            raise NotReadyError("the job could not be queued; try again", headers={"Retry-After": "1"}) from exc

    def record_failed(self, principal: Principal, ref: str, error: MaasError, *, source: str, key: str | None) -> Job:
        """A request that cannot run (inputs that do not fit the model) is FAILED at once, with the reason."""
        job = Job(
            tenant_id=principal.tenant_id,
            job_id=new_job_id(),
            model=ref,
            owner=principal.tenant_id,
            model_name=ref,
            version=0,
            source=source,
            key_id=principal.key_id,
            idempotency_key=key,
            status=JobStatus.FAILED,
            error=error.message,
            error_code=error.code,
        )
        job.finished_at = job.created_at
        stored, created = self.store.create_job(job, _hash(ref, None, None, error.message.encode()) if key else None)
        if created:
            self.events.publish(
                InferenceFailed(
                    tenant_id=job.tenant_id, job_id=job.job_id, model=ref, error=error.message, code=error.code
                ),
            )
            self.store.mark_job_announced(job.tenant_id, job.job_id)
        return stored

    # --- read, cancel ---------------------------------------------------------------------------------------
    def get(self, principal: Principal, job_id: str) -> Job:
        require(principal, Scope.READ)
        job = self.store.get_job(principal.tenant_id, job_id)
        if job is None:
            raise NotFoundError(f"job '{job_id}' not found")
        return job

    def list(
        self,
        principal: Principal,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Page[Job]:
        require(principal, Scope.READ)
        return self.store.list_jobs(principal.tenant_id, status=status, model=model, limit=limit, next_token=next_token)

    def cancel(self, principal: Principal, job_id: str) -> Job:
        require(principal, Scope.INVOKE)
        job = self.get(principal, job_id)
        if not self.store.cancel_job(principal.tenant_id, job_id):
            current = self.get(principal, job_id)
            raise ConflictError(f"job '{job_id}' is {current.status}; only a QUEUED job can be cancelled")
        return self.get(principal, job.job_id)

    def result_document(self, job: Job) -> dict[str, Any] | None:
        """The OIP v2 response of a job whose result is inline and JSON (what GET /v1/jobs/{id} shows)."""
        if job.result_body is None or job.result_header_length is not None:
            return None
        parsed: dict[str, Any] = json.loads(job.result_body)
        return parsed

    def result_url(self, job: Job) -> str | None:
        if job.result_key is None:
            return None
        return self.blobs.presign_get(self.bucket, job.result_key, expires_in=self.limits.result_url_expires)


def _hash(ref: str, version: str | None, header_length: int | None, body: bytes) -> str:
    digest = hashlib.sha256(f"{ref}\n{version}\n{header_length}\n".encode())
    digest.update(body)
    return digest.hexdigest()


# --- event sources and ingress -------------------------------------------------------------------------------
class EventSources:
    def __init__(self, store: EventSourceStore) -> None:
        self.store = store

    def register(self, principal: Principal, source: str) -> EventSource:
        """``<tenant_id>.<name>`` only: any other name is refused the same way whether or not it exists."""
        require(principal, Scope.PUBLISH)
        tenant_id = principal.tenant_id
        if source_tenant(source) != tenant_id or len(source) > 128 or not _SOURCE.fullmatch(source):
            raise InvalidRequestError(
                f"an event source of tenant '{tenant_id}' is named '{tenant_id}.<name>', at most 128 characters, "
                "<name> starting with a letter or digit then letters, digits, '.', '_' or '-'"
            )
        if source.startswith(("aws.", "maas")):  # the ingress rule never delivers them: they are AWS's and ours
            raise InvalidRequestError("event sources starting with 'aws.' or 'maas' are reserved")
        registered = EventSource(source=source, tenant_id=tenant_id)
        self.store.put_event_source(registered)
        return registered

    def list(
        self, principal: Principal, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[EventSource]:
        require(principal, Scope.READ)
        return self.store.list_event_sources(principal.tenant_id, limit=limit, next_token=next_token)

    def delete(self, principal: Principal, source: str) -> None:
        require(principal, Scope.PUBLISH)
        if not self.store.delete_event_source(principal.tenant_id, source):
            raise NotFoundError(f"event source '{source}' not found")


class IngressRejectedError(Exception):
    """An ``InferenceRequested`` event that is not run; it goes to the ingress dead-letter queue with the reason."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Ingress:
    """Turns ``InferenceRequested`` events from registered sources into jobs; rejects the rest with a reason."""

    def __init__(self, jobs: JobService, sources: EventSourceStore, dead_letters: Any) -> None:
        self.jobs = jobs
        self.sources = sources
        self.dead_letters = dead_letters

    def handle(self, event: dict[str, Any]) -> Job | None:
        try:
            return self._submit(event)
        except IngressRejectedError as rejected:
            logger.warning(
                "InferenceRequested rejected", extra={"reason": rejected.reason, "source": event.get("source")}
            )
            self.dead_letters.send(json.dumps({"reason": rejected.reason, "code": rejected.code, "event": event}))
            record(DEAD_LETTER, {"DeadLetters": 1}, reason=rejected.reason[:200], source=str(event.get("source")))
            return None

    def _submit(self, event: dict[str, Any]) -> Job:
        source = str(event.get("source", ""))
        tenant_id = source_tenant(source)
        registered = self.sources.get_event_source(tenant_id, source) if tenant_id else None
        if registered is None:
            raise IngressRejectedError(f"event source '{source}' is not registered to any tenant", "UNKNOWN_SOURCE")
        try:
            detail = InferenceRequestedDetail.model_validate(event.get("detail"))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'detail'}: {e['msg']}" for e in exc.errors())
            raise IngressRejectedError(f"invalid InferenceRequested detail: {problems}", "INVALID_DETAIL") from None
        principal = Principal(
            tenant_id=registered.tenant_id, key_id=f"source:{source}", scopes=frozenset({Scope.INVOKE})
        )
        # Without a key of its own, the event's id makes a redelivered event the same job.
        key = detail.idempotency_key or f"event-{event.get('id', '')}"
        version = None if detail.version is None else str(detail.version)
        body = json.dumps(detail.request).encode()
        try:
            job, _ = self.jobs.submit(principal, detail.model, version, body, None, idempotency_key=key, source=source)
        except InvalidRequestError as invalid:
            return self.jobs.record_failed(principal, detail.model, invalid, source=source, key=key)
        except MaasError as error:
            raise IngressRejectedError(error.message, error.code) from error
        return job
