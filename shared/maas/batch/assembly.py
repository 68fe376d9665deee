"""A batch job's end: every shard done -> predictions, errors and manifest in the outbox, and one event.

    assembler.maybe_assemble(tenant_id, job_id)   # after the split and after each shard; runs once per job
    assembler.fail(job, reason, expect)           # the split could not run the file

The assembly is claimed by one conditional write; a claim older than ``ASSEMBLY_STALE_SECONDS`` (its worker
died) is taken over, and only the latest claim may write the outcome, so a job finishes and is announced once.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from maas.batch.formats import PredictionWriter, json_line, parse_json_lines
from maas.batch.settings import BatchSettings
from maas.domain.batch import ASSEMBLY_STALE_SECONDS, BatchJob, BatchStatus, outbox_prefix, result_key, split_errors_key
from maas.events import BatchJobCompleted, BatchJobFailed
from maas.metrics import BATCH_JOB, record
from maas.observability import logger
from maas.ports import BatchStore, BlobStore, EventPublisher


class BatchAssembler:
    def __init__(
        self,
        store: BatchStore,
        blobs: BlobStore,
        events: EventPublisher,
        *,
        settings: BatchSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.events = events
        self.settings = settings
        self.clock = clock

    def maybe_assemble(self, tenant_id: str, job_id: str) -> None:
        """Assemble the job if its split and every shard are done and no live assembly holds it."""
        token, now = uuid.uuid4().hex, self.clock()
        if not self.store.claim_assembly(tenant_id, job_id, token, now, now - ASSEMBLY_STALE_SECONDS):
            return
        job = self.store.get_batch(tenant_id, job_id)
        assert job is not None
        self._assemble(job, token)

    def fail(self, job: BatchJob, reason: str, expect: tuple[BatchStatus, ...]) -> None:
        """The job FAILS with ``reason`` if it is still in one of ``expect``; announced once."""
        if self.store.fail_batch(job.tenant_id, job.job_id, reason, expect):
            logger.warning("batch job failed", extra={"job_id": job.job_id, "reason": reason})
            self._announce_failed(job, reason)

    def _assemble(self, job: BatchJob, token: str) -> None:
        prefix = outbox_prefix(job.tenant_id, job.job_id)
        bucket = self.settings.outbox_bucket
        assert job.total_shards is not None
        errors = list(parse_json_lines(self.blobs.iter_bytes(bucket, split_errors_key(job.tenant_id, job.job_id))))
        with tempfile.TemporaryDirectory(dir=self.settings.work_dir) as work:
            path = Path(work) / f"predictions.{job.format.value}"
            writer = PredictionWriter(job.format, path)
            for shard in range(job.total_shards):
                for result in parse_json_lines(
                    self.blobs.iter_bytes(bucket, result_key(job.tenant_id, job.job_id, shard))
                ):
                    if "error" in result:
                        errors.append(result)
                    else:
                        writer.write(result["id"], result["outputs"])
            writer.close()
            digest = hashlib.sha256()
            with path.open("rb") as written:
                for block in iter(lambda: written.read(1024 * 1024), b""):
                    digest.update(block)
            # the predictions go up from disk (multipart when large): the assembly's memory stays flat
            self.blobs.put_file(bucket, f"{prefix}/predictions.{job.format.value}", str(path))
        errors.sort(key=lambda e: int(e["row"]))
        error_lines = b"".join(json_line(e) for e in errors)
        finished = time.time()
        manifest = {
            "job_id": job.job_id,
            "model": job.model,
            "version": job.version,
            "format": job.format.value,
            "rows": job.total_rows,
            "rows_succeeded": writer.rows,
            "rows_failed": len(errors),
            "shards": job.total_shards,
            "created_at": job.created_at.isoformat(),
            "seconds": round(finished - job.created_at.timestamp(), 3),
            "sha256": {
                "predictions": digest.hexdigest(),
                "errors": hashlib.sha256(error_lines).hexdigest(),
            },
        }
        self.blobs.put(bucket, f"{prefix}/errors.jsonl", error_lines)
        self.blobs.put(bucket, f"{prefix}/manifest.json", json.dumps(manifest, indent=2).encode())
        if writer.rows == 0:
            status, error = BatchStatus.FAILED, "no row could be run; see errors.jsonl"
        else:
            status, error = (BatchStatus.PARTIAL if errors else BatchStatus.SUCCEEDED), None
        if not self.store.finish_batch(job.tenant_id, job.job_id, token, status, manifest=manifest, error=error):
            return  # a later assembly took this one over (it looked dead); that one announces
        if status == BatchStatus.FAILED:
            self._announce_failed(job, error or "")
        else:
            self._announce_completed(job, status, manifest)

    def _announce_failed(self, job: BatchJob, reason: str) -> None:
        _record_end(job, "FAILED")
        self.events.publish(
            BatchJobFailed(tenant_id=job.tenant_id, job_id=job.job_id, model=job.model, reason=reason),
        )
        self.store.mark_batch_announced(job.tenant_id, job.job_id)

    def _announce_completed(self, job: BatchJob, status: BatchStatus, manifest: dict[str, Any]) -> None:
        _record_end(job, status.value)
        prefix = f"s3://{self.settings.outbox_bucket}/{outbox_prefix(job.tenant_id, job.job_id)}"
        self.events.publish(
            BatchJobCompleted(
                tenant_id=job.tenant_id,
                job_id=job.job_id,
                model=job.model,
                version=job.version or 0,
                status=status.value,
                rows=int(manifest["rows"] or 0),
                rows_failed=int(manifest["rows_failed"]),
                predictions=f"{prefix}/predictions.{job.format.value}",
                errors=f"{prefix}/errors.jsonl",
                manifest=f"{prefix}/manifest.json",
            ),
        )
        self.store.mark_batch_announced(job.tenant_id, job.job_id)


def _record_end(job: BatchJob, status: str) -> None:
    failed = status == BatchStatus.FAILED.value
    record(
        BATCH_JOB,
        {"BatchJobsCompleted": 0 if failed else 1, "BatchJobsFailed": 1 if failed else 0},
        code="BATCH_FAILED" if failed else None,
        tenant_id=job.tenant_id,
        model=job.model,
        model_version=str(job.version) if job.version is not None else None,
        job_id=job.job_id,
        status=status,
    )
