"""Model backends for the worker: ONNX through onnxruntime, TorchScript through torch; CUDA when present.

One lifecycle, as in KServe's model server: ``load_backend`` loads and is then ready; ``run`` takes and returns
numpy arrays keyed by the signature's names, batch axis first. torch and onnxruntime are imported on first
use, so that a process that never loads a TorchScript model never pays for torch.

    backend = load_backend("model.onnx", Framework.ONNX, signature=None)
    outputs = backend.run({"x": np.ones((4, 16), np.float32)})
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from maas.domain import Framework, Signature
from maas.errors import first_line


class BackendLoadError(RuntimeError):
    """The artifact could not be loaded by its framework (not TorchScript, corrupt, unsupported ops)."""


class Backend(Protocol):
    device: str
    signature: Signature

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def cuda_available() -> bool:
    """Whether this process can reach a CUDA device, without importing torch just to find out."""
    try:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return True
    except ImportError:  # pragma: no cover - onnxruntime is a dependency of every worker
        pass
    return torch_cuda_available()


def torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@dataclass
class OnnxBackend:
    session: Any
    signature: Signature
    device: str

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [spec.name for spec in self.signature.outputs]
        results = self.session.run(names, inputs)
        return dict(zip(names, results, strict=True))


def load_onnx(path: str, *, threads: int | None = None, use_cuda: bool | None = None) -> OnnxBackend:
    import onnxruntime

    from maas.runtime.onnx import read_signature

    available = onnxruntime.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if (use_cuda is None or use_cuda) and "CUDAExecutionProvider" in available:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(path, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises untyped errors for unreadable files
        raise BackendLoadError(f"onnxruntime could not load the model: {first_line(exc)}") from exc
    device = "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
    return OnnxBackend(session, read_signature(session), device)


class TorchScriptBackend:
    """A TorchScript module: positional inputs in the signature's order; a tensor, tuple or dict of outputs."""

    def __init__(self, module: Any, signature: Signature, device: str) -> None:
        self.module = module
        self.signature = signature
        self.device = device

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        args = [
            torch.from_numpy(np.ascontiguousarray(inputs[spec.name])).to(self.device) for spec in self.signature.inputs
        ]
        with torch.inference_mode():
            result = self.module(*args)
        names = [spec.name for spec in self.signature.outputs]
        if isinstance(result, dict):
            values = [result[name] for name in names]
        elif isinstance(result, (tuple, list)):
            values = list(result)
        else:
            values = [result]
        if len(values) != len(names):
            raise ValueError(f"the module returned {len(values)} outputs; the signature declares {len(names)}")
        return {name: value.detach().cpu().numpy() for name, value in zip(names, values, strict=True)}


def load_torchscript(path: str, signature: Signature, *, use_cuda: bool | None = None) -> TorchScriptBackend:
    """``torch.jit.load`` only: a file saved with ``torch.save`` (a pickle) is refused, never unpickled."""
    import torch

    device = "cuda" if (use_cuda is None or use_cuda) and torch.cuda.is_available() else "cpu"
    try:
        module = torch.jit.load(path, map_location=device)  # type: ignore[no-untyped-call]
    except Exception as exc:  # torch raises RuntimeError with C++ text for anything that is not TorchScript
        raise BackendLoadError(
            f"not a TorchScript archive (save it with torch.jit.save; torch.save pickles are never loaded): "
            f"{first_line(exc)}"
        ) from exc
    module.eval()
    return TorchScriptBackend(module, signature, device)


def load_backend(path: str, framework: Framework, signature: Signature | None, **kwargs: Any) -> Backend:
    if framework == Framework.TORCHSCRIPT:
        if signature is None:
            raise BackendLoadError("a TorchScript version needs its declared signature")
        return load_torchscript(path, signature, **kwargs)
    return load_onnx(path, **kwargs)
