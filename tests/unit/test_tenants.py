"""Tenants and API keys: who may create what, and turning a presented key into a principal."""

from __future__ import annotations

import pytest

from maas import keys
from maas.domain import OPERATOR_TENANT, Principal, Scope
from maas.errors import ConflictError, ForbiddenError, NotFoundError, UnauthenticatedError
from maas.tenants import Tenants

from tests.fakes import InMemoryRegistryStore
from tests.unit.factories import principal


@pytest.fixture
def tenants(store: InMemoryRegistryStore) -> Tenants:
    return Tenants(store)


def issue(tenants: Tenants, operator: Principal, tenant_id: str, *scopes: Scope) -> str:
    _, api_key = tenants.create_key(operator, tenant_id, frozenset(scopes))
    return api_key


# --- authenticate ---------------------------------------------------------------------------------------------
def test_a_valid_key_authenticates_as_its_tenant_and_scopes(tenants: Tenants, operator: Principal) -> None:
    record, api_key = tenants.create_key(operator, "acme", frozenset({Scope.PUBLISH, Scope.INVOKE}))

    caller = tenants.authenticate(api_key)

    assert caller == Principal(tenant_id="acme", key_id=record.key_id, scopes=frozenset({Scope.PUBLISH, Scope.INVOKE}))
    assert not caller.is_operator


@pytest.mark.parametrize("presented", [None, ""])
def test_no_key_is_unauthenticated(tenants: Tenants, presented: str | None) -> None:
    with pytest.raises(UnauthenticatedError, match="missing API key"):
        tenants.authenticate(presented)


@pytest.mark.parametrize("presented", ["hello", "Bearer x", "mk_acme_short_secret", "mk_acme_0123456789abcdef_x"])
def test_a_malformed_key_is_unauthenticated(tenants: Tenants, presented: str) -> None:
    with pytest.raises(UnauthenticatedError, match="invalid or revoked"):
        tenants.authenticate(presented)


def test_a_key_with_the_wrong_secret_is_unauthenticated(tenants: Tenants, operator: Principal) -> None:
    api_key = issue(tenants, operator, "acme", Scope.READ)
    forged = api_key[:-4] + ("AAAA" if not api_key.endswith("AAAA") else "BBBB")
    assert keys.parse_key(forged) == keys.parse_key(api_key)  # same tenant and key id: only the secret differs

    with pytest.raises(UnauthenticatedError):
        tenants.authenticate(forged)


def test_a_revoked_key_is_unauthenticated(tenants: Tenants, operator: Principal) -> None:
    record, api_key = tenants.create_key(operator, "acme", frozenset({Scope.READ}))
    tenants.authenticate(api_key)  # valid until revoked

    tenants.revoke_key(operator, "acme", record.key_id)

    with pytest.raises(UnauthenticatedError, match="invalid or revoked"):
        tenants.authenticate(api_key)


def test_a_key_of_an_unknown_tenant_is_unauthenticated(tenants: Tenants) -> None:
    _, api_key = keys.new_key("nobody")

    with pytest.raises(UnauthenticatedError):
        tenants.authenticate(api_key)


def test_a_key_presented_under_another_tenant_is_unauthenticated(tenants: Tenants, operator: Principal) -> None:
    api_key = issue(tenants, operator, "acme", Scope.ADMIN)

    with pytest.raises(UnauthenticatedError):
        tenants.authenticate(api_key.replace("mk_acme_", "mk_globex_", 1))


# --- tenants --------------------------------------------------------------------------------------------------
def test_the_operator_creates_tenants(tenants: Tenants, store: InMemoryRegistryStore, operator: Principal) -> None:
    tenant = tenants.create_tenant(operator, "initech", "Initech")

    assert tenant.tenant_id == "initech"
    assert store.get_tenant("initech") == tenant


@pytest.mark.parametrize(
    "caller",
    [
        principal("acme", Scope.ADMIN),
        principal(OPERATOR_TENANT, Scope.PUBLISH, Scope.INVOKE, Scope.READ),
    ],
)
def test_only_the_operator_creates_tenants(tenants: Tenants, store: InMemoryRegistryStore, caller: Principal) -> None:
    with pytest.raises(ForbiddenError):
        tenants.create_tenant(caller, "initech", "Initech")
    assert store.get_tenant("initech") is None


def test_no_tenant_can_take_the_operators_name(
    tenants: Tenants, store: InMemoryRegistryStore, operator: Principal
) -> None:
    with pytest.raises(ConflictError):
        tenants.create_tenant(operator, OPERATOR_TENANT, "Impostor")
    assert store.get_tenant(OPERATOR_TENANT) is None


def test_a_tenant_id_is_taken_once(tenants: Tenants, operator: Principal) -> None:
    with pytest.raises(ConflictError):
        tenants.create_tenant(operator, "acme", "Acme again")


def test_the_operator_lists_every_tenant_page_by_page(tenants: Tenants, operator: Principal) -> None:
    tenants.create_tenant(operator, "initech", "Initech")

    first = tenants.list_tenants(operator, limit=2)
    rest = tenants.list_tenants(operator, limit=2, next_token=first.next_token)

    assert [t.tenant_id for t in first] == ["acme", "globex"]
    assert [(t.tenant_id, t.name) for t in rest] == [("initech", "Initech")]
    assert rest.next_token is None


@pytest.mark.parametrize(
    "caller",
    [
        principal("acme", Scope.ADMIN),
        principal(OPERATOR_TENANT, Scope.PUBLISH, Scope.INVOKE, Scope.READ),
    ],
)
def test_only_the_operator_lists_tenants(tenants: Tenants, caller: Principal) -> None:
    with pytest.raises(ForbiddenError):
        tenants.list_tenants(caller)


# --- keys -----------------------------------------------------------------------------------------------------
def test_a_tenant_admin_creates_keys_for_its_own_tenant(tenants: Tenants, operator: Principal) -> None:
    admin = tenants.authenticate(issue(tenants, operator, "acme", Scope.ADMIN))

    record, api_key = tenants.create_key(admin, "acme", frozenset({Scope.ADMIN}), "second admin")

    assert record.tenant_id == "acme"
    assert record.scopes == frozenset({Scope.ADMIN})
    assert record.description == "second admin"
    assert tenants.authenticate(api_key).has(Scope.ADMIN)


def test_only_the_hash_of_a_key_is_stored(tenants: Tenants, store: InMemoryRegistryStore, operator: Principal) -> None:
    record, api_key = tenants.create_key(operator, "acme", frozenset({Scope.READ}))

    stored = store.get_key("acme", record.key_id)
    assert stored is not None
    assert stored.key_hash == keys.hash_key(api_key)
    assert api_key not in stored.model_dump_json()


def test_a_tenant_admin_cannot_create_keys_for_another_tenant(tenants: Tenants, operator: Principal) -> None:
    admin = tenants.authenticate(issue(tenants, operator, "acme", Scope.ADMIN))

    with pytest.raises(NotFoundError):
        tenants.create_key(admin, "globex", frozenset({Scope.READ}))
    assert tenants.list_keys(operator, "globex") == []


@pytest.mark.parametrize("scopes", [{Scope.ADMIN}, {Scope.READ}])
def test_a_key_without_admin_cannot_create_keys(
    tenants: Tenants, store: InMemoryRegistryStore, operator: Principal, scopes: set[Scope]
) -> None:
    publisher = tenants.authenticate(issue(tenants, operator, "acme", Scope.PUBLISH, Scope.INVOKE))

    with pytest.raises(ForbiddenError):
        tenants.create_key(publisher, "acme", frozenset(scopes))
    assert len(store.list_keys("acme")) == 1


def test_the_operator_cannot_create_keys_for_an_unknown_tenant(tenants: Tenants, operator: Principal) -> None:
    with pytest.raises(NotFoundError):
        tenants.create_key(operator, "nobody", frozenset({Scope.READ}))


def test_keys_are_listed_per_tenant(tenants: Tenants, operator: Principal) -> None:
    acme_admin = tenants.authenticate(issue(tenants, operator, "acme", Scope.ADMIN))
    issue(tenants, operator, "acme", Scope.READ)
    issue(tenants, operator, "globex", Scope.READ)

    listed = tenants.list_keys(acme_admin, "acme")

    assert {k.tenant_id for k in listed} == {"acme"}
    assert len(listed) == 2
    with pytest.raises(NotFoundError):
        tenants.list_keys(acme_admin, "globex")


def test_revoking_an_unknown_key_is_not_found(tenants: Tenants, operator: Principal) -> None:
    with pytest.raises(NotFoundError):
        tenants.revoke_key(operator, "acme", "0123456789abcdef")


def test_a_tenant_admin_cannot_revoke_another_tenants_key(tenants: Tenants, operator: Principal) -> None:
    acme_admin = tenants.authenticate(issue(tenants, operator, "acme", Scope.ADMIN))
    record, globex_key = tenants.create_key(operator, "globex", frozenset({Scope.READ}))

    with pytest.raises(NotFoundError):
        tenants.revoke_key(acme_admin, "globex", record.key_id)
    assert tenants.authenticate(globex_key).tenant_id == "globex"


def test_revoking_twice_keeps_the_first_revocation_time(tenants: Tenants, operator: Principal) -> None:
    record, _ = tenants.create_key(operator, "acme", frozenset({Scope.READ}))
    tenants.revoke_key(operator, "acme", record.key_id)
    (first,) = tenants.list_keys(operator, "acme")

    tenants.revoke_key(operator, "acme", record.key_id)

    (second,) = tenants.list_keys(operator, "acme")
    assert first.revoked_at is not None
    assert second.revoked_at == first.revoked_at


# --- bootstrap ------------------------------------------------------------------------------------------------
def test_bootstrap_creates_the_operator_tenant_and_an_operator_key(store: InMemoryRegistryStore) -> None:
    tenants = Tenants(store)

    api_key = tenants.bootstrap_operator()

    assert store.get_tenant(OPERATOR_TENANT) is not None
    caller = tenants.authenticate(api_key)
    assert caller.is_operator
    assert caller.tenant_id == OPERATOR_TENANT


def test_bootstrap_twice_keeps_the_tenant_and_both_keys_work(store: InMemoryRegistryStore) -> None:
    tenants = Tenants(store)
    first = tenants.bootstrap_operator()
    created_at = store.get_tenant(OPERATOR_TENANT).created_at  # type: ignore[union-attr]

    second = tenants.bootstrap_operator("again")

    assert first != second
    assert tenants.authenticate(first).is_operator
    assert tenants.authenticate(second).is_operator
    assert store.get_tenant(OPERATOR_TENANT).created_at == created_at  # type: ignore[union-attr]
    assert len(store.list_keys(OPERATOR_TENANT)) == 2
