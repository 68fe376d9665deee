"""Tenants, API key hashes, models and versions in the registry table (``RegistryStore``)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr

from maas.adapters.dynamodb.table import Table, document, plain_numbers, tenant_pk
from maas.domain import ApiKey, Model, ModelVersion, Tenant, VersionStatus
from maas.domain.paging import Page
from maas.errors import ConflictError, NotFoundError

TENANTS_PK = "TENANTS"  # the index of every tenant: one item per tenant, ``TENANTS / T#<tenant>``


def version_sk(model: str, version: int) -> str:
    return f"VERSION#{model}#{version:010d}"


class DynamoRegistryStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    # tenants and keys
    def create_tenant(self, tenant: Tenant) -> None:
        """The tenant's item and its entry in the ``TENANTS`` index, in one transaction: listed once created."""
        doc = document(tenant)
        created = self._table.transact(
            [
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": {"PK": tenant_pk(tenant.tenant_id), "SK": "TENANT", "kind": "tenant", **doc},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": {"PK": TENANTS_PK, "SK": tenant_pk(tenant.tenant_id), "kind": "tenant_index", **doc},
                    }
                },
            ]
        )
        if not created:
            raise ConflictError(f"tenant '{tenant.tenant_id}' already exists")

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self._table.get(tenant_pk(tenant_id), "TENANT")
        return Tenant.model_validate(item) if item else None

    def list_tenants(self, *, limit: int | None = None, next_token: str | None = None) -> Page[Tenant]:
        page = self._table.query_page(TENANTS_PK, "T#", limit=limit, next_token=next_token)
        return Page([Tenant.model_validate(item) for item in page], page.next_token)

    def put_key(self, key: ApiKey) -> None:
        self._table.put_new(tenant_pk(key.tenant_id), f"KEY#{key.key_id}", "key", document(key), "key id collision")

    def get_key(self, tenant_id: str, key_id: str) -> ApiKey | None:
        item = self._table.get(tenant_pk(tenant_id), f"KEY#{key_id}")
        return ApiKey.model_validate(item) if item else None

    def list_keys(self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None) -> Page[ApiKey]:
        page = self._table.query_page(tenant_pk(tenant_id), "KEY#", limit=limit, next_token=next_token)
        return Page([ApiKey.model_validate(item) for item in page], page.next_token)

    def revoke_key(self, tenant_id: str, key_id: str, when: datetime) -> bool:
        return (
            self._table.conditional(
                "update_item",
                Key={"PK": tenant_pk(tenant_id), "SK": f"KEY#{key_id}"},
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :when)",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":when": when.isoformat()},
            )
            is not None
        )

    # models
    def create_model(self, model: Model) -> None:
        self._table.put_new(
            tenant_pk(model.tenant_id),
            f"MODEL#{model.name}",
            "model",
            {**document(model), "version_counter": 0},
            f"model '{model.name}' already exists",
        )

    def get_model(self, tenant_id: str, name: str) -> Model | None:
        item = self._table.get(tenant_pk(tenant_id), f"MODEL#{name}")
        return Model.model_validate(item) if item else None

    def list_models(self, tenant_id: str, *, limit: int | None = None, next_token: str | None = None) -> Page[Model]:
        page = self._table.query_page(
            tenant_pk(tenant_id), "MODEL#", limit=limit, next_token=next_token, keep=lambda i: "deleted_at" not in i
        )
        return Page([Model.model_validate(item) for item in page], page.next_token)

    def update_model(self, model: Model) -> None:
        doc = document(model)
        self._table.raw.update_item(
            Key={"PK": tenant_pk(model.tenant_id), "SK": f"MODEL#{model.name}"},
            UpdateExpression="SET description = :d, target = :t, batching = :b",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":d": doc["description"], ":t": doc["target"], ":b": doc["batching"]},
        )

    def delete_model(self, tenant_id: str, name: str, when: datetime) -> None:
        self._table.raw.update_item(
            Key={"PK": tenant_pk(tenant_id), "SK": f"MODEL#{name}"},
            UpdateExpression="SET deleted_at = :when",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":when": when.isoformat()},
        )

    # versions
    def allocate_version(self, tenant_id: str, name: str) -> int:
        result = self._table.conditional(
            "update_item",
            Key={"PK": tenant_pk(tenant_id), "SK": f"MODEL#{name}"},
            UpdateExpression="ADD version_counter :one",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        if result is None:
            raise NotFoundError(f"model '{name}' not found")
        return int(result["Attributes"]["version_counter"])

    def put_version(self, version: ModelVersion) -> None:
        self._table.put_new(
            tenant_pk(version.tenant_id),
            version_sk(version.model, version.version),
            "version",
            document(version),
            f"version {version.version} of '{version.model}' already exists",
        )

    def get_version(self, tenant_id: str, model: str, version: int) -> ModelVersion | None:
        item = self._table.get(tenant_pk(tenant_id), version_sk(model, version))
        return ModelVersion.model_validate(plain_numbers(item)) if item else None

    def list_versions(
        self, tenant_id: str, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[ModelVersion]:
        page = self._table.query_page(tenant_pk(tenant_id), f"VERSION#{model}#", limit=limit, next_token=next_token)
        return Page([ModelVersion.model_validate(plain_numbers(item)) for item in page], page.next_token)

    def set_optimization(self, tenant_id: str, model: str, version: int, report: dict[str, Any]) -> None:
        self._table.raw.update_item(
            Key={"PK": tenant_pk(tenant_id), "SK": version_sk(model, version)},
            UpdateExpression="SET optimization = :report",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":report": json.loads(json.dumps(report), parse_float=Decimal)},
        )

    def finish_version(self, version: ModelVersion) -> bool:
        item = {
            "PK": tenant_pk(version.tenant_id),
            "SK": version_sk(version.model, version.version),
            "kind": "version",
            **document(version),
        }
        condition = Attr("status").eq(VersionStatus.PENDING_UPLOAD.value)
        return self._table.conditional("put_item", Item=item, ConditionExpression=condition) is not None

    def set_version_status(
        self, tenant_id: str, model: str, version: int, status: VersionStatus, expected: VersionStatus
    ) -> bool:
        return (
            self._table.conditional(
                "update_item",
                Key={"PK": tenant_pk(tenant_id), "SK": version_sk(model, version)},
                UpdateExpression="SET #s = :status",
                ConditionExpression="#s = :expected",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":status": status.value, ":expected": expected.value},
            )
            is not None
        )

    def mark_announced(self, tenant_id: str, model: str, version: int) -> None:
        self._table.raw.update_item(
            Key={"PK": tenant_pk(tenant_id), "SK": version_sk(model, version)},
            UpdateExpression="SET announced = :yes",
            ExpressionAttributeValues={":yes": True},
        )
