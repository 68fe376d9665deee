"""Shadow traffic: a sample of an alias's requests also runs on its shadow version, off the request path.

The inference function, after answering from the live version, puts the request and the live outputs on the
shadow queue (it never waits for the shadow, and nothing runs after the handler returns). The shadow worker
runs the shadow version on the same inputs and records whether the two agree, and how long each took, in
counters next to the alias. Each sample carries an id; a duplicate delivery is counted once.

Agreement: for a 2-D float output [rows, classes], the same top-1 class in every row; otherwise every value
equal within rtol 1e-3 / atol 1e-4.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import pybase64

from maas.datatypes import to_numpy
from maas.domain.shadow import ShadowOutput, ShadowSample
from maas.inference.cache import ModelCache
from maas.inference.pipeline import decode, predict, preprocess
from maas.observability import logger
from maas.ports import ShadowStatsStore

MAX_MESSAGE_BYTES = 240 * 1024  # SQS takes 256 KiB
SHADOW_DTYPES = {
    "FP16",
    "FP32",
    "FP64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "BOOL",
}


def make_sample(
    *,
    tenant_id: str,
    model: str,
    alias: str,
    primary_version: int,
    shadow_version: int,
    body: str | bytes,
    header_length: int | None,
    outputs: Mapping[str, tuple[str, np.ndarray]],
    primary_ms: float,
) -> str | None:
    """The queue message for one sampled request; None when it would not fit a message."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    primary = {
        name: ShadowOutput(
            datatype=datatype,
            shape=list(array.shape),
            data=pybase64.b64encode(np.ascontiguousarray(array).tobytes()).decode(),
        )
        for name, (datatype, array) in outputs.items()
        if datatype in SHADOW_DTYPES
    }
    message = ShadowSample(
        sample_id=uuid.uuid4().hex,
        tenant_id=tenant_id,
        model=model,
        alias=alias,
        primary_version=primary_version,
        shadow_version=shadow_version,
        body=pybase64.b64encode(raw).decode(),
        header_length=header_length,
        primary_ms=primary_ms,
        primary=primary,
    ).model_dump_json()
    if len(message) > MAX_MESSAGE_BYTES:
        logger.info("request too large to shadow; skipped", extra={"bytes": len(message)})
        return None
    return message


def outputs_agree(primary: np.ndarray, shadow: np.ndarray) -> bool:
    if primary.shape != shadow.shape:
        return False
    if primary.ndim == 2 and primary.shape[1] > 1 and primary.dtype.kind == "f":
        return bool((primary.argmax(axis=1) == shadow.argmax(axis=1)).all())
    if primary.dtype.kind in "fc":
        return bool(np.allclose(primary, shadow, rtol=1e-3, atol=1e-4, equal_nan=True))
    return bool((primary == shadow).all())


class ShadowRunner:
    def __init__(self, resolver: Any, cache: ModelCache, stats: ShadowStatsStore) -> None:
        self._resolver = resolver
        self._cache = cache
        self._stats = stats

    def run(self, message: str) -> bool:
        """Run one sample and record it; returns whether it was counted (False for a duplicate)."""
        sample = ShadowSample.model_validate_json(message)
        agreed, errored, shadow_ms = False, False, 0.0
        try:
            version = self._resolver.version(sample.tenant_id, sample.model, sample.shadow_version)
            signature = version.signature
            assert signature is not None  # READY versions carry one
            request = decode(pybase64.b64decode(sample.body), sample.header_length)
            feeds = preprocess(request, signature, allow_nan=True)
            names = [n for n in sample.primary if n in {s.name for s in signature.outputs}]
            backend = self._cache.session(version)
            if names:
                started = time.perf_counter()
                results = predict(backend.run, feeds)
                shadow_ms = (time.perf_counter() - started) * 1000
                agreed = all(outputs_agree(_array(sample.primary[name]), results[name]) for name in names)
        except Exception:  # a shadow that cannot run on live traffic is exactly what the comparison should show
            logger.exception("shadow run failed", extra={"model": sample.model, "version": sample.shadow_version})
            errored = True
        return self._stats.record_shadow_sample(
            sample.tenant_id,
            sample.model,
            sample.alias,
            sample.shadow_version,
            sample.sample_id,
            agreed=agreed,
            errored=errored,
            primary_ms=sample.primary_ms,
            shadow_ms=shadow_ms,
        )


def _array(output: ShadowOutput) -> np.ndarray:
    return np.frombuffer(pybase64.b64decode(output.data), dtype=to_numpy(output.datatype)).reshape(output.shape)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
