"""The SDK (``maas_client``) against the real control-plane resolver in process, and against scripted answers:
typed responses, errors by status, paging, Retry-After, waits. No socket is opened."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from maas_client import (
    NO_RETRIES,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    MaasApiError,
    MaasClient,
    NotFoundError,
    RetryPolicy,
    ServiceUnavailableError,
    TooManyRequestsError,
    VersionFailedError,
    WaitTimeoutError,
)
from maas_client.models import Model

from maas.aliases import Aliases
from maas.api.auth import principal_context
from maas.api.control_plane import ControlPlane, create_app
from maas.domain import OPERATOR_TENANT, Scope
from maas.registry import Registry
from maas.tenants import Tenants

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore
from tests.unit.factories import principal
from tests.unit.sdk_transport import BASE, ResolverAdapter, ScriptedAdapter, recorder, session_with

KEYS = {
    "acme-key": principal_context(principal("acme", Scope.PUBLISH, Scope.READ)),
    "acme-read": principal_context(principal("acme", Scope.READ)),
    "globex-key": principal_context(principal("globex", Scope.PUBLISH, Scope.READ)),
    "operator-key": principal_context(principal(OPERATOR_TENANT, Scope.ADMIN)),
}


@pytest.fixture
def app(store: InMemoryRegistryStore, blobs: InMemoryBlobStore) -> APIGatewayHttpResolver:
    registry = Registry(store, blobs, artifacts_bucket="b", aliases=store)
    return create_app(ControlPlane(tenants=Tenants(store), registry=registry, aliases=Aliases(store, store)))


def client_for(app: APIGatewayHttpResolver, key: str) -> MaasClient:
    return MaasClient(BASE, key, session=session_with(ResolverAdapter(app, KEYS)), retry=NO_RETRIES)


def scripted(*answers: tuple[int, dict[str, str], Any], **kwargs: Any) -> tuple[MaasClient, ScriptedAdapter]:
    adapter = ScriptedAdapter(list(answers))
    return MaasClient(BASE, "k", session=session_with(adapter), **kwargs), adapter


# --- typed responses, errors ------------------------------------------------------------------------------------
def test_responses_are_typed_models(app: APIGatewayHttpResolver) -> None:
    client = client_for(app, "acme-key")

    created = client.create_model("resnet", "onnx", "d")
    found = client.get_model("resnet")

    assert isinstance(created, Model)
    assert (found.name, found.framework, found.target, found.description) == ("resnet", "onnx", "cpu", "d")
    assert found.batching is not None
    assert found.batching.max_batch_size >= 1


@pytest.mark.parametrize(
    ("key", "call", "error", "status", "code"),
    [
        ("acme-key", lambda c: c.get_model("nope"), NotFoundError, 404, "NOT_FOUND"),
        ("globex-key", lambda c: c.get_model("resnet"), NotFoundError, 404, "NOT_FOUND"),  # acme's: not globex's
        ("acme-read", lambda c: c.create_model("other"), ForbiddenError, 403, "FORBIDDEN"),
        ("acme-key", lambda c: c.create_model("resnet"), ConflictError, 409, "CONFLICT"),
        ("acme-key", lambda c: c.create_model("Bad Name!"), BadRequestError, 400, "INVALID_REQUEST"),
    ],
)
def test_each_error_status_is_its_own_exception(
    app: APIGatewayHttpResolver, key: str, call: Any, error: type[MaasApiError], status: int, code: str
) -> None:
    client_for(app, "acme-key").create_model("resnet")

    with pytest.raises(error) as raised:
        call(client_for(app, key))

    assert raised.value.status == status
    assert raised.value.code == code
    assert raised.value.message


def test_a_newer_servers_extra_fields_are_kept_not_refused() -> None:
    body = {"name": "m", "framework": "onnx", "target": "cpu", "created_at": "2026-01-01T00:00:00Z", "new": 1}
    client, _ = scripted((200, {}, body))

    model = client.get_model("m")

    assert model.name == "m"
    assert model.model_extra == {"new": 1}


# --- paging ----------------------------------------------------------------------------------------------------
def test_list_methods_follow_every_page(app: APIGatewayHttpResolver) -> None:
    client = client_for(app, "acme-key")
    names = [f"m{i}" for i in range(7)]
    for name in names:
        client.create_model(name)
    client_for(app, "globex-key").create_model("theirs")

    listed = [m.name for m in client.list_models(page_size=3)]

    assert listed == names  # three pages of 3, 3, 1: all of acme's, none of globex's


def test_list_tenants_follows_every_page_and_is_the_operators(app: APIGatewayHttpResolver) -> None:
    operator = client_for(app, "operator-key")
    for number in range(5):
        operator.create_tenant(f"t-{number}")

    listed = [t.tenant_id for t in operator.list_tenants(page_size=2)]

    assert listed == ["acme", "globex", "t-0", "t-1", "t-2", "t-3", "t-4"]  # four pages of 2, 2, 2, 1
    with pytest.raises(ForbiddenError):
        list(client_for(app, "acme-key").list_tenants())


def test_paging_sends_the_token_it_was_given() -> None:
    first = {"models": [], "next_token": "tok-1"}
    second = {"models": [], "next_token": None}
    client, adapter = scripted((200, {}, first), (200, {}, second))

    assert list(client.list_models(page_size=2)) == []

    assert "next_token" not in (adapter.seen[0].url or "")
    assert "limit=2" in (adapter.seen[0].url or "")
    assert "next_token=tok-1" in (adapter.seen[1].url or "")


# --- Retry-After --------------------------------------------------------------------------------------------------
def test_429_and_503_are_retried_after_retry_after() -> None:
    waits, sleep = recorder()
    ok = {"name": "m", "framework": "onnx", "target": "cpu", "created_at": "2026-01-01T00:00:00Z"}
    throttled = {"error": "over quota", "code": "THROTTLED"}
    client, adapter = scripted(
        (429, {"Retry-After": "2"}, throttled),
        (503, {"Retry-After": "1"}, {"error": "not ready", "code": "NOT_READY"}),
        (200, {}, ok),
        sleep=sleep,
    )

    assert client.get_model("m").name == "m"

    assert waits == [2.0, 1.0]
    assert len(adapter.seen) == 3


def test_without_retry_after_the_wait_backs_off_and_retries_are_bounded() -> None:
    waits, sleep = recorder()
    throttled = (429, {}, {"error": "over quota", "code": "THROTTLED"})
    client, adapter = scripted(*[throttled] * 4, retry=RetryPolicy(max_retries=3, backoff=0.5), sleep=sleep)

    with pytest.raises(TooManyRequestsError) as raised:
        client.get_model("m")

    assert waits == [0.5, 1.0, 2.0]
    assert len(adapter.seen) == 4
    assert raised.value.code == "THROTTLED"


def test_a_long_retry_after_is_capped_and_other_errors_are_not_retried() -> None:
    waits, sleep = recorder()
    client, adapter = scripted(
        (503, {"Retry-After": "3600"}, {"error": "later", "code": "NOT_READY"}),
        (404, {}, {"error": "no such model", "code": "NOT_FOUND"}),
        retry=RetryPolicy(max_delay=5),
        sleep=sleep,
    )

    with pytest.raises(NotFoundError):
        client.get_model("m")

    assert waits == [5.0]
    assert len(adapter.seen) == 2


def test_a_503_past_its_retries_says_when_to_come_back() -> None:
    client, _ = scripted((503, {"Retry-After": "7"}, {"error": "not ready", "code": "NOT_READY"}), retry=NO_RETRIES)

    with pytest.raises(ServiceUnavailableError) as raised:
        client.get_model("m")

    assert raised.value.retry_after == 7.0


def test_an_answer_that_is_not_the_apis_json_is_still_one_error() -> None:
    client, _ = scripted((502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>"))

    with pytest.raises(MaasApiError) as raised:
        client.get_model("m")

    assert raised.value.status == 502
    assert raised.value.code == "ERROR"


# --- waits --------------------------------------------------------------------------------------------------------
def _version(status: str, **extra: Any) -> dict[str, Any]:
    return {"version": 1, "status": status, "created_at": "2026-01-01T00:00:00Z", **extra}


def test_wait_ready_polls_with_growing_intervals_until_ready() -> None:
    waits, sleep = recorder()
    pending = (200, {}, _version("PENDING_UPLOAD"))
    client, adapter = scripted(pending, pending, pending, (200, {}, _version("READY")), sleep=sleep)

    version = client.wait_ready("m", 1)

    assert version.status == "READY"
    assert len(adapter.seen) == 4
    assert waits == sorted(waits)
    assert waits[0] < waits[-1]


def test_wait_ready_raises_with_the_reason_when_validation_failed() -> None:
    client, _ = scripted((200, {}, _version("FAILED", failure_reason="not an ONNX model")))

    with pytest.raises(VersionFailedError) as raised:
        client.wait_ready("m", 1)

    assert raised.value.version.failure_reason == "not an ONNX model"


def test_wait_job_gives_up_after_its_timeout_with_the_last_state() -> None:
    job = {"job_id": "j", "status": "QUEUED", "model": "m", "version": 1, "created_at": "2026-01-01T00:00:00Z"}
    client, _ = scripted((200, {}, job), (200, {}, job))

    with pytest.raises(WaitTimeoutError) as raised:
        client.wait_job("j", timeout=0)

    assert raised.value.last.status == "QUEUED"


def test_a_presigned_upload_never_carries_the_api_key(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests
    from maas_client.models import Upload

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(requests, "request", lambda method, url, **kw: sent.append(kw) or _ok())
    client, _ = scripted()
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x00" * 10)

    client.upload_file(Upload(url="http://s3.test/put", method="PUT", headers={"x": "1"}), path)

    assert sent[0]["headers"] == {"x": "1"}


def _ok() -> Any:
    import requests

    response = requests.Response()
    response.status_code = 200
    response._content = b""
    return response


@pytest.mark.parametrize("name", ["Retry-After", "retry-after", "RETRY-AFTER"])
def test_retry_after_is_read_whatever_the_case_of_its_name(name: str) -> None:
    client, _ = scripted((429, {name: "3"}, {"error": "over quota", "code": "TOO_MANY_REQUESTS"}), retry=NO_RETRIES)

    with pytest.raises(TooManyRequestsError) as raised:
        client.get_model("m")

    assert raised.value.retry_after == 3.0


def test_readiness_is_answered_at_once_not_retried() -> None:
    waits, sleep = recorder()
    not_ready = (503, {"Retry-After": "1"}, {"error": "no READY version yet", "code": "NOT_READY"})
    client, adapter = scripted(not_ready, (200, {}, {}), sleep=sleep)

    assert client.model_ready("m") is False
    assert client.model_ready("m", 2) is True

    assert waits == []
    assert [r.path_url for r in adapter.seen] == ["/v2/models/m/ready", "/v2/models/m/versions/2/ready"]
