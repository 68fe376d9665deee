"""Optimize worker: builds optimised variants (dynamic int8) of READY versions, queued by the control plane."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas import wiring
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import OptimizeSettings

optimizer = wiring.optimizer(OptimizeSettings.from_env())


processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    optimizer.run(record.body)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
