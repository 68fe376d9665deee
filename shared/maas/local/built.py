"""Running functions as Lambda runs them: from their ``sam build`` folders and layers, on the runtime's Python.

``maas local up --from-build`` uses this, so that what is deployed is what is tested. Nothing of the
development environment reaches a function: its interpreter is the runtime's version (``python3.12``, found by
``maas.deployment.interpreter`` or given with ``--python``), started with ``-S`` so that none of that interpreter's own
site-packages are seen. As on Lambda, ``PYTHONPATH`` is the runtime's own folder (there ``/var/runtime``, with
boto3; here the pinned boto3 that ``make build`` installs), and the host puts the code folder and each layer's
``python/`` folder, in the function's order, first on ``sys.path`` (there ``/var/task`` and ``/opt/python``), so
that a process the function starts sees no layer, as on AWS. A module missing from a layer fails here as it would
on AWS.

The function host (``maas/local/host.py``) stands in for Lambda's runtime client, which is no part of the
function's code either: it is run by its path, with ``-P`` so that its own folder stays off ``sys.path``; it needs
only the standard library. ``-B``: nothing is written into the build folder, which is what gets deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from maas.deployment.interpreter import InterpreterNotFoundError, find_python, version_of
from maas.local import host
from maas.local.provision import FunctionSpec

HOST = Path(host.__file__).resolve()
_DEVELOPMENT_ONLY = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")


class BuiltRuntimeError(RuntimeError):
    """The built functions cannot run here; the message says what to install or build."""


@dataclass(frozen=True)
class BuiltFunctions:
    pythons: dict[str, str]  # Lambda runtime ("python3.12") -> the interpreter that stands in for it
    provided: Path  # the packages the Lambda runtime provides (boto3 and what it needs)

    @classmethod
    def prepare(cls, runtimes: set[str], provided: Path, python: str | None = None) -> BuiltFunctions:
        if not (provided / "boto3").is_dir():
            raise BuiltRuntimeError(f"no boto3 under {provided} (what the Lambda runtime provides): run `make build`")
        pythons = {}
        for runtime in sorted(runtimes):
            if not runtime.startswith("python"):
                raise BuiltRuntimeError(f"runtime {runtime!r} is not a Python runtime")
            version = runtime.removeprefix("python")
            if python is not None:
                found = version_of(python)
                if found != version:
                    raise BuiltRuntimeError(f"--python {python} is Python {found or '?'}; the functions run {runtime}")
                pythons[runtime] = python
                continue
            try:
                pythons[runtime] = find_python(version)
            except InterpreterNotFoundError as error:
                raise BuiltRuntimeError(str(error)) from error
        return cls(pythons, provided.resolve())

    def command(self, spec: FunctionSpec, fd: int) -> list[str]:
        python = self.pythons[spec.runtime]
        command = [python, "-S", "-B", "-P", str(HOST), str(fd), str(spec.code_dir), spec.handler, str(spec.timeout)]
        return command + [str(layer / "python") for layer in spec.layers]

    def environment(self, spec: FunctionSpec, base: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if k not in _DEVELOPMENT_ONLY}
        env["PYTHONPATH"] = str(self.provided)
        env["LAMBDA_TASK_ROOT"] = str(spec.code_dir)
        env["LAMBDA_RUNTIME_DIR"] = str(self.provided)
        return env
