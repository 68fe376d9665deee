"""The one place that creates the Powertools logger, tracer and metrics.

Handlers and lower layers import them from here, never create their own, so that every function logs with
the same service name, correlation id and format.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

F = TypeVar("F", bound=Callable[..., Any])
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "maas")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "MaaS"))



def capture_lambda_handler(**options: Any) -> Callable[[F], F]:
    """``tracer.capture_lambda_handler``, skipped when tracing is disabled.

    Disabled, Powertools still opens a dummy X-Ray subsegment on every call (about 40 us), which is most of the
    inference function's budget; enabled (``Tracing: Active`` on AWS), the handler is traced as usual.
    """

    def decorate(handler: F) -> F:
        if tracer.disabled:
            return handler
        return cast(F, tracer.capture_lambda_handler(handler, **options))

    return decorate


__all__ = ["capture_lambda_handler", "logger", "metrics", "tracer"]
