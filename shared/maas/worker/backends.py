"""Model backends for the worker: ONNX through onnxruntime in process, TorchScript in a confined model host
(``maas.sandbox``: loading TorchScript runs its author's code); CUDA when present.

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
from maas.errors import ModelLoadError, first_line


class BackendLoadError(ModelLoadError):
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


def load_onnx(
    path: str, *, threads: int | None = None, use_cuda: bool | None = None, bundle: bool = False
) -> OnnxBackend:
    """An ONNX model in a directory of its own (``maas.runtime.onnx.session`` checks it is self-contained)."""
    import onnxruntime

    from maas.runtime.onnx import ExternalDataError, read_signature, session

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


@dataclass(frozen=True)
class SandboxPolicy:
    """How tenant code (TorchScript) runs: always in a model host of its own; ``require_confinement`` refuses to
    run it on a host whose kernel cannot confine it (no Landlock or no seccomp)."""

    require_confinement: bool = True
    memory_bytes: int | None = 4 * 1024**3
    run_timeout: float = 120.0
    scratch_root: str | None = None


class TorchScriptBackend:
    """A TorchScript module in its own confined process (``maas.sandbox``): tensors cross a unix socket.

    Positional inputs in the signature's order; the module may return a tensor, a tuple or a dict of them.
    """

    def __init__(self, host: Any, signature: Signature, device: str) -> None:
        self.host = host
        self.signature = signature
        self.device = device

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from maas.sandbox.client import ModelHostError

        try:
            return dict(self.host.run(inputs))
        except ModelHostError as exc:
            raise ModelRunError(exc.message) from exc

    @property
    def memory_bytes(self) -> int:
        return int(self.host.memory_bytes)

    def close(self) -> None:
        self.host.close()


class ModelRunError(RuntimeError):
    """The model failed on these inputs (or its host stopped while running them); the message is redacted."""


def load_torchscript(
    path: str, signature: Signature, *, use_cuda: bool | None = None, policy: SandboxPolicy | None = None
) -> TorchScriptBackend:
    """``torch.jit.load`` in a model host: a ``torch.save`` file (a pickle) is refused, never unpickled.

    Loading TorchScript runs the author's code (PyTorch's security policy says so), so it happens only inside
    the host, after it confined itself to ``path``'s directory (read-only) and a scratch directory.
    """
    from maas.errors import redact
    from maas.sandbox.client import HostConfig, ModelHost, ModelHostError

    policy = policy or SandboxPolicy()
    want_cuda = use_cuda is None or use_cuda  # the host uses CUDA when its torch finds a device
    host = ModelHost(
        HostConfig(
            framework="torchscript",
            artifact_dir=os.path.dirname(os.path.abspath(path)),
            entry=os.path.basename(path),
            inputs=[spec.name for spec in signature.inputs],
            outputs=[spec.name for spec in signature.outputs],
            input_specs=[(spec.name, spec.datatype, list(spec.shape)) for spec in signature.inputs],
            memory_bytes=policy.memory_bytes,
            use_cuda=want_cuda,
            threads=max(1, os.cpu_count() or 1),
            require_confinement=policy.require_confinement,
            run_timeout=policy.run_timeout,
        ),
        scratch_root=policy.scratch_root,
    )
    try:
        loaded = host.start()
    except ModelHostError as exc:
        if exc.kind == "unconfined":
            raise BackendLoadError(f"TorchScript is not run on this worker: {exc.message}") from exc
        raise BackendLoadError(
            "not a TorchScript archive, or it failed to load (save it with torch.jit.save; torch.save pickles "
            f"are never loaded): {redact(exc.message)}"
        ) from exc
    return TorchScriptBackend(host, signature, str(loaded.get("device", "cpu")))


def load_backend(
    path: str,
    framework: Framework,
    signature: Signature | None,
    *,
    use_cuda: bool | None = None,
    bundle: bool = False,
    policy: SandboxPolicy | None = None,
) -> Backend:
    if framework == Framework.TORCHSCRIPT:
        if signature is None:
            raise BackendLoadError("a TorchScript version needs its declared signature")
        return load_torchscript(path, signature, use_cuda=use_cuda, policy=policy)
    return load_onnx(path, use_cuda=use_cuda, bundle=bundle)
