"""The Lambda authorizer's logic: headers in, simple-response decision out (see ``maas.api.auth``).

Accepted keys are remembered for ``cache_seconds`` (by their hash), as API Gateway's own authorizer cache
would: most requests then cost no registry read. A revoked key therefore stops working within that time on
every warm instance; unknown and revoked keys are never cached, so a new key works at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from maas import keys
from maas.api.auth import denied_context, presented_key, principal_context
from maas.domain import Principal
from maas.errors import UnauthenticatedError
from maas.tenants import Tenants

_MAX_ENTRIES = 10_000


class Authorizer:
    def __init__(self, tenants: Tenants, cache_seconds: float = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._tenants = tenants
        self._ttl = cache_seconds
        self._clock = clock
        self._accepted: dict[str, tuple[float, Principal]] = {}

    def authorize(self, headers: Mapping[str, str]) -> dict[str, Any]:
        try:
            principal = self._principal(presented_key(headers))
        except UnauthenticatedError as error:
            return {"isAuthorized": True, "context": denied_context(error)}
        return {"isAuthorized": True, "context": principal_context(principal)}

    def _principal(self, api_key: str | None) -> Principal:
        if not api_key or self._ttl <= 0:
            return self._tenants.authenticate(api_key)
        digest = keys.hash_key(api_key)
        now = self._clock()
        hit = self._accepted.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = self._tenants.authenticate(api_key)
        if len(self._accepted) >= _MAX_ENTRIES:
            self._accepted.clear()
        self._accepted[digest] = (now + self._ttl, principal)
        return principal
