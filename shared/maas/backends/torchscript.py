"""TorchScript in a confined model host (``maas.sandbox``): loading TorchScript runs its author's code.

torch is never imported here: the model host imports it in its own process. ``SandboxPolicy`` (in
``maas.backends.base``) says how strictly the host is confined.
"""

from __future__ import annotations

import os
from typing import Any

from maas.backends.base import BackendLoadError, BackendRunError, SandboxPolicy, Tensors
from maas.domain import Signature
from maas.errors import redact
from maas.sandbox.client import HostConfig, ModelHost, ModelHostError


class TorchScriptBackend:
    """A TorchScript module in its own confined process (``maas.sandbox``): tensors cross a unix socket.

    Positional inputs in the signature's order; the module may return a tensor, a tuple or a dict of them.
    """

    def __init__(self, host: Any, signature: Signature, device: str) -> None:
        self.host = host
        self.signature = signature
        self.device = device

    def run(self, inputs: Tensors) -> Tensors:
        try:
            return dict(self.host.run(inputs))
        except ModelHostError as exc:
            raise BackendRunError(exc.message) from exc

    @property
    def memory_bytes(self) -> int:
        return int(self.host.memory_bytes)

    def close(self) -> None:
        self.host.close()


def load_torchscript(
    path: str, signature: Signature, *, use_cuda: bool | None = None, policy: SandboxPolicy | None = None
) -> TorchScriptBackend:
    """``torch.jit.load`` in a model host: a ``torch.save`` file (a pickle) is refused, never unpickled.

    Loading TorchScript runs the author's code (PyTorch's security policy says so), so it happens only inside
    the host, after it confined itself to ``path``'s directory (read-only) and a scratch directory.
    """
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
