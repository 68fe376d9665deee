"""Serving registered ONNX versions: resolve the version, then the model pipeline (``maas.inference.pipeline``).

Registry lookups go through a short in-memory cache; loaded backends through ``ModelCache``. A warm request makes no
call to DynamoDB or S3.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from maas.access import AccessPolicy
from maas.aliases import choose_route
from maas.authz import require
from maas.backends.base import Tensors
from maas.domain import Model, ModelVersion, Principal, Scope, Target, VersionStatus
from maas.domain.access import Action, ModelAccess
from maas.domain.aliases import DEFAULT_ALIAS, Alias, Shadow, is_alias_name
from maas.errors import (
    AsyncOnlyError,
    ModelLoadError,
    ModelUnavailableError,
    NotFoundError,
    NotReadyError,
    PayloadTooLargeError,
    TooManyRequestsError,
)
from maas.inference.cache import ModelCache
from maas.inference.pipeline import decode, postprocess, predict, preprocess, selected_outputs
from maas.inference.protocol import InferRequest
from maas.inference.shadow import make_sample
from maas.memo import TtlCache
from maas.ports import AliasStore, QueueSender, RegistryStore
from maas.quotas import QuotaEnforcer, UsageRecorder

PLATFORM = "onnxruntime_onnx"
RETRY_AFTER_SECONDS = "2"


@dataclass(frozen=True)
class Resolved:
    """What serves a request: the version, and the alias it came through (with its shadow), if any."""

    version: ModelVersion
    alias: str | None = None
    shadow: Shadow | None = None


class VersionResolver:
    """Which version serves a request: a number, or an alias (``production`` when none is named)."""

    def __init__(self, store: RegistryStore, ttl_seconds: float, aliases: AliasStore | None = None) -> None:
        self._store = store
        self._aliases = aliases
        self._cache = TtlCache(ttl_seconds)

    def model(self, tenant_id: str, name: str) -> Model:
        model = self._cache.get(
            ("model", tenant_id, name),
            lambda: self._store.get_model(tenant_id, name),
            keep=lambda m: m is not None and m.deleted_at is None,
        )
        if model is None or model.deleted_at is not None:
            raise NotFoundError(f"model '{name}' not found")
        return model

    def versions(self, tenant_id: str, name: str) -> list[ModelVersion]:
        self.model(tenant_id, name)
        return self._cache.get(("versions", tenant_id, name), lambda: self._store.list_versions(tenant_id, name))

    def resolve(self, tenant_id: str, name: str, ref: str | None, request_id: str | None = None) -> Resolved:
        """``ref`` is a version number, an alias name, or None for the default alias."""
        self.model(tenant_id, name)
        if ref is not None and ref.isascii() and ref.isdigit():
            return Resolved(self.version(tenant_id, name, int(ref)))
        alias_name = ref or DEFAULT_ALIAS
        alias = self._alias(tenant_id, name, alias_name) if is_alias_name(alias_name) else None
        if alias is None:
            if ref is None:
                self._no_default(tenant_id, name)
            raise NotFoundError(f"version or alias '{ref}' of model '{name}' not found")
        return Resolved(self.version(tenant_id, name, choose_route(alias, request_id)), alias.name, alias.shadow)

    def _alias(self, tenant_id: str, name: str, alias: str) -> Alias | None:
        if self._aliases is None:
            return None
        store = self._aliases
        return self._cache.get(
            ("alias", tenant_id, name, alias), lambda: store.get_alias(tenant_id, name, alias), keep=bool
        )

    def _no_default(self, tenant_id: str, name: str) -> None:
        versions = self.versions(tenant_id, name)
        if any(v.status == VersionStatus.PENDING_UPLOAD for v in versions):
            raise NotReadyError(
                f"model '{name}' has no READY version yet", headers={"Retry-After": RETRY_AFTER_SECONDS}
            )
        raise NotFoundError(f"model '{name}' has no READY version")

    def version(self, tenant_id: str, name: str, number: int) -> ModelVersion:
        if number < 1:
            raise NotFoundError(f"version {number} of model '{name}' not found")
        found = self._cache.get(
            ("version", tenant_id, name, number),
            lambda: self._store.get_version(tenant_id, name, number),
            keep=lambda v: v is not None and v.status == VersionStatus.READY,
        )
        if found is None:
            raise NotFoundError(f"version {number} of model '{name}' not found")
        if found.status == VersionStatus.PENDING_UPLOAD:
            raise NotReadyError(
                f"version {number} of model '{name}' is not READY yet ({found.status})",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        if found.status != VersionStatus.READY:
            raise NotFoundError(f"version {number} of model '{name}' is {found.status} and cannot serve")
        return found


@dataclass(frozen=True)
class InferenceLimits:
    max_request_bytes: int = 6 * 1024 * 1024
    max_response_bytes: int = 6 * 1024 * 1024


def _io_metadata(version: ModelVersion) -> dict[str, Any]:
    signature = version.signature
    if signature is None:
        return {"inputs": [], "outputs": []}
    return {
        "inputs": [spec.model_dump() for spec in signature.inputs],
        "outputs": [spec.model_dump() for spec in signature.outputs],
    }


class InferenceService:
    def __init__(
        self,
        resolver: VersionResolver,
        cache: ModelCache,
        limits: InferenceLimits | None = None,
        *,
        shadow_queue: QueueSender | None = None,
        access: AccessPolicy | None = None,
        quotas: QuotaEnforcer | None = None,
        usage: UsageRecorder | None = None,
    ) -> None:
        self.resolver = resolver
        self.cache = cache
        self.limits = limits or InferenceLimits()
        self.shadow_queue = shadow_queue
        self.access = access
        self.quotas = quotas
        self.usage = usage

    def _access(self, principal: Principal, ref: str, action: Action, version: str | None) -> ModelAccess:
        access = self.access.model(principal, ref, action) if self.access else ModelAccess(principal.tenant_id, ref)
        access.check_ref(version, DEFAULT_ALIAS)
        return access

    def model_metadata(self, principal: Principal, name: str, version: str | None) -> dict[str, Any]:
        require(principal, Scope.READ)
        access = self._access(principal, name, Action.READ, version)
        resolved = self.resolver.resolve(access.owner, access.model, version).version
        versions = [v for v in self.resolver.versions(access.owner, access.model) if v.status == VersionStatus.READY]
        if access.grant is not None:  # a grantee sees only what its grant reaches
            versions = [resolved]
        return {
            "name": name,
            "versions": [str(resolved.version)] if version else [str(v.version) for v in versions],
            "platform": PLATFORM,
            **_io_metadata(resolved),
        }

    def model_ready(self, principal: Principal, name: str, version: str | None) -> dict[str, Any]:
        require(principal, Scope.READ)
        access = self._access(principal, name, Action.READ, version)
        resolved = self.resolver.resolve(access.owner, access.model, version).version
        return {"name": name, "version": str(resolved.version), "ready": True}

    def _admit(self, principal: Principal, access: ModelAccess, name: str) -> None:
        """Quotas, then usage: a throttled request counts as throttled, an admitted one as a request."""
        if self.quotas is not None:
            try:
                self.quotas.admit(principal, access)
            except TooManyRequestsError:
                if self.usage is not None:
                    self.usage.record(principal.tenant_id, name, throttled=True)
                raise
        if self.usage is not None:
            self.usage.record(principal.tenant_id, name)

    def _maybe_shadow(
        self,
        access: ModelAccess,
        *,
        target: Resolved,
        body: str | bytes,
        header_length: int | None,
        request: InferRequest,
        outputs: Tensors,
        elapsed_ms: float,
    ) -> None:
        """Hand a sampled request to the shadow queue; the response never waits for the shadow itself."""
        shadow = target.shadow
        if not (shadow and target.alias and self.shadow_queue) or random.random() >= shadow.sample_rate:
            return
        signature = target.version.signature
        assert signature is not None  # the request was checked against it
        live = {n: (datatype, array) for n, datatype, array, _ in selected_outputs(request, signature, outputs)}
        sample = make_sample(
            tenant_id=access.owner,
            model=access.model,
            alias=target.alias,
            primary_version=target.version.version,
            shadow_version=shadow.version,
            body=body,
            header_length=header_length,
            outputs=live,
            primary_ms=elapsed_ms,
        )
        if sample:
            self.shadow_queue.send(sample)

    def infer(
        self, principal: Principal, name: str, version: str | None, body: str | bytes, header_length: int | None
    ) -> tuple[bytes, int | None]:
        """Run one OIP v2 infer request; returns the response body and its JSON header length if binary.

        ``body`` is text for a plain JSON request (as API Gateway hands it over) and bytes with binary tensors.
        """
        require(principal, Scope.INVOKE)
        if len(body) > self.limits.max_request_bytes:
            raise PayloadTooLargeError(
                f"the request is {len(body)} bytes; the limit is {self.limits.max_request_bytes}"
            )
        access = self._access(principal, name, Action.INFER, version)
        model = self.resolver.model(access.owner, access.model)  # an unknown model is 404 before its body is read
        if model.target == Target.GPU:
            route = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
            raise AsyncOnlyError(
                f"model '{name}' runs on GPU workers and only asynchronously: POST {route} with the header "
                f"'Prefer: respond-async', or POST /v1/models/{name}/jobs"
            )
        self._admit(principal, access, name)
        started = time.perf_counter_ns()
        request = decode(body, header_length)
        target = self.resolver.resolve(access.owner, access.model, version, request.id)
        resolved = target.version
        try:
            response, phases = self._serve(
                access,
                name=name,
                target=target,
                request=request,
                body=body,
                header_length=header_length,
                started=started,
            )
        except Exception:
            self._count(access, resolved, ok=False, total_ns=time.perf_counter_ns() - started)
            raise
        self._count(access, resolved, ok=True, total_ns=sum(phases), phases_ns=phases)
        return response

    def _count(
        self,
        access: ModelAccess,
        version: ModelVersion,
        *,
        ok: bool,
        total_ns: int,
        phases_ns: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        """The version's statistics, on its owner's model: a grantee's calls count there too (Triton's stats are the
        model's, whoever calls it); the grantee's own use is in its usage."""
        if self.usage is not None:
            self.usage.record_inference(
                access.owner, access.model, version.version, ok=ok, total_ns=total_ns, phases_ns=phases_ns
            )

    def _serve(
        self,
        access: ModelAccess,
        *,
        name: str,
        target: Resolved,
        request: InferRequest,
        body: str | bytes,
        header_length: int | None,
        started: int,
    ) -> tuple[tuple[bytes, int | None], tuple[int, int, int]]:
        """The response, and the nanoseconds of its three phases: decode and checks, the model run, encoding."""
        resolved = target.version
        signature = resolved.signature
        if signature is None:  # READY versions always carry one
            raise NotFoundError(f"version {resolved.version} of model '{name}' has no signature")
        feeds = preprocess(request, signature)
        try:
            backend = self.cache.session(resolved)
        except ModelLoadError as exc:
            raise ModelUnavailableError(
                f"version {resolved.version} of model '{name}' cannot be served here: {exc}",
                headers={"Retry-After": "30"},
            ) from exc
        run_started = time.perf_counter_ns()
        outputs = predict(backend.run, feeds)
        run_ended = time.perf_counter_ns()
        self._maybe_shadow(
            access,
            target=target,
            body=body,
            header_length=header_length,
            request=request,
            outputs=outputs,
            elapsed_ms=(run_ended - run_started) / 1e6,
        )
        response = postprocess(
            request,
            signature,
            outputs,
            model=name,
            version=str(resolved.version),
            max_bytes=self.limits.max_response_bytes,
        )
        ended = time.perf_counter_ns()
        return response, (run_started - started, run_ended - run_started, ended - run_ended)
