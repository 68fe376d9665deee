"""What every model backend is: one lifecycle, as in KServe's model server and the SageMaker toolkits.

A loader (``maas.backends.loader.load_backend``) returns a backend that is loaded and ready; ``run`` takes and
returns numpy arrays keyed by the signature's names, batch axis first; ``close`` releases what it holds (a model
host process). ``maas.inference.pipeline`` puts a request through it: preprocess, predict (``run``), postprocess.

    backend = load_backend("model.onnx", Framework.ONNX, signature=None)
    outputs = backend.run({"x": np.ones((4, 16), np.float32)})
    backend.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from maas.domain import Signature
from maas.errors import ModelLoadError

Tensors = dict[str, np.ndarray]


class BackendLoadError(ModelLoadError):
    """The artifact could not be loaded by its framework (not TorchScript, corrupt, unsupported ops)."""


class BackendRunError(RuntimeError):
    """The model failed on these inputs (or its host stopped while running them); the message is redacted."""


@dataclass(frozen=True)
class SandboxPolicy:
    """How tenant code (TorchScript) runs: always in a model host of its own; ``require_confinement`` refuses to
    run it on a host whose kernel cannot confine it (no Landlock or no seccomp)."""

    require_confinement: bool = True
    memory_bytes: int | None = 4 * 1024**3
    run_timeout: float = 120.0
    scratch_root: str | None = None


class Backend(Protocol):
    device: str
    signature: Signature

    def run(self, inputs: Tensors) -> Tensors:
        """Every output of the signature for these inputs."""
        ...

    def close(self) -> None: ...
