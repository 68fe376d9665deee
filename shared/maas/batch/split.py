"""A file in the inbox -> its job, its shards in the outbox, one queue message per shard.

    splitter.split(inbox_bucket, "batch/acme/scorer/production/daily.jsonl")   # S3 ObjectCreated on batch/

The job is the one the API made for that key, or a new one for a file a service wrote directly. The split is
claimed by one conditional write (taken over after ``SPLIT_STALE_SECONDS``), so a redelivered S3 event splits
nothing twice. A file that cannot run at all FAILS the job with the reason; a row that cannot be read becomes an
error row and the others go on.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from maas.access import AccessPolicy
from maas.batch.access import job_principal, model_access
from maas.batch.assembly import BatchAssembler
from maas.batch.formats import BatchInputError, json_line, read_rows
from maas.batch.settings import BatchSettings
from maas.domain import Target
from maas.domain.aliases import DEFAULT_ALIAS
from maas.domain.batch import (
    SPLIT_STALE_SECONDS,
    BatchJob,
    BatchStatus,
    ShardMessage,
    new_batch_id,
    parse_inbox_key,
    shard_key,
    split_errors_key,
)
from maas.errors import MaasError
from maas.inference.service import VersionResolver
from maas.metrics import BATCH_SPLIT, record
from maas.observability import logger
from maas.ports import BatchStore, BlobStore, QueueSender, RegistryStore


class BatchSplitter:
    def __init__(
        self,
        store: BatchStore,
        resolver: VersionResolver,
        blobs: BlobStore,
        assembler: BatchAssembler,
        *,
        settings: BatchSettings,
        access: AccessPolicy | None = None,
        tenants: RegistryStore | None = None,
        cpu_shards: QueueSender | None = None,
        gpu_shards: QueueSender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.blobs = blobs
        self.assembler = assembler
        self.settings = settings
        self.access = access
        self.tenants = tenants
        self.cpu_shards = cpu_shards
        self.gpu_shards = gpu_shards
        self.clock = clock

    def split(self, bucket: str, key: str) -> BatchJob | None:
        """An object arrived in the inbox: find or make its job, then split it into shards (at most once)."""
        parsed = parse_inbox_key(key)
        if parsed is None:
            logger.warning(
                "inbox object is not batch/{tenant}/{model}/{version}/{name}.{ext}; ignored", extra={"key": key}
            )
            return None
        if self.tenants is not None and self.tenants.get_tenant(parsed.tenant_id) is None:
            logger.warning("inbox object under an unknown tenant; nothing run", extra={"key": key})
            return None
        job = self.store.find_by_key(parsed.tenant_id, key)
        if job is None:  # written directly by a service with access to the inbox
            ref = None if parsed.ref == DEFAULT_ALIAS else parsed.ref
            fresh = BatchJob(
                tenant_id=parsed.tenant_id,
                job_id=new_batch_id(),
                model=parsed.model,
                version_ref=ref,
                format=parsed.format,
                name=parsed.name,
                inbox_key=key,
                source="inbox",
            )
            job, _ = self.store.create_batch(fresh)
        if job.status.is_final or job.status in (BatchStatus.RUNNING, BatchStatus.ASSEMBLING):
            logger.info("batch job already split", extra={"job_id": job.job_id, "status": job.status})
            return job
        token, now = uuid.uuid4().hex, self.clock()
        if not self.store.claim_split(job.tenant_id, job.job_id, token, now, now - SPLIT_STALE_SECONDS):
            return self.store.get_batch(job.tenant_id, job.job_id)
        try:
            self._split(job, bucket, key, token)
        except (BatchInputError, MaasError) as failed:
            reason = failed.message if isinstance(failed, MaasError) else str(failed)
            self.assembler.fail(job, reason, (BatchStatus.SPLITTING,))
        return self.store.get_batch(job.tenant_id, job.job_id)

    def _split(self, job: BatchJob, bucket: str, key: str, token: str) -> None:
        access = model_access(self.access, job_principal(job.tenant_id), job.model, job.version_ref)
        model = self.resolver.model(access.owner, access.model)
        version = self.resolver.resolve(access.owner, access.model, job.version_ref).version
        signature = version.signature
        if signature is None:
            raise BatchInputError(f"version {version.version} of '{job.model}' has no signature")
        info = self.blobs.head(bucket, key)
        if info is None:
            raise BatchInputError("the uploaded file is no longer in the inbox")
        if info.size > self.settings.max_input_bytes:
            raise BatchInputError(f"the file is {info.size} bytes, over the limit of {self.settings.max_input_bytes}")
        queue = self.gpu_shards if model.target == Target.GPU else self.cpu_shards
        if queue is None:
            raise BatchInputError(f"no queue runs {model.target}-target shards here")
        errors: list[bytes] = []
        shard: list[bytes] = []
        shards = rows = 0

        def flush() -> None:
            nonlocal shard, shards
            self.blobs.put(self.settings.outbox_bucket, shard_key(job.tenant_id, job.job_id, shards), b"".join(shard))
            queue.send(
                ShardMessage(
                    tenant_id=job.tenant_id, job_id=job.job_id, shard=shards, rows=len(shard), version=version.version
                ).model_dump_json()
            )
            shards += 1
            shard = []

        with tempfile.TemporaryDirectory(dir=self.settings.work_dir) as work:
            for row in read_rows(job.format, self.blobs.iter_bytes(bucket, key), signature, Path(work) / "input"):
                rows += 1
                if row.error is not None:
                    errors.append(json_line({"row": row.index, "id": row.id, "error": row.error}))
                    continue
                shard.append(json_line({"row": row.index, "id": row.id, "inputs": row.inputs}))
                if len(shard) >= self.settings.shard_rows:
                    flush()
            if shard:
                flush()
        self.blobs.put(self.settings.outbox_bucket, split_errors_key(job.tenant_id, job.job_id), b"".join(errors))
        if rows == 0:
            raise BatchInputError("the file has no data rows")
        self.store.finish_split(
            job.tenant_id,
            job.job_id,
            token,
            version=version.version,
            target=model.target.value,
            rows=rows,
            shards=shards,
            errors=len(errors),
            input_bytes=info.size,
        )
        logger.info(
            "batch job split", extra={"job_id": job.job_id, "rows": rows, "shards": shards, "errors": len(errors)}
        )
        record(
            BATCH_SPLIT,
            {"BatchRows": rows, "BatchShards": shards, "BatchInputErrors": len(errors)},
            tenant_id=job.tenant_id,
            model=job.model,
            model_version=str(version.version),
            job_id=job.job_id,
        )
        self.assembler.maybe_assemble(job.tenant_id, job.job_id)  # every row may be malformed, or shards done
