"""CPU jobs: async jobs of cpu-target models, run by the same engine as the GPU worker (onnxruntime on CPU)."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas import wiring
from maas.adapters.sqs import SqsQueueSender
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import WorkerSettings
from maas.worker.engine import Action, RetryLaterError

settings = WorkerSettings.from_env()
engine, _ = wiring.job_processor(settings, "lambda")
dead_letters = SqsQueueSender(settings.dead_letter_queue_url) if settings.dead_letter_queue_url else None
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    handled = engine.handle(record.body)
    if handled.action == Action.RETRY:
        raise RetryLaterError(f"job {handled.job_id} is held elsewhere or was released; it comes back")
    if handled.action == Action.DEAD and dead_letters is not None:
        dead_letters.send(record.body)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
