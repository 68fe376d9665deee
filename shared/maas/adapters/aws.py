"""boto3 clients, created once per process with one configuration.

``AWS_ENDPOINT_URL`` (honoured by boto3 itself) points everything at the local runtime's moto server; S3 then
uses path-style addressing so that presigned URLs work against a plain host:port.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


def _config(service: str) -> Config:
    kwargs: dict[str, Any] = {
        "retries": {"max_attempts": 3, "mode": "standard"},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    if service == "s3":
        kwargs["signature_version"] = "s3v4"
        if os.environ.get("AWS_ENDPOINT_URL"):
            kwargs["s3"] = {"addressing_style": "path"}
    return Config(**kwargs)


@functools.cache
def client(service: str) -> Any:
    return _session().client(service, config=_config(service))  # type: ignore[call-overload]


@functools.cache
def dynamodb_table(name: str) -> Any:
    return _session().resource("dynamodb", config=_config("dynamodb")).Table(name)


def reset() -> None:
    """Forget cached clients (tests that switch endpoints)."""
    _session.cache_clear()
    client.cache_clear()
    dynamodb_table.cache_clear()
