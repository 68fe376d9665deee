"""Aliases on fakes: targets, weights, ETags, history, rollback, routing, lifecycle."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from maas.aliases import Aliases, choose_route
from maas.domain import Framework, Scope, VersionStatus
from maas.domain.aliases import DEFAULT_ALIAS, Alias, AliasTarget, Route, Shadow, parse_etag
from maas.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError, PreconditionFailedError
from maas.registry import Registry

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore, RecordingPublisher
from tests.unit.factories import make_versions, principal

PUBLISHER = principal("acme", Scope.PUBLISH)


@pytest.fixture
def aliases(store: InMemoryRegistryStore, blobs: InMemoryBlobStore, publisher: RecordingPublisher) -> Aliases:
    make_versions(store, blobs, 3)
    return Aliases(store, store, publisher)


def one(version: int) -> AliasTarget:
    return AliasTarget(routes=[Route(version=version, weight=100)])


def test_set_get_and_events(aliases: Aliases, publisher: RecordingPublisher) -> None:
    alias = aliases.set(PUBLISHER, "m", "prod", one(1))
    assert (alias.revision, alias.etag, alias.routes[0].version) == (1, '"1"', 1)
    moved = aliases.set(PUBLISHER, "m", "prod", one(2), if_match='"1"')
    assert moved.revision == 2
    assert [s.routes[0].version for s in moved.history] == [1]
    assert aliases.get(principal("acme", Scope.READ), "m", "prod").routes[0].version == 2
    events = publisher.of_type("AliasUpdated")
    assert [e["revision"] for e in events] == [1, 2]
    assert events[1]["previous_routes"] == [{"version": 1, "weight": 100}]


def test_a_stale_etag_is_refused(aliases: Aliases) -> None:
    aliases.set(PUBLISHER, "m", "prod", one(1))
    aliases.set(PUBLISHER, "m", "prod", one(2), if_match='"1"')
    with pytest.raises(PreconditionFailedError):
        aliases.set(PUBLISHER, "m", "prod", one(3), if_match='"1"')
    with pytest.raises(PreconditionFailedError):
        aliases.set(PUBLISHER, "m", "new", one(3), if_match='"1"')
    with pytest.raises(PreconditionFailedError):
        parse_etag("garbage")
    assert parse_etag('W/"7"') == 7
    assert parse_etag("*") is None


def test_rollback_walks_back_through_history(aliases: Aliases) -> None:
    for version in (1, 2, 3):
        aliases.set(PUBLISHER, "m", "prod", one(version))
    assert aliases.rollback(PUBLISHER, "m", "prod").routes[0].version == 2
    back = aliases.rollback(PUBLISHER, "m", "prod")
    assert back.routes[0].version == 1
    assert back.revision == 5
    with pytest.raises(ConflictError, match="no earlier target"):
        aliases.rollback(PUBLISHER, "m", "prod")


def test_only_ready_versions_can_be_targets(store, blobs, aliases: Aliases) -> None:
    make_versions(store, blobs, 1, ready=False)
    with pytest.raises(ConflictError, match="PENDING_UPLOAD"):
        aliases.set(PUBLISHER, "m", "prod", one(4))
    with pytest.raises(InvalidRequestError, match="does not exist"):
        aliases.set(PUBLISHER, "m", "prod", one(9))
    with pytest.raises(ConflictError):
        aliases.set(
            PUBLISHER,
            "m",
            "prod",
            AliasTarget(routes=[Route(version=1, weight=100)], shadow=Shadow(version=4, sample_rate=0.5)),
        )


@pytest.mark.parametrize(
    "routes",
    [
        [(1, 50), (2, 40)],
        [(1, 50), (1, 50)],
        [(1, 0), (2, 100)],
        [],
    ],
)
def test_weights_are_validated(routes: list[tuple[int, int]]) -> None:
    with pytest.raises(ValidationError):
        AliasTarget(routes=[Route(version=v, weight=w) for v, w in routes])


def test_the_shadow_takes_no_live_traffic() -> None:
    with pytest.raises(ValidationError, match="shadow"):
        AliasTarget(routes=[Route(version=1, weight=100)], shadow=Shadow(version=1, sample_rate=0.1))


def test_scopes_and_tenants(aliases: Aliases) -> None:
    with pytest.raises(ForbiddenError):
        aliases.set(principal("acme", Scope.READ), "m", "prod", one(1))
    aliases.set(PUBLISHER, "m", "prod", one(1))
    with pytest.raises(NotFoundError):
        aliases.get(principal("globex", Scope.READ), "m", "prod")
    with pytest.raises(NotFoundError):
        aliases.set(principal("globex", Scope.PUBLISH), "m", "prod", one(1))


def test_default_alias_is_made_once(store, aliases: Aliases, publisher: RecordingPublisher) -> None:
    first = store.get_version("acme", "m", 1)
    second = store.get_version("acme", "m", 2)
    assert aliases.ensure_default(first) is not None
    assert aliases.ensure_default(second) is None
    assert store.get_alias("acme", "m", DEFAULT_ALIAS).routes == [Route(version=1, weight=100)]
    assert [e["reason"] for e in publisher.of_type("AliasUpdated")] == ["default"]


def test_routing_is_weighted_and_sticky_per_request_id() -> None:
    alias = Alias(
        tenant_id="acme", model="m", name="prod", routes=[Route(version=1, weight=90), Route(version=2, weight=10)]
    )
    counts = Counter(choose_route(alias, f"request-{i}") for i in range(20_000))
    assert 0.085 < counts[2] / 20_000 < 0.115
    assert all(choose_route(alias, "retry-me") == choose_route(alias, "retry-me") for _ in range(20))
    random_counts = Counter(choose_route(alias, None) for _ in range(20_000))
    assert 0.085 < random_counts[2] / 20_000 < 0.115


def test_archive_and_delete_respect_aliases(store, blobs, aliases: Aliases) -> None:
    registry = Registry(store, blobs, artifacts_bucket="b", aliases=store)
    aliases.set(
        PUBLISHER,
        "m",
        "prod",
        AliasTarget(routes=[Route(version=1, weight=100)], shadow=Shadow(version=2, sample_rate=0.2)),
    )
    for number in (1, 2):
        with pytest.raises(ConflictError, match="prod"):
            registry.archive_version(PUBLISHER, "m", number)
    assert registry.archive_version(PUBLISHER, "m", 3).status == VersionStatus.ARCHIVED
    assert registry.archive_version(PUBLISHER, "m", 3).status == VersionStatus.ARCHIVED  # idempotent
    with pytest.raises(ConflictError):
        aliases.set(PUBLISHER, "m", "other", one(3))
    with pytest.raises(ConflictError, match="still has alias"):
        registry.delete_model(PUBLISHER, "m")
    aliases.delete(PUBLISHER, "m", "prod")
    registry.delete_model(PUBLISHER, "m")
    with pytest.raises(NotFoundError):
        registry.get_model(PUBLISHER, "m")
    assert registry.list_models(PUBLISHER) == []
    with pytest.raises(ConflictError):
        registry.create_model(PUBLISHER, "m", Framework.ONNX, "")  # names are not reused
