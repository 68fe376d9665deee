"""ONNX through onnxruntime: load a session, read its signature, make inputs for a smoke run.

onnxruntime is imported inside the functions: the control plane and the authorizer import this package
without paying for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from maas.datatypes import UnsupportedTypeError, from_onnxruntime, to_numpy
from maas.domain import Signature, TensorSpec

if TYPE_CHECKING:
    import onnxruntime


def load_session(path: str, *, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session sized to this machine (or ``threads``)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _spec(arg: Any) -> TensorSpec:
    shape = [dim if isinstance(dim, int) and dim >= 0 else -1 for dim in (arg.shape or [])]
    try:
        datatype = from_onnxruntime(arg.type)
    except UnsupportedTypeError as exc:
        raise UnsupportedTypeError(f"'{arg.name}': {exc}") from exc
    return TensorSpec(name=arg.name, datatype=datatype, shape=shape)


def read_signature(session: onnxruntime.InferenceSession) -> Signature:
    """Inputs and outputs with OIP v2 datatypes, -1 for symbolic or unknown dimensions."""
    return Signature(
        inputs=[_spec(arg) for arg in session.get_inputs()],
        outputs=[_spec(arg) for arg in session.get_outputs()],
    )


def smoke_inputs(signature: Signature, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Small deterministic inputs that fit the signature: free dimensions become 1."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec in signature.inputs:
        shape = tuple(1 if dim < 0 else dim for dim in spec.shape)
        dtype = to_numpy(spec.datatype)
        if spec.datatype == "BYTES":
            feeds[spec.name] = np.full(shape, "maas", dtype=object)
        elif spec.datatype == "BOOL":
            feeds[spec.name] = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif dtype.kind in "iu":
            feeds[spec.name] = rng.integers(0, 2, size=shape).astype(dtype)
        else:
            feeds[spec.name] = rng.standard_normal(size=shape).astype(dtype)
    return feeds
