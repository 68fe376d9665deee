"""Jobs on DynamoDB (``JobStore``).

Jobs table (TTL on ``expires_at``), keyed under the tenant:

| item        | PK         | SK                 |
|-------------|------------|--------------------|
| job         | T#<tenant> | JOB#<job id>       |
| idempotency | T#<tenant> | IDEM#<key>         |
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError

from maas.adapters.aws import client
from maas.adapters.dynamodb.table import Table, is_cancelled_transaction, plain_numbers, tenant_pk
from maas.domain import utcnow
from maas.domain.jobs import Job, JobOutcome, JobStatus
from maas.domain.paging import Page
from maas.errors import ConflictError

_BINARY_FIELDS = ("request_body", "result_body")


def _dump(model: Job | JobOutcome) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(model.model_dump_json(exclude=set(_BINARY_FIELDS)), parse_float=Decimal)
    for name in _BINARY_FIELDS:
        value = getattr(model, name, None)
        if value is not None:
            doc[name] = Binary(value)
    return {k: v for k, v in doc.items() if v is not None}


def _load(item: dict[str, Any]) -> Job:
    doc = {k: v for k, v in item.items() if k not in ("PK", "SK", "kind")}
    for name in _BINARY_FIELDS:
        if isinstance(doc.get(name), Binary):
            doc[name] = doc[name].value
    return Job.model_validate(plain_numbers(doc))


class DynamoJobStore:
    def __init__(self, table_name: str) -> None:
        self._name = table_name
        self._table = Table(table_name)

    def _key(self, tenant_id: str, job_id: str) -> dict[str, str]:
        return {"PK": tenant_pk(tenant_id), "SK": f"JOB#{job_id}"}

    # --- create, read --------------------------------------------------------------------------------------
    def create_job(self, job: Job, body_hash: str | None = None) -> tuple[Job, bool]:
        item = {**self._key(job.tenant_id, job.job_id), "kind": "job", **_dump(job)}
        if job.idempotency_key is None:
            self._table.raw.put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")
            return job, True
        serializer = _serializer()
        idem = {
            "PK": tenant_pk(job.tenant_id),
            "SK": f"IDEM#{job.idempotency_key}",
            "kind": "idempotency",
            "job_id": job.job_id,
            "body_hash": body_hash or "",
            "expires_at": job.expires_at,
        }
        try:
            client("dynamodb").transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._name,
                            "Item": {k: serializer.serialize(v) for k, v in idem.items()},
                            "ConditionExpression": "attribute_not_exists(PK) OR expires_at < :now",
                            "ExpressionAttributeValues": {":now": {"N": str(int(job.created_at.timestamp()))}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._name,
                            "Item": {k: serializer.serialize(v) for k, v in item.items()},
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if not is_cancelled_transaction(exc):
                raise
            earlier = self._table.raw.get_item(
                Key={"PK": tenant_pk(job.tenant_id), "SK": f"IDEM#{job.idempotency_key}"}
            ).get("Item")
            if earlier is None:  # a concurrent first use that failed: let the caller retry
                raise ConflictError("a request with this Idempotency-Key is being created; retry") from exc
            if earlier.get("body_hash") != (body_hash or ""):
                raise ConflictError(
                    "this Idempotency-Key was used with another request; use a new key for a new request"
                ) from exc
            found = self.get_job(job.tenant_id, str(earlier["job_id"]))
            if found is None:
                raise ConflictError("the job for this Idempotency-Key has expired; use a new key") from exc
            return found, False
        return job, True

    def get_job(self, tenant_id: str, job_id: str) -> Job | None:
        item = self._table.raw.get_item(Key=self._key(tenant_id, job_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        job = _load(item)
        return None if job.expired() else job

    _LISTED = {
        "ProjectionExpression": "SK, #s, tenant_id, job_id, model, #o, model_name, version, alias, target, "
        "created_at, started_at, finished_at, queue_ms, run_ms, #e, error_code, expires_at, #src, attempts",
        "ExpressionAttributeNames": {"#s": "status", "#o": "owner", "#e": "error", "#src": "source"},
    }

    def _query(self, tenant_id: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(tenant_pk(tenant_id)) & Key("SK").begins_with("JOB#"),
            "ScanIndexForward": False,
            **self._LISTED,
        }
        while True:
            page = self._table.raw.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_jobs(
        self,
        tenant_id: str,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Page[Job]:
        def keep(item: dict[str, Any]) -> bool:
            job = _load(item)
            return not (job.expired() or (status and job.status != status) or (model and job.model != model))

        page = self._table.query_page(
            tenant_pk(tenant_id),
            "JOB#",
            limit=limit,
            next_token=next_token,
            newest_first=True,
            keep=keep,
            **self._LISTED,
        )
        return Page([_load(item) for item in page], page.next_token)

    def count_active_jobs(self, tenant_id: str, *, model: str | None = None, stop_at: int = 1000) -> int:
        count = 0
        for item in self._query(tenant_id):
            if item.get("status") in (JobStatus.QUEUED.value, JobStatus.RUNNING.value) and (
                model is None or item.get("model") == model
            ):
                count += 1
                if count >= stop_at:
                    break
        return count

    # --- state changes -------------------------------------------------------------------------------------
    def _update(self, tenant_id: str, job_id: str, **kwargs: Any) -> dict[str, Any] | None:
        result = self._table.conditional("update_item", Key=self._key(tenant_id, job_id), **kwargs)
        if result is None:
            return None
        attributes: dict[str, Any] = result.get("Attributes") or {}
        return attributes

    def claim_job(
        self,
        tenant_id: str,
        job_id: str,
        *,
        token: str,
        worker: str,
        lease_until: float,
        now: float,
        max_attempts: int = 1_000_000,
    ) -> Job | None:

        attributes = self._update(
            tenant_id,
            job_id,
            UpdateExpression="SET #s = :running, lease_token = :token, lease_until = :lease, worker = :worker, "
            "started_at = if_not_exists(started_at, :started) ADD attempts :one",
            ConditionExpression=(
                Attr("status").eq(JobStatus.QUEUED.value)
                | (Attr("status").eq(JobStatus.RUNNING.value) & Attr("lease_until").lt(Decimal(str(now))))
            )
            & Attr("attempts").lt(max_attempts),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":running": JobStatus.RUNNING.value,
                ":token": token,
                ":lease": Decimal(str(round(lease_until, 3))),
                ":worker": worker,
                ":started": utcnow().isoformat(),
                ":one": 1,
            },
            ReturnValues="ALL_NEW",
        )
        return _load(attributes) if attributes else None

    def extend_lease(self, tenant_id: str, job_id: str, token: str, lease_until: float) -> bool:
        return (
            self._update(
                tenant_id,
                job_id,
                UpdateExpression="SET lease_until = :lease",
                ConditionExpression=Attr("status").eq(JobStatus.RUNNING.value) & Attr("lease_token").eq(token),
                ExpressionAttributeValues={":lease": Decimal(str(round(lease_until, 3)))},
            )
            is not None
        )

    def release_job(self, tenant_id: str, job_id: str, token: str) -> bool:
        return (
            self._update(
                tenant_id,
                job_id,
                UpdateExpression="SET #s = :queued REMOVE lease_token, lease_until",
                ConditionExpression=Attr("status").eq(JobStatus.RUNNING.value) & Attr("lease_token").eq(token),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":queued": JobStatus.QUEUED.value},
            )
            is not None
        )

    def finish_job(
        self, tenant_id: str, job_id: str, outcome: JobOutcome, *, token: str | None, expect: tuple[JobStatus, ...]
    ) -> bool:
        doc = _dump(outcome)
        # "#f1_" is no prefix of "#f10_": moto substitutes placeholders by plain text replacement
        names = {f"#f{i}_": k for i, k in enumerate(doc)}
        values = {f":v{i}_": v for i, v in enumerate(doc.values())}
        condition = Attr("status").is_in([s.value for s in expect])
        if token is not None:
            condition = condition & Attr("lease_token").eq(token)
        return (
            self._update(
                tenant_id,
                job_id,
                UpdateExpression="SET " + ", ".join(f"#f{i}_ = :v{i}_" for i in range(len(doc))),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            is not None
        )

    def cancel_job(self, tenant_id: str, job_id: str) -> bool:

        return (
            self._update(
                tenant_id,
                job_id,
                UpdateExpression="SET #s = :cancelled, finished_at = :now",
                ConditionExpression=Attr("status").eq(JobStatus.QUEUED.value),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":cancelled": JobStatus.CANCELLED.value, ":now": utcnow().isoformat()},
            )
            is not None
        )

    def mark_job_announced(self, tenant_id: str, job_id: str) -> None:
        self._update(
            tenant_id, job_id, UpdateExpression="SET announced = :yes", ExpressionAttributeValues={":yes": True}
        )


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()
