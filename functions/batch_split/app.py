"""Batch split: a file in the inbox (S3 ObjectCreated on batch/) -> a job, shards, one message per shard."""

from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas import wiring
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import BatchFunctionSettings

batches = wiring.batch_splitter(BatchFunctionSettings.from_env())


@logger.inject_lambda_context(correlation_id_path='Records[0].responseElements."x-amz-request-id"')
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler()
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> None:
    for record in event.records:
        # S3 notifications carry keys form-encoded (quote_plus)
        batches.split(record.s3.bucket.name, unquote_plus(record.s3.get_object.key))
