"""Validates uploaded model artifacts (S3 ObjectCreated on the artifacts bucket) -> READY or FAILED."""

from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.eventbridge import EventBridgePublisher
from maas.adapters.s3 import S3BlobStore
from maas.adapters.sqs import SqsQueueSender
from maas.aliases import Aliases
from maas.audit import AuditLog
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import ValidatorSettings
from maas.validation import ArtifactValidator, ValidationSettings

settings = ValidatorSettings.from_env()
store = DynamoRegistryStore(settings.registry_table)
events = EventBridgePublisher(settings.event_bus_name)
validator = ArtifactValidator(
    store,
    S3BlobStore(),
    events,
    ValidationSettings(
        max_artifact_bytes=settings.max_artifact_bytes, max_model_memory_bytes=settings.max_model_memory_bytes
    ),
    aliases=Aliases(store, store, events, audit=AuditLog(store)),
    # torch does not fit this function: TorchScript versions are loaded and smoke-run on the GPU workers
    torch_handoff=SqsQueueSender(settings.torchscript_queue_url) if settings.torchscript_queue_url else None,
)


@logger.inject_lambda_context(correlation_id_path='Records[0].responseElements."x-amz-request-id"')
@metrics.log_metrics
@capture_lambda_handler()
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> None:
    for record in event.records:
        # S3 notifications carry keys form-encoded (quote_plus)
        key = unquote_plus(record.s3.get_object.key)
        validator.handle_upload(record.s3.bucket.name, key, record.s3.get_object.version_id)
