"""Access policies on fakes: own models, {owner}.{model} through grants, actions, aliases, owner-only changes."""

from __future__ import annotations

import pytest

from maas.access import AccessPolicy, Action, Grant, Grants, ModelAccess, split_ref
from maas.domain import Framework, Scope
from maas.errors import ForbiddenError, NotFoundError
from maas.registry import Registry

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore
from tests.unit.factories import principal

OWNER = principal("acme", Scope.PUBLISH)
PARTNER = principal("globex", Scope.INVOKE)


@pytest.fixture
def grants(store: InMemoryRegistryStore, blobs: InMemoryBlobStore) -> Grants:
    Registry(store, blobs, artifacts_bucket="b").create_model(OWNER, "m", Framework.ONNX, "")
    return Grants(store, store)


def test_split_ref() -> None:
    assert split_ref("acme.m") == ("acme", "m")
    assert split_ref("m") == (None, "m")


def test_own_models_need_no_grant(store: InMemoryRegistryStore) -> None:
    policy = AccessPolicy(store)
    assert policy.model(OWNER, "m", Action.INFER) == ModelAccess("acme", "m")
    assert policy.model(OWNER, "acme.m", Action.INFER) == ModelAccess("acme", "m")


def test_shared_models_exist_only_through_a_grant(store: InMemoryRegistryStore, grants: Grants) -> None:
    policy = AccessPolicy(store)
    with pytest.raises(NotFoundError, match=r"'acme\.m' not found"):
        policy.model(PARTNER, "acme.m", Action.INFER)
    grants.put(OWNER, "m", "globex", [Action.READ], aliases=["production"], quota=None)
    with pytest.raises(ForbiddenError):
        policy.model(PARTNER, "acme.m", Action.INFER)
    access = policy.model(PARTNER, "acme.m", Action.READ)
    assert (access.owner, access.model) == ("acme", "m")
    access.check_ref(None, "production")
    access.check_ref("production", "production")
    for ref in ("1", "canary"):
        with pytest.raises(ForbiddenError):
            access.check_ref(ref, "production")
    grants.revoke(OWNER, "m", "globex")
    with pytest.raises(NotFoundError):
        policy.model(PARTNER, "acme.m", Action.READ)


def test_only_owners_change_models(store: InMemoryRegistryStore, grants: Grants) -> None:
    assert AccessPolicy.own(OWNER, "acme.m") == "m"
    with pytest.raises(NotFoundError):
        AccessPolicy.own(PARTNER, "acme.m")
    with pytest.raises(NotFoundError):
        grants.put(principal("globex", Scope.PUBLISH), "acme.m", "initech", [Action.READ], aliases=None, quota=None)
    with pytest.raises(ForbiddenError):
        grants.put(OWNER, "m", "acme", [Action.READ], aliases=None, quota=None)
    with pytest.raises(NotFoundError):
        grants.revoke(OWNER, "m", "nobody")


def test_grants_are_listed_for_the_owner_only(store: InMemoryRegistryStore, grants: Grants) -> None:
    grants.put(OWNER, "m", "globex", [Action.INFER, Action.INFER, Action.READ], aliases=None, quota=None)
    (grant,) = grants.list(principal("acme", Scope.READ), "m")
    assert isinstance(grant, Grant)
    assert grant.actions == [Action.INFER, Action.READ]
    with pytest.raises(NotFoundError):
        grants.list(principal("globex", Scope.READ), "m")
