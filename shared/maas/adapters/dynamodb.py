"""The registry in one DynamoDB table. Every item's partition key is its tenant (``T#<tenant>``).

| item     | PK         | SK                               |
|----------|------------|----------------------------------|
| tenant   | T#<tenant> | TENANT                           |
| API key  | T#<tenant> | KEY#<key id>                     |
| model    | T#<tenant> | MODEL#<name>  (+ version_counter) |
| version  | T#<tenant> | VERSION#<name>#<version:010d>    |
| alias    | T#<tenant> | ALIAS#<model>#<alias>            |
| grant    | T#<owner>  | GRANT#<model>#<grantee>          |
| quota    | T#<tenant> | QUOTA                            |
| bucket   | T#<tenant> | BUCKET#<tenant or grant>         |
| usage    | T#<tenant> | USAGE#<day>#<model>              |
| audit    | T#<tenant> | AUDIT#<time>#<id>                |
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from maas.access import Grant, Quota
from maas.adapters.aws import dynamodb_table
from maas.aliases import Alias
from maas.audit import AuditEntry
from maas.domain import ApiKey, Model, ModelVersion, Tenant, VersionStatus
from maas.errors import ConflictError, NotFoundError, PreconditionFailedError


def _pk(tenant_id: str) -> str:
    return f"T#{tenant_id}"


def _version_sk(model: str, version: int) -> str:
    return f"VERSION#{model}#{version:010d}"


def plain_numbers(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; free-form documents (audit before/after) want int and float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_numbers(v) for v in value]
    return value


def _decimal(value: Any) -> Any:
    return Decimal(str(round(value, 6))) if isinstance(value, float) else value


def is_conditional_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class DynamoRegistryStore:
    def __init__(self, table_name: str) -> None:
        self._table = dynamodb_table(table_name)

    # --- helpers -------------------------------------------------------------------------------------------
    def _put_new(self, pk: str, sk: str, kind: str, doc: dict[str, Any], conflict: str) -> None:
        try:
            self._table.put_item(
                Item={"PK": pk, "SK": sk, "kind": kind, **doc},
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise ConflictError(conflict) from exc
            raise

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(Key={"PK": pk, "SK": sk}).get("Item")
        return item

    def _query_prefix(self, pk: str, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(pk) & Key("SK").begins_with(prefix)}
        while True:
            page = self._table.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _dump(obj: Any) -> dict[str, Any]:
        # DynamoDB stores no None (drop them; the models' defaults restore them) and no float (Decimal instead).
        doc: dict[str, Any] = json.loads(obj.model_dump_json(), parse_float=Decimal)
        return {k: v for k, v in doc.items() if v is not None}

    # --- tenants and keys ----------------------------------------------------------------------------------
    def create_tenant(self, tenant: Tenant) -> None:
        self._put_new(
            _pk(tenant.tenant_id),
            "TENANT",
            "tenant",
            self._dump(tenant),
            f"tenant '{tenant.tenant_id}' already exists",
        )

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self._get(_pk(tenant_id), "TENANT")
        return Tenant.model_validate(item) if item else None

    def put_key(self, key: ApiKey) -> None:
        self._put_new(_pk(key.tenant_id), f"KEY#{key.key_id}", "key", self._dump(key), "key id collision")

    def get_key(self, tenant_id: str, key_id: str) -> ApiKey | None:
        item = self._get(_pk(tenant_id), f"KEY#{key_id}")
        return ApiKey.model_validate(item) if item else None

    def list_keys(self, tenant_id: str) -> list[ApiKey]:
        return [ApiKey.model_validate(item) for item in self._query_prefix(_pk(tenant_id), "KEY#")]

    def revoke_key(self, tenant_id: str, key_id: str, when: datetime) -> bool:
        try:
            self._table.update_item(
                Key={"PK": _pk(tenant_id), "SK": f"KEY#{key_id}"},
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :when)",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":when": when.isoformat()},
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    # --- models and versions -------------------------------------------------------------------------------
    def create_model(self, model: Model) -> None:
        self._put_new(
            _pk(model.tenant_id),
            f"MODEL#{model.name}",
            "model",
            {**self._dump(model), "version_counter": 0},
            f"model '{model.name}' already exists",
        )

    def get_model(self, tenant_id: str, name: str) -> Model | None:
        item = self._get(_pk(tenant_id), f"MODEL#{name}")
        return Model.model_validate(item) if item else None

    def list_models(self, tenant_id: str) -> list[Model]:
        models = [Model.model_validate(item) for item in self._query_prefix(_pk(tenant_id), "MODEL#")]
        return [m for m in models if m.deleted_at is None]

    def update_model(self, model: Model) -> None:
        doc = self._dump(model)
        self._table.update_item(
            Key={"PK": _pk(model.tenant_id), "SK": f"MODEL#{model.name}"},
            UpdateExpression="SET description = :d, target = :t, batching = :b",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":d": doc["description"], ":t": doc["target"], ":b": doc["batching"]},
        )

    def delete_model(self, tenant_id: str, name: str, when: datetime) -> None:
        self._table.update_item(
            Key={"PK": _pk(tenant_id), "SK": f"MODEL#{name}"},
            UpdateExpression="SET deleted_at = :when",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":when": when.isoformat()},
        )

    def allocate_version(self, tenant_id: str, name: str) -> int:
        try:
            result = self._table.update_item(
                Key={"PK": _pk(tenant_id), "SK": f"MODEL#{name}"},
                UpdateExpression="ADD version_counter :one",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":one": 1},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise NotFoundError(f"model '{name}' not found") from exc
            raise
        return int(result["Attributes"]["version_counter"])

    def put_version(self, version: ModelVersion) -> None:
        self._put_new(
            _pk(version.tenant_id),
            _version_sk(version.model, version.version),
            "version",
            self._dump(version),
            f"version {version.version} of '{version.model}' already exists",
        )

    def get_version(self, tenant_id: str, model: str, version: int) -> ModelVersion | None:
        item = self._get(_pk(tenant_id), _version_sk(model, version))
        return ModelVersion.model_validate(plain_numbers(item)) if item else None

    def list_versions(self, tenant_id: str, model: str) -> list[ModelVersion]:
        items = self._query_prefix(_pk(tenant_id), f"VERSION#{model}#")
        return [ModelVersion.model_validate(plain_numbers(item)) for item in items]

    def set_optimization(self, tenant_id: str, model: str, version: int, report: dict[str, Any]) -> None:
        self._table.update_item(
            Key={"PK": _pk(tenant_id), "SK": _version_sk(model, version)},
            UpdateExpression="SET optimization = :report",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":report": json.loads(json.dumps(report), parse_float=Decimal)},
        )

    def finish_version(self, version: ModelVersion) -> bool:
        try:
            self._table.put_item(
                Item={
                    "PK": _pk(version.tenant_id),
                    "SK": _version_sk(version.model, version.version),
                    "kind": "version",
                    **self._dump(version),
                },
                ConditionExpression=Attr("status").eq(VersionStatus.PENDING_UPLOAD.value),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def set_version_status(
        self, tenant_id: str, model: str, version: int, status: VersionStatus, expected: VersionStatus
    ) -> bool:
        try:
            self._table.update_item(
                Key={"PK": _pk(tenant_id), "SK": _version_sk(model, version)},
                UpdateExpression="SET #s = :status",
                ConditionExpression="#s = :expected",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":status": status.value, ":expected": expected.value},
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    # --- aliases -------------------------------------------------------------------------------------------
    def get_alias(self, tenant_id: str, model: str, name: str) -> Alias | None:
        item = self._get(_pk(tenant_id), f"ALIAS#{model}#{name}")
        return Alias.model_validate(item) if item else None

    def list_aliases(self, tenant_id: str, model: str) -> list[Alias]:
        return [Alias.model_validate(item) for item in self._query_prefix(_pk(tenant_id), f"ALIAS#{model}#")]

    def save_alias(self, alias: Alias, expected_revision: int) -> None:
        condition = "attribute_not_exists(PK)" if expected_revision == 0 else "revision = :expected"
        kwargs: dict[str, Any] = {"ConditionExpression": condition}
        if expected_revision:
            kwargs["ExpressionAttributeValues"] = {":expected": expected_revision}
        try:
            self._table.put_item(
                Item={
                    "PK": _pk(alias.tenant_id),
                    "SK": f"ALIAS#{alias.model}#{alias.name}",
                    "kind": "alias",
                    **self._dump(alias),
                },
                **kwargs,
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise PreconditionFailedError(
                    f"alias '{alias.name}' changed since revision {expected_revision}"
                ) from exc
            raise

    def delete_alias(self, tenant_id: str, model: str, name: str, expected_revision: int) -> bool:
        try:
            self._table.delete_item(
                Key={"PK": _pk(tenant_id), "SK": f"ALIAS#{model}#{name}"},
                ConditionExpression="revision = :expected",
                ExpressionAttributeValues={":expected": expected_revision},
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    # --- grants ---------------------------------------------------------------------------------------------
    def get_grant(self, owner: str, model: str, grantee: str) -> Grant | None:
        item = self._get(_pk(owner), f"GRANT#{model}#{grantee}")
        return Grant.model_validate(item) if item else None

    def list_grants(self, owner: str, model: str) -> list[Grant]:
        return [Grant.model_validate(item) for item in self._query_prefix(_pk(owner), f"GRANT#{model}#")]

    def put_grant(self, grant: Grant) -> None:
        self._table.put_item(
            Item={
                "PK": _pk(grant.owner),
                "SK": f"GRANT#{grant.model}#{grant.grantee}",
                "kind": "grant",
                **self._dump(grant),
            }
        )

    def delete_grant(self, owner: str, model: str, grantee: str) -> bool:
        try:
            self._table.delete_item(
                Key={"PK": _pk(owner), "SK": f"GRANT#{model}#{grantee}"},
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    # --- quotas and usage -----------------------------------------------------------------------------------
    def get_quota(self, tenant_id: str) -> Quota | None:
        item = self._get(_pk(tenant_id), "QUOTA")
        return Quota.model_validate(item) if item else None

    def put_quota(self, tenant_id: str, quota: Quota | None) -> None:
        if quota is None:
            self._table.delete_item(Key={"PK": _pk(tenant_id), "SK": "QUOTA"})
            return
        self._table.put_item(Item={"PK": _pk(tenant_id), "SK": "QUOTA", "kind": "quota", **self._dump(quota)})

    def take_token(self, tenant_id: str, bucket: str, rate: float, burst: int, now: float) -> float:
        """GCRA: ``tat`` is when the bucket is full again; a request may land while tat - now <= (burst - 1) T."""
        interval = 1.0 / rate
        key = {"PK": _pk(tenant_id), "SK": f"BUCKET#{bucket}"}
        expires = int(now + burst * interval) + 3600

        def update(expression: str, condition: str, values: dict[str, Any]) -> bool:
            try:
                self._table.update_item(
                    Key=key,
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeValues={k: _decimal(v) for k, v in values.items()},
                )
            except ClientError as exc:
                if is_conditional_failure(exc):
                    return False
                raise
            return True

        # the bucket has room to spare: start from now
        if update(
            "SET tat = :next, expires_at = :expires",
            "attribute_not_exists(tat) OR tat <= :now",
            {":next": now + interval, ":now": now, ":expires": expires},
        ):
            return 0.0
        # bursting: take the next slot if the burst allows it
        limit = now + (burst - 1) * interval
        if update(
            "SET tat = tat + :interval, expires_at = :expires",
            "tat <= :limit",
            {":interval": interval, ":limit": limit, ":expires": expires},
        ):
            return 0.0
        item = self._get(key["PK"], key["SK"]) or {}
        return max(0.001, float(item.get("tat", now)) - limit)

    def add_usage(self, tenant_id: str, day: str, model: str, requests: int, throttled: int) -> None:
        self._table.update_item(
            Key={"PK": _pk(tenant_id), "SK": f"USAGE#{day}#{model}"},
            UpdateExpression="SET #d = :day, model = :model ADD requests :requests, throttled :throttled",
            ExpressionAttributeNames={"#d": "day"},
            ExpressionAttributeValues={":day": day, ":model": model, ":requests": requests, ":throttled": throttled},
        )

    def list_usage(self, tenant_id: str) -> list[dict[str, Any]]:
        return [
            {
                "day": item["day"],
                "model": item["model"],
                "requests": int(item.get("requests", 0)),
                "throttled": int(item.get("throttled", 0)),
            }
            for item in self._query_prefix(_pk(tenant_id), "USAGE#")
        ]

    # --- audit ----------------------------------------------------------------------------------------------
    def put_audit(self, entry: AuditEntry) -> None:
        self._table.put_item(
            Item={
                "PK": _pk(entry.tenant_id),
                "SK": f"AUDIT#{entry.at.isoformat()}#{entry.entry_id}",
                "kind": "audit",
                **self._dump(entry),
            }
        )

    def list_audit(self, tenant_id: str, limit: int) -> list[AuditEntry]:
        page = self._table.query(
            KeyConditionExpression=Key("PK").eq(_pk(tenant_id)) & Key("SK").begins_with("AUDIT#"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [AuditEntry.model_validate(plain_numbers(item)) for item in page.get("Items", [])]

    # --- shadow statistics ----------------------------------------------------------------------------------
    def record_shadow_sample(
        self,
        tenant_id: str,
        model: str,
        alias: str,
        version: int,
        sample_id: str,
        *,
        agreed: bool,
        errored: bool,
        primary_ms: float,
        shadow_ms: float,
    ) -> bool:
        """The sample's marker and the counters change in one transaction: counted once, or not at all."""
        pk = _pk(tenant_id)
        client = self._table.meta.client
        expires = int(time.time()) + 7 * 24 * 3600
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": {"PK": pk, "SK": f"SHADOWSAMPLE#{sample_id}", "expires_at": expires},
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": {"PK": pk, "SK": f"SHADOW#{model}#{alias}#{version}"},
                            "UpdateExpression": "ADD samples :one, agreements :agreed, errors :errored, "
                            "primary_ms :primary, shadow_ms :shadow",
                            "ExpressionAttributeValues": {
                                ":one": 1,
                                ":agreed": int(agreed),
                                ":errored": int(errored),
                                ":primary": Decimal(str(round(primary_ms, 3))),
                                ":shadow": Decimal(str(round(shadow_ms, 3))),
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False
            raise
        return True

    def get_shadow_stats(self, tenant_id: str, model: str, alias: str, version: int) -> dict[str, Any] | None:
        return self._get(_pk(tenant_id), f"SHADOW#{model}#{alias}#{version}")

    def mark_announced(self, tenant_id: str, model: str, version: int) -> None:
        self._table.update_item(
            Key={"PK": _pk(tenant_id), "SK": _version_sk(model, version)},
            UpdateExpression="SET announced = :yes",
            ExpressionAttributeValues={":yes": True},
        )
