"""Lambda authorizer for the HTTP API: API key -> tenant and scopes."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from maas import wiring
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import AuthorizerSettings

authorizer = wiring.authorizer(AuthorizerSettings.from_env())


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return authorizer.authorize(headers)
