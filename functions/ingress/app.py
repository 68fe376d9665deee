"""Ingress: InferenceRequested events from registered sources become jobs; the rest go to a dead-letter queue."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.jobs import DynamoEventSourceStore
from maas.adapters.sqs import SqsQueueSender
from maas.jobs.service import Ingress
from maas.jobs.wiring import job_service
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import JobsApiSettings

settings = JobsApiSettings.from_env()
store = DynamoRegistryStore(settings.registry_table)
jobs = job_service(settings, store)
assert jobs is not None  # JobsApiSettings requires the table, bucket and bus
assert settings.ingress_dead_letter_queue_url, "INGRESS_DEAD_LETTER_QUEUE_URL is required"
ingress = Ingress(
    jobs, DynamoEventSourceStore(settings.registry_table), SqsQueueSender(settings.ingress_dead_letter_queue_url)
)


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    job = ingress.handle(event)
    return {"job_id": job.job_id if job else None}
