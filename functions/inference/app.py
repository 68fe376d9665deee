"""Open Inference Protocol v2 (/v2): health, metadata and synchronous CPU inference with onnxruntime."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.s3 import S3BlobStore
from maas.api.inference import create_app
from maas.inference.cache import ModelCache
from maas.inference.service import InferenceLimits, InferenceService, VersionResolver
from maas.observability import logger, metrics, tracer
from maas.settings import InferenceSettings

settings = InferenceSettings.from_env()
service = InferenceService(
    VersionResolver(DynamoRegistryStore(settings.registry_table), settings.registry_cache_seconds),
    ModelCache(S3BlobStore(), settings.artifacts_bucket, settings.model_cache_dir, settings.model_cache_bytes),
    InferenceLimits(max_request_bytes=settings.max_request_bytes),
)
app = create_app(service)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
