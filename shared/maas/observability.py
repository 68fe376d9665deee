"""The one place that creates the Powertools logger, tracer and metrics.

Handlers and lower layers import them from here, never create their own, so that every function logs with
the same service name, correlation id and format.

``metrics`` is Powertools' ``Metrics`` whose flush (``@metrics.log_metrics``, once per invocation) also writes
the EMF records that ``maas.metrics`` buffered during the invocation; an invocation that recorded nothing
(a health check) flushes quietly.

The tracer is created on first use: building it loads the X-Ray SDK (about 170 ms), which a cold start
should pay only when tracing is on.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from maas.metrics import records

F = TypeVar("F", bound=Callable[..., Any])
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "maas")

logger = Logger(service=SERVICE)


class PlatformEmfProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider, flushing ``maas.metrics.records`` too, without a warning when there is nothing."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        records.flush()
        if self.metric_set or raise_on_empty_metrics:
            super().flush_metrics(raise_on_empty_metrics)


NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "MaaS")
metrics = Metrics(provider=PlatformEmfProvider(service=SERVICE, namespace=NAMESPACE))


@functools.cache
def get_tracer() -> Tracer:
    return Tracer(service=SERVICE)


def tracing_enabled() -> bool:
    return not Tracer._is_tracer_disabled()


def capture_lambda_handler(**options: Any) -> Callable[[F], F]:
    """``tracer.capture_lambda_handler``, skipped when tracing is disabled.

    Disabled, Powertools still opens a dummy X-Ray subsegment on every call (about 40 us), which is most of the
    inference function's budget; enabled (``Tracing: Active`` on AWS), the handler is traced as usual.
    """

    def decorate(handler: F) -> F:
        if not tracing_enabled():
            return handler
        return cast(F, get_tracer().capture_lambda_handler(handler, **options))

    return decorate


def __getattr__(name: str) -> Any:
    if name == "tracer":
        return get_tracer()
    raise AttributeError(name)


__all__ = ["PlatformEmfProvider", "capture_lambda_handler", "get_tracer", "logger", "metrics", "tracing_enabled"]
