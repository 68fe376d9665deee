"""The local runtime as a user drives it: up, status, a second up, down, Ctrl-C, another emulator."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import requests

from maas.local.state import pid_alive, read_env, read_state

from e2e_helpers import ROOT, Platform, free_port, maas_cli, still_running


def _without_credentials() -> dict[str, str]:
    return {"MAAS_URL": "", "MAAS_API_KEY": "", "MAAS_STATE_DIR": ""}


def test_every_command_finds_the_runtime_through_maas_state_dir_or_the_global_option(platform: Platform) -> None:
    # Given a runtime whose state folder is not ./.maas, and no MAAS_URL or MAAS_API_KEY
    by_variable = {**_without_credentials(), "MAAS_STATE_DIR": str(platform.state_dir)}

    # When status and an API command are told only where the state folder is
    status = maas_cli("local", "status", env=by_variable)
    listed = maas_cli("keys", "list", "admin", env=by_variable)
    status_by_option = maas_cli("--state-dir", str(platform.state_dir), "local", "status", env=_without_credentials())

    # Then they find the runtime, and its credentials in local.env
    assert status.returncode == 0, status.stdout + status.stderr
    assert platform.url in status.stdout
    assert listed.returncode == 0, listed.stderr
    assert "admin" in listed.stdout  # the operator's keys, read with the key local.env holds
    assert status_by_option.returncode == 0
    assert platform.url in status_by_option.stdout


def test_status_of_a_state_folder_without_a_runtime_names_the_folder(tmp_path: Path) -> None:
    status = maas_cli("local", "status", env={**_without_credentials(), "MAAS_STATE_DIR": str(tmp_path)})

    assert status.returncode == 3
    assert str(tmp_path) in status.stdout


def test_an_unreachable_api_is_one_line_and_exit_code_2() -> None:
    refused = maas_cli("--url", f"http://127.0.0.1:{free_port()}", "--api-key", "k", "keys", "list", "admin")

    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: cannot reach the API: [Errno 111] Connection refused"
    assert "Traceback" not in refused.stderr


def test_a_closed_pipe_ends_the_command_quietly(platform: Platform) -> None:
    # Given a reader that stops at once (as `| head -0` does)
    command = f"{sys.executable} -m maas.cli.main local status --state-dir {platform.state_dir} | true"

    piped = subprocess.run(["sh", "-c", command], check=False, capture_output=True, text=True, cwd=ROOT)

    # Then the command stops without a traceback
    assert "Traceback" not in piped.stderr
    assert "BrokenPipeError" not in piped.stderr


def test_output_json_for_scripts_and_table_for_people(platform: Platform) -> None:
    env = {**_without_credentials(), "MAAS_STATE_DIR": str(platform.state_dir)}

    status = maas_cli("local", "status", "-o", "json", env=env)
    keys_json = maas_cli("--output", "json", "keys", "list", "admin", env=env)
    keys_table = maas_cli("keys", "list", "admin", "--output", "table", env=env)
    created = maas_cli("-o", "table", "tenants", "create", "output-check", env=env)

    assert json.loads(status.stdout)["status"] == "ready"
    listed = json.loads(keys_json.stdout)
    assert listed
    assert all(key["tenant_id"] == "admin" for key in listed)
    assert keys_table.stdout.splitlines()[0].split()[:2] == ["KEY_ID", "SCOPES"]
    assert created.returncode == 0, created.stderr
    fields = dict(line.split(None, 1) for line in created.stdout.splitlines())
    assert fields["TENANT_ID"] == "output-check"


def test_version(platform: Platform) -> None:
    shown = maas_cli("--version")

    assert shown.returncode == 0
    assert shown.stdout.startswith("maas ")


def test_status_lists_processes_and_urls(platform: Platform) -> None:
    status = maas_cli("local", "status", "--state-dir", str(platform.state_dir))

    assert status.returncode == 0
    assert platform.url in status.stdout
    assert platform.env["AWS_ENDPOINT_URL"] in status.stdout
    state = read_state(platform.state_dir)
    assert state is not None
    assert state["status"] == "ready"
    assert set(state["functions"]) == {
        "AuthorizerFunction",
        "ControlPlaneFunction",
        "InferenceFunction",
        "OptimizeFunction",
        "ShadowFunction",
        "ValidateModelFunction",
        "JobsFunction",
        "IngressFunction",
        "CpuJobsFunction",
        "BatchSplitFunction",
        "BatchWorkerFunction",
    }
    (worker,) = state["workers"]  # one GPU worker process by default
    assert pid_alive(worker["pid"])
    assert str(worker["pid"]) in status.stdout
    pids = [p for ps in state["functions"].values() for p in ps]
    assert len(set(pids)) == len(pids) >= 3, "each function runs in its own process"
    assert state["pid"] not in pids
    for pid in pids:
        assert str(pid) in status.stdout
        assert pid_alive(pid)
    print(f"maas local up was ready in {state['ready_seconds']} s")


def test_local_env_has_what_clients_need(platform: Platform) -> None:
    env = read_env(platform.state_dir / "local.env")
    assert env["MAAS_URL"].startswith("http://127.0.0.1:")
    assert env["MAAS_API_KEY"].startswith("mk_admin_")
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert oct((platform.state_dir / "local.env").stat().st_mode & 0o777) == "0o600"


def test_a_second_up_says_it_is_running(platform: Platform) -> None:
    again = maas_cli(
        "local",
        "up",
        "--detach",
        "--state-dir",
        str(platform.state_dir),
        "--port",
        str(free_port()),
        "--aws-port",
        str(free_port()),
    )
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert "maas local down" in again.stderr
    assert requests.get(platform.url + "/v1/models", timeout=10).status_code == 401  # still serving


def test_status_when_nothing_runs(tmp_path: Path) -> None:
    status = maas_cli("local", "status", "--state-dir", str(tmp_path))
    assert status.returncode == 3
    assert "not running" in status.stdout


def test_busy_port_is_reported_clearly(tmp_path: Path, platform: Platform) -> None:
    busy = platform.url.rsplit(":", 1)[1]
    result = maas_cli("local", "up", "--state-dir", str(tmp_path), "--port", busy, "--aws-port", str(free_port()))
    assert result.returncode == 1
    assert f"port {busy}" in result.stderr
    assert "in use" in result.stderr


def test_foreground_up_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maas.cli.main",
            "local",
            "up",
            "--state-dir",
            str(tmp_path),
            "--port",
            str(free_port()),
            "--aws-port",
            str(free_port()),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline:
            state = read_state(tmp_path)
            if state and state.get("status") == "ready":
                break
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            time.sleep(0.1)
        assert state
        assert state["status"] == "ready"
        children = [state["emulator"]["pid"], *(p for ps in state["functions"].values() for p in ps)]
        env = read_env(tmp_path / "local.env")
        assert requests.get(env["MAAS_URL"] + "/v1/models", timeout=10).status_code == 401

        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read() if process.stdout else ""
    assert "Press Ctrl-C to stop everything" in output
    assert not still_running(children)
    assert read_state(tmp_path) is None


def test_aws_endpoint_provisions_on_another_emulator(tmp_path: Path) -> None:
    """--aws-endpoint: an emulator the user already runs (here a second moto server) is used, not started."""
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        up = maas_cli(
            "local",
            "up",
            "--detach",
            "--state-dir",
            str(tmp_path),
            "--port",
            str(free_port()),
            "--aws-endpoint",
            endpoint,
        )
        assert up.returncode == 0, up.stderr
        assert "(external)" in up.stdout
        env = read_env(tmp_path / "local.env")
        assert env["AWS_ENDPOINT_URL"] == endpoint
        created = requests.post(
            env["MAAS_URL"] + "/v1/tenants",
            json={"tenant_id": "ext", "name": "x"},
            headers={"Authorization": f"Bearer {env['MAAS_API_KEY']}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text

        assert maas_cli("local", "down", "--state-dir", str(tmp_path)).returncode == 0
        assert emulator.poll() is None, "down must not stop an emulator it did not start"
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert env["MAAS_RESOURCE_RegistryTable"] in ddb.list_tables()["TableNames"]
    finally:
        maas_cli("local", "down", "--state-dir", str(tmp_path))
        emulator.terminate()
        emulator.wait(10)


def test_down_when_nothing_runs(tmp_path: Path) -> None:
    result = maas_cli("local", "down", "--state-dir", str(tmp_path))
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_cli_drives_the_api(platform: Platform, make_tenant, models_dir: Path) -> None:
    tenant = make_tenant("admin")
    env = {"MAAS_URL": platform.url, "MAAS_API_KEY": tenant["admin"]}

    registered = maas_cli("models", "register", "cli-model", str(models_dir / "tiny.onnx"), "--wait", env=env)
    assert registered.returncode == 0, registered.stderr
    assert "cli-model version 1: READY" in registered.stdout
    assert "input   input" in registered.stdout
    assert "[-1, 16]" in registered.stdout

    listed = maas_cli("models", "list", env=env)
    assert "cli-model" in listed.stdout
    shown = maas_cli("models", "show", "cli-model", "--version", "1", env=env)
    assert '"status": "READY"' in shown.stdout
    created = maas_cli("keys", "create", tenant.tenant_id, "--scopes", "read", env=env)
    assert created.returncode == 0
    assert f"mk_{tenant.tenant_id}_" in created.stdout

    bad = maas_cli("models", "show", "no-such", env=env)
    assert bad.returncode == 1
    assert "NOT_FOUND" in bad.stderr
    denied = maas_cli("tenants", "create", "nope", env=env)
    assert denied.returncode == 1
    assert "FORBIDDEN" in denied.stderr


def test_cli_reads_local_env(platform: Platform) -> None:
    """Without MAAS_URL / MAAS_API_KEY the CLI finds .maas/local.env above the working folder."""
    folder = platform.state_dir.parent / "project"
    (folder / ".maas").mkdir(parents=True, exist_ok=True)
    (folder / ".maas" / "local.env").write_text((platform.state_dir / "local.env").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("MAAS_URL", "MAAS_API_KEY")}
    result = subprocess.run(
        [sys.executable, "-m", "maas.cli.main", "models", "list"],
        cwd=folder,
        env=env,
        text=True,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "NAME" in result.stdout


def test_down_cleans_up_after_a_killed_supervisor(tmp_path: Path) -> None:
    up = maas_cli(
        "local",
        "up",
        "--detach",
        "--state-dir",
        str(tmp_path),
        "--port",
        str(free_port()),
        "--aws-port",
        str(free_port()),
    )
    assert up.returncode == 0, up.stderr
    state = read_state(tmp_path)
    assert state is not None
    children = [state["emulator"]["pid"], *(p for ps in state["functions"].values() for p in ps)]
    os.kill(state["pid"], signal.SIGKILL)  # the supervisor dies without stopping its children
    deadline = time.monotonic() + 10
    while pid_alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)

    down = maas_cli("local", "down", "--state-dir", str(tmp_path))

    assert down.returncode == 0
    assert "left behind" in down.stdout
    assert not still_running(children)
    assert read_state(tmp_path) is None


# --- the gateway's connections ------------------------------------------------------------------------------
def test_two_hundred_clients_arriving_at_once_are_all_queued_and_answered(platform: Platform) -> None:
    # Given a gateway that accepts nothing for a moment (its process stopped, as when 200 clients arrive in the
    # same instant): only the kernel's listen backlog holds their connections
    supervisor = read_state(platform.state_dir)["pid"]  # type: ignore[index]
    address = urlsplit(platform.url)
    clients: list[socket.socket] = []
    os.kill(supervisor, signal.SIGSTOP)
    try:
        # When 200 clients connect (with a backlog of 5, the 7th connect already waits on SYN retries and fails)
        for _ in range(200):
            clients.append(socket.create_connection((address.hostname, address.port), timeout=10))
        for sock in clients:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
    finally:
        os.kill(supervisor, signal.SIGCONT)
    # Then every one of them is answered once the gateway runs again
    statuses = []
    for sock in clients:
        with sock:
            sock.settimeout(60)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            statuses.append(int(received.split(b" ", 2)[1]))
    assert statuses == [200] * 200


def test_a_client_that_never_finishes_its_headers_is_cut_off_with_408(platform: Platform) -> None:
    address = urlsplit(platform.url)
    with socket.create_connection((address.hostname, address.port), timeout=120) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: local\r\n")  # and never the blank line
        received = b""
        while chunk := sock.recv(65536):  # a gateway that waits forever fails on the 120 s client timeout
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["code"] == "REQUEST_TIMEOUT"


# --- the emulator stays on loopback -------------------------------------------------------------------------
def listening_addresses(port: int) -> set[str]:
    """The local addresses of TCP sockets listening on ``port``, from Linux's /proc/net/tcp and tcp6."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            hex_address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(hex_address)  # 32-bit words in host (little-endian) order
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, words))
    return found


def test_the_emulator_listens_on_loopback_only_whatever_the_gateways_host(tmp_path: Path) -> None:
    # Given the gateway asked to listen on every address
    gateway_port, aws_port = free_port(), free_port()
    up = maas_cli(
        "local", "up", "--detach", "--state-dir", str(tmp_path), "--host", "0.0.0.0",
        "--port", str(gateway_port), "--aws-port", str(aws_port),
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        # Then the gateway does, but moto (which accepts any signature) listens on 127.0.0.1 alone
        assert listening_addresses(gateway_port) == {"0.0.0.0"}
        assert listening_addresses(aws_port) == {"127.0.0.1"}
        env = read_env(tmp_path / "local.env")
        assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{aws_port}"
        assert requests.get(f"http://127.0.0.1:{aws_port}/moto-api/", timeout=10).status_code == 200
    finally:
        assert maas_cli("local", "down", "--state-dir", str(tmp_path)).returncode == 0
