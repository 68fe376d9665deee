"""The port the batch logic keeps its jobs through; ``maas.adapters.batch`` implements it on DynamoDB, tests in memory.

Every move is conditional, so that a split, a shard and an assembly each count once however often SQS and S3
deliver them: a call that finds the job in another state returns False and changes nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from maas.batch.model import BatchJob, BatchStatus


class BatchStore(Protocol):
    def create_batch(self, job: BatchJob) -> tuple[BatchJob, bool]:
        """Store the job and claim its inbox key; (the earlier job, False) when the key was claimed before."""

    def find_by_key(self, tenant_id: str, key: str) -> BatchJob | None:
        """The job that claimed this inbox key."""

    def get_batch(self, tenant_id: str, job_id: str) -> BatchJob | None: ...

    def list_batches(self, tenant_id: str, limit: int = 100) -> list[BatchJob]:
        """Newest first."""

    def claim_split(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool:
        """PENDING_UPLOAD (or SPLITTING since before ``stale_before``) -> SPLITTING under ``token``."""

    def finish_split(
        self,
        tenant_id: str,
        job_id: str,
        token: str,
        *,
        version: int,
        target: str,
        rows: int,
        shards: int,
        errors: int,
        input_bytes: int,
    ) -> bool:
        """SPLITTING under ``token`` -> RUNNING with its totals; the rows the split rejected count as failed."""

    def fail_batch(self, tenant_id: str, job_id: str, reason: str, expect: tuple[BatchStatus, ...]) -> bool:
        """-> FAILED with ``reason``, only from one of ``expect``."""

    def complete_shard(self, tenant_id: str, job_id: str, shard: int, rows_done: int, rows_failed: int) -> bool:
        """Add a shard's counts to its job once: False when it was counted before (a duplicate delivery)."""

    def claim_assembly(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool:
        """RUNNING with the split and every shard done (or ASSEMBLING since before ``stale_before``) ->
        ASSEMBLING under ``token``."""

    def finish_batch(
        self,
        tenant_id: str,
        job_id: str,
        token: str,
        status: BatchStatus,
        *,
        manifest: dict[str, Any],
        error: str | None,
    ) -> bool:
        """ASSEMBLING under ``token`` -> ``status`` with the manifest: False for an assembly taken over."""

    def mark_batch_announced(self, tenant_id: str, job_id: str) -> None: ...
