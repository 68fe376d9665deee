"""Triton's repository index and model configuration, per tenant, so that tritonclient's
``get_model_repository_index()`` and ``get_model_config()`` work unchanged.

The platform loads every READY version itself (``maas.inference.cache``, on first use): there is no model control.
Triton's ``POST /v2/repository/models/{m}/load`` and ``/unload`` answer 400 with a message that says so, rather
than a 404 that a Triton client would read as "no such model".

A version's state in the index: READY; LOADING while it waits for its artifact and validation (PENDING_UPLOAD);
UNAVAILABLE for a FAILED version (the reason is its validation failure) and an ARCHIVED one. The index lists the
caller's own models; the models other tenants share with it are listed by ``GET /v1/shared-models``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from maas.access import AccessPolicy
from maas.authz import require
from maas.domain import Framework, Model, ModelVersion, Principal, Scope, Target, TensorSpec, VersionStatus
from maas.domain.access import Action, ModelAccess
from maas.domain.aliases import DEFAULT_ALIAS
from maas.errors import InvalidRequestError
from maas.inference.service import VersionResolver
from maas.ports import RegistryStore

PLATFORMS = {
    Framework.ONNX: ("onnxruntime_onnx", "onnxruntime"),
    Framework.TORCHSCRIPT: ("pytorch_libtorch", "pytorch"),
}
STATES = {
    VersionStatus.READY: ("READY", ""),
    VersionStatus.PENDING_UPLOAD: ("LOADING", "waiting for its artifact to be uploaded and validated"),
    VersionStatus.FAILED: ("UNAVAILABLE", "validation failed"),
    VersionStatus.ARCHIVED: ("UNAVAILABLE", "archived"),
}


def index_entry(name: str, version: ModelVersion) -> dict[str, str]:
    state, reason = STATES[version.status]
    if version.status == VersionStatus.FAILED and version.failure_reason:
        reason = f"validation failed: {version.failure_reason}"
    return {"name": name, "version": str(version.version), "state": state, "reason": reason}


def triton_data_type(datatype: str) -> str:
    """OIP's tensor datatype as a Triton model configuration names it: FP32 -> TYPE_FP32, BYTES -> TYPE_STRING."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def triton_config(name: str, model: Model, version: ModelVersion) -> dict[str, Any]:
    """Triton's model configuration (its JSON form) for a READY version.

    Triton's ``max_batch_size`` > 0 means that every input and output has a leading batch dimension that ``dims``
    leaves out. A version whose inputs and outputs all start with a free dimension (-1) is reported so, with the
    model's batch size (``batching.max_batch_size``); any other reports 0 and its full shapes.
    """
    signature = version.signature
    specs: list[TensorSpec] = [*signature.inputs, *signature.outputs] if signature else []
    batched = bool(specs) and all(spec.shape and spec.shape[0] == -1 for spec in specs)
    platform, backend = PLATFORMS[model.framework]

    def tensors(items: list[TensorSpec]) -> list[dict[str, Any]]:
        return [
            {
                "name": spec.name,
                "data_type": triton_data_type(spec.datatype),
                "dims": list(spec.shape[1:] if batched else spec.shape),
            }
            for spec in items
        ]

    config: dict[str, Any] = {
        "name": name,
        "platform": platform,
        "backend": backend,
        "version_policy": {"specific": {"versions": [version.version]}},
        "max_batch_size": model.batching.max_batch_size if batched else 0,
        "input": tensors(signature.inputs if signature else []),
        "output": tensors(signature.outputs if signature else []),
    }
    if batched and model.target == Target.GPU:  # the worker's dynamic batcher; the sync path batches nothing
        config["dynamic_batching"] = {
            "max_queue_delay_microseconds": int(model.batching.max_queue_delay_ms * 1000),
        }
    return config


class ModelRepository:
    """The caller's models as Triton's repository extension and model configuration extension show them."""

    def __init__(self, registry: RegistryStore, resolver: VersionResolver, access: AccessPolicy | None = None) -> None:
        self._registry = registry
        self._resolver = resolver
        self._access = access

    def index(self, principal: Principal, *, ready: bool = False) -> list[dict[str, str]]:
        """Every version of the caller's models (only the READY ones with ``ready``), by model then version."""
        require(principal, Scope.READ)
        entries: list[dict[str, str]] = []
        for model in self._registry.list_models(principal.tenant_id):
            versions = self._registry.list_versions(principal.tenant_id, model.name)
            entries += [index_entry(model.name, v) for v in versions if not ready or v.status == VersionStatus.READY]
            if not versions and not ready:
                entries.append({"name": model.name, "state": "UNAVAILABLE", "reason": "no version registered yet"})
        return entries

    def config(self, principal: Principal, name: str, version: str | None) -> dict[str, Any]:
        """The configuration of the version that ``version`` names (a number or an alias; the default alias)."""
        require(principal, Scope.READ)
        access = (
            self._access.model(principal, name, Action.READ) if self._access else ModelAccess(principal.tenant_id, name)
        )
        access.check_ref(version, DEFAULT_ALIAS)
        model = self._resolver.model(access.owner, access.model)
        resolved = self._resolver.resolve(access.owner, access.model, version).version
        return triton_config(name, model, resolved)

    @staticmethod
    def model_control(name: str, action: str) -> NoReturn:
        """Triton's load and unload: not supported here, said plainly (400), after the caller is known."""
        raise InvalidRequestError(
            f"model control ({action}) is not supported: every READY version of '{name}' is loaded on first use; "
            "register versions with POST /v1/models/{name}/versions and route them with aliases"
        )
