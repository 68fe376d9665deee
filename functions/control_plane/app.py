"""Control-plane API (/v1): tenants, keys, models, versions."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas import wiring
from maas.metrics import record_api_requests
from maas.observability import capture_lambda_handler, logger, metrics
from maas.settings import ControlPlaneSettings

app = wiring.control_plane_app(ControlPlaneSettings.from_env())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler()
@record_api_requests
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
