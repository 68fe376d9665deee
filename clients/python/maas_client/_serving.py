"""Serving: the Open Inference Protocol v2 (with numpy), async jobs, event sources and batch jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Optional, Union

from maas_client._control import VersionRef
from maas_client._http import NO_RETRIES, Transport, split_binary
from maas_client.errors import ServiceUnavailableError
from maas_client.models import (
    BatchJob,
    EventSource,
    InferResponse,
    Job,
    ModelMetadata,
    RepositoryModel,
    ServerMetadata,
    StartedBatch,
    SubmittedJob,
)
from maas_client.tensors import decode_outputs, encode_inputs

HEADER_LENGTH = "Inference-Header-Content-Length"


def v2_path(name: str, version: Optional[VersionRef] = None) -> str:
    return f"/v2/models/{name}" + (f"/versions/{version}" if version is not None else "")


class Serving:
    http: Transport

    # --- health and metadata --------------------------------------------------------------------------------------
    def live(self) -> bool:
        return self._up("/v2/health/live")

    def ready(self) -> bool:
        return self._up("/v2/health/ready")

    def _up(self, path: str) -> bool:
        """200: yes; 503: no, said at once (a health check is not retried: it is the question)."""
        try:
            return self.http.send("GET", path, retry=NO_RETRIES).status_code == 200
        except ServiceUnavailableError:
            return False

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata.model_validate(self.http.json("GET", "/v2"))

    def model_metadata(self, name: str, version: Optional[VersionRef] = None) -> ModelMetadata:
        return ModelMetadata.model_validate(self.http.json("GET", v2_path(name, version)))

    def model_ready(self, name: str, version: Optional[VersionRef] = None) -> bool:
        """Whether the model (its default alias, or ``version``) serves now: a 503 is False, at once."""
        return self._up(v2_path(name, version) + "/ready")

    # --- Triton's extensions ----------------------------------------------------------------------------------------
    def model_stats(self, name: Optional[str] = None, version: Optional[VersionRef] = None) -> dict[str, Any]:
        """Triton's statistics extension: ``{"model_stats": [...]}`` for one model, a version, or all of them."""
        path = "/v2/models/stats" if name is None else v2_path(name, version) + "/stats"
        return dict(self.http.json("GET", path))

    def model_config(self, name: str, version: Optional[VersionRef] = None) -> dict[str, Any]:
        """Triton's model configuration: inputs, outputs, batching."""
        return dict(self.http.json("GET", v2_path(name, version) + "/config"))

    def repository_index(self, *, ready: bool = False) -> list[RepositoryModel]:
        """Triton's repository index: each of the caller's versions with its state."""
        found = self.http.json("POST", "/v2/repository/index", {"ready": ready} if ready else {})
        return [RepositoryModel.model_validate(item) for item in found or []]

    def load_model(self, name: str) -> None:
        """Triton's explicit model control; the platform loads models itself and answers 400 (BadRequestError)."""
        self.http.json("POST", f"/v2/repository/models/{name}/load", {})

    def unload_model(self, name: str) -> None:
        """As ``load_model``: 400, models are loaded and unloaded by the platform."""
        self.http.json("POST", f"/v2/repository/models/{name}/unload", {})

    def openapi(self) -> dict[str, Any]:
        """The API's OpenAPI 3.1 document (``GET /openapi.json``)."""
        return dict(self.http.json("GET", "/openapi.json"))

    # --- inference ------------------------------------------------------------------------------------------------
    def infer(
        self,
        name: str,
        inputs: Mapping[str, Any],
        *,
        version: Optional[VersionRef] = None,
        binary: bool = False,
        outputs: Optional[Sequence[str]] = None,
        request_id: Optional[str] = None,
    ) -> dict[str, Any]:
        """Run the model on ``{"input name": array}``; returns ``{"output name": ndarray}``.

        ``binary=True`` sends and receives the tensors as raw bytes (the binary tensor extension), which keeps
        large tensors out of JSON. Needs numpy (``pip install 'maas-client[numpy]'``).
        """
        body, header_length = encode_inputs(inputs, binary=binary, outputs=outputs, request_id=request_id)
        headers = {"Content-Type": "application/octet-stream" if binary else "application/json"}
        if header_length is not None:
            headers[HEADER_LENGTH] = str(header_length)
        response = self.http.send("POST", v2_path(name, version) + "/infer", data=body, headers=headers)
        answered = response.headers.get(HEADER_LENGTH)
        if answered is None:
            return decode_outputs(response.json())
        document, raw = split_binary(response.content, int(answered))
        return decode_outputs(document, bytes(raw))

    def infer_json(self, name: str, request: Mapping[str, Any], version: Optional[VersionRef] = None) -> InferResponse:
        """One OIP v2 request as a JSON document (``{"inputs": [{"name", "shape", "datatype", "data"}]}``)."""
        return InferResponse.model_validate(self.http.json("POST", v2_path(name, version) + "/infer", dict(request)))

    # --- async jobs -----------------------------------------------------------------------------------------------
    def submit_job(
        self,
        name: str,
        request: Optional[Mapping[str, Any]] = None,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        binary: bool = False,
        version: Optional[VersionRef] = None,
        idempotency_key: Optional[str] = None,
    ) -> SubmittedJob:
        """Queue an infer request as a job: an OIP ``request`` document, or ``inputs`` as arrays."""
        path = f"/v1/models/{name}" + (f"/versions/{version}" if version is not None else "") + "/jobs"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if inputs is not None:
            body, header_length = encode_inputs(inputs, binary=binary)
            if header_length is not None:
                headers[HEADER_LENGTH] = str(header_length)
            headers["Content-Type"] = "application/octet-stream" if binary else "application/json"
            return SubmittedJob.model_validate(self.http.send("POST", path, data=body, headers=headers).json())
        return SubmittedJob.model_validate(self.http.json("POST", path, dict(request or {}), headers=headers))

    def get_job(self, job_id: str) -> Job:
        return Job.model_validate(self.http.json("GET", f"/v1/jobs/{job_id}"))

    def list_jobs(
        self, *, status: Optional[str] = None, model: Optional[str] = None, page_size: Optional[int] = None
    ) -> Iterator[Job]:
        """The caller's jobs, newest first, every page."""
        for item in self.http.pages("/v1/jobs", "jobs", {"status": status, "model": model, "limit": page_size}):
            yield Job.model_validate(item)

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a QUEUED job (409 once it has started)."""
        return Job.model_validate(self.http.json("DELETE", f"/v1/jobs/{job_id}"))

    def job_outputs(self, job: Job) -> dict[str, Any]:
        """A SUCCEEDED job's outputs as ndarrays, inline or from its result link."""
        if job.result is not None:
            return decode_outputs(job.result)
        if job.result_url is None:
            raise ValueError(f"job {job.job_id} has no result ({job.status})")
        content = self.download(job.result_url)
        if job.result_header_length is None:
            return decode_outputs(json.loads(content))
        document, raw = split_binary(content, job.result_header_length)
        return decode_outputs(document, bytes(raw))

    # --- event sources --------------------------------------------------------------------------------------------
    def add_event_source(self, source: str) -> EventSource:
        """Register an event source: its InferenceRequested events run as the caller's tenant."""
        return EventSource.model_validate(self.http.json("POST", "/v1/event-sources", {"source": source}))

    def list_event_sources(self, *, page_size: Optional[int] = None) -> Iterator[EventSource]:
        for item in self.http.pages("/v1/event-sources", "event_sources", {"limit": page_size}):
            yield EventSource.model_validate(item)

    def delete_event_source(self, source: str) -> None:
        self.http.json("DELETE", f"/v1/event-sources/{source}")

    # --- batch jobs -----------------------------------------------------------------------------------------------
    def start_batch(
        self, model: str, fmt: str, version: Optional[Union[int, str]] = None, name: Optional[str] = None
    ) -> StartedBatch:
        """Start a batch job; upload its input to ``upload`` (``upload_file``) and the upload starts it."""
        body: dict[str, Any] = {"model": model, "format": fmt}
        if version is not None:
            body["version"] = version
        if name is not None:
            body["name"] = name
        return StartedBatch.model_validate(self.http.json("POST", "/v1/batch-jobs", body))

    def get_batch(self, job_id: str) -> BatchJob:
        return BatchJob.model_validate(self.http.json("GET", f"/v1/batch-jobs/{job_id}"))

    def list_batches(self, *, page_size: Optional[int] = None) -> Iterator[BatchJob]:
        for item in self.http.pages("/v1/batch-jobs", "batch_jobs", {"limit": page_size}):
            yield BatchJob.model_validate(item)

    def download(self, url: str) -> bytes:
        raise NotImplementedError  # MaasClient's: presigned links take no API key
