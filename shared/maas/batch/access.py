"""Which model a batch job reaches: the caller's when it starts, its tenant's once the file is in the inbox."""

from __future__ import annotations

from maas.access import AccessPolicy
from maas.domain import Principal, Scope
from maas.domain.access import Action, ModelAccess
from maas.domain.aliases import DEFAULT_ALIAS


def model_access(policy: AccessPolicy | None, principal: Principal, ref: str, version: str | None) -> ModelAccess:
    """The model ``ref`` as ``principal`` may run it: its own, or another tenant's through a grant (NotFound,
    Forbidden otherwise); without a policy, only the tenant's own models."""
    access = policy.model(principal, ref, Action.INFER) if policy else ModelAccess(principal.tenant_id, ref)
    access.check_ref(version, DEFAULT_ALIAS)
    return access


def job_principal(tenant_id: str) -> Principal:
    """Who a job runs as after its upload: its tenant, allowed to invoke (a direct inbox write carries no key)."""
    return Principal(tenant_id=tenant_id, key_id="inbox", scopes=frozenset({Scope.INVOKE}))
