"""The control plane under /v1: tenants, keys, quotas, usage, audit, models, versions, aliases, grants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional, Union

from maas_client._http import Transport
from maas_client.models import (
    Alias,
    ApiKey,
    AuditEntry,
    CreatedKey,
    CreatedVersion,
    Grant,
    Model,
    ShadowReport,
    SharedModel,
    Tenant,
    TenantQuota,
    TenantUsage,
    Version,
)

VersionRef = Union[int, str]
"""A version number, or an alias that names one."""


def _if_match(etag: Optional[str]) -> dict[str, str]:
    return {"If-Match": etag} if etag else {}


class ControlPlane:
    http: Transport

    # --- tenants and keys -----------------------------------------------------------------------------------------
    def create_tenant(self, tenant_id: str, name: Optional[str] = None) -> Tenant:
        """A new tenant (operator key only)."""
        body = {"tenant_id": tenant_id, "name": name or tenant_id}
        return Tenant.model_validate(self.http.json("POST", "/v1/tenants", body))

    def list_tenants(self, *, page_size: Optional[int] = None) -> Iterator[Tenant]:
        """Every tenant, page after page (operator key only)."""
        for item in self.http.pages("/v1/tenants", "tenants", {"limit": page_size}):
            yield Tenant.model_validate(item)

    def create_key(self, tenant_id: str, scopes: list[str], description: str = "") -> CreatedKey:
        """A new API key; ``api_key`` is in this answer only."""
        body = {"scopes": list(scopes), "description": description}
        return CreatedKey.model_validate(self.http.json("POST", f"/v1/tenants/{tenant_id}/keys", body))

    def list_keys(self, tenant_id: str, *, page_size: Optional[int] = None) -> Iterator[ApiKey]:
        for item in self.http.pages(f"/v1/tenants/{tenant_id}/keys", "keys", {"limit": page_size}):
            yield ApiKey.model_validate(item)

    def revoke_key(self, tenant_id: str, key_id: str) -> None:
        self.http.json("DELETE", f"/v1/tenants/{tenant_id}/keys/{key_id}")

    # --- quotas, usage, audit -----------------------------------------------------------------------------------
    def get_quota(self, tenant_id: str) -> TenantQuota:
        return TenantQuota.model_validate(self.http.json("GET", f"/v1/tenants/{tenant_id}/quota"))

    def set_quota(
        self,
        tenant_id: str,
        requests_per_second: Optional[float],
        *,
        burst: Optional[int] = None,
        max_concurrent_jobs: Optional[int] = None,
    ) -> TenantQuota:
        """Set a tenant's quota (operator); ``requests_per_second=None`` removes it."""
        body: dict[str, Any] = {"requests_per_second": requests_per_second}
        if burst is not None:
            body["burst"] = burst
        if max_concurrent_jobs is not None:
            body["max_concurrent_jobs"] = max_concurrent_jobs
        return TenantQuota.model_validate(self.http.json("PUT", f"/v1/tenants/{tenant_id}/quota", body))

    def get_usage(self, tenant_id: str) -> TenantUsage:
        """Requests and throttled requests per model and day."""
        return TenantUsage.model_validate(self.http.json("GET", f"/v1/tenants/{tenant_id}/usage"))

    def list_audit(self, model: Optional[str] = None, *, page_size: Optional[int] = None) -> Iterator[AuditEntry]:
        """Control-plane changes to the caller's objects, newest first."""
        for item in self.http.pages("/v1/audit", "entries", {"model": model, "limit": page_size}):
            yield AuditEntry.model_validate(item)

    # --- models ---------------------------------------------------------------------------------------------------
    def create_model(
        self,
        name: str,
        framework: str = "onnx",
        description: str = "",
        *,
        target: Optional[str] = None,
        batching: Optional[dict[str, Any]] = None,
    ) -> Model:
        body: dict[str, Any] = {"name": name, "framework": framework, "description": description}
        if target:
            body["target"] = target
        if batching:
            body["batching"] = batching
        return Model.model_validate(self.http.json("POST", "/v1/models", body))

    def get_model(self, name: str) -> Model:
        return Model.model_validate(self.http.json("GET", f"/v1/models/{name}"))

    def list_models(self, *, page_size: Optional[int] = None) -> Iterator[Model]:
        """Every model of the caller's tenant, page after page."""
        for item in self.http.pages("/v1/models", "models", {"limit": page_size}):
            yield Model.model_validate(item)

    def list_shared_models(self) -> Iterator[SharedModel]:
        """The models other tenants granted to the caller (call them by ``ref``: ``OWNER.MODEL``)."""
        for item in self.http.pages("/v1/shared-models", "models"):
            yield SharedModel.model_validate(item)

    def update_model(
        self,
        name: str,
        *,
        target: Optional[str] = None,
        description: Optional[str] = None,
        batching: Optional[dict[str, Any]] = None,
    ) -> Model:
        changes = {"target": target, "description": description, "batching": batching}
        body = {k: v for k, v in changes.items() if v is not None}
        return Model.model_validate(self.http.json("PATCH", f"/v1/models/{name}", body))

    def delete_model(self, name: str) -> None:
        """Delete a model that no alias routes traffic to; its name is never reused."""
        self.http.json("DELETE", f"/v1/models/{name}")

    # --- versions -------------------------------------------------------------------------------------------------
    def create_version(
        self, name: str, sha256: Optional[str] = None, signature: Optional[dict[str, Any]] = None
    ) -> CreatedVersion:
        """Register a version: the answer holds the presigned upload its artifact goes to."""
        body: dict[str, Any] = {"sha256": sha256} if sha256 else {}
        if signature is not None:
            body["signature"] = signature
        return CreatedVersion.model_validate(self.http.json("POST", f"/v1/models/{name}/versions", body))

    def get_version(self, name: str, version: VersionRef) -> Version:
        return Version.model_validate(self.http.json("GET", f"/v1/models/{name}/versions/{version}"))

    def list_versions(self, name: str, *, page_size: Optional[int] = None) -> Iterator[Version]:
        for item in self.http.pages(f"/v1/models/{name}/versions", "versions", {"limit": page_size}):
            yield Version.model_validate(item)

    def archive_version(self, name: str, version: VersionRef) -> None:
        """Stop serving a version for good (refused while an alias points at it)."""
        self.http.json("DELETE", f"/v1/models/{name}/versions/{version}")

    def optimize(self, name: str, version: VersionRef, method: str = "dynamic_int8") -> Version:
        """Build an optimised variant of a version as a new version (answered at once, built after)."""
        path = f"/v1/models/{name}/versions/{version}/optimize"
        return Version.model_validate(self.http.json("POST", path, {"method": method}))

    # --- aliases --------------------------------------------------------------------------------------------------
    def set_alias(
        self,
        name: str,
        alias: str,
        version: Optional[int] = None,
        *,
        routes: Optional[list[dict[str, int]]] = None,
        shadow: Optional[dict[str, Any]] = None,
        if_match: Optional[str] = None,
    ) -> Alias:
        """Point ``alias`` at one version, or split it: ``routes=[{"version": 1, "weight": 90}, ...]``."""
        body: dict[str, Any] = {"version": version} if routes is None else {"routes": routes}
        if shadow is not None:
            body["shadow"] = shadow
        path = f"/v1/models/{name}/aliases/{alias}"
        return Alias.model_validate(self.http.json("PUT", path, body, headers=_if_match(if_match)))

    def get_alias(self, name: str, alias: str) -> Alias:
        return Alias.model_validate(self.http.json("GET", f"/v1/models/{name}/aliases/{alias}"))

    def list_aliases(self, name: str, *, page_size: Optional[int] = None) -> Iterator[Alias]:
        for item in self.http.pages(f"/v1/models/{name}/aliases", "aliases", {"limit": page_size}):
            yield Alias.model_validate(item)

    def delete_alias(self, name: str, alias: str, *, if_match: Optional[str] = None) -> None:
        self.http.json("DELETE", f"/v1/models/{name}/aliases/{alias}", headers=_if_match(if_match))

    def rollback_alias(self, name: str, alias: str, *, if_match: Optional[str] = None) -> Alias:
        path = f"/v1/models/{name}/aliases/{alias}/rollback"
        return Alias.model_validate(self.http.json("POST", path, headers=_if_match(if_match)))

    def shadow_report(self, name: str, alias: str) -> ShadowReport:
        """How the alias's shadow compares with its live traffic: agreement, errors, latency."""
        return ShadowReport.model_validate(self.http.json("GET", f"/v1/models/{name}/aliases/{alias}/shadow"))

    # --- grants ---------------------------------------------------------------------------------------------------
    def put_grant(
        self,
        name: str,
        tenant_id: str,
        actions: list[str],
        *,
        aliases: Optional[list[str]] = None,
        quota: Optional[dict[str, Any]] = None,
    ) -> Grant:
        """Share a model with another tenant, who calls it ``OWNER.MODEL``."""
        body: dict[str, Any] = {"actions": list(actions)}
        if aliases is not None:
            body["aliases"] = list(aliases)
        if quota is not None:
            body["quota"] = quota
        return Grant.model_validate(self.http.json("PUT", f"/v1/models/{name}/grants/{tenant_id}", body))

    def list_grants(self, name: str, *, page_size: Optional[int] = None) -> Iterator[Grant]:
        for item in self.http.pages(f"/v1/models/{name}/grants", "grants", {"limit": page_size}):
            yield Grant.model_validate(item)

    def revoke_grant(self, name: str, tenant_id: str) -> None:
        self.http.json("DELETE", f"/v1/models/{name}/grants/{tenant_id}")
