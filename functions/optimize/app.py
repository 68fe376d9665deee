"""Optimize worker: builds optimised variants (dynamic int8) of READY versions, queued by the control plane."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.s3 import S3BlobStore
from maas.observability import capture_lambda_handler, logger, metrics
from maas.optimize import Optimizer
from maas.registry import Registry
from maas.settings import OptimizeSettings

settings = OptimizeSettings.from_env()
store = DynamoRegistryStore(settings.registry_table)
blobs = S3BlobStore()
optimizer = Optimizer(
    Registry(store, blobs, artifacts_bucket=settings.artifacts_bucket), store, blobs, settings.artifacts_bucket, None
)
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    optimizer.run(record.body)


@logger.inject_lambda_context
@metrics.log_metrics
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
