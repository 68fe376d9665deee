"""The jobs API under /v1: submit (202), follow, list, cancel; and the tenant's event sources.

Submission bodies are OIP v2 infer requests, JSON or with binary tensors (``Inference-Header-Content-Length``),
so the submit routes read the raw body rather than a pydantic model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from maas.api.control_plane import ControlPlaneResolver, _principal
from maas.api.inference import decode_body
from maas.api.paging import DEFAULT_PAGE, PageLimit, PageToken
from maas.api.responses import install_error_handlers
from maas.batch.service import BatchService
from maas.domain.batch import BatchFormat, BatchJob, BatchStatus
from maas.domain.jobs import EventSource, Job, JobStatus
from maas.jobs.service import EventSources, JobService

VersionRef = Annotated[
    str, Path(pattern=r"^([1-9][0-9]{0,9}|[a-z][a-z0-9_-]{0,62})$", description="a version number or an alias")
]


class Timings(BaseModel):
    queue_ms: float | None = None
    run_ms: float | None = None


class JobResponse(BaseModel):
    job_id: str
    status: JobStatus
    location: str
    model: str
    version: int
    alias: str | None = None
    target: str
    source: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    timings: Timings
    attempts: int
    result: dict[str, Any] | None = None
    result_url: str | None = None
    result_header_length: int | None = None
    error: dict[str, str] | None = None


class SubmittedResponse(BaseModel):
    job_id: str
    status: JobStatus
    location: str


class JobListResponse(BaseModel):
    jobs: list[JobResponse]
    next_token: str | None = None


class EventSourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=128)


class EventSourceListResponse(BaseModel):
    event_sources: list[EventSource]
    next_token: str | None = None


def location(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def job_response(jobs: JobService, job: Job, *, with_result: bool = True) -> JobResponse:
    return JobResponse(
        job_id=job.job_id,
        status=job.status,
        location=location(job.job_id),
        model=job.model,
        version=job.version,
        alias=job.alias,
        target=job.target,
        source=job.source,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        timings=Timings(queue_ms=job.queue_ms, run_ms=job.run_ms),
        attempts=job.attempts,
        result=jobs.result_document(job) if with_result else None,
        result_url=jobs.result_url(job) if with_result else None,
        result_header_length=job.result_header_length,
        error={"error": job.error, "code": job.error_code or "FAILED"} if job.error else None,
    )


def submitted(job: Job, created: bool) -> Response[SubmittedResponse]:
    headers = {"Location": location(job.job_id)}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=SubmittedResponse(job_id=job.job_id, status=job.status, location=location(job.job_id)),
        headers=headers,
    )


def jobs_router(jobs: JobService) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    def submit(name: str, version: str | None) -> Response[SubmittedResponse]:
        event = router.current_event
        headers = {k.lower(): v for k, v in (event.headers or {}).items()}
        body, header_length = decode_body(event.body, bool(event.is_base64_encoded), headers)
        job, created = jobs.submit(
            _principal(router), name, version, body, header_length, idempotency_key=headers.get("idempotency-key")
        )
        return submitted(job, created)

    @router.post("/v1/models/<name>/jobs", summary="Submit an async job (OIP v2 infer request) to the default alias")
    def handle_submit_job(name: str) -> Response[SubmittedResponse]:
        return submit(name, None)

    @router.post("/v1/models/<name>/versions/<version>/jobs", summary="Submit an async job to a version or alias")
    def handle_submit_version_job(name: str, version: VersionRef) -> Response[SubmittedResponse]:
        return submit(name, version)

    @router.get("/v1/jobs/<job_id>", summary="A job: status, timings, result or a link to it, error")
    def handle_get_job(job_id: str) -> JobResponse:
        return job_response(jobs, jobs.get(_principal(router), job_id))

    @router.get("/v1/jobs", summary="The tenant's jobs, newest first")
    def handle_list_jobs(
        status: Annotated[JobStatus | None, Query()] = None,
        model: Annotated[str | None, Query(max_length=200)] = None,
        limit: PageLimit = DEFAULT_PAGE,
        next_token: PageToken = None,
    ) -> JobListResponse:
        found = jobs.list(_principal(router), status=status, model=model, limit=limit, next_token=next_token)
        listed = [job_response(jobs, j, with_result=False) for j in found]
        return JobListResponse(jobs=listed, next_token=found.next_token)

    @router.delete("/v1/jobs/<job_id>", summary="Cancel a QUEUED job")
    def handle_cancel_job(job_id: str) -> JobResponse:
        return job_response(jobs, jobs.cancel(_principal(router), job_id))

    return router


def event_sources_router(sources: EventSources) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post("/v1/event-sources", summary="Register an event source: its InferenceRequested events run as you")
    def handle_register_event_source(body: EventSourceRequest) -> Response[EventSource]:
        registered = sources.register(_principal(router), body.source)
        return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=registered)

    @router.get("/v1/event-sources", summary="The tenant's event sources")
    def handle_list_event_sources(
        limit: PageLimit = DEFAULT_PAGE, next_token: PageToken = None
    ) -> EventSourceListResponse:
        found = sources.list(_principal(router), limit=limit, next_token=next_token)
        return EventSourceListResponse(event_sources=found, next_token=found.next_token)

    @router.delete("/v1/event-sources/<source>", summary="Unregister an event source")
    def handle_delete_event_source(source: str) -> Response[None]:
        sources.delete(_principal(router), source)
        return Response(status_code=204, body=None)

    return router


def create_jobs_app(
    jobs: JobService, sources: EventSources, batches: BatchService | None = None
) -> APIGatewayHttpResolver:
    app = ControlPlaneResolver(enable_validation=True)
    install_error_handlers(app)
    app.include_router(jobs_router(jobs))
    app.include_router(event_sources_router(sources))
    if batches is not None:
        app.include_router(batch_router(batches))
    return app


# --- batch jobs ----------------------------------------------------------------------------------------------
class StartBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    version: str | int | None = None
    format: BatchFormat
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BatchJobResponse(BaseModel):
    job_id: str
    status: BatchStatus
    model: str
    version: int | None
    format: BatchFormat
    name: str
    source: str
    inbox_key: str
    rows: dict[str, int | None]
    shards: dict[str, int | None]
    created_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    downloads: dict[str, str] = {}
    manifest: dict[str, Any] | None = None


class StartedBatchResponse(BaseModel):
    job_id: str
    status: BatchStatus
    upload: dict[str, Any]


def batch_response(batches: BatchService, job: BatchJob, *, with_downloads: bool = True) -> BatchJobResponse:
    return BatchJobResponse(
        job_id=job.job_id,
        status=job.status,
        model=job.model,
        version=job.version,
        format=job.format,
        name=job.name,
        source=job.source,
        inbox_key=job.inbox_key,
        rows={"total": job.total_rows, "done": job.rows_done + job.rows_failed, "failed": job.rows_failed},
        shards={"total": job.total_shards, "done": job.shards_done},
        created_at=job.created_at,
        finished_at=job.finished_at,
        error=job.error,
        downloads=batches.downloads(job) if with_downloads else {},
        manifest=job.manifest,
    )


def batch_router(batches: BatchService) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post("/v1/batch-jobs", summary="Start a batch job: returns a presigned upload; the upload starts it")
    def handle_start_batch(body: StartBatchRequest) -> Response[StartedBatchResponse]:
        version = None if body.version is None else str(body.version)
        job, upload = batches.start(_principal(router), body.model, version, body.format, body.name)
        return Response(
            status_code=201,
            content_type=content_types.APPLICATION_JSON,
            body=StartedBatchResponse(
                job_id=job.job_id,
                status=job.status,
                upload={
                    "url": upload.url,
                    "method": upload.method,
                    "headers": upload.headers,
                    "expires_in": upload.expires_in,
                },
            ),
        )

    @router.get("/v1/batch-jobs/<job_id>", summary="A batch job: status, rows and shards done, downloads when done")
    def handle_get_batch(job_id: str) -> BatchJobResponse:
        return batch_response(batches, batches.get(_principal(router), job_id))

    @router.get("/v1/batch-jobs", summary="The tenant's batch jobs, newest first")
    def handle_list_batches(limit: PageLimit = DEFAULT_PAGE, next_token: PageToken = None) -> dict[str, Any]:
        found = batches.list_jobs(_principal(router), limit, next_token=next_token)
        listed = [batch_response(batches, j, with_downloads=False).model_dump(mode="json") for j in found]
        return {"batch_jobs": listed, "next_token": found.next_token}

    return router
