"""The authorizer's decision, and reading it back in the functions.

The Lambda authorizer (payload 2.0, simple responses) always answers ``isAuthorized: true`` and puts either the
principal or the reason it found none into the context. The function then answers 401 in the platform's own
``{"error", "code"}`` shape: an authorizer that says no makes API Gateway reply ``{"message": "Forbidden"}``,
which breaks the contract. Every route except health reads the principal, so nothing is served without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maas.domain import Principal, Scope
from maas.errors import UnauthenticatedError

AUTH_ERROR = "auth_error"


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key from ``Authorization: Bearer <key>`` or ``x-api-key`` (header names in lowercase)."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or None


def principal_context(principal: Principal) -> dict[str, str]:
    """Authorizer context values must be scalars: scopes travel comma-joined."""
    return {
        "tenant_id": principal.tenant_id,
        "key_id": principal.key_id,
        "scopes": ",".join(sorted(principal.scopes)),
    }


def denied_context(error: UnauthenticatedError) -> dict[str, str]:
    return {AUTH_ERROR: error.message}


def principal_from_context(context: Mapping[str, Any] | None) -> Principal:
    """The principal the authorizer put into the request context, or UnauthenticatedError."""
    context = context or {}
    tenant_id = context.get("tenant_id")
    if not tenant_id:
        raise UnauthenticatedError(str(context.get(AUTH_ERROR) or "missing API key"))
    scopes = frozenset(Scope(s) for s in str(context.get("scopes", "")).split(",") if s)
    return Principal(tenant_id=tenant_id, key_id=str(context.get("key_id", "")), scopes=scopes)
