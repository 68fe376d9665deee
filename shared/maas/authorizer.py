"""The Lambda authorizer's logic: headers in, simple-response decision out (see ``maas.api.auth``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maas.api.auth import denied_context, presented_key, principal_context
from maas.errors import UnauthenticatedError
from maas.tenants import Tenants


def authorize(tenants: Tenants, headers: Mapping[str, str]) -> dict[str, Any]:
    try:
        principal = tenants.authenticate(presented_key(headers))
    except UnauthenticatedError as error:
        return {"isAuthorized": True, "context": denied_context(error)}
    return {"isAuthorized": True, "context": principal_context(principal)}
