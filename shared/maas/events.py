"""Details of the events the platform puts on the ``maas-events`` bus (source ``maas``)."""

from __future__ import annotations

from pydantic import BaseModel

from maas.domain import Signature

SOURCE = "maas"


class ModelVersionReady(BaseModel):
    tenant_id: str
    model: str
    version: int
    sha256: str
    size_bytes: int
    signature: Signature


class ModelVersionFailed(BaseModel):
    tenant_id: str
    model: str
    version: int
    reason: str


class AliasUpdated(BaseModel):
    tenant_id: str
    model: str
    alias: str
    revision: int
    routes: list[dict[str, int]]
    shadow: dict[str, float] | None = None
    previous_routes: list[dict[str, int]] | None = None
    reason: str
