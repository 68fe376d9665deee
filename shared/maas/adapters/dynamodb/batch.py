"""The ``BatchStore`` port (``maas.ports``) on the jobs table, next to the async jobs, keyed under the tenant:

| item          | PK         | SK                          |
|---------------|------------|-----------------------------|
| batch job     | T#<tenant> | BATCH#<job id>              |
| shard done    | T#<tenant> | BATCH#<job id>#S#<shard>    |
| inbox key     | T#<tenant> | BATCHKEY#<inbox key>        |

A shard's item is created (once: ``attribute_not_exists``) in the same transaction that adds its counts to the
job, so a shard delivered twice is counted once.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from maas.adapters.aws import client
from maas.adapters.dynamodb.table import Table, is_cancelled_transaction, plain_numbers, tenant_pk
from maas.domain import utcnow
from maas.domain.batch import BatchJob, BatchStatus
from maas.domain.paging import Page


def _sk(job_id: str) -> str:
    return f"BATCH#{job_id}"


def _dump(job: BatchJob) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(job.model_dump_json(), parse_float=Decimal)
    return {k: v for k, v in doc.items() if v is not None}


def _load(item: dict[str, Any]) -> BatchJob:
    doc = {k: v for k, v in item.items() if k not in ("PK", "SK", "kind")}
    return BatchJob.model_validate(plain_numbers(doc))


class DynamoBatchStore:
    def __init__(self, table_name: str) -> None:
        self._name = table_name
        self._table = Table(table_name)
        self._serializer = TypeSerializer()

    def _key(self, tenant_id: str, job_id: str) -> dict[str, str]:
        return {"PK": tenant_pk(tenant_id), "SK": _sk(job_id)}

    def _item(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in doc.items()}

    def create_batch(self, job: BatchJob) -> tuple[BatchJob, bool]:
        """Store the job and claim its inbox key; (the earlier job, False) when the key was claimed before."""
        try:
            client("dynamodb").transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._name,
                            "Item": self._item(
                                {
                                    "PK": tenant_pk(job.tenant_id),
                                    "SK": f"BATCHKEY#{job.inbox_key}",
                                    "kind": "batch_key",
                                    "job_id": job.job_id,
                                    "expires_at": job.expires_at,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._name,
                            "Item": self._item({**self._key(job.tenant_id, job.job_id), "kind": "batch", **_dump(job)}),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if not is_cancelled_transaction(exc):
                raise
            earlier = self.find_by_key(job.tenant_id, job.inbox_key)
            if earlier is None:
                raise
            return earlier, False
        return job, True

    def find_by_key(self, tenant_id: str, key: str) -> BatchJob | None:
        item = self._table.raw.get_item(
            Key={"PK": tenant_pk(tenant_id), "SK": f"BATCHKEY#{key}"}, ConsistentRead=True
        ).get("Item")
        return self.get_batch(tenant_id, str(item["job_id"])) if item else None

    def get_batch(self, tenant_id: str, job_id: str) -> BatchJob | None:
        item = self._table.raw.get_item(Key=self._key(tenant_id, job_id), ConsistentRead=True).get("Item")
        return _load(item) if item else None

    def list_batches(self, tenant_id: str, limit: int = 100, *, next_token: str | None = None) -> Page[BatchJob]:
        # A job's shard records share its prefix (BATCH#<id>#S#...): evaluated, not listed, as a filter would.
        page = self._table.query_page(
            tenant_pk(tenant_id),
            "BATCH#",
            limit=limit,
            next_token=next_token,
            newest_first=True,
            keep=lambda item: item.get("kind") == "batch",
        )
        return Page([_load(item) for item in page], page.next_token)

    def _update(
        self,
        key: tuple[str, str],
        expression: str,
        values: dict[str, Any],
        condition: str,
        names: dict[str, str] | None = None,
    ) -> bool:
        kwargs: dict[str, Any] = {
            "Key": self._key(*key),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": json.loads(json.dumps(values), parse_float=Decimal),
            "ExpressionAttributeNames": {"#s": "status", **(names or {})},
        }
        return self._table.conditional("update_item", **kwargs) is not None

    def claim_split(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool:
        return self._update(
            (tenant_id, job_id),
            "SET #s = :splitting, split_token = :token, split_since = :now, "
            "started_at = if_not_exists(started_at, :at)",
            {
                ":splitting": "SPLITTING",
                ":token": token,
                ":now": round(now, 3),
                ":at": utcnow().isoformat(),
                ":pending": "PENDING_UPLOAD",
                ":stale": round(stale_before, 3),
            },
            "#s = :pending OR (#s = :splitting AND split_since < :stale)",
        )

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
        return self._update(
            (tenant_id, job_id),
            "SET #s = :running, split_done = :yes, total_rows = :rows, total_shards = :shards, split_errors = :errors, "
            "version = :version, target = :target, input_bytes = :bytes, split_finished_at = :at "
            "ADD rows_failed :errors",
            {
                ":running": "RUNNING",
                ":yes": True,
                ":rows": rows,
                ":shards": shards,
                ":errors": errors,
                ":version": version,
                ":target": target,
                ":bytes": input_bytes,
                ":at": utcnow().isoformat(),
                ":splitting": "SPLITTING",
                ":token": token,
            },
            "#s = :splitting AND split_token = :token",
        )

    def fail_batch(self, tenant_id: str, job_id: str, reason: str, expect: tuple[BatchStatus, ...]) -> bool:
        values: dict[str, Any] = {":failed": "FAILED", ":reason": reason, ":at": utcnow().isoformat()}
        names = []
        for i, status in enumerate(expect):
            values[f":e{i}_"] = status.value
            names.append(f":e{i}_")
        return self._update(
            (tenant_id, job_id),
            "SET #s = :failed, #e = :reason, finished_at = :at",
            values,
            f"#s IN ({', '.join(names)})",
            {"#e": "error"},
        )

    def complete_shard(self, tenant_id: str, job_id: str, shard: int, rows_done: int, rows_failed: int) -> bool:
        """Count a shard once: False when it was counted before (a duplicate delivery)."""
        try:
            client("dynamodb").transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._name,
                            "Item": self._item(
                                {
                                    "PK": tenant_pk(tenant_id),
                                    "SK": f"{_sk(job_id)}#S#{shard:06d}",
                                    "kind": "batch_shard",
                                    "rows_done": rows_done,
                                    "rows_failed": rows_failed,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._name,
                            "Key": self._item(self._key(tenant_id, job_id)),
                            "UpdateExpression": "ADD shards_done :one, rows_done :done, rows_failed :failed",
                            "ExpressionAttributeValues": self._item(
                                {":one": 1, ":done": rows_done, ":failed": rows_failed}
                            ),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if is_cancelled_transaction(exc):
                return False
            raise
        return True

    def claim_assembly(self, tenant_id: str, job_id: str, token: str, now: float, stale_before: float) -> bool:
        return self._update(
            (tenant_id, job_id),
            "SET #s = :assembling, assembly_token = :token, assembly_since = :now",
            {
                ":assembling": "ASSEMBLING",
                ":token": token,
                ":now": round(now, 3),
                ":running": "RUNNING",
                ":yes": True,
                ":stale": round(stale_before, 3),
            },
            "(#s = :running AND split_done = :yes AND shards_done = total_shards) "
            "OR (#s = :assembling AND assembly_since < :stale)",
        )

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
        values: dict[str, Any] = {
            ":status": status.value,
            ":manifest": manifest,
            ":at": utcnow().isoformat(),
            ":assembling": "ASSEMBLING",
            ":token": token,
        }
        expression = "SET #s = :status, manifest = :manifest, finished_at = :at"
        if error:
            values[":error"] = error
            expression += ", #e = :error"
        return self._update(
            (tenant_id, job_id),
            expression,
            values,
            "#s = :assembling AND assembly_token = :token",
            {"#e": "error"} if error else None,
        )

    def mark_batch_announced(self, tenant_id: str, job_id: str) -> None:
        self._table.raw.update_item(
            Key=self._key(tenant_id, job_id),
            UpdateExpression="SET announced = :yes",
            ExpressionAttributeValues={":yes": True},
        )
