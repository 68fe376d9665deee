"""A model host: one tenant artifact, loaded and run in a confined process of its own.

Started by ``maas.sandbox.client.ModelHost`` as ``python -P -s -m maas.sandbox.host FD`` with an empty
environment, its scratch directory as working directory, and one end of a unix socket pair as ``FD``. Then:

1. it leaves the network (a namespace of its own, when the kernel allows), before any thread starts;
2. reads its configuration frame (framework, the artifact's directory and file, names, limits);
3. imports its runtime (onnxruntime or torch; CUDA is initialised here, while device files can still open);
4. confines itself (``maas.sandbox.confine``): reads below the artifact's directory and the runtime's own code,
   writes below the scratch directory, no network, no other process, a memory limit;
5. only then opens the artifact (loading TorchScript runs the author's code) and answers ``loaded``;
6. serves ``run`` frames (tensors in, tensors out) until the socket closes.

Every answer carries this process's peak resident memory, so that the worker (and validation) can say what the
model costs. Errors go back as text; the worker decides what a tenant may see of them.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
from typing import Any

from maas.backends.smoke import smoke_feeds
from maas.datatypes import from_onnxruntime

KIB = 1024


class _PeakMemory:
    """This process's peak resident memory (``VmHWM``), read through a descriptor opened before confinement.

    Not ``getrusage``: Linux carries ``ru_maxrss`` across ``execve``, so a host started by a large worker would
    report the worker's peak, not its own.
    """

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None

    def __call__(self) -> int:
        if self._fd is not None:
            for line in os.pread(self._fd, 8192, 0).decode("ascii", "replace").splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * KIB
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * KIB


_peak_rss = _PeakMemory()


def _package_dir(module: Any) -> str:
    return os.path.dirname(os.path.abspath(str(module.__file__)))


def _runtime_dirs(*modules: Any) -> list[str]:
    """What lazy imports may still read: the standard library, and the packages this host imported."""
    import numpy

    dirs = {_package_dir(os), os.path.join(_package_dir(os), "lib-dynload")}
    for module in (numpy, *modules):
        package = _package_dir(module)
        dirs.add(os.path.dirname(package))  # site-packages: the package's own shared libraries sit beside it
    dirs.add(_package_dir(sys.modules["maas"]))
    return sorted(dirs)


class _Onnx:
    def __init__(self, config: dict[str, Any]) -> None:
        import onnxruntime

        self._ort = onnxruntime
        self.modules = [onnxruntime]
        self.session: Any = None
        self.threads = int(config.get("threads") or 1)
        self.outputs: list[str] = []

    def device_rules(self) -> dict[str, int]:
        return {}

    def load(self, path: str) -> dict[str, Any]:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = self._ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

        def specs(args: list[Any]) -> list[dict[str, Any]]:
            return [
                {"name": a.name, "type": a.type, "shape": [d if isinstance(d, int) else -1 for d in a.shape or []]}
                for a in args
            ]

        return {"inputs": specs(self.session.get_inputs()), "outputs": specs(self.session.get_outputs())}

    def smoke_specs(self) -> list[tuple[str, str, list[int]]]:
        return [
            (a.name, from_onnxruntime(a.type), [d if isinstance(d, int) else -1 for d in a.shape or []])
            for a in self.session.get_inputs()
        ]

    def run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return dict(zip(self.outputs, self.session.run(self.outputs, inputs), strict=True))


class _TorchScript:
    def __init__(self, config: dict[str, Any]) -> None:
        import torch

        self._torch = torch
        self.modules = [torch]
        self.inputs: list[str] = list(config["inputs"])
        self.outputs: list[str] = list(config["outputs"])
        self.specs = [(str(n), str(d), [int(x) for x in shape]) for n, d, shape in config.get("input_specs", [])]
        torch.set_num_threads(int(config.get("threads") or 1))
        self.device = "cpu"
        if config.get("use_cuda") and torch.cuda.is_available():
            torch.cuda.init()  # type: ignore[no-untyped-call]
            torch.zeros(1, device="cuda")  # the context and its device files, before the file system closes
            memory = config.get("memory_bytes")
            if memory:
                total = torch.cuda.get_device_properties(0).total_memory
                torch.cuda.set_per_process_memory_fraction(min(1.0, memory / total))
            self.device = "cuda"
        self.module: Any = None

    def device_rules(self) -> dict[str, int]:
        from maas.sandbox.confine import FS_IOCTL_DEV, FS_READ_FILE, FS_WRITE_FILE

        if self.device != "cuda":
            return {}
        return {
            f"/dev/{name}": FS_READ_FILE | FS_WRITE_FILE | FS_IOCTL_DEV
            for name in os.listdir("/dev")
            if name.startswith("nvidia")
        }

    def load(self, path: str) -> dict[str, Any]:
        self.module = self._torch.jit.load(path, map_location=self.device)  # type: ignore[no-untyped-call]
        self.module.eval()
        return {"device": self.device}

    def smoke_specs(self) -> list[tuple[str, str, list[int]]]:
        return self.specs

    def run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        torch = self._torch
        args = [torch.from_numpy(np.ascontiguousarray(inputs[name])).to(self.device) for name in self.inputs]
        with torch.inference_mode():
            result = self.module(*args)
        if isinstance(result, dict):
            values = [result[name] for name in self.outputs]
        elif isinstance(result, (tuple, list)):
            values = list(result)
        else:
            values = [result]
        if len(values) != len(self.outputs):
            raise ValueError(f"the module returned {len(values)} outputs; the signature declares {len(self.outputs)}")
        if not all(isinstance(v, torch.Tensor) for v in values):
            raise ValueError("the module returned something that is not a tensor")
        return {name: value.detach().cpu().numpy() for name, value in zip(self.outputs, values, strict=True)}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "MemoryError: the model needs more memory than its limit"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("The following operation failed in the TorchScript interpreter"):
        return lines[-1][:500]  # the interpreter's own error comes last, after the TorchScript traceback
    return f"{type(exc).__name__}: {lines[0][:500] if lines else ''}"


_RESULT = {"op": "result"}


def serve(sock: socket.socket, network_namespace: bool) -> None:
    from maas.sandbox import frames
    from maas.sandbox.confine import FS_READ_FILE, FS_WRITE_FILE, READ, READ_EXECUTE, SCRATCH, confine

    header, _ = frames.recv(sock, max_body_bytes=0)
    config: dict[str, Any] = header["config"]
    max_body = int(config.get("max_frame_bytes", 1 << 30))
    runtime = _Onnx(config) if config["framework"] == "onnx" else _TorchScript(config)
    scratch = os.getcwd()
    rules = dict.fromkeys(_runtime_dirs(*runtime.modules), READ_EXECUTE)
    rules[config["artifact_dir"]] = READ
    rules[scratch] = SCRATCH
    rules["/dev/null"] = FS_READ_FILE | FS_WRITE_FILE
    rules.update(runtime.device_rules())
    memory = config.get("memory_bytes") if getattr(runtime, "device", "cpu") == "cpu" else None
    applied = confine(
        rules,
        memory_bytes=memory,
        file_bytes=int(config.get("scratch_bytes", 64 << 20)),
        network_namespace=network_namespace,
    )
    if config.get("require_confinement") and not applied.confined:
        frames.send(
            sock,
            {
                "op": "error",
                "error": f"this host cannot confine model code ({'; '.join(applied.notes)})",
                "kind": "unconfined",
            },
        )
        return
    # From here on the artifact's code may run: nothing it prints reaches the worker's log.
    devnull = os.open("/dev/null", os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    before = _peak_rss()
    try:
        loaded = runtime.load(os.path.join(config["artifact_dir"], config["entry"]))
    except BaseException as exc:
        frames.send(
            sock, {"op": "error", "error": _describe(exc), "kind": "load", "peak_rss": _peak_rss(), "base_rss": before}
        )
        return
    frames.send(
        sock,
        {"op": "loaded", "model": loaded, "confinement": applied.__dict__, "base_rss": before, "peak_rss": _peak_rss()},
    )
    while True:
        try:
            request, tensors = frames.recv(sock, max_body_bytes=max_body)
        except frames.FrameError:
            return
        try:
            if request.get("op") == "smoke":  # inputs made here, inside the memory limit; only shapes go back
                outputs = runtime.run(smoke_feeds(runtime.smoke_specs()))
                shapes = [{"name": n, "dtype": str(v.dtype), "shape": list(v.shape)} for n, v in outputs.items()]
                frames.send(sock, {"op": "result", "outputs": shapes, "peak_rss": _peak_rss()})
                continue
            outputs = runtime.run(tensors)
            frames.send(sock, _RESULT, outputs)  # no memory figure: reading it costs more than a small batch
        except BaseException as exc:
            frames.send(sock, {"op": "error", "error": _describe(exc), "kind": "run", "peak_rss": _peak_rss()})


def main() -> None:
    fd = int(sys.argv[1])
    from maas.sandbox.confine import isolate_network

    network_namespace = isolate_network()  # first: a user namespace needs a process with one thread
    sock = socket.socket(fileno=fd)
    try:
        serve(sock, network_namespace)
    except Exception as exc:  # a broken configuration or transport: say so, then stop
        from maas.sandbox import frames

        try:
            frames.send(sock, {"op": "error", "error": _describe(exc), "kind": "host"})
        except OSError:
            pass
    finally:
        sock.close()


if __name__ == "__main__":
    main()
