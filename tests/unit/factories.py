"""Small builders shared by the unit tests."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from maas.domain import Framework, Principal, Scope, VersionStatus
from maas.registry import Registry

if TYPE_CHECKING:
    from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore


def principal(tenant_id: str, *scopes: Scope, key_id: str = "0123456789abcdef") -> Principal:
    """The caller the authorizer would have accepted: a tenant and the scopes of its key."""
    return Principal(tenant_id=tenant_id, key_id=key_id, scopes=frozenset(scopes))


def make_versions(store: InMemoryRegistryStore, blobs: InMemoryBlobStore, count: int, *, ready: bool = True) -> None:
    """``count`` new versions of acme's model ``m`` (created first if needed), READY unless ``ready`` is False."""
    publisher = principal("acme", Scope.PUBLISH)
    registry = Registry(store, blobs, artifacts_bucket="b", aliases=store)
    if store.get_model("acme", "m") is None:
        registry.create_model(publisher, "m", Framework.ONNX, "")
    for _ in range(count):
        version, _ = registry.create_version(publisher, "m", None)
        if ready:
            version.status, version.sha256 = VersionStatus.READY, hashlib.sha256(b"x").hexdigest()
            store.finish_version(version)


class FakeLambdaContext:
    """What Powertools reads from a Lambda context."""

    function_name = "maas-ControlPlaneFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:maas-ControlPlaneFunction"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    authorizer: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    """An API Gateway HTTP API (payload 2.0) event, with the Lambda authorizer's context when given."""
    request_context: dict[str, object] = {
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.example.test",
        "domainPrefix": "api",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "pytest",
        },
        "requestId": "request-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "01/Jan/2026:00:00:00 +0000",
        "timeEpoch": 1767225600000,
    }
    if authorizer is not None:
        request_context["authorizer"] = {"lambda": authorizer}
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body
    return event
