"""The ``maas`` command line on the SDK, in process against the real control-plane resolver (no socket): ``-o json``
parses as JSON with the expected fields on listings, on single objects and on commands that print a sentence for
people; errors are one line and a non-zero exit."""

from __future__ import annotations

import json
from typing import Any

import maas_client
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from maas.aliases import Aliases
from maas.api.auth import principal_context
from maas.api.control_plane import ControlPlane, create_app
from maas.audit import AuditLog
from maas.cli.main import main
from maas.domain import OPERATOR_TENANT, ModelVersion, Scope, VersionStatus, artifact_key
from maas.quotas import Quotas
from maas.registry import Registry
from maas.tenants import Tenants

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore
from tests.unit.factories import principal
from tests.unit.sdk_transport import BASE, ResolverAdapter, session_with

KEYS = {
    "team": principal_context(principal("acme", Scope.PUBLISH, Scope.READ, Scope.ADMIN)),
    "operator": principal_context(principal(OPERATOR_TENANT, Scope.ADMIN)),
}


@pytest.fixture
def app(store: InMemoryRegistryStore, blobs: InMemoryBlobStore) -> APIGatewayHttpResolver:
    audit = AuditLog(store)
    registry = Registry(store, blobs, artifacts_bucket="b", aliases=store, audit=audit)
    plane = ControlPlane(
        tenants=Tenants(store, audit=audit),
        registry=registry,
        aliases=Aliases(store, store),
        quotas=Quotas(store, store),
        audit=audit,
    )
    return create_app(plane)


@pytest.fixture
def maas(app: APIGatewayHttpResolver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    real = maas_client.MaasClient

    def client(url: str, api_key: str | None = None, **kwargs: Any) -> maas_client.MaasClient:
        return real(url, api_key, session=session_with(ResolverAdapter(app, KEYS)), retry=maas_client.NO_RETRIES)

    monkeypatch.setattr(maas_client, "MaasClient", client)
    monkeypatch.delenv("MAAS_URL", raising=False)

    def run(*argv: str, key: str = "team") -> tuple[int, str, str]:
        code = main(["--url", BASE, "--api-key", key, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def ready_version(store: InMemoryRegistryStore, model: str, number: int) -> None:
    store.allocate_version("acme", model)
    key = artifact_key("acme", model, number)
    store.put_version(
        ModelVersion(tenant_id="acme", model=model, version=number, artifact_key=key, status=VersionStatus.READY)
    )


def test_listings_as_json_are_the_rows_with_their_fields(maas: Any) -> None:
    for name in ("a", "b"):
        assert maas("models", "create", name)[0] == 0

    code, out, _ = maas("models", "list", "-o", "json")

    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["a", "b"]
    assert {"name", "framework", "target", "created_at", "batching"} <= set(rows[0])


def test_one_object_as_json_and_as_a_table(maas: Any) -> None:
    maas("models", "create", "m", "--description", "first")

    _, as_json, _ = maas("-o", "json", "models", "show", "m")
    _, as_table, _ = maas("models", "show", "m", "-o", "table")

    shown = json.loads(as_json)
    assert shown["name"] == "m"
    assert shown["versions"] == []
    assert as_table.splitlines()[0].split() == ["NAME", "m"]


@pytest.mark.parametrize("fmt", [None, "json"])
def test_commands_that_print_a_sentence_print_an_object_with_json(
    maas: Any, store: InMemoryRegistryStore, fmt: str | None
) -> None:
    maas("models", "create", "m")
    ready_version(store, "m", 1)
    ready_version(store, "m", 2)
    maas("aliases", "set", "m", "staging", "--version", "2")
    created = json.loads(maas("-o", "json", "keys", "create", "acme", "--scopes", "read")[1])
    options = ["-o", fmt] if fmt else []

    results = [
        maas(*options, "keys", "revoke", "acme", created["key_id"]),
        maas(*options, "aliases", "delete", "m", "staging"),
        maas(*options, "models", "archive", "m", "--version", "1"),
        maas(*options, "models", "delete", "m"),
    ]

    assert [code for code, _, _ in results] == [0, 0, 0, 0]
    if fmt is None:  # for people: the sentences
        assert [out.split()[0] for _, out, _ in results] == ["revoked", "deleted", "archived", "deleted"]
        return
    objects = [json.loads(out) for _, out, _ in results]
    assert objects[0] == {"tenant_id": "acme", "key_id": created["key_id"], "revoked": True}
    assert objects[1] == {"model": "m", "alias": "staging", "deleted": True}
    assert objects[2] == {"model": "m", "version": 1, "status": "ARCHIVED"}
    assert objects[3] == {"model": "m", "deleted": True}


def test_quotas_usage_and_audit_as_json(maas: Any) -> None:
    maas("models", "create", "audited")

    set_code, set_out, _ = maas("-o", "json", "quotas", "set", "acme", "--rps", "5", "--burst", "10", key="operator")
    _, got, _ = maas("-o", "json", "quotas", "get", "acme")
    _, usage, _ = maas("-o", "json", "usage", "acme")
    _, audit, _ = maas("-o", "json", "audit", "--model", "audited")

    assert set_code == 0
    assert json.loads(set_out)["quota"]["requests_per_second"] == 5
    assert json.loads(got) == json.loads(set_out)
    assert json.loads(usage) == []
    entries = json.loads(audit)
    assert [e["action"] for e in entries] == ["model.created"]
    assert {"at", "actor", "action", "model"} <= set(entries[0])


def test_the_operator_lists_tenants_as_a_table_and_as_json(maas: Any) -> None:
    assert maas("tenants", "create", "initech", "--name", "Initech", key="operator")[0] == 0

    _, table, _ = maas("tenants", "list", key="operator")
    _, as_json, _ = maas("tenants", "list", "-o", "json", key="operator")
    refused, _, err = maas("tenants", "list")

    assert table.splitlines()[0].split() == ["TENANT_ID", "NAME", "CREATED_AT"]
    assert [line.split()[:2] for line in table.splitlines()[1:]] == [
        ["acme", "Acme"],
        ["globex", "Globex"],
        ["initech", "Initech"],
    ]
    assert [(t["tenant_id"], t["name"]) for t in json.loads(as_json)][-1] == ("initech", "Initech")
    assert refused == 1
    assert "(FORBIDDEN, HTTP 403)" in err


def test_an_api_error_is_one_line_on_stderr_and_exit_1(maas: Any) -> None:
    code, out, err = maas("models", "show", "no-such")

    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert "(NOT_FOUND, HTTP 404)" in err
