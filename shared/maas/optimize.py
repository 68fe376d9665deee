"""Optimised variants: a new version built from a READY one (dynamic int8 quantization today).

``POST /v1/models/{m}/versions/{v}/optimize`` takes the next version number at once and queues the work; the
optimize worker quantizes the artifact with onnxruntime, measures the variant against its source on generated
inputs (size, p50 latency, agreement) and stores that report on the new version, then uploads the artifact,
which the validation function checks like any other upload. The team can then canary it behind an alias.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Any

from pydantic import BaseModel

from maas.authz import require
from maas.domain import ModelVersion, Principal, Scope, VersionStatus
from maas.errors import ConflictError, InvalidRequestError
from maas.inference.shadow import outputs_agree
from maas.observability import logger
from maas.ports import BlobStore, QueueSender, RegistryStore
from maas.registry import Registry

METHODS = {"dynamic_int8"}
AGREEMENT_SAMPLES = 64
LATENCY_RUNS = 30


class OptimizeJob(BaseModel):
    tenant_id: str
    model: str
    source_version: int
    target_version: int
    method: str


class Optimizer:
    def __init__(
        self, registry: Registry, store: RegistryStore, blobs: BlobStore, bucket: str, queue: QueueSender | None
    ) -> None:
        self._registry = registry
        self._store = store
        self._blobs = blobs
        self._bucket = bucket
        self._queue = queue

    def request(self, principal: Principal, model: str, version: int | str, method: str) -> ModelVersion:
        """Queue an optimised variant of ``version``; returns the new version (PENDING_UPLOAD until built)."""
        require(principal, Scope.PUBLISH)
        if method not in METHODS:
            raise InvalidRequestError(f"unknown method '{method}'; one of {', '.join(sorted(METHODS))}")
        source = self._registry.get_version(principal, model, version)
        version = source.version
        if source.status != VersionStatus.READY:
            raise ConflictError(f"version {version} of '{model}' is {source.status}; only READY versions optimise")
        if self._queue is None:
            raise ConflictError("optimisation is not configured on this deployment")
        target = self._registry.new_version(
            principal, model, None, derived_from=version, optimization={"method": method, "status": "QUEUED"}
        )
        self._queue.send(
            OptimizeJob(
                tenant_id=principal.tenant_id,
                model=model,
                source_version=version,
                target_version=target.version,
                method=method,
            ).model_dump_json()
        )
        return target

    def run(self, message: str) -> None:
        job = OptimizeJob.model_validate_json(message)
        source = self._store.get_version(job.tenant_id, job.model, job.source_version)
        target = self._store.get_version(job.tenant_id, job.model, job.target_version)
        if source is None or target is None or target.status != VersionStatus.PENDING_UPLOAD:
            logger.info("optimize job already done or moot", extra={"job": job.model_dump()})
            return
        if self._blobs.head(self._bucket, target.artifact_key) is not None:
            return  # uploaded by an earlier delivery; validation takes it from there
        with tempfile.TemporaryDirectory() as tmp:
            # each model in a directory of its own: a session reaches no other file
            src, dst = os.path.join(tmp, "source", "model.onnx"), os.path.join(tmp, "variant", "model.onnx")
            os.mkdir(os.path.dirname(src))
            os.mkdir(os.path.dirname(dst))
            with open(src, "wb") as out:
                for chunk in self._blobs.iter_bytes(self._bucket, source.artifact_key, source.artifact_version_id):
                    out.write(chunk)
            report = quantize_and_measure(src, dst, job.method)
            self._store.set_optimization(job.tenant_id, job.model, job.target_version, report)
            with open(dst, "rb") as f:
                self._blobs.put(self._bucket, target.artifact_key, f.read())


def quantize_and_measure(source: str, variant: str, method: str) -> dict[str, Any]:
    """Build the variant and compare it with its source on generated inputs."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from maas.backends import onnx

    assert method == "dynamic_int8"
    quantize_dynamic(source, variant, weight_type=QuantType.QInt8)
    before, after = onnx.load_session(source, threads=1), onnx.load_session(variant, threads=1)
    signature = onnx.read_signature(before)
    agreements = 0
    for seed in range(AGREEMENT_SAMPLES):
        feeds = onnx.smoke_inputs(signature, seed=seed)
        if all(outputs_agree(a, b) for a, b in zip(before.run(None, feeds), after.run(None, feeds), strict=True)):
            agreements += 1
    feeds = onnx.smoke_inputs(signature)

    def p50_ms(session: Any) -> float:
        samples = []
        for _ in range(LATENCY_RUNS):
            started = time.perf_counter()
            session.run(None, feeds)
            samples.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(samples), 4)

    return {
        "method": method,
        "status": "BUILT",
        "source_size_bytes": os.path.getsize(source),
        "size_bytes": os.path.getsize(variant),
        "size_ratio": round(os.path.getsize(variant) / os.path.getsize(source), 4),
        "source_latency_ms_p50": p50_ms(before),
        "latency_ms_p50": p50_ms(after),
        "agreement_rate": agreements / AGREEMENT_SAMPLES,
        "agreement_samples": AGREEMENT_SAMPLES,
    }
