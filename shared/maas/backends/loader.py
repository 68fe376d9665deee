"""Loading a model into its backend: ONNX in process, TorchScript in a confined model host; CUDA when present.

``load_backend`` loads an artifact by its framework; ``backend_loader`` makes the loader a ``ModelCache`` calls
with each version; ``load_model_dir`` reads the worker's model directory (SageMaker's ``/opt/ml/model``).

    backend = load_backend("model.onnx", Framework.ONNX, signature=None)
    outputs = backend.run({"x": np.ones((4, 16), np.float32)})
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from maas.backends.base import Backend, BackendLoadError, SandboxPolicy
from maas.backends.onnx import load_onnx
from maas.domain import Framework, ModelVersion, Signature, framework_of


def cuda_available() -> bool:
    """Whether this process can reach a CUDA device, without importing torch just to find out."""
    try:
        import onnxruntime  # imported when asked (once, at a worker's start), as everywhere in this package

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return True
    except ImportError:  # pragma: no cover - onnxruntime is a dependency of every worker
        pass
    return torch_cuda_available()


def torch_cuda_available() -> bool:
    try:
        import torch  # only when onnxruntime sees no CUDA: a process that needs no torch never pays for it
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def load_torchscript_backend(
    path: str, signature: Signature, *, use_cuda: bool | None = None, policy: SandboxPolicy | None = None
) -> Backend:
    # the model host's client (ctypes, subprocess: ~30 ms) stays off the cold start of functions that only
    # ever load ONNX
    from maas.backends.torchscript import load_torchscript

    return load_torchscript(path, signature, use_cuda=use_cuda, policy=policy)


def load_backend(
    path: str,
    framework: Framework,
    signature: Signature | None,
    *,
    use_cuda: bool | None = None,
    threads: int | None = None,
    bundle: bool = False,
    policy: SandboxPolicy | None = None,
) -> Backend:
    """The loaded, ready backend for an artifact; raises ``BackendLoadError``."""
    if framework == Framework.TORCHSCRIPT:
        if signature is None:
            raise BackendLoadError("a TorchScript version needs its declared signature")
        return load_torchscript_backend(path, signature, use_cuda=use_cuda, policy=policy)
    return load_onnx(path, threads=threads, use_cuda=use_cuda, bundle=bundle)


def backend_loader(
    use_cuda: bool | None = None, policy: SandboxPolicy | None = None, threads: int | None = None
) -> Callable[[str, ModelVersion], Backend]:
    """What a ``ModelCache`` calls to load each version it is asked for."""

    def load(path: str, version: ModelVersion) -> Backend:
        return load_backend(
            path,
            framework_of(version.artifact_key),
            version.signature,
            use_cuda=use_cuda,
            threads=threads,
            bundle=version.bundle,
            policy=policy,
        )

    return load


def read_signature_file(path: Path) -> Signature:
    try:
        return Signature.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BackendLoadError(f"a TorchScript model needs its signature beside it: {path} is missing") from None
    except ValidationError as exc:
        raise BackendLoadError(f"{path} is not a signature ({{inputs, outputs}}): {exc.errors()[0]['msg']}") from exc


def load_model_dir(
    model_dir: str | Path, *, use_cuda: bool | None = None, policy: SandboxPolicy | None = None
) -> tuple[Backend, Framework]:
    """The model in ``model_dir``: ``model.onnx``, or ``model.pt`` (TorchScript) with ``signature.json``.

    A ``model.pt`` that is not TorchScript (a ``torch.save`` pickle) is refused with ``BackendLoadError``,
    never unpickled; TorchScript runs in a confined model host that can read only ``model_dir``.
    """
    directory = Path(model_dir)
    if (directory / "model.onnx").is_file():
        return load_onnx(str(directory / "model.onnx"), use_cuda=use_cuda), Framework.ONNX
    if (directory / "model.pt").is_file():
        signature = read_signature_file(directory / "signature.json")
        backend = load_torchscript_backend(str(directory / "model.pt"), signature, use_cuda=use_cuda, policy=policy)
        return backend, Framework.TORCHSCRIPT
    raise BackendLoadError(f"{directory} holds neither model.onnx nor model.pt")
