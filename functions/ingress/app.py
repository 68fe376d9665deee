"""Ingress: InferenceRequested events from registered sources become jobs; the rest go to a dead-letter queue."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from maas import wiring
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import JobsApiSettings

ingress = wiring.ingress(JobsApiSettings.from_env())


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    job = ingress.handle(event)
    return {"job_id": job.job_id if job else None}
