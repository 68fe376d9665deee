"""ONNX through onnxruntime: check a file is self-contained, load a session, read its signature, smoke inputs,
and the ``OnnxBackend`` that runs a session in process.

Every session in the platform is built by ``session()`` here, from a file in a directory of its own (the
model cache's per-artifact directory, or validation's private one), after ``check_self_contained`` found no
tensor that keeps its data in another file. onnxruntime resolves external data relative to the model's
directory; with neither external references nor other files beside the model, a model reaches nothing.

onnxruntime is imported inside the functions: the control plane and the authorizer import this package
without paying for it.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maas.backends.base import BackendLoadError, Tensors
from maas.backends.bundle import files_beside
from maas.backends.onnx_proto import OnnxProtoError, scan
from maas.backends.smoke import smoke_feeds
from maas.datatypes import UnsupportedTypeError, from_onnxruntime
from maas.domain import Signature, TensorSpec
from maas.errors import first_line

if TYPE_CHECKING:
    import onnxruntime


class ExternalDataError(ValueError):
    """The model keeps tensor data in other files (or points a runtime at a file): it is never loaded."""


INLINE_FIX = (
    "save the weights inside the model (onnx.save(model, path, save_as_external_data=False), or "
    "torch.onnx.export(..., external_data=False)), or register it with `maas models register`, which inlines "
    "them; a model over 2 GB goes in a bundle (see the README)"
)


def check_self_contained(model: bytes | memoryview | mmap.mmap, *, allowed: Iterable[str] = ()) -> None:
    """Refuse external data anywhere in the model, but for files named in ``allowed`` (a bundle's members)."""
    malformed: str | None = None
    try:
        external, file_nodes = scan(memoryview(model))  # type: ignore[arg-type]
    except OnnxProtoError as exc:
        malformed = str(exc)
    if malformed is not None:  # raised here, so that no traceback holds a view of a mapped file
        raise ExternalDataError(f"the file is not a well-formed ONNX model ({malformed})")
    if file_nodes:
        raise ExternalDataError(
            f"node {file_nodes[0].where} is an {file_nodes[0].op_type} node, which reads a file of its own; "
            "such nodes are never loaded"
        )
    members = set(allowed)
    outside = [t for t in external if t.location is None or t.location not in members]
    if outside:
        first = outside[0]
        raise ExternalDataError(
            f"the model keeps the data of {len(outside)} tensor(s) in other files (external data; the first is "
            f"'{first.name[:100]}' at {first.where}); external data is never loaded: {INLINE_FIX}"
        )


def check_file(path: str | Path, *, allowed: Iterable[str] = ()) -> None:
    """``check_self_contained`` on a file, mapped rather than read."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise ExternalDataError("the file is empty")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            check_self_contained(mapped, allowed=allowed)


def session(
    path: str | Path,
    *,
    threads: int | None = None,
    providers: list[str] | None = None,
    bundle: bool = False,
) -> onnxruntime.InferenceSession:
    """An onnxruntime session for a self-contained model (checked here, whoever checked before).

    ``bundle``: the model is an unpacked bundle's ``model.onnx``; its external data may name the files beside it
    (its directory holds the bundle's members and nothing else).
    """
    import onnxruntime

    check_file(path, allowed=files_beside(path) if bundle else ())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"]
    )


def load_session(path: str | Path, *, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session sized to this machine (or ``threads``)."""
    return session(path, threads=threads)


def _spec(name: str, ort_type: str, dims: Iterable[Any] | None) -> TensorSpec:
    shape = [dim if isinstance(dim, int) and dim >= 0 else -1 for dim in (dims or [])]
    try:
        datatype = from_onnxruntime(ort_type)
    except UnsupportedTypeError as exc:
        raise UnsupportedTypeError(f"'{name}': {exc}") from exc
    return TensorSpec(name=name, datatype=datatype, shape=shape)


def read_signature(session: onnxruntime.InferenceSession) -> Signature:
    """Inputs and outputs with OIP v2 datatypes, -1 for symbolic or unknown dimensions."""
    return Signature(
        inputs=[_spec(arg.name, arg.type, arg.shape) for arg in session.get_inputs()],
        outputs=[_spec(arg.name, arg.type, arg.shape) for arg in session.get_outputs()],
    )


def signature_from_specs(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> Signature:
    """The signature a model host reported (``{name, type, shape}`` per tensor, as onnxruntime names types)."""
    return Signature(
        inputs=[_spec(str(s["name"]), str(s["type"]), s["shape"]) for s in inputs],
        outputs=[_spec(str(s["name"]), str(s["type"]), s["shape"]) for s in outputs],
    )


def smoke_inputs(signature: Signature, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Small deterministic inputs that fit the signature: free dimensions become 1."""
    return smoke_feeds(((s.name, s.datatype, s.shape) for s in signature.inputs), seed=seed)


class OnnxBackend:
    """An onnxruntime session in this process: every output of the signature, in one ``run``."""

    def __init__(self, session: onnxruntime.InferenceSession, signature: Signature, device: str) -> None:
        self.session = session
        self.signature = signature
        self.device = device
        self._names = [spec.name for spec in signature.outputs]

    def run(self, inputs: Tensors) -> Tensors:
        return dict(zip(self._names, self.session.run(self._names, inputs), strict=True))

    def close(self) -> None:
        """Nothing to release: the session goes with its last reference."""


def load_onnx(
    path: str, *, threads: int | None = None, use_cuda: bool | None = None, bundle: bool = False
) -> OnnxBackend:
    """An ONNX model in a directory of its own (``session`` checks it is self-contained); CUDA when present,
    unless ``use_cuda`` is False."""
    import onnxruntime

    providers = ["CPUExecutionProvider"]
    if (use_cuda is None or use_cuda) and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    try:
        loaded = session(path, threads=threads, providers=providers, bundle=bundle)
    except ExternalDataError as exc:
        raise BackendLoadError(str(exc)) from exc
    except Exception as exc:  # onnxruntime raises untyped errors for unreadable files
        raise BackendLoadError(f"onnxruntime could not load the model: {first_line(exc)}") from exc
    device = "cuda" if loaded.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
    return OnnxBackend(loaded, read_signature(loaded), device)
