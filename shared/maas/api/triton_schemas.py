"""Triton's extensions as the /v2 routes answer them: statistics, repository index, model configuration.

These models describe the documents for the OpenAPI description (``maas.api.openapi``); the routes build them
as plain dictionaries (``maas.inference.stats``, ``maas.inference.repository``). Extra fields are allowed, as a
newer Triton client may read more than these.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, RootModel


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TritonDuration(_Open):
    count: int
    ns: int


class TritonInferenceStats(_Open):
    success: TritonDuration
    fail: TritonDuration
    queue: TritonDuration
    compute_input: TritonDuration
    compute_infer: TritonDuration
    compute_output: TritonDuration


class TritonModelStats(_Open):
    name: str
    version: str
    last_inference: int
    inference_count: int
    execution_count: int
    inference_stats: TritonInferenceStats
    batch_stats: list[dict[str, object]]


class TritonStatsResponse(_Open):
    model_stats: list[TritonModelStats]


class TritonIndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ready: bool | None = None


class TritonIndexEntry(_Open):
    name: str
    version: str | None = None  # absent for a model with no version yet
    state: str
    reason: str


class TritonIndexResponse(RootModel[list[TritonIndexEntry]]):
    pass


class TritonTensorConfig(_Open):
    name: str
    data_type: str
    dims: list[int]


class TritonModelConfigResponse(_Open):
    name: str
    platform: str
    max_batch_size: int
    input: list[TritonTensorConfig]
    output: list[TritonTensorConfig]
