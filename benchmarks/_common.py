"""Shared by the benchmarks: percentiles, tables, and the in-process platform on moto."""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TABLE = "maas-registry"
BUCKET = "maas-artifacts"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_calls(fn: Callable[[], Any], iterations: int, warmup: int = 50) -> list[float]:
    """Seconds per call, one sample per call."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def p50_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def print_table(header: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(x)) for x in [h, *(r[i] for r in rows)]) for i, h in enumerate(header)]
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


def print_json(figures: dict[str, Any]) -> None:
    print(json.dumps(figures))


def aws_environment(cache_dir: str) -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "REGISTRY_TABLE": TABLE,
            "ARTIFACTS_BUCKET": BUCKET,
            "MODEL_CACHE_DIR": cache_dir,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "maas",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)


def create_resources() -> None:
    import boto3

    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})


def register_ready(tenant: str, name: str, path: Path) -> Any:
    """Register a model version the way the platform does: upload, then the validator makes it READY."""
    import boto3

    from maas import wiring
    from maas.adapters.s3 import S3BlobStore
    from maas.aliases import Aliases
    from maas.domain import Framework, Principal, Scope
    from maas.registry import Registry
    from maas.validation import ArtifactValidator

    class NoEvents:
        def publish(self, event: Any) -> None:
            pass

    stores = wiring.registry_stores(TABLE)
    store = stores.registry
    principal = Principal(tenant_id=tenant, key_id="bench", scopes=frozenset({Scope.PUBLISH}))
    registry = Registry(store, S3BlobStore(), artifacts_bucket=BUCKET)
    registry.create_model(principal, name, Framework.ONNX, "")
    version, _ = registry.create_version(principal, name, None)
    put = boto3.client("s3").put_object(Bucket=BUCKET, Key=version.artifact_key, Body=path.read_bytes())
    events = NoEvents()
    validator = ArtifactValidator(store, S3BlobStore(), events, aliases=Aliases(store, stores.aliases, events))
    result = validator.handle_upload(BUCKET, version.artifact_key, put.get("VersionId"))
    assert result is not None, "the upload matched no version"
    assert result.status == "READY", result
    return result


def load_handler(function: str) -> ModuleType:
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"bench_{function}_app", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "maas-InferenceFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:maas-InferenceFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_event(
    method: str,
    route: str,
    params: dict[str, str],
    tenant: str,
    body: str | None = None,
    *,
    binary: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event as the gateway builds it, with the authorizer's context."""
    path = route.format(**params)
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "pathParameters": params,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/octet-stream" if binary else "application/json", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": "bench",
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "authorizer": {"lambda": {"tenant_id": tenant, "key_id": "0123456789abcdef", "scopes": "invoke"}},
        },
        "body": body,
        "isBase64Encoded": binary,
    }
