"""Open Inference Protocol v2 (/v2): health, metadata and synchronous CPU inference with onnxruntime."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from maas.access import AccessPolicy
from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.s3 import S3BlobStore
from maas.adapters.sqs import SqsQueueSender
from maas.api.inference import OipApi, log_request
from maas.inference.cache import model_cache_for
from maas.inference.service import InferenceLimits, InferenceService, VersionResolver
from maas.jobs.wiring import job_service
from maas.observability import capture_lambda_handler, logger, metrics
from maas.quotas import QuotaEnforcer, UsageRecorder
from maas.settings import InferenceSettings

settings = InferenceSettings.from_env()
store = DynamoRegistryStore(settings.registry_table)
resolver = VersionResolver(store, settings.registry_cache_seconds, aliases=store)
usage = UsageRecorder(store, settings.usage_flush_seconds, background=True)
api = OipApi(
    InferenceService(
        resolver,
        model_cache_for(settings, S3BlobStore()),
        InferenceLimits(max_request_bytes=settings.max_request_bytes),
        shadow_queue=SqsQueueSender(settings.shadow_queue_url) if settings.shadow_queue_url else None,
        access=AccessPolicy(store, settings.grant_cache_seconds),
        quotas=QuotaEnforcer(store, settings.registry_cache_seconds),
        usage=usage,
    ),
    job_service(settings, store, resolver, usage),  # "Prefer: respond-async"
)


# The correlation id is set in the handler: the decorator's JMESPath lookup costs more than the infer path itself.
@logger.inject_lambda_context
@metrics.log_metrics
@capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    log_request(event)
    return api.handle(event)
