"""The batch job record, its shards, its events, and the inbox key that starts one.

    PENDING_UPLOAD -> SPLITTING -> RUNNING -> ASSEMBLING -> SUCCEEDED | PARTIAL
                                \\-> FAILED (unreadable file, columns that do not fit, unknown model, not allowed)

Shards move PENDING -> DONE once, in the same DynamoDB transaction that adds their counts to the job; the
assembly is claimed by one conditional write, so it runs once however the last shards finish.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from maas.domain import Target, utcnow

ASSEMBLY_STALE_SECONDS = 300
"""An assembly claimed this long ago without finishing is taken over (its worker died)."""
SPLIT_STALE_SECONDS = 900
RETENTION_SECONDS = 14 * 24 * 3600


class BatchStatus(StrEnum):
    PENDING_UPLOAD = "PENDING_UPLOAD"
    SPLITTING = "SPLITTING"
    RUNNING = "RUNNING"
    ASSEMBLING = "ASSEMBLING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (BatchStatus.SUCCEEDED, BatchStatus.PARTIAL, BatchStatus.FAILED)


class BatchFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


class BatchJob(BaseModel):
    tenant_id: str
    job_id: str
    model: str
    """As the tenant names it: ``name``, or ``owner.name`` through a grant."""
    version_ref: str | None = None
    version: int | None = None
    target: Target = Target.CPU
    format: BatchFormat
    name: str
    inbox_key: str
    status: BatchStatus = BatchStatus.PENDING_UPLOAD
    source: str = "api"
    input_bytes: int | None = None
    total_rows: int | None = None
    total_shards: int | None = None
    split_done: bool = False
    shards_done: int = 0
    rows_done: int = 0
    rows_failed: int = 0
    split_errors: int = 0
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    split_finished_at: datetime | None = None
    finished_at: datetime | None = None
    split_token: str | None = None
    split_since: float | None = None
    assembly_token: str | None = None
    assembly_since: float | None = None
    manifest: dict[str, object] | None = None
    announced: bool = False
    expires_at: int = Field(default_factory=lambda: int(time.time()) + RETENTION_SECONDS)


def new_batch_id() -> str:
    import os

    return f"b-{int(time.time() * 1000):012x}-{os.urandom(6).hex()}"


def outbox_prefix(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}/batch/{job_id}"


def shard_key(tenant_id: str, job_id: str, shard: int) -> str:
    return f"{outbox_prefix(tenant_id, job_id)}/shards/{shard:06d}.jsonl"


def result_key(tenant_id: str, job_id: str, shard: int) -> str:
    return f"{outbox_prefix(tenant_id, job_id)}/results/{shard:06d}.jsonl"


def split_errors_key(tenant_id: str, job_id: str) -> str:
    return f"{outbox_prefix(tenant_id, job_id)}/split-errors.jsonl"


_TENANT = r"[a-z][a-z0-9-]{1,38}[a-z0-9]"
_MODEL = r"(?:[a-z][a-z0-9-]{1,38}[a-z0-9]\.)?[a-z0-9][a-z0-9_-]{0,63}"
_REF = r"[1-9][0-9]{0,9}|[a-z][a-z0-9_-]{0,62}"
_INBOX_KEY = re.compile(
    rf"^batch/(?P<tenant>{_TENANT})/(?P<model>{_MODEL})/(?P<ref>{_REF})/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{{0,127}})"
    r"\.(?P<ext>jsonl|csv|parquet)$"
)


class InboxKey(BaseModel):
    tenant_id: str
    model: str
    ref: str
    name: str
    format: BatchFormat


def parse_inbox_key(key: str) -> InboxKey | None:
    """``batch/{tenant}/{model}/{version or alias}/{name}.{jsonl|csv|parquet}``; None for anything else."""
    match = _INBOX_KEY.fullmatch(key)
    if match is None:
        return None
    return InboxKey(
        tenant_id=match["tenant"],
        model=match["model"],
        ref=match["ref"],
        name=match["name"],
        format=BatchFormat(match["ext"]),
    )


def inbox_key(tenant_id: str, model: str, ref: str, name: str, fmt: BatchFormat) -> str:
    return f"batch/{tenant_id}/{model}/{ref}/{name}.{fmt.value}"


# --- messages and events -------------------------------------------------------------------------------------
class ShardMessage(BaseModel):
    """One shard to run: on cpu-shards (the batch worker function) or on gpu-jobs (the GPU worker)."""

    kind: str = "shard"
    tenant_id: str
    job_id: str
    shard: int
    rows: int
    version: int
    """The version the split pinned: a shard may run before the split has finished recording the job."""
