"""Control-plane API (/v1): tenants, keys, models, versions."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from maas.access import AccessPolicy, Grants
from maas.adapters.dynamodb import DynamoRegistryStore
from maas.adapters.eventbridge import EventBridgePublisher
from maas.adapters.s3 import S3BlobStore
from maas.adapters.sqs import SqsQueueSender
from maas.aliases import Aliases
from maas.api.control_plane import ControlPlane, create_app
from maas.audit import AuditLog
from maas.observability import capture_lambda_handler, logger, metrics
from maas.optimize import Optimizer
from maas.quotas import Quotas
from maas.registry import Registry
from maas.settings import ControlPlaneSettings
from maas.tenants import Tenants

settings = ControlPlaneSettings.from_env()
store = DynamoRegistryStore(settings.registry_table)
audit = AuditLog(store)
blobs = S3BlobStore()
registry = Registry(
    store,
    blobs,
    artifacts_bucket=settings.artifacts_bucket,
    upload_expires_in=settings.upload_expires_in,
    aliases=store,
    access=AccessPolicy(store, settings.grant_cache_seconds),
    audit=audit,
)
app = create_app(
    ControlPlane(
        tenants=Tenants(store, audit),
        registry=registry,
        aliases=Aliases(store, store, EventBridgePublisher(settings.event_bus_name), shadow_stats=store, audit=audit),
        grants=Grants(store, store, audit),
        quotas=Quotas(store, store, audit),
        audit=audit,
        optimizer=Optimizer(
            registry,
            store,
            blobs,
            settings.artifacts_bucket,
            SqsQueueSender(settings.optimize_queue_url) if settings.optimize_queue_url else None,
        ),
    )
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@capture_lambda_handler()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
