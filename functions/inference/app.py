"""Open Inference Protocol v2 (/v2): health, metadata and synchronous CPU inference with onnxruntime."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from maas import wiring
from maas.api.inference import log_request
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import InferenceSettings

api = wiring.inference_api(InferenceSettings.from_env())


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    log_request(event)
    return api.handle(event)
