"""Access policies on fakes: own models, {owner}.{model} through grants, actions, aliases, owner-only changes."""

from __future__ import annotations

import pytest

from maas.access import AccessPolicy, Grants
from maas.aliases import Aliases
from maas.domain import Framework, Scope
from maas.domain.access import Action, Grant, ModelAccess, split_ref
from maas.domain.aliases import AliasTarget, Route, Shadow
from maas.errors import ForbiddenError, NotFoundError
from maas.registry import Registry

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore
from tests.unit.factories import make_versions, principal

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


# --- what an alias-limited grant shows ------------------------------------------------------------------------
@pytest.fixture
def shared(store: InMemoryRegistryStore, blobs: InMemoryBlobStore, grants: Grants) -> Registry:
    """acme's model m: versions 1-5 READY; production -> 2 (shadow 1), canary -> 3 and 4; 5 unaliased."""
    make_versions(store, blobs, 5)
    aliases = Aliases(store, store)
    aliases.set(
        OWNER,
        "m",
        "production",
        AliasTarget(routes=[Route(version=2, weight=100)], shadow=Shadow(version=1, sample_rate=0.5)),
    )
    aliases.set(OWNER, "m", "canary", AliasTarget(routes=[Route(version=3, weight=60), Route(version=4, weight=40)]))
    return Registry(store, blobs, artifacts_bucket="b", aliases=store, access=AccessPolicy(store))


READER = principal("globex", Scope.READ)


def test_an_alias_limited_grant_shows_only_the_versions_its_aliases_route_to(
    store: InMemoryRegistryStore, grants: Grants, shared: Registry
) -> None:
    # Given a grant limited to production (which routes to 2 and shadows 1)
    grants.put(OWNER, "m", "globex", [Action.READ], aliases=["production"], quota=None)

    # Then the grantee's list holds version 2 only, and only 2 and production can be read
    assert [v.version for v in shared.list_versions(READER, "acme.m")] == [2]
    assert shared.get_version(READER, "acme.m", "2").version == 2
    assert shared.get_version(READER, "acme.m", "production").version == 2
    # and every other version or alias is exactly like one that does not exist
    for ref in ("1", "3", "4", "5", "canary", "99", "nope"):
        with pytest.raises(NotFoundError, match=f"version {ref} of model 'acme.m' not found"):
            shared.get_version(READER, "acme.m", ref)


def test_what_an_alias_limited_grant_shows_follows_its_aliases(
    store: InMemoryRegistryStore, grants: Grants, shared: Registry
) -> None:
    grants.put(OWNER, "m", "globex", [Action.READ], aliases=["production", "canary"], quota=None)
    assert [v.version for v in shared.list_versions(READER, "acme.m")] == [2, 3, 4]
    assert shared.get_version(READER, "acme.m", "canary").version == 3  # the largest share of its traffic

    Aliases(store, store).set(OWNER, "m", "production", AliasTarget(routes=[Route(version=5, weight=100)]))

    assert [v.version for v in shared.list_versions(READER, "acme.m")] == [3, 4, 5]
    with pytest.raises(NotFoundError):
        shared.get_version(READER, "acme.m", "2")


def test_a_grant_on_every_alias_and_the_owner_see_every_version(grants: Grants, shared: Registry) -> None:
    grants.put(OWNER, "m", "globex", [Action.READ], aliases=None, quota=None)
    assert [v.version for v in shared.list_versions(READER, "acme.m")] == [1, 2, 3, 4, 5]
    assert shared.get_version(READER, "acme.m", "5").version == 5
    owner = principal("acme", Scope.READ)
    assert [v.version for v in shared.list_versions(owner, "m")] == [1, 2, 3, 4, 5]
    assert shared.get_version(owner, "m", "canary").version == 3
