"""Tenant code in a model host: what a hostile TorchScript module (or any confined process) can reach.

Each attack is one an earlier probe carried out against the worker: reading the operator's key file and another
tenant's cached model with ``torch.from_file``, and writing into another tenant's cached model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maas.sandbox import frames
from maas.sandbox.client import HostConfig, ModelHost, ModelHostError
from maas.sandbox.confine import probe

from tests.hostile import script_forward

confinable = pytest.mark.skipif(not probe().can_confine, reason="this kernel offers no Landlock or no seccomp")
SECRET = b"MAAS_API_KEY=mk_admin_secret\n"


def host_for(path: Path, **options: object) -> ModelHost:
    config = HostConfig(
        framework="torchscript",
        artifact_dir=str(path.parent),
        entry=path.name,
        inputs=["x"],
        outputs=["y"],
        input_specs=[("x", "FP32", [-1, 4])],
        memory_bytes=options.pop("memory_bytes", 512 * 1024 * 1024),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    return ModelHost(config)


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A state directory with the operator's key, and a cache with another tenant's model beside ours."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "local.env").write_bytes(SECRET)
    victim = tmp_path / "cache" / "victim" / ("a" * 64)
    victim.mkdir(parents=True)
    (victim / "model.pt").write_bytes(b"\x00" * 64)
    return {"state": state, "victim": victim / "model.pt", "ours": tmp_path / "cache" / "attacker" / ("b" * 64)}


@confinable
def test_a_well_behaved_module_runs_in_its_host_and_its_outputs_come_back(tmp_path: Path) -> None:
    path = script_forward(tmp_path / "m" / "model.pt", "return x * 2.0\n")
    with host_for(path) as host:
        host.start()
        outputs = host.run({"x": np.arange(8, dtype=np.float32).reshape(2, 4)})
        assert host.confinement["landlock_abi"] >= 1
        assert host.confinement["seccomp"] is True
    np.testing.assert_array_equal(outputs["y"], np.arange(8, dtype=np.float32).reshape(2, 4) * 2)


@confinable
def test_from_file_of_the_operator_key_fails_and_no_bytes_come_back(layout: dict[str, Path]) -> None:
    secret = layout["state"] / "local.env"
    source = f'b = torch.from_file("{secret}", shared=False, size={len(SECRET)}, dtype=torch.uint8)\n'
    source += "return x + b[:4].to(torch.float32)\n"
    path = script_forward(layout["ours"] / "model.pt", source)
    with host_for(path) as host:
        host.start()
        with pytest.raises(ModelHostError) as refused:
            host.run({"x": np.zeros((1, 4), np.float32)})
    assert refused.value.kind == "run"
    assert "mk_admin" not in refused.value.message
    assert "Permission denied" in refused.value.message or "denied" in refused.value.message.lower()


@confinable
def test_from_file_of_another_tenants_cached_model_fails(layout: dict[str, Path]) -> None:
    source = f'b = torch.from_file("{layout["victim"]}", shared=False, size=64, dtype=torch.uint8)\n'
    source += "return x + b[:4].to(torch.float32)\n"
    with host_for(script_forward(layout["ours"] / "model.pt", source)) as host:
        host.start()
        with pytest.raises(ModelHostError):
            host.run({"x": np.zeros((1, 4), np.float32)})


@confinable
def test_a_module_reads_its_own_artifact_directory(tmp_path: Path) -> None:
    # the same call on a file of its own works: the refusals above are the sandbox's, not a broken module's
    path = tmp_path / "own" / "model.pt"
    source = f'b = torch.from_file("{path}", shared=False, size=4, dtype=torch.uint8)\n'
    source += "return x + b.to(torch.float32)\n"
    script_forward(path, source)
    with host_for(path) as host:
        host.start()
        outputs = host.run({"x": np.zeros((1, 4), np.float32)})
    assert outputs["y"].tolist() == [[float(c) for c in path.read_bytes()[:4]]]


@confinable
def test_a_module_that_writes_into_another_tenants_cached_model_changes_nothing(layout: dict[str, Path]) -> None:
    before = layout["victim"].read_bytes()
    source = f'b = torch.from_file("{layout["victim"]}", shared=True, size=64, dtype=torch.uint8)\n'
    source += "return x + b.fill_(7).to(torch.float32).sum() * 0.0\n"  # used, so that the write is not optimised out
    with host_for(script_forward(layout["ours"] / "model.pt", source)) as host:
        host.start()
        with pytest.raises(ModelHostError):
            host.run({"x": np.zeros((1, 4), np.float32)})
    assert layout["victim"].read_bytes() == before


def test_the_writing_module_does_write_when_nothing_confines_it(layout: dict[str, Path]) -> None:
    # the attack is real: run unconfined (plain torch in this process), the same module changes the file
    import torch

    source = f'b = torch.from_file("{layout["victim"]}", shared=True, size=64, dtype=torch.uint8)\n'
    source += "return x + b.fill_(7).to(torch.float32).sum() * 0.0\n"
    module = torch.jit.load(str(script_forward(layout["ours"] / "model.pt", source)))
    module(torch.zeros(1, 4))
    assert layout["victim"].read_bytes() == b"\x07" * 64


@confinable
def test_a_module_over_its_memory_limit_fails_and_the_next_call_gets_a_new_host(tmp_path: Path) -> None:
    source = "if x.sum() > 0.0:\n    return torch.ones(400 * 1024 * 1024 // 4).sum() + x\nreturn x\n"
    with host_for(script_forward(tmp_path / "m" / "model.pt", source), memory_bytes=128 * 1024 * 1024) as host:
        host.start()
        with pytest.raises(ModelHostError) as failed:
            host.run({"x": np.ones((1, 4), np.float32)})
        assert failed.value.kind in ("memory", "crashed")
        outputs = host.run({"x": np.zeros((1, 4), np.float32)})  # the same host (or a new one) still serves
    assert outputs["y"].shape == (1, 4)


@confinable
def test_a_module_that_fills_its_scratch_is_stopped(tmp_path: Path) -> None:
    # from_file(shared=True) creates the file it names: within the scratch (its working directory) it may,
    # up to the scratch's total; past it the host is stopped, so that the shared disk does not fill
    source = "total = torch.zeros(1)\n"
    source += "if x.sum() > 0.0:\n"
    source += "    for i in range(8):\n"
    source += '        t = torch.from_file("f" + str(i), shared=True, size=1024 * 1024, dtype=torch.uint8)\n'
    source += "        total = total + t.fill_(1).sum()\n"  # used, so that TorchScript keeps the writes
    source += "return x + total * 0.0\n"
    path = script_forward(tmp_path / "m" / "model.pt", source)
    config_host = host_for(path)
    config_host.config.scratch_bytes = 4 * 1024 * 1024
    with config_host as host:
        host.start()
        assert host.run({"x": np.zeros((1, 4), np.float32)})["y"].shape == (1, 4)
        with pytest.raises(ModelHostError) as stopped:
            host.run({"x": np.ones((1, 4), np.float32)})
        assert stopped.value.kind == "scratch"
        assert not host.alive


def test_a_host_that_cannot_confine_refuses_before_it_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from maas.sandbox import client, confine

    monkeypatch.setattr(client, "probe", lambda: confine.HostSupport(landlock_abi=0, seccomp=True))
    with host_for(tmp_path / "model.pt") as host, pytest.raises(ModelHostError) as refused:
        host.start()
    assert refused.value.kind == "unconfined"
    assert "no Landlock" in refused.value.message


CONFINED_PROBE = r"""
import json, os, socket, subprocess, sys
from maas.sandbox.confine import READ, READ_EXECUTE, READ_WRITE, confine, isolate_network
ns = isolate_network()
ro, rw, secret = sys.argv[1], sys.argv[2], sys.argv[3]
rules = {d: READ_EXECUTE for d in sys.path if d and os.path.isdir(d)}
rules.update({ro: READ, rw: READ_WRITE})
applied = confine(rules, memory_bytes=None)
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return type(exc).__name__
results = {
    "read_own": attempt(lambda: open(os.path.join(ro, "own.txt")).read()),
    "read_secret": attempt(lambda: open(secret).read()),
    "read_environ_of_parent": attempt(lambda: open(f"/proc/{os.getppid()}/environ").read()),
    "write_read_only": attempt(lambda: open(os.path.join(ro, "new.txt"), "w").write("x")),
    "write_scratch": attempt(lambda: open(os.path.join(rw, "new.txt"), "w").write("x")),
    "tcp_socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
    "udp_socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
    "signal_parent": attempt(lambda: os.kill(os.getppid(), 0)),
    "exec": attempt(lambda: subprocess.run(["/bin/true"], check=True)),
    "fork": attempt(lambda: os.fork() or os._exit(0)),
    "thread": attempt(lambda: __import__("threading").Thread(target=lambda: None).start()),
    "signal_self": attempt(lambda: os.kill(os.getpid(), 0)),
}
print(json.dumps({"results": results, "network_namespace": ns, "landlock": applied.landlock_abi}))
"""


@confinable
def test_a_confined_process_reads_and_writes_only_what_it_was_given(tmp_path: Path) -> None:
    read_only, scratch = tmp_path / "artifact", tmp_path / "scratch"
    read_only.mkdir()
    scratch.mkdir()
    (read_only / "own.txt").write_text("mine")
    secret = tmp_path / "local.env"
    secret.write_bytes(SECRET)
    done = subprocess.run(
        [sys.executable, "-c", CONFINED_PROBE, str(read_only), str(scratch), str(secret)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout)
    results = report["results"]
    assert results["read_own"] == "allowed"
    assert results["write_scratch"] == "allowed"
    assert results["signal_self"] == "allowed"
    assert results["thread"] == "allowed"
    for denied in (
        "read_secret",
        "read_environ_of_parent",
        "write_read_only",
        "tcp_socket",
        "udp_socket",
        "signal_parent",
        "exec",
        "fork",
    ):
        assert results[denied] == "PermissionError", (denied, results)
    assert (scratch / "new.txt").read_text() == "x"


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text("abcxyz_", min_size=1, max_size=8),
        hnp.arrays(
            st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.uint16, np.bool_, np.float16]),
            hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
        ),
        max_size=4,
    )
)
def test_tensors_cross_a_frame_unchanged(tensors: dict[str, np.ndarray]) -> None:
    left, right = socket.socketpair()
    with left, right:
        frames.send(left, {"op": "run"}, tensors)
        header, received = frames.recv(right, max_body_bytes=1 << 20)
    assert header == {"op": "run"}
    assert set(received) == set(tensors)
    for name, array in tensors.items():
        assert received[name].dtype == array.dtype
        np.testing.assert_array_equal(received[name], array)


def test_string_tensors_cross_in_the_header_and_objects_do_not() -> None:
    left, right = socket.socketpair()
    with left, right:
        frames.send(left, {"op": "run"}, {"s": np.array([["a", "bc"]], dtype=object)})
        _, received = frames.recv(right, max_body_bytes=0)
        assert received["s"].tolist() == [["a", "bc"]]
        with pytest.raises(frames.FrameError):
            frames.send(left, {}, {"c": np.array([1 + 2j])})


@pytest.mark.parametrize("shape", [[2**32, 2**32], [0, 2**63], [-1, 4], [1] * 40])
def test_a_frame_whose_shapes_wrap_around_or_cannot_exist_is_refused(shape: list[int]) -> None:
    import json
    import struct

    header = json.dumps({"op": "result", "tensors": [{"name": "y", "dtype": "<f4", "shape": shape}]}).encode()
    left, right = socket.socketpair()
    with left, right:
        left.sendall(struct.pack("<II", len(header), 0) + header)
        with pytest.raises(frames.FrameError):
            frames.recv(right, max_body_bytes=1 << 20)


def test_a_frame_over_the_body_limit_is_refused() -> None:
    left, right = socket.socketpair()
    with left, right:
        frames.send(left, {}, {"x": np.zeros(1000, np.float32)})
        with pytest.raises(frames.FrameError, match="over the limit"):
            frames.recv(right, max_body_bytes=100)
