"""The one place that creates the Powertools logger, tracer and metrics.

Handlers and lower layers import them from here, never create their own, so that every function logs with
the same service name, correlation id and format.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "maas")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "MaaS"))

__all__ = ["logger", "metrics", "tracer"]
