"""Batch worker: runs the shards of cpu-target models (onnxruntime); the last shard assembles the job."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas.adapters.s3 import S3BlobStore
from maas.backends.loader import backend_loader
from maas.batch.wiring import batch_service
from maas.inference.cache import model_cache_for
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import BatchFunctionSettings

settings = BatchFunctionSettings.from_env()
batches = batch_service(settings, models=model_cache_for(settings, S3BlobStore(), backend_loader(use_cuda=False)))
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    batches.run_shard(record.body)


@logger.inject_lambda_context
@metrics.log_metrics
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
