"""Triton's statistics extension, per tenant: ``GET /v2/models/stats``, ``/v2/models/{m}/stats``,
``/v2/models/{m}/versions/{v}/stats``, in the JSON Triton answers, so that
``tritonclient.http.InferenceServerClient.get_inference_statistics()`` reads them unchanged.

The counts are the platform's own, summed across every instance of the inference function: each instance counts
in memory and adds its counts to the version's item at every usage flush (``maas.quotas.UsageRecorder``). They are
exact to within the flush interval (``USAGE_FLUSH_SECONDS``, 10 s on AWS, 1 s on the local runtime): a request
appears in them at most that long after it was served, save the unflushed tail of an instance that Lambda recycles.

What they count: every synchronous ``/v2`` infer request that reached a version (success, or a failure once the
version was chosen: inputs that do not fit, a model that fails on them, a response over the limit). Requests
refused before a version is chosen (no key or scope, unknown model, over quota, a body that is no OIP request) are
in no version's statistics; the throttled ones are in the tenant's usage. Asynchronous jobs are not counted here.
Each request is one execution of the model as sent (the sync path batches nothing), so ``execution_count`` equals
``inference_count``, ``batch_stats`` has one entry of batch size 1, and the queue time is 0.

Whose they are: a version's statistics are its owner's and count every caller, the owner's keys and every
grantee's. Only the owner reads them: a grantee asking for a shared model's statistics gets 403 (they would show
other tenants' traffic), and finds its own use of it in ``GET /v1/tenants/{tenant}/usage``; a model that is
neither the caller's nor shared with it is 404, as everywhere.
"""

from __future__ import annotations

from typing import Any

from maas.access import AccessPolicy
from maas.authz import require
from maas.domain import Principal, Scope, VersionStatus
from maas.domain.access import Action, split_ref
from maas.domain.stats import InferenceCounters, VersionStats
from maas.errors import ForbiddenError, NotFoundError
from maas.inference.service import VersionResolver
from maas.ports import QuotaStore, RegistryStore


def _duration(count: int, ns: int) -> dict[str, int]:
    return {"count": count, "ns": ns}


def triton_model_stats(name: str, version: int, counters: InferenceCounters) -> dict[str, Any]:
    """One entry of Triton's ``model_stats`` list."""
    done = counters.success_count
    compute = {
        "compute_input": _duration(done, counters.compute_input_ns),
        "compute_infer": _duration(done, counters.compute_infer_ns),
        "compute_output": _duration(done, counters.compute_output_ns),
    }
    return {
        "name": name,
        "version": str(version),
        "last_inference": counters.last_inference_ms,
        "inference_count": done,
        "execution_count": done,
        "inference_stats": {
            "success": _duration(done, counters.success_ns),
            "fail": _duration(counters.fail_count, counters.fail_ns),
            "queue": _duration(done, 0),
            **compute,
            "cache_hit": _duration(0, 0),
            "cache_miss": _duration(0, 0),
        },
        "batch_stats": [{"batch_size": 1, **compute}] if done else [],
        "memory_usage": [],
    }


class ModelStatistics:
    """The caller's versions with their statistics; versions never called report zeros, as Triton's do."""

    def __init__(
        self,
        registry: RegistryStore,
        stats: QuotaStore,
        resolver: VersionResolver,
        access: AccessPolicy | None = None,
    ) -> None:
        self._registry = registry
        self._stats = stats
        self._resolver = resolver
        self._access = access

    def statistics(self, principal: Principal, name: str | None = None, version: str | None = None) -> dict[str, Any]:
        """``{"model_stats": [...]}`` for every model of the caller, one model, or one version of it."""
        require(principal, Scope.READ)
        tenant = principal.tenant_id
        if name is None:
            models = [m.name for m in self._registry.list_models(tenant)]
            stored = self._stats.list_inference_stats(tenant)
        else:
            models = [self._own_model(principal, name)]
            stored = self._stats.list_inference_stats(tenant, models[0])
        by_version = {(s.model, s.version): s.counters for s in stored}
        entries: list[VersionStats] = []
        for model in models:
            if version is not None:
                numbers = [self._version_number(tenant, model, version)]
            else:
                ready = {v.version for v in self._resolver.versions(tenant, model) if v.status == VersionStatus.READY}
                numbers = sorted(ready | {v for m, v in by_version if m == model})
            entries += [VersionStats(model, n, by_version.get((model, n), InferenceCounters())) for n in numbers]
        return {"model_stats": [triton_model_stats(e.model, e.version, e.counters) for e in entries]}

    def _own_model(self, principal: Principal, ref: str) -> str:
        owner, model = split_ref(ref)
        if owner is not None and owner != principal.tenant_id:
            if self._access is None:
                raise NotFoundError(f"model '{ref}' not found")
            try:
                self._access.model(principal, ref, Action.READ)  # 404 without a grant
            except ForbiddenError:
                pass  # a grant without read: the same answer as with it
            raise ForbiddenError(
                f"the statistics of '{ref}' are its owner's; your own use of it is in "
                f"GET /v1/tenants/{principal.tenant_id}/usage"
            )
        self._resolver.model(principal.tenant_id, model)  # 404 for an unknown or deleted model
        return model

    def _version_number(self, tenant: str, model: str, ref: str) -> int:
        """A version number (any version that exists, archived too) or an alias (the READY version it names)."""
        if ref.isascii() and ref.isdigit():
            if any(v.version == int(ref) for v in self._resolver.versions(tenant, model)):
                return int(ref)
            raise NotFoundError(f"version {ref} of model '{model}' not found")
        return self._resolver.resolve(tenant, model, ref).version.version
