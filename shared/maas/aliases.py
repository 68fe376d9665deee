"""Aliases: named, movable pointers at versions, with weighted routes (canary), a shadow, and rollback.

An alias holds one or more routes ``{version, weight}`` (weights sum to 100) and optionally a shadow
``{version, sample_rate}``. Every change bumps its revision; the revision is its ETag, and a write that names
an ETag (``If-Match``) succeeds only if nobody changed the alias since (412 otherwise). Each change keeps the
previous state in the history, so ``rollback`` returns to it. Every model gets a ``production`` alias pointing
at its first READY version; requests without a version resolve through it.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from maas.audit import AuditLog
from maas.authz import require
from maas.domain import Model, ModelVersion, Principal, Scope, VersionStatus
from maas.domain.aliases import DEFAULT_ALIAS, Alias, AliasTarget, Route, parse_etag
from maas.domain.paging import Page
from maas.domain.shadow import stats_summary
from maas.errors import ConflictError, InvalidRequestError, NotFoundError, PreconditionFailedError
from maas.events import AliasUpdated
from maas.ports import AliasStore, EventPublisher, RegistryStore, ShadowStatsStore

HISTORY_LIMIT = 20


def choose_route(alias: Alias, request_id: str | None) -> int:
    """The version that serves a request: weighted, and the same one for the same request id (a retry)."""
    if len(alias.routes) == 1:
        return alias.routes[0].version
    if request_id:
        digest = hashlib.sha256(f"{alias.tenant_id}/{alias.model}/{alias.name}/{request_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") % 10_000 / 100
    else:
        point = random.random() * 100
    cumulative = 0
    for route in alias.routes:
        cumulative += route.weight
        if point < cumulative:
            return route.version
    return alias.routes[-1].version


class Aliases:
    def __init__(
        self,
        store: RegistryStore,
        aliases: AliasStore,
        events: EventPublisher | None = None,
        shadow_stats: ShadowStatsStore | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._audit = audit
        self._store = store
        self._aliases = aliases
        self._events = events
        self._shadow_stats = shadow_stats

    def _model(self, principal: Principal, name: str) -> Model:
        model = self._store.get_model(principal.tenant_id, name)
        if model is None or model.deleted_at is not None:
            raise NotFoundError(f"model '{name}' not found")
        return model

    def get(self, principal: Principal, model: str, name: str) -> Alias:
        require(principal, Scope.READ)
        self._model(principal, model)
        alias = self._aliases.get_alias(principal.tenant_id, model, name)
        if alias is None:
            raise NotFoundError(f"alias '{name}' of model '{model}' not found")
        return alias

    def list(
        self, principal: Principal, model: str, *, limit: int | None = None, next_token: str | None = None
    ) -> Page[Alias]:
        require(principal, Scope.READ)
        self._model(principal, model)
        return self._aliases.list_aliases(principal.tenant_id, model, limit=limit, next_token=next_token)

    def shadow_report(self, principal: Principal, model: str, name: str) -> dict[str, Any]:
        """How the alias's shadow compares with its live traffic so far."""
        alias = self.get(principal, model, name)
        if alias.shadow is None:
            raise NotFoundError(f"alias '{name}' has no shadow")

        raw = None
        if self._shadow_stats is not None:
            raw = self._shadow_stats.get_shadow_stats(principal.tenant_id, model, name, alias.shadow.version)
        return {"alias": name, "model": model, **stats_summary(raw, alias.shadow.version, alias.shadow.sample_rate)}

    def _check_targets(self, principal: Principal, model: str, target: AliasTarget) -> None:
        for number in sorted(target.versions):
            version = self._store.get_version(principal.tenant_id, model, number)
            if version is None:
                raise InvalidRequestError(f"version {number} of model '{model}' does not exist")
            if version.status != VersionStatus.READY:
                raise ConflictError(f"version {number} of model '{model}' is {version.status}; only READY versions")

    def set(
        self, principal: Principal, model: str, name: str, target: AliasTarget, if_match: str | None = None
    ) -> Alias:
        require(principal, Scope.PUBLISH)
        self._model(principal, model)
        self._check_targets(principal, model, target)
        expected = parse_etag(if_match)
        current = self._aliases.get_alias(principal.tenant_id, model, name)
        if expected is not None and (current is None or current.revision != expected):
            raise PreconditionFailedError(f"alias '{name}' changed since ETag \"{expected}\"")
        alias = self._next(principal, model, name, current, target)
        self._aliases.save_alias(alias, expected_revision=current.revision if current else 0)
        self._announce(alias, current, "set")
        self._record(principal, "alias.set", alias, current)
        return alias

    def rollback(self, principal: Principal, model: str, name: str, if_match: str | None = None) -> Alias:
        require(principal, Scope.PUBLISH)
        current = self.get(principal, model, name)
        expected = parse_etag(if_match)
        if expected is not None and current.revision != expected:
            raise PreconditionFailedError(f"alias '{name}' changed since ETag \"{expected}\"")
        if not current.history:
            raise ConflictError(f"alias '{name}' has no earlier target to roll back to")
        previous = current.history[-1]
        target = AliasTarget(routes=previous.routes, shadow=previous.shadow)
        self._check_targets(principal, model, target)
        alias = self._next(principal, model, name, current, target)
        alias.history = current.history[:-1]  # walking back: the state left is not a rollback target
        self._aliases.save_alias(alias, expected_revision=current.revision)
        self._announce(alias, current, "rollback")
        self._record(principal, "alias.rolled_back", alias, current)
        return alias

    def delete(self, principal: Principal, model: str, name: str, if_match: str | None = None) -> None:
        require(principal, Scope.PUBLISH)
        current = self.get(principal, model, name)
        expected = parse_etag(if_match)
        if not self._aliases.delete_alias(principal.tenant_id, model, name, expected or current.revision):
            raise PreconditionFailedError(f"alias '{name}' changed while being deleted")
        self._record(principal, "alias.deleted", None, current)

    def ensure_default(self, version: ModelVersion, *, announce: bool = True) -> Alias | None:
        """Point ``production`` at ``version`` if the model has no such alias yet (its first READY version).

        ``announce=False`` leaves ``AliasUpdated`` to ``announce_default`` (after the version's own event).
        """
        if self._aliases.get_alias(version.tenant_id, version.model, DEFAULT_ALIAS) is not None:
            return None
        alias = Alias(
            tenant_id=version.tenant_id,
            model=version.model,
            name=DEFAULT_ALIAS,
            routes=[Route(version=version.version, weight=100)],
            updated_by="maas",
        )
        try:
            self._aliases.save_alias(alias, expected_revision=0)
        except PreconditionFailedError:
            return None  # another delivery made it first
        if announce:
            self._announce(alias, None, "default")
        system = Principal(tenant_id=version.tenant_id, key_id="maas-validation", scopes=frozenset())
        self._record(system, "alias.set", alias, None)
        return alias

    def announce_default(self, alias: Alias) -> None:
        self._announce(alias, None, "default")

    def _record(self, principal: Principal, action: str, alias: Alias | None, previous: Alias | None) -> None:
        if self._audit is None:
            return
        some = alias or previous
        assert some is not None
        self._audit.record(
            principal,
            some.tenant_id,
            action,
            model=some.model,
            target=some.name,
            before=previous.target if previous else None,
            after=alias.target if alias else None,
        )

    @staticmethod
    def _next(principal: Principal, model: str, name: str, current: Alias | None, target: AliasTarget) -> Alias:
        history = [*current.history, current.state()][-HISTORY_LIMIT:] if current else []
        return Alias(
            tenant_id=principal.tenant_id,
            model=model,
            name=name,
            routes=target.routes,
            shadow=target.shadow,
            revision=(current.revision + 1) if current else 1,
            updated_by=principal.key_id,
            history=history,
        )

    def _announce(self, alias: Alias, previous: Alias | None, reason: str) -> None:
        if self._events is None:
            return
        self._events.publish(
            AliasUpdated(
                tenant_id=alias.tenant_id,
                model=alias.model,
                alias=alias.name,
                revision=alias.revision,
                routes=[r.model_dump() for r in alias.routes],
                shadow=alias.shadow.model_dump() if alias.shadow else None,
                previous_routes=[r.model_dump() for r in previous.routes] if previous else None,
                reason=reason,
            ),
        )
