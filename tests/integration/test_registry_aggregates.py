"""The contracts of the registry table's other ports (aliases, grants, audit, shadow counters), on
the in-memory fakes and on DynamoDB (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from maas.domain.access import Action, Grant, Quota
from maas.domain.aliases import Alias, Route
from maas.domain.audit import AuditEntry
from maas.errors import PreconditionFailedError


def alias(revision: int = 1, version: int = 1, name: str = "production") -> Alias:
    return Alias(tenant_id="acme", model="m", name=name, routes=[Route(version=version, weight=100)], revision=revision)


def test_an_alias_is_written_only_from_the_revision_it_was_read_at(registry_stores: Any) -> None:
    store = registry_stores.aliases
    store.save_alias(alias(1), 0)

    with pytest.raises(PreconditionFailedError):
        store.save_alias(alias(1, version=2), 0)  # a second create
    with pytest.raises(PreconditionFailedError):
        store.save_alias(alias(3, version=2), 2)  # a stale revision
    store.save_alias(alias(2, version=2), 1)

    assert store.get_alias("acme", "m", "production").routes == [Route(version=2, weight=100)]
    assert store.get_alias("globex", "m", "production") is None


def test_an_alias_is_deleted_only_at_its_revision(registry_stores: Any) -> None:
    store = registry_stores.aliases
    store.save_alias(alias(1), 0)
    store.save_alias(alias(1, name="canary"), 0)

    assert store.delete_alias("acme", "m", "production", 7) is False
    assert store.delete_alias("acme", "m", "production", 1) is True
    assert [a.name for a in store.list_aliases("acme", "m")] == ["canary"]
    assert store.delete_alias("acme", "m", "production", 1) is False


def test_grants_live_under_their_owner(registry_stores: Any) -> None:
    store = registry_stores.grants
    grant = Grant(owner="acme", model="m", grantee="globex", actions=[Action.INFER], quota=Quota(requests_per_second=1))
    store.put_grant(grant)
    store.put_grant(grant.model_copy(update={"actions": [Action.INFER, Action.READ]}))

    assert store.get_grant("acme", "m", "globex").actions == [Action.INFER, Action.READ]
    assert store.get_grant("globex", "m", "acme") is None
    assert [g.grantee for g in store.list_grants("acme", "m")] == ["globex"]
    assert store.delete_grant("acme", "m", "globex") is True
    assert store.delete_grant("acme", "m", "globex") is False
    assert store.list_grants("acme", "m") == []


def test_a_grantee_lists_what_was_shared_with_it_until_it_is_revoked(registry_stores: Any) -> None:
    store = registry_stores.grants
    # Given two owners sharing three models with globex, and one with someone else
    for owner, model in (("initech", "z"), ("acme", "m"), ("acme", "k")):
        store.put_grant(Grant(owner=owner, model=model, grantee="globex", actions=[Action.INFER]))
    store.put_grant(Grant(owner="acme", model="m", grantee="hooli", actions=[Action.READ]))
    # When a grant is changed, the grantee's side changes with it
    store.put_grant(Grant(owner="acme", model="k", grantee="globex", actions=[Action.READ], aliases=["production"]))

    shared = store.list_shared_with("globex")
    assert [(g.owner, g.model) for g in shared] == [("acme", "k"), ("acme", "m"), ("initech", "z")]
    assert shared[0].actions == [Action.READ]
    assert shared[0].aliases == ["production"]
    assert [(g.owner, g.model) for g in store.list_shared_with("hooli")] == [("acme", "m")]
    assert store.list_shared_with("acme") == []  # an owner's own grants are not shared with it

    # Then a revoked grant leaves the grantee's list, and nobody else's
    assert store.delete_grant("acme", "m", "globex") is True
    assert [(g.owner, g.model) for g in store.list_shared_with("globex")] == [("acme", "k"), ("initech", "z")]
    assert [g.grantee for g in store.list_shared_with("hooli")] == ["hooli"]
    assert store.delete_grant("acme", "m", "globex") is False


def test_the_audit_log_is_read_newest_first_and_limited(registry_stores: Any) -> None:
    store = registry_stores.audit
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for minute in range(5):
        store.put_audit(
            AuditEntry(
                tenant_id="acme",
                at=start + timedelta(minutes=minute),
                actor="acme/k",
                action=f"a{minute}",
                before={"rate": 1.5},
                after={"n": minute},
            )
        )

    entries = store.list_audit("acme", limit=3)
    assert [e.action for e in entries] == ["a4", "a3", "a2"]
    assert entries[0].before == {"rate": 1.5}
    assert entries[0].after == {"n": 4}
    assert store.list_audit("globex", limit=3) == []


def test_a_shadow_sample_is_counted_once(registry_stores: Any) -> None:
    store = registry_stores.shadow_stats
    kwargs = {"agreed": True, "errored": False, "primary_ms": 1.5, "shadow_ms": 2.0}

    assert store.record_shadow_sample("acme", "m", "production", 2, "s1", **kwargs) is True
    assert store.record_shadow_sample("acme", "m", "production", 2, "s1", **kwargs) is False
    assert store.record_shadow_sample("acme", "m", "production", 2, "s2", **{**kwargs, "agreed": False}) is True

    stats = store.get_shadow_stats("acme", "m", "production", 2)
    assert (int(stats["samples"]), int(stats["agreements"]), int(stats["errors"])) == (2, 1, 0)
    assert float(stats["primary_ms"]) == pytest.approx(3.0)
    assert store.get_shadow_stats("acme", "m", "production", 3) is None
