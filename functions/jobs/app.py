"""Async jobs API (/v1/jobs, /v1/models/{m}/jobs) and the tenant's event sources (/v1/event-sources)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.jobs import DynamoEventSourceStore
from maas.api.jobs import create_jobs_app
from maas.batch.wiring import batch_service
from maas.jobs.service import EventSources
from maas.jobs.wiring import job_service
from maas.observability import capture_lambda_handler, logger, metrics
from maas.quotas import UsageRecorder
from maas.settings import BatchFunctionSettings, JobsApiSettings

settings = JobsApiSettings.from_env()
store = DynamoRegistryStore(settings.registry_table)
jobs = job_service(settings, store, usage=UsageRecorder(store, settings.usage_flush_seconds, background=True))
assert jobs is not None  # JobsApiSettings requires the table, bucket and bus
app = create_jobs_app(
    jobs,
    EventSources(DynamoEventSourceStore(settings.registry_table)),
    batch_service(BatchFunctionSettings.from_env(), store=store),
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
