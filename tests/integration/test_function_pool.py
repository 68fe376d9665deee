"""The local runtime's function pools: own processes, scale-out under overlap, crashes, timeouts."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from maas.local.functions import FunctionPool, InvocationError
from maas.local.provision import FunctionSpec

HANDLER = """
import os, time
STARTED = os.getpid()

def lambda_handler(event, context):
    if event.get("crash"):
        os._exit(3)
    if event.get("raise"):
        raise ValueError("asked to fail")
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "env": os.environ.get("GREETING"), "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(), "function": context.function_name}
"""


@pytest.fixture
def pool(tmp_path: Path):
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    spec = FunctionSpec("EchoFunction", "maas-Echo", "app.lambda_handler", code, {"GREETING": "hello"}, timeout=2)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path)}
    pool = FunctionPool(spec, env, tmp_path, max_instances=3)
    yield pool
    pool.close()


def test_runs_in_its_own_process_with_its_environment(pool: FunctionPool) -> None:
    result = pool.invoke({})
    assert result["pid"] != os.getpid()
    assert result["env"] == "hello"
    assert result["function"] == "maas-Echo"
    assert 0 < result["remaining_ms"] <= 2000
    assert pool.invoke({})["pid"] == result["pid"], "a warm instance serves the next request"


def test_scales_out_when_requests_overlap_up_to_the_limit(pool: FunctionPool) -> None:
    pool.warm()
    with ThreadPoolExecutor(5) as executor:
        pids = {r["pid"] for r in executor.map(lambda _: pool.invoke({"sleep": 0.8}), range(5))}
    assert 2 <= len(pids) <= 3
    assert len(pool.pids) <= 3


def test_an_exception_is_reported_and_the_instance_survives(pool: FunctionPool) -> None:
    first = pool.invoke({})["pid"]
    with pytest.raises(InvocationError) as raised:
        pool.invoke({"raise": True})
    assert raised.value.kind == "ValueError"
    assert "asked to fail" in raised.value.message
    assert pool.invoke({})["pid"] == first


def test_a_crash_is_reported_and_a_new_instance_serves(pool: FunctionPool) -> None:
    first = pool.invoke({})["pid"]
    with pytest.raises(InvocationError) as raised:
        pool.invoke({"crash": True})
    assert raised.value.kind == "Crash"
    assert pool.invoke({})["pid"] != first


def test_a_timeout_kills_the_instance(pool: FunctionPool) -> None:
    with pytest.raises(InvocationError) as raised:
        pool.invoke({"sleep": 10})
    assert raised.value.kind == "Timeout"
    assert "timed out after 2 seconds" in raised.value.message
    assert pool.invoke({})["env"] == "hello"


BUILT_HANDLER = """
import importlib.util, os, subprocess, sys
import layered  # from the layer

def lambda_handler(event, context):
    child = subprocess.run([sys.executable, "-S", "-c", "import layered"], capture_output=True, env=dict(os.environ))
    return {"path": sys.path[:4], "pydantic": importlib.util.find_spec("pydantic") is not None,
            "layered": layered.NAME, "cwd": os.getcwd(), "child_sees_layer": child.returncode == 0}
"""


def test_a_built_function_sees_its_code_layers_and_runtime_only_as_on_lambda(tmp_path: Path) -> None:
    from maas.local.built import BuiltFunctions

    # Given a built function folder, one layer with a module, and the runtime's folder
    code, layer, runtime = tmp_path / "Fn", tmp_path / "Layer", tmp_path / "runtime"
    for folder in (code, layer / "python", runtime / "boto3"):
        folder.mkdir(parents=True)
    (code / "app.py").write_text(BUILT_HANDLER)
    (layer / "python" / "layered.py").write_text("NAME = 'from the layer'\n")
    spec = FunctionSpec("Fn", "maas-Fn", "app.lambda_handler", code, {}, timeout=10, runtime="pythonX", layers=(layer,))
    built = BuiltFunctions({"pythonX": sys.executable}, runtime)
    pool = FunctionPool(spec, {"PATH": os.environ.get("PATH", ""), "VIRTUAL_ENV": sys.prefix}, tmp_path, built=built)
    try:
        # When it is invoked
        result = pool.invoke({})
    finally:
        pool.close()
    # Then its path is its code, its layer, then the runtime's folder; this environment's packages are out of
    # reach; it runs in its code folder; and a process it starts does not see the layer (Lambda's bootstrap puts
    # the layers on sys.path, not in PYTHONPATH)
    assert result["path"][:3] == [str(code), str(layer / "python"), str(runtime)]
    assert result["pydantic"] is False
    assert result["layered"] == "from the layer"
    assert result["cwd"] == str(code)
    assert result["child_sees_layer"] is False
