"""Inputs for a smoke run: small, deterministic, shaped by a signature (free dimensions become 1).

numpy only (no pydantic), so that a model host can make them itself, inside its own memory limit: a signature
may declare fixed dimensions that no validator should allocate on the model's behalf.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from maas.datatypes import to_numpy


def smoke_feeds(specs: Iterable[tuple[str, str, Sequence[int]]], *, seed: int = 0) -> dict[str, np.ndarray]:
    """``(name, OIP datatype, shape)`` per input -> arrays: ints 0 or 1, floats standard normal, strings "maas"."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for name, datatype, dims in specs:
        shape = tuple(1 if dim < 0 else dim for dim in dims)
        dtype = to_numpy(datatype)
        if datatype == "BYTES":
            feeds[name] = np.full(shape, "maas", dtype=object)
        elif datatype == "BOOL":
            feeds[name] = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif dtype.kind in "iu":
            feeds[name] = rng.integers(0, 2, size=shape).astype(dtype)
        else:
            feeds[name] = rng.standard_normal(size=shape).astype(dtype)
    return feeds
