"""A shard's rows through a model: each row's outputs or its error, in row order.

    results = CachedModelPredictor(models).predict(version, rows)
    # rows:    {"row": 0, "id": "a", "inputs": {"x": [1, 2, 3]}}
    # results: {"row": 0, "id": "a", "outputs": {"y": [...]}}  or  {"row": 0, "id": "a", "error": "..."}

A row that does not fit the signature, or that breaks the model, fails alone; the others still run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from maas.datatypes import to_numpy
from maas.domain import ModelVersion, Signature
from maas.errors import MaasError, ModelLoadError
from maas.inference.cache import ModelCache
from maas.inference.pipeline import predict

RUN_ROWS = 1024
"""Rows per model run inside a shard."""


class CachedModelPredictor:
    """Rows through the model cache's loaded session; a model that cannot load fails every row with the reason."""

    def __init__(self, models: ModelCache) -> None:
        self.models = models

    def predict(self, version: ModelVersion, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        signature = version.signature
        assert signature is not None, "the split pins only versions with a signature"
        try:
            backend = self.models.session(version)
        except ModelLoadError as exc:  # the job still finishes, with the reason on each row
            reason = f"the model could not be loaded: {exc}"
            return [{"row": row["row"], "id": row["id"], "error": reason} for row in rows]
        return predict_rows(backend, signature, rows)


def predict_rows(backend: Any, signature: Signature, lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's outputs or error, in row order; rows of one shape run together, ``RUN_ROWS`` at a time."""
    rows = list(lines)
    fast = _predict_uniform(backend, signature, rows)
    if fast is not None:
        return fast
    specs = signature.inputs
    prepared: list[tuple[dict[str, Any], dict[str, np.ndarray] | None, str | None]] = []
    for line in rows:
        try:
            arrays = {spec.name: _row_array(line["inputs"][spec.name], spec.datatype, spec.shape) for spec in specs}
            prepared.append((line, arrays, None))
        except (ValueError, TypeError, KeyError) as exc:
            prepared.append((line, None, str(exc)))
    outputs: dict[int, dict[str, Any] | str] = {}
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, (_, row_arrays, _) in enumerate(prepared):
        if row_arrays is not None:
            groups.setdefault(tuple((n, a.shape) for n, a in row_arrays.items()), []).append(i)
    for members in groups.values():
        for start in range(0, len(members), RUN_ROWS):
            _run_chunk(backend, signature, prepared, members[start : start + RUN_ROWS], outputs)
    results: list[dict[str, Any]] = []
    for i, (line, _, error) in enumerate(prepared):
        result = outputs.get(i, error)
        base = {"row": line["row"], "id": line["id"]}
        results.append(
            {**base, "outputs": result} if isinstance(result, dict) else {**base, "error": result or "not run"}
        )
    return results


def _predict_uniform(backend: Any, signature: Signature, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The common case, fast: every row fits, so each input converts at once and outputs leave as whole lists.

    None when some row does not fit (or the model fails on a chunk): then rows are checked and run one by one.
    """
    if not rows:
        return []
    try:
        stacked = {
            spec.name: _batch_array([row["inputs"][spec.name] for row in rows], spec.datatype, spec.shape)
            for spec in signature.inputs
        }
    except (ValueError, TypeError, KeyError):
        return None
    names = [spec.name for spec in signature.outputs]
    results: list[dict[str, Any]] = []
    for start in range(0, len(rows), RUN_ROWS):
        chunk = {name: array[start : start + RUN_ROWS] for name, array in stacked.items()}
        try:
            outputs = predict(backend.run, chunk)
        except MaasError:
            return None
        columns = {name: np.asarray(outputs[name]).tolist() for name in names}
        for offset, row in enumerate(rows[start : start + RUN_ROWS]):
            results.append(
                {"row": row["row"], "id": row["id"], "outputs": {name: columns[name][offset] for name in names}}
            )
    return results


def _run_chunk(
    backend: Any, signature: Signature, prepared: list[Any], chunk: list[int], outputs: dict[int, Any]
) -> None:
    feeds = {spec.name: np.stack([prepared[i][1][spec.name] for i in chunk]) for spec in signature.inputs}
    try:
        result = predict(backend.run, feeds)
    except MaasError as exc:  # ModelRunError: the model failed on these rows; or a model host that stopped
        if len(chunk) == 1:
            outputs[chunk[0]] = str(exc)
            return
        for i in chunk:  # isolate the row that breaks the run
            _run_chunk(backend, signature, prepared, [i], outputs)
        return
    names = [spec.name for spec in signature.outputs]
    for position, i in enumerate(chunk):
        outputs[i] = {name: np.asarray(result[name][position]).tolist() for name in names}


def _batch_array(values: list[Any], datatype: str, shape: list[int]) -> np.ndarray:
    """Rows of one input stacked along a new batch axis, checked against the input's shape (all or nothing)."""
    array = np.asarray(values, dtype=to_numpy(datatype)) if datatype != "BYTES" else np.asarray(values, dtype=object)
    expected = shape[1:]
    if array.ndim != len(expected) + 1 or any(
        d >= 0 and d != a for d, a in zip(expected, array.shape[1:], strict=True)
    ):
        raise ValueError("rows of different shapes")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("NaN or infinite values")
    return array


def _row_array(value: Any, datatype: str, shape: list[int]) -> np.ndarray:
    """One row of an input (no batch axis), checked against the input's shape."""
    array = np.asarray(value, dtype=to_numpy(datatype)) if datatype != "BYTES" else np.asarray(value, dtype=object)
    expected = shape[1:]
    if array.ndim != len(expected) or any(d >= 0 and d != a for d, a in zip(expected, array.shape, strict=True)):
        raise ValueError(f"shape {list(array.shape)} does not fit the input's {expected} (per row)")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("NaN or infinite values")
    return array
