"""The authorizer: presented key -> principal context, and reading that context back in the functions."""

from __future__ import annotations

import pytest

from maas.api.auth import AUTH_ERROR, presented_key, principal_context, principal_from_context
from maas.authorizer import Authorizer
from maas.domain import Principal, Scope
from maas.errors import UnauthenticatedError
from maas.tenants import Tenants

from tests.fakes import InMemoryRegistryStore


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"authorization": "Bearer mk_a_b_c"}, "mk_a_b_c"),
        ({"authorization": "bearer mk_a_b_c"}, "mk_a_b_c"),
        ({"authorization": "BEARER   mk_a_b_c  "}, "mk_a_b_c"),
        ({"x-api-key": "mk_a_b_c"}, "mk_a_b_c"),
        ({"authorization": "Bearer from-bearer", "x-api-key": "from-header"}, "from-bearer"),
        ({"authorization": "Basic dXNlcjpwYXNz", "x-api-key": "from-header"}, "from-header"),
        ({"authorization": "Bearer ", "x-api-key": "from-header"}, "from-header"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, None),
        ({"authorization": "Bearer"}, None),
        ({"x-api-key": ""}, None),
        ({}, None),
    ],
)
def test_presented_key(headers: dict[str, str], key: str | None) -> None:
    assert presented_key(headers) == key


@pytest.fixture
def tenants(store: InMemoryRegistryStore) -> Tenants:
    return Tenants(store)


def test_a_valid_key_puts_the_principal_into_the_context(tenants: Tenants, operator: Principal) -> None:
    record, api_key = tenants.create_key(operator, "acme", frozenset({Scope.READ, Scope.PUBLISH}))

    decision = Authorizer(tenants).authorize({"authorization": f"Bearer {api_key}"})

    assert decision == {
        "isAuthorized": True,
        "context": {"tenant_id": "acme", "key_id": record.key_id, "scopes": "publish,read"},
    }
    assert principal_from_context(decision["context"]) == Principal(
        tenant_id="acme", key_id=record.key_id, scopes=frozenset({Scope.READ, Scope.PUBLISH})
    )


def test_the_x_api_key_header_works_too(tenants: Tenants, operator: Principal) -> None:
    _, api_key = tenants.create_key(operator, "acme", frozenset({Scope.INVOKE}))

    decision = Authorizer(tenants).authorize({"x-api-key": api_key})

    assert decision["context"]["tenant_id"] == "acme"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing API key"),
        ({"authorization": "Bearer not-a-key"}, "invalid or revoked API key"),
        ({"x-api-key": "mk_acme_0123456789abcdef_" + "s" * 43}, "invalid or revoked API key"),
    ],
)
def test_no_valid_key_lets_the_request_through_with_the_reason(
    tenants: Tenants, headers: dict[str, str], reason: str
) -> None:
    decision = Authorizer(tenants).authorize(headers)

    # The function, not API Gateway, answers 401 in the platform's own error shape.
    assert decision["isAuthorized"] is True
    assert list(decision["context"]) == [AUTH_ERROR]
    assert decision["context"][AUTH_ERROR].startswith(reason)
    with pytest.raises(UnauthenticatedError, match=reason):
        principal_from_context(decision["context"])


@pytest.mark.parametrize("context", [None, {}, {"tenant_id": ""}, {"key_id": "k", "scopes": "admin"}])
def test_a_context_without_a_tenant_is_unauthenticated(context: dict[str, str] | None) -> None:
    with pytest.raises(UnauthenticatedError, match="missing API key"):
        principal_from_context(context)


@pytest.mark.parametrize("scopes", [set(), {Scope.ADMIN}, {Scope.INVOKE, Scope.READ, Scope.PUBLISH}])
def test_the_principal_survives_the_context_round_trip(scopes: set[Scope]) -> None:
    caller = Principal(tenant_id="acme", key_id="0123456789abcdef", scopes=frozenset(scopes))

    context = principal_context(caller)

    assert all(isinstance(v, str) for v in context.values())  # authorizer context values must be scalars
    assert principal_from_context(context) == caller
