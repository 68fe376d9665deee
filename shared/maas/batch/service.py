"""Batch jobs as the API serves them: start one (a presigned upload), read one, list them, their downloads.

    job, upload = batches.start(principal, "scorer", None, BatchFormat.JSONL, None)   # PUT the file to upload.url
    batches.get(principal, job.job_id).status                                          # PENDING_UPLOAD ... SUCCEEDED

The upload itself starts the job (``maas.batch.split``); shards run in ``maas.batch.shards`` and the job ends
in ``maas.batch.assembly``.
"""

from __future__ import annotations

from dataclasses import dataclass

from maas.access import AccessPolicy
from maas.authz import require
from maas.batch.access import model_access
from maas.batch.settings import BatchSettings
from maas.domain import Principal, Scope
from maas.domain.aliases import DEFAULT_ALIAS
from maas.domain.batch import BatchFormat, BatchJob, BatchStatus, inbox_key, new_batch_id, outbox_prefix
from maas.domain.paging import Page
from maas.errors import ConflictError, NotFoundError
from maas.inference.service import VersionResolver
from maas.ports import BatchStore, BlobStore
from maas.quotas import QuotaEnforcer

CONTENT_TYPES = {
    BatchFormat.JSONL: "application/x-ndjson",
    BatchFormat.CSV: "text/csv",
    BatchFormat.PARQUET: "application/vnd.apache.parquet",
}


@dataclass(frozen=True)
class Upload:
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int


class BatchService:
    def __init__(
        self,
        store: BatchStore,
        resolver: VersionResolver,
        blobs: BlobStore,
        *,
        settings: BatchSettings,
        access: AccessPolicy | None = None,
        quotas: QuotaEnforcer | None = None,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.blobs = blobs
        self.settings = settings
        self.access = access
        self.quotas = quotas

    def start(
        self, principal: Principal, model: str, version: str | None, fmt: BatchFormat, name: str | None
    ) -> tuple[BatchJob, Upload]:
        """A job waiting for its file, and the presigned PUT that starts it."""
        require(principal, Scope.INVOKE)
        access = model_access(self.access, principal, model, version)
        self.resolver.resolve(access.owner, access.model, version)  # 404 / 503 now rather than after the upload
        if self.quotas is not None:
            self.quotas.admit(principal, access)
        job_id = new_batch_id()
        key = inbox_key(principal.tenant_id, model, version or DEFAULT_ALIAS, name or job_id, fmt)
        job = BatchJob(
            tenant_id=principal.tenant_id,
            job_id=job_id,
            model=model,
            version_ref=version,
            format=fmt,
            name=name or job_id,
            inbox_key=key,
        )
        stored, created = self.store.create_batch(job)
        if not created:
            raise ConflictError(f"a batch job named '{name}' exists already for this model; choose another name")
        content_type = CONTENT_TYPES[fmt]
        url = self.blobs.presign_put(
            self.settings.inbox_bucket, key, expires_in=self.settings.upload_expires_in, content_type=content_type
        )
        return stored, Upload(url, "PUT", {"Content-Type": content_type}, self.settings.upload_expires_in)

    def get(self, principal: Principal, job_id: str) -> BatchJob:
        require(principal, Scope.READ)
        job = self.store.get_batch(principal.tenant_id, job_id)
        if job is None:
            raise NotFoundError(f"batch job '{job_id}' not found")
        return job

    def list_jobs(self, principal: Principal, limit: int = 100, *, next_token: str | None = None) -> Page[BatchJob]:
        """The tenant's batch jobs, newest first."""
        require(principal, Scope.READ)
        return self.store.list_batches(principal.tenant_id, limit, next_token=next_token)

    def downloads(self, job: BatchJob) -> dict[str, str]:
        """Presigned GET URLs of the predictions, errors and manifest, once the job is done."""
        if job.status not in (BatchStatus.SUCCEEDED, BatchStatus.PARTIAL):
            return {}
        prefix = outbox_prefix(job.tenant_id, job.job_id)
        names = {
            "predictions": f"predictions.{job.format.value}",
            "errors": "errors.jsonl",
            "manifest": "manifest.json",
        }
        return {
            kind: self.blobs.presign_get(
                self.settings.outbox_bucket, f"{prefix}/{name}", expires_in=self.settings.download_expires_in
            )
            for kind, name in names.items()
        }
