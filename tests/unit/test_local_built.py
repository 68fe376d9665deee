"""`maas local up --from-build`: each function's process sees its built code, its layers and the runtime's boto3
only, on the Lambda runtime's Python."""

from __future__ import annotations

import json
import subprocess
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


def test_a_function_runs_the_host_by_path_without_site_packages_or_bytecode_writes(
    tmp_path: Path, provided: Path
) -> None:
    built = BuiltFunctions.prepare({f"python{VERSION}"}, provided, python=sys.executable)
    command = built.command(spec(tmp_path), fd=7)
    assert command == [
        sys.executable,
        "-S",
        "-B",
        "-P",
        str(HOST),
        "7",
        str(tmp_path / "InferenceFunction"),
        "app.lambda_handler",
        "30",
    ]


def test_its_path_is_code_then_layers_in_order_then_the_runtime(tmp_path: Path, provided: Path) -> None:
    built = BuiltFunctions.prepare({f"python{VERSION}"}, provided, python=sys.executable)
    base = {"PATH": "/usr/bin", "VIRTUAL_ENV": "/dev/venv", "PYTHONPATH": "/dev/src", "AWS_REGION": "us-east-1"}
    env = built.environment(spec(tmp_path), base)
    assert env["PYTHONPATH"].split(":") == [
        str(tmp_path / "InferenceFunction"),
        str(tmp_path / "CoreLayer" / "python"),
        str(tmp_path / "OnnxRuntimeLayer" / "python"),
        str(provided.resolve()),
    ]
    assert "VIRTUAL_ENV" not in env
    assert env["AWS_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path / "InferenceFunction")


def test_the_process_sees_nothing_of_this_environment(tmp_path: Path, provided: Path) -> None:
    # Given a built function folder whose handler reports what it can import
    code = tmp_path / "InferenceFunction"
    code.mkdir()
    (code / "app.py").write_text(
        "import importlib.util, json, sys\n"
        "print(json.dumps({'pydantic': importlib.util.find_spec('pydantic') is not None, 'path': sys.path}))\n"
    )
    built = BuiltFunctions.prepare({f"python{VERSION}"}, provided, python=sys.executable)
    env = built.environment(spec(tmp_path), {"VIRTUAL_ENV": sys.prefix})
    # When it runs on the interpreter and flags the host uses
    done = subprocess.run(
        [*built.command(spec(tmp_path), 0)[:4], "-c", "import app"],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(done.stdout)
    # Then this virtual environment's packages are out of reach, and its path starts with the code folder
    assert seen["pydantic"] is False
    assert seen["path"][0] == str(code)
    assert not any("site-packages" in p for p in seen["path"])


def test_a_python_of_another_version_or_no_runtime_packages_is_refused(tmp_path: Path, provided: Path) -> None:
    with pytest.raises(BuiltRuntimeError, match=rf"is Python {VERSION}; the functions run python2\.7"):
        BuiltFunctions.prepare({"python2.7"}, provided, python=sys.executable)
    with pytest.raises(BuiltRuntimeError, match="not a Python runtime"):
        BuiltFunctions.prepare({"nodejs22.x"}, provided, python=sys.executable)
    with pytest.raises(BuiltRuntimeError, match="run `make build`"):
        BuiltFunctions.prepare({f"python{VERSION}"}, tmp_path / "nothing", python=sys.executable)
