"""One shard of a batch job: its rows through the model, its results in the outbox, its counts added once.

    runner.run_shard(message_body)   # a ShardMessage from cpu-shards (batch worker) or gpu-jobs (GPU worker)

SQS may deliver a shard twice, or again after its worker died: the results object is written over with the
same rows, the store counts the shard once, and the shard that completes the job assembles it.
"""

from __future__ import annotations

import time

from maas.access import AccessPolicy
from maas.batch.access import job_principal, model_access
from maas.batch.assembly import BatchAssembler
from maas.batch.formats import json_line, parse_json_lines
from maas.batch.settings import BatchSettings
from maas.domain.batch import ShardMessage, result_key, shard_key
from maas.inference.service import VersionResolver
from maas.metrics import BATCH_SHARD, record
from maas.observability import logger
from maas.ports import BatchStore, BlobStore, ShardPredictor


class ShardRunner:
    def __init__(
        self,
        store: BatchStore,
        resolver: VersionResolver,
        blobs: BlobStore,
        predictor: ShardPredictor,
        assembler: BatchAssembler,
        *,
        settings: BatchSettings,
        access: AccessPolicy | None = None,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.blobs = blobs
        self.predictor = predictor
        self.assembler = assembler
        self.settings = settings
        self.access = access

    def run_shard(self, body: str) -> None:
        """Run one shard's rows; count it once; assemble the job if it was the last."""
        message = ShardMessage.model_validate_json(body)
        job = self.store.get_batch(message.tenant_id, message.job_id)
        if job is None or job.status.is_final:
            return
        access = model_access(self.access, job_principal(job.tenant_id), job.model, None)
        version = self.resolver.version(access.owner, access.model, message.version)
        bucket = self.settings.outbox_bucket
        rows = list(
            parse_json_lines(self.blobs.iter_bytes(bucket, shard_key(job.tenant_id, job.job_id, message.shard)))
        )
        started = time.perf_counter()
        results = self.predictor.predict(version, rows)
        run_ms = (time.perf_counter() - started) * 1000
        self.blobs.put(
            bucket, result_key(job.tenant_id, job.job_id, message.shard), b"".join(json_line(r) for r in results)
        )
        failed = sum(1 for r in results if "error" in r)
        if self.store.complete_shard(job.tenant_id, job.job_id, message.shard, len(results) - failed, failed):
            logger.info("shard done", extra={"job_id": job.job_id, "shard": message.shard, "rows": len(results)})
            record(
                BATCH_SHARD,
                {"ShardRows": len(results), "ShardRowFailures": failed, "ShardRunTime": round(run_ms, 3)},
                tenant_id=job.tenant_id,
                model=job.model,
                model_version=str(message.version),
                job_id=job.job_id,
                shard=message.shard,
            )
        self.assembler.maybe_assemble(job.tenant_id, job.job_id)
