"""`maas local up --from-build`: each function's process sees its built code, its layers and the runtime's boto3
only, on the Lambda runtime's Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from maas.local.built import HOST, BuiltFunctions, BuiltRuntimeError
from maas.local.provision import FunctionSpec

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def provided(tmp_path: Path) -> Path:
    (tmp_path / "runtime" / "boto3").mkdir(parents=True)
    return tmp_path / "runtime"


def spec(tmp_path: Path, runtime: str = f"python{VERSION}") -> FunctionSpec:
    return FunctionSpec(
        logical_id="InferenceFunction",
        name="maas-InferenceFunction",
        handler="app.lambda_handler",
        code_dir=tmp_path / "InferenceFunction",
        environment={},
        timeout=30,
        runtime=runtime,
        layers=(tmp_path / "CoreLayer", tmp_path / "OnnxRuntimeLayer"),
    )


def test_a_function_runs_the_host_by_path_with_its_code_and_layers_for_sys_path(tmp_path: Path, provided: Path) -> None:
    built = BuiltFunctions.prepare({f"python{VERSION}"}, provided, python=sys.executable)
    command = built.command(spec(tmp_path), fd=7)
    # -S: none of the interpreter's site-packages; -B: nothing written into the build; -P: not the host's folder
    assert command[:5] == [sys.executable, "-S", "-B", "-P", str(HOST)]
    assert command[5:] == [
        "7",
        str(tmp_path / "InferenceFunction"),
        "app.lambda_handler",
        "30",
        str(tmp_path / "CoreLayer" / "python"),
        str(tmp_path / "OnnxRuntimeLayer" / "python"),
    ]


def test_its_environment_holds_the_runtimes_folder_only_and_nothing_of_the_virtual_environment(
    tmp_path: Path, provided: Path
) -> None:
    built = BuiltFunctions.prepare({f"python{VERSION}"}, provided, python=sys.executable)
    base = {"PATH": "/usr/bin", "VIRTUAL_ENV": "/dev/venv", "PYTHONPATH": "/dev/src", "AWS_REGION": "us-east-1"}
    env = built.environment(spec(tmp_path), base)
    assert env["PYTHONPATH"] == str(provided.resolve())  # Lambda: /var/runtime, where boto3 is
    assert "VIRTUAL_ENV" not in env
    assert env["AWS_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path / "InferenceFunction")


def test_a_python_of_another_version_or_no_runtime_packages_is_refused(tmp_path: Path, provided: Path) -> None:
    with pytest.raises(BuiltRuntimeError, match=rf"is Python {VERSION}; the functions run python2\.7"):
        BuiltFunctions.prepare({"python2.7"}, provided, python=sys.executable)
    with pytest.raises(BuiltRuntimeError, match="not a Python runtime"):
        BuiltFunctions.prepare({"nodejs22.x"}, provided, python=sys.executable)
    with pytest.raises(BuiltRuntimeError, match="run `make build`"):
        BuiltFunctions.prepare({f"python{VERSION}"}, tmp_path / "nothing", python=sys.executable)
