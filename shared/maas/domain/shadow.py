"""Shadow records: a sample of an alias's live traffic queued for its shadow version, and the counters' summary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ShadowOutput(BaseModel):
    datatype: str
    shape: list[int]
    data: str  # base64 of the raw little-endian bytes


class ShadowSample(BaseModel):
    sample_id: str
    tenant_id: str
    model: str
    alias: str
    primary_version: int
    shadow_version: int
    body: str  # base64 of the request body
    header_length: int | None
    primary_ms: float
    primary: dict[str, ShadowOutput]


def stats_summary(raw: dict[str, Any] | None, version: int, sample_rate: float) -> dict[str, Any]:
    raw = raw or {}
    samples = int(raw.get("samples", 0))
    errors = int(raw.get("errors", 0))
    compared = samples - errors
    return {
        "shadow_version": version,
        "sample_rate": sample_rate,
        "samples": samples,
        "errors": errors,
        "agreements": int(raw.get("agreements", 0)),
        "agreement_rate": round(int(raw.get("agreements", 0)) / compared, 4) if compared else None,
        "primary_latency_ms_avg": round(float(raw.get("primary_ms", 0)) / samples, 3) if samples else None,
        "shadow_latency_ms_avg": round(float(raw.get("shadow_ms", 0)) / compared, 3) if compared else None,
    }
