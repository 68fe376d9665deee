"""Asynchronous jobs end to end: the API and events in, EventBridge and SQS, the GPU worker process, results out.

The worker runs on CPU here (no CUDA on CI); everything it does besides the device is the same.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import requests
from oip import binary_body

from maas.local.state import read_state

from e2e_helpers import JOB_LEASE_SECONDS, BusTap, Platform, TenantKeys, assert_error, maas_cli, register_bytes

FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass
class GpuModels:
    tenant: TenantKeys
    key: str
    tiny: str
    slow: str
    tiny_session: Any
    slow_session: Any


def _create_gpu_model(platform: Platform, key: str, name: str, path: Path, batching: dict[str, Any]) -> None:
    created = platform.call(
        "POST", "/v1/models", key, json_body={"name": name, "framework": "onnx", "target": "gpu", "batching": batching}
    )
    assert created.status_code == 201, created.text
    assert created.json()["target"] == "gpu"
    version = register_bytes(platform, key, name, path.read_bytes())
    assert version["status"] == "READY", version


@pytest.fixture(scope="module")
def gpu(
    platform: Platform, make_tenant: Callable[..., TenantKeys], tmp_path_factory: pytest.TempPathFactory
) -> GpuModels:
    from maas.modelkit import export_mlp, export_slow_model

    folder = tmp_path_factory.mktemp("gpu-models")
    tiny, slow = export_mlp(folder / "tiny.onnx", [16, 32, 4], seed=3), export_slow_model(folder / "slow.onnx")
    tenant = make_tenant()
    key = tenant["publish,invoke,read"]
    _create_gpu_model(platform, key, "tiny", tiny, {"max_batch_size": 32, "max_queue_delay_ms": 5})
    _create_gpu_model(platform, key, "slow", slow, {"max_batch_size": 8, "max_queue_delay_ms": 1})
    return GpuModels(
        tenant,
        key,
        "tiny",
        "slow",
        onnxruntime.InferenceSession(str(tiny), providers=["CPUExecutionProvider"]),
        onnxruntime.InferenceSession(str(slow), providers=["CPUExecutionProvider"]),
    )


def tiny_request(rows: np.ndarray, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}]
    }
    if request_id:
        body["id"] = request_id
    return body


def submit(platform: Platform, key: str, path: str, body: Any, **headers: str) -> requests.Response:
    if isinstance(body, tuple):
        data, header_length = body
        return platform.call(
            "POST",
            path,
            key,
            data=data,
            headers={"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(header_length)}
            | headers,
        )
    return platform.call("POST", path, key, json_body=body, headers=headers)


def wait_for_jobs(platform: Platform, key: str, job_ids: list[str], timeout: float = 120) -> dict[str, dict[str, Any]]:
    """Every job's final record; fails the test if one is not final within ``timeout``."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}

    def poll(job_id: str) -> dict[str, Any] | None:
        response = platform.call("GET", f"/v1/jobs/{job_id}", key)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job if job["status"] in FINAL else None

    with ThreadPoolExecutor(8) as pool:
        while len(done) < len(job_ids):
            waiting = [j for j in job_ids if j not in done]
            for job_id, job in zip(waiting, pool.map(poll, waiting), strict=True):
                if job is not None:
                    done[job_id] = job
            if len(done) < len(job_ids):
                assert time.monotonic() < deadline, f"{len(job_ids) - len(done)} jobs not final after {timeout} s"
                time.sleep(0.2)
    return done


def logits(job: dict[str, Any]) -> np.ndarray:
    output = job["result"]["outputs"][0]
    return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])


def worker_pid(platform: Platform) -> int:
    state = read_state(platform.state_dir)
    assert state is not None
    return int(state["workers"][0]["pid"])


def wait_for_new_worker(platform: Platform, old_pid: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = worker_pid(platform)
        if pid != old_pid:
            return pid
        time.sleep(0.1)
    raise AssertionError("the runtime did not start a new GPU worker")


def wait_until_running(platform: Platform, key: str, job_ids: list[str], timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [platform.call("GET", f"/v1/jobs/{j}", key).json() for j in job_ids]
        running = [j["job_id"] for j in jobs if j["status"] == "RUNNING"]
        if running:
            return running
        time.sleep(0.05)
    raise AssertionError("no job started running")


def completed_events(bus_tap: BusTap, job_ids: set[str], wait: float = 60) -> dict[str, int]:
    """How many InferenceCompleted / InferenceFailed events each job got (the tap holds every test's events:
    draining them takes a while on a loaded machine; it returns as soon as every job was seen)."""
    counts = dict.fromkeys(job_ids, 0)

    def seen_all(events: list[dict[str, Any]]) -> bool:
        for event in events:
            job_id = event.get("detail", {}).get("job_id")
            if event.get("detail-type") in ("InferenceCompleted", "InferenceFailed") and job_id in counts:
                counts[job_id] += 1
                event["detail"]["job_id"] = None  # counted
        return all(counts.values())

    bus_tap.events(wait=wait, until=seen_all)
    return counts


# --- submitting and reading ----------------------------------------------------------------------------------
def test_two_hundred_jobs_through_the_api_match_the_model_run_directly(platform: Platform, gpu: GpuModels) -> None:
    # Given 200 requests of 1 to 4 rows, submitted by 16 clients at once
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((int(rng.integers(1, 5)), 16)).astype(np.float32) for _ in range(200)]

    def send(rows: np.ndarray) -> str:
        response = submit(platform, gpu.key, "/v1/models/tiny/jobs", tiny_request(rows))
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "QUEUED"
        assert body["location"] == f"/v1/jobs/{body['job_id']}"
        return str(body["job_id"])

    with ThreadPoolExecutor(16) as pool:
        job_ids = list(pool.map(send, inputs))

    # When they finish, Then every result equals onnxruntime on the same rows
    jobs = wait_for_jobs(platform, gpu.key, job_ids)
    for job_id, rows in zip(job_ids, inputs, strict=True):
        job = jobs[job_id]
        assert job["status"] == "SUCCEEDED", job
        expected = gpu.tiny_session.run(None, {"input": rows})[0]
        np.testing.assert_allclose(logits(job), expected, rtol=1e-5, atol=1e-6)
        assert job["version"] == 1
        assert job["alias"] == "production"
        assert job["timings"]["queue_ms"] >= 0
        assert job["timings"]["run_ms"] > 0
        assert job["attempts"] == 1


def test_prefer_respond_async_on_the_v2_route_queues_a_job(platform: Platform, gpu: GpuModels) -> None:
    rows = np.ones((2, 16), np.float32)
    response = submit(platform, gpu.key, "/v2/models/tiny/infer", tiny_request(rows), Prefer="respond-async")
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == response.json()["location"]
    job = wait_for_jobs(platform, gpu.key, [response.json()["job_id"]])[response.json()["job_id"]]
    np.testing.assert_allclose(logits(job), gpu.tiny_session.run(None, {"input": rows})[0], rtol=1e-5, atol=1e-6)


def test_sync_infer_on_a_gpu_model_answers_409_async_only(platform: Platform, gpu: GpuModels) -> None:
    response = submit(platform, gpu.key, "/v2/models/tiny/infer", tiny_request(np.ones((1, 16), np.float32)))
    body = assert_error(response, 409, "ASYNC_ONLY")
    assert "respond-async" in body["error"]
    assert "/v1/models/tiny/jobs" in body["error"]


def test_a_version_route_pins_the_job_to_that_version(platform: Platform, gpu: GpuModels) -> None:
    response = submit(platform, gpu.key, "/v1/models/tiny/versions/1/jobs", tiny_request(np.ones((1, 16), np.float32)))
    assert response.status_code == 202, response.text
    job = wait_for_jobs(platform, gpu.key, [response.json()["job_id"]])[response.json()["job_id"]]
    assert (job["version"], job["alias"]) == (1, None)


def test_invalid_requests_are_refused_at_submission(platform: Platform, gpu: GpuModels) -> None:
    wrong_shape = {"inputs": [{"name": "input", "shape": [1, 15], "datatype": "FP32", "data": [0.0] * 15}]}
    assert_error(submit(platform, gpu.key, "/v1/models/tiny/jobs", wrong_shape), 400, "INVALID_REQUEST")
    assert_error(platform.call("POST", "/v1/models/tiny/jobs", gpu.key, data=b"{not json"), 400, "INVALID_REQUEST")
    assert_error(submit(platform, gpu.key, "/v1/models/nope/jobs", wrong_shape), 404, "NOT_FOUND")
    assert_error(platform.call("GET", "/v1/jobs/j-nope", gpu.key), 404, "NOT_FOUND")


def test_idempotency_key_returns_the_same_job_and_refuses_another_body(platform: Platform, gpu: GpuModels) -> None:
    key = f"order-{uuid.uuid4().hex}"
    body = tiny_request(np.full((1, 16), 0.5, np.float32))
    first = submit(platform, gpu.key, "/v1/models/tiny/jobs", body, **{"Idempotency-Key": key})
    again = submit(platform, gpu.key, "/v1/models/tiny/jobs", body, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = tiny_request(np.full((1, 16), 0.25, np.float32))
    assert_error(submit(platform, gpu.key, "/v1/models/tiny/jobs", other, **{"Idempotency-Key": key}), 409, "CONFLICT")
    wait_for_jobs(platform, gpu.key, [first.json()["job_id"]])
    jobs = platform.call("GET", "/v1/jobs?model=tiny&limit=1000", gpu.key).json()["jobs"]
    assert sum(1 for j in jobs if j["job_id"] == first.json()["job_id"]) == 1


def test_another_tenants_job_is_404_and_lists_show_only_your_own(
    platform: Platform, gpu: GpuModels, make_tenant: Callable[..., TenantKeys]
) -> None:
    response = submit(platform, gpu.key, "/v1/models/tiny/jobs", tiny_request(np.ones((1, 16), np.float32)))
    job_id = response.json()["job_id"]
    other = make_tenant()["publish,invoke,read"]
    assert_error(platform.call("GET", f"/v1/jobs/{job_id}", other), 404, "NOT_FOUND")
    assert_error(platform.call("DELETE", f"/v1/jobs/{job_id}", other), 404, "NOT_FOUND")
    assert platform.call("GET", "/v1/jobs", other).json()["jobs"] == []
    # ...and another tenant's model is 404 to submit to
    assert_error(submit(platform, other, "/v1/models/tiny/jobs", tiny_request(np.ones((1, 16)))), 404, "NOT_FOUND")


def test_list_filters_by_status_and_model(platform: Platform, gpu: GpuModels) -> None:
    response = submit(platform, gpu.key, "/v1/models/tiny/jobs", tiny_request(np.ones((1, 16), np.float32)))
    wait_for_jobs(platform, gpu.key, [response.json()["job_id"]])
    succeeded = platform.call("GET", "/v1/jobs?status=SUCCEEDED&model=tiny", gpu.key).json()["jobs"]
    assert response.json()["job_id"] in {j["job_id"] for j in succeeded}
    assert {j["status"] for j in succeeded} == {"SUCCEEDED"}
    slow = platform.call("GET", "/v1/jobs?model=slow", gpu.key).json()["jobs"]
    assert {j["model"] for j in slow} <= {"slow"}
    assert response.json()["job_id"] not in {j["job_id"] for j in slow}
    finished = platform.call("DELETE", f"/v1/jobs/{response.json()['job_id']}", gpu.key)
    assert_error(finished, 409, "CONFLICT")


def test_large_requests_and_results_go_through_the_jobs_bucket(platform: Platform, gpu: GpuModels) -> None:
    # Given a binary request of 300 rows x 256 floats (300 KB: over the 64 KB kept in the job item)
    rows = np.random.default_rng(1).standard_normal((300, 256)).astype(np.float32)
    response = submit(platform, gpu.key, "/v1/models/slow/jobs", binary_body([("input", "FP32", rows)]))
    assert response.status_code == 202, response.text
    job = wait_for_jobs(platform, gpu.key, [response.json()["job_id"]])[response.json()["job_id"]]
    # Then the result (300 KB of JSON) is in the bucket, behind a presigned URL
    assert job["status"] == "SUCCEEDED", job
    assert job["result"] is None
    assert job["result_url"]
    downloaded = requests.get(job["result_url"], timeout=30)
    assert downloaded.status_code == 200
    output = downloaded.json()["outputs"][0]
    expected = gpu.slow_session.run(None, {"input": rows})[0]
    np.testing.assert_allclose(np.asarray(output["data"], np.float32).reshape(output["shape"]), expected, atol=1e-4)


def test_cli_submits_and_waits(platform: Platform, gpu: GpuModels, tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(tiny_request(np.ones((1, 16), np.float32))))
    env = {"MAAS_URL": platform.url, "MAAS_API_KEY": gpu.key}
    done = maas_cli("jobs", "submit", "tiny", "--json", str(request), "--wait", env=env)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "SUCCEEDED"
    shown = maas_cli("jobs", "get", job["job_id"], env=env)
    assert json.loads(shown.stdout)["job_id"] == job["job_id"]
    listed = maas_cli("jobs", "list", "--model", "tiny", env=env)
    assert job["job_id"] in listed.stdout


def test_local_status_lists_the_gpu_worker(platform: Platform) -> None:
    status = maas_cli("local", "status", "--state-dir", str(platform.state_dir))
    assert status.returncode == 0
    assert f"pid {worker_pid(platform)}" in status.stdout
    assert "gpu worker" in status.stdout


# --- events in ----------------------------------------------------------------------------------------------
def put_requested(platform: Platform, source: str, details: list[dict[str, Any]]) -> None:
    events = platform.aws("events")
    bus = platform.env["MAAS_RESOURCE_EventBus"]
    for start in range(0, len(details), 10):
        result = events.put_events(
            Entries=[
                {"Source": source, "DetailType": "InferenceRequested", "Detail": json.dumps(d), "EventBusName": bus}
                for d in details[start : start + 10]
            ]
        )
        assert result["FailedEntryCount"] == 0


def ingress_dead_letters(platform: Platform, wait: float = 20, until: int = 1) -> list[dict[str, Any]]:
    sqs = platform.aws("sqs")
    url = sqs.get_queue_url(QueueName="maas-IngressDeadLetterQueue")["QueueUrl"]
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and len(seen) < until:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            seen.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return seen


def jobs_by_request_id(platform: Platform, key: str, count: int, timeout: float = 120) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        listed = platform.call("GET", "/v1/jobs?limit=1000", key).json()["jobs"]
        final = [j for j in listed if j["source"] != "api" and j["status"] in FINAL]
        if len(final) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    found = wait_for_jobs(platform, key, [j["job_id"] for j in final])
    return {job["result"]["id"]: job for job in found.values() if job.get("result")}


def test_fifty_inference_requested_events_run_as_the_registered_tenant(
    platform: Platform, make_tenant: Callable[..., TenantKeys], models_dir: Path, bus_tap: BusTap
) -> None:
    # Given a tenant with a model and a registered event source
    tenant = make_tenant()
    key = tenant["publish,invoke,read"]
    assert register_bytes(platform, key, "scorer", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    source = f"{tenant.tenant_id}.orders"
    registered = platform.call("POST", "/v1/event-sources", key, json_body={"source": source})
    assert registered.status_code == 201, registered.text
    assert registered.json()["tenant_id"] == tenant.tenant_id
    # When 50 InferenceRequested events arrive from it
    rng = np.random.default_rng(11)
    inputs = {f"evt-{i}": rng.standard_normal((1, 16)).astype(np.float32) for i in range(50)}
    put_requested(platform, source, [{"model": "scorer", "request": tiny_request(x, rid)} for rid, x in inputs.items()])
    # Then 50 jobs succeed with the model's results, each announced once
    jobs = jobs_by_request_id(platform, key, 50)
    assert set(jobs) == set(inputs)
    session = onnxruntime.InferenceSession(str(models_dir / "tiny.onnx"), providers=["CPUExecutionProvider"])
    for rid, rows in inputs.items():
        assert jobs[rid]["source"] == source
        np.testing.assert_allclose(logits(jobs[rid]), session.run(None, {"input": rows})[0], rtol=1e-5, atol=1e-6)
    counts = completed_events(bus_tap, {j["job_id"] for j in jobs.values()})
    assert set(counts.values()) == {1}


def test_events_from_unregistered_sources_or_with_bad_detail_land_in_the_dead_letter_queue(
    platform: Platform, make_tenant: Callable[..., TenantKeys]
) -> None:
    tenant = make_tenant()
    key = tenant["publish,invoke,read"]
    source = f"{tenant.tenant_id}.billing"
    assert platform.call("POST", "/v1/event-sources", key, json_body={"source": source}).status_code == 201
    stranger = f"{tenant.tenant_id}.stranger"  # in the tenant's namespace, but never registered
    put_requested(platform, stranger, [{"model": "scorer", "request": {"inputs": []}}])
    put_requested(platform, source, [{"request": {"inputs": []}}, {"model": "nope", "request": {"inputs": []}}])
    dead = ingress_dead_letters(platform, until=3)
    reasons = {(d["event"]["source"], d["code"]) for d in dead}
    assert (stranger, "UNKNOWN_SOURCE") in reasons
    assert (source, "INVALID_DETAIL") in reasons
    assert (source, "NOT_FOUND") in reasons
    assert all(d["reason"] for d in dead)
    assert platform.call("GET", "/v1/jobs", key).json()["jobs"] == []  # nothing ran


def test_event_source_names_are_scoped_so_no_tenant_can_squat_or_probe_another(
    platform: Platform, make_tenant: Callable[..., TenantKeys]
) -> None:
    owner, other = make_tenant(), make_tenant()
    own, theirs = owner["publish,invoke,read"], other["publish,invoke,read"]
    taken = f"{owner.tenant_id}.orders"
    assert platform.call("POST", "/v1/event-sources", own, json_body={"source": taken}).status_code == 201

    # A name outside one's own namespace is 400, the same answer whether another tenant registered it or not
    squat = platform.call("POST", "/v1/event-sources", theirs, json_body={"source": taken})
    probe = platform.call("POST", "/v1/event-sources", theirs, json_body={"source": f"{owner.tenant_id}.free"})
    assert_error(squat, 400, "INVALID_REQUEST")
    assert squat.json() == probe.json()
    assert f"'{other.tenant_id}.<name>'" in squat.json()["error"]
    assert_error(
        platform.call("POST", "/v1/event-sources", theirs, json_body={"source": "orders"}), 400, "INVALID_REQUEST"
    )
    # and another tenant's source can be neither seen nor deleted
    assert platform.call("GET", "/v1/event-sources", theirs).json()["event_sources"] == []
    assert_error(platform.call("DELETE", f"/v1/event-sources/{taken}", theirs), 404, "NOT_FOUND")
    listed = platform.call("GET", "/v1/event-sources", own).json()["event_sources"]
    assert [s["source"] for s in listed] == [taken]
    # the owner's own name is its own: registering it again is a conflict, deleting it frees it
    assert_error(platform.call("POST", "/v1/event-sources", own, json_body={"source": taken}), 409, "CONFLICT")
    assert platform.call("DELETE", f"/v1/event-sources/{taken}", own).status_code == 204
    assert platform.call("POST", "/v1/event-sources", own, json_body={"source": taken}).status_code == 201


def test_an_event_whose_inputs_do_not_fit_the_model_fails_at_once(
    platform: Platform, make_tenant: Callable[..., TenantKeys], models_dir: Path
) -> None:
    tenant = make_tenant()
    key = tenant["publish,invoke,read"]
    assert register_bytes(platform, key, "scorer", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    source = f"{tenant.tenant_id}.shop"
    assert platform.call("POST", "/v1/event-sources", key, json_body={"source": source}).status_code == 201
    bad = {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    put_requested(platform, source, [{"model": "scorer", "request": bad}])
    deadline = time.monotonic() + 30
    while not (jobs := platform.call("GET", "/v1/jobs", key).json()["jobs"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(jobs) == 1
    job = platform.call("GET", f"/v1/jobs/{jobs[0]['job_id']}", key).json()
    assert job["status"] == "FAILED"
    assert job["attempts"] == 0  # never given to a worker
    assert job["error"]["code"] == "INVALID_REQUEST"
    assert "shape" in job["error"]["error"]


# --- nothing lost, nothing doubled ------------------------------------------------------------------------------
def slow_body(rows: int, seed: int) -> tuple[tuple[bytes, int], np.ndarray]:
    x = np.random.default_rng(seed).standard_normal((rows, 256)).astype(np.float32)
    return binary_body([("input", "FP32", x)]), x


def submit_slow(platform: Platform, gpu: GpuModels, rows: int, count: int, seed: int) -> dict[str, np.ndarray]:
    submitted = {}
    for i in range(count):
        body, x = slow_body(rows, seed + i)
        response = submit(platform, gpu.key, "/v1/models/slow/jobs", body)
        assert response.status_code == 202, response.text
        submitted[response.json()["job_id"]] = x
    return submitted


def assert_slow_results(
    platform: Platform, gpu: GpuModels, jobs: dict[str, dict[str, Any]], inputs: dict[str, np.ndarray]
) -> None:
    for job_id, x in inputs.items():
        job = jobs[job_id]
        assert job["status"] == "SUCCEEDED", job
        url = job["result_url"]
        result = requests.get(url, timeout=30).json() if url else job["result"]
        output = result["outputs"][0]
        actual = np.asarray(output["data"], np.float32).reshape(output["shape"])
        np.testing.assert_allclose(actual, gpu.slow_session.run(None, {"input": x})[0], atol=1e-4)


def test_a_worker_killed_mid_batch_loses_no_job_and_doubles_none(
    platform: Platform, gpu: GpuModels, bus_tap: BusTap
) -> None:
    # Given six slow jobs, some running on the worker
    inputs = submit_slow(platform, gpu, rows=400, count=6, seed=100)
    wait_until_running(platform, gpu.key, list(inputs))
    # When the worker is killed with SIGKILL
    pid = worker_pid(platform)
    os.kill(pid, signal.SIGKILL)
    wait_for_new_worker(platform, pid)
    # Then every job still completes, with the right result, and is announced exactly once
    jobs = wait_for_jobs(platform, gpu.key, list(inputs), timeout=180)
    assert_slow_results(platform, gpu, jobs, inputs)
    assert any(j["attempts"] >= 2 for j in jobs.values()), "no job was interrupted by the kill"
    # Events are at least once across a kill: a worker killed after publishing but before marking the event
    # sent leaves it to the next delivery (consumers dedupe on job_id); none is ever lost.
    counts = completed_events(bus_tap, set(inputs))
    assert all(count >= 1 for count in counts.values()), counts


def test_a_duplicate_delivery_makes_one_result_and_one_event(
    platform: Platform, gpu: GpuModels, bus_tap: BusTap
) -> None:
    # Given a finished job
    response = submit(platform, gpu.key, "/v1/models/tiny/jobs", tiny_request(np.ones((1, 16), np.float32)))
    job_id = response.json()["job_id"]
    first = wait_for_jobs(platform, gpu.key, [job_id])[job_id]
    assert completed_events(bus_tap, {job_id}) == {job_id: 1}
    # When SQS delivers its message twice more (once while another copy may still be in flight)
    sqs = platform.aws("sqs")
    queue = sqs.get_queue_url(QueueName="maas-GpuJobsQueue")["QueueUrl"]
    duplicate = json.dumps(
        {"detail-type": "InferenceJobQueued", "detail": {"tenant_id": gpu.tenant.tenant_id, "job_id": job_id}}
    )
    sqs.send_message(QueueUrl=queue, MessageBody=duplicate)
    sqs.send_message(QueueUrl=queue, MessageBody=duplicate)
    # Then the job is untouched and no second event goes out
    assert completed_events(bus_tap, {job_id}, wait=6) == {job_id: 0}
    again = platform.call("GET", f"/v1/jobs/{job_id}", gpu.key).json()
    assert (again["finished_at"], again["attempts"], again["result"]) == (first["finished_at"], 1, first["result"])


def test_a_job_that_keeps_killing_its_worker_is_failed_and_dead_lettered(platform: Platform, gpu: GpuModels) -> None:
    # Given one slow job, and a worker that dies whenever it runs it (killed here each time, as an OOM would)
    inputs = submit_slow(platform, gpu, rows=1500, count=1, seed=999)
    (job_id,) = inputs
    kills = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = platform.call("GET", f"/v1/jobs/{job_id}", gpu.key).json()
        if job["status"] in FINAL:
            break
        if job["status"] == "RUNNING" and job["attempts"] > kills:
            pid = worker_pid(platform)
            os.kill(pid, signal.SIGKILL)
            kills += 1
            wait_for_new_worker(platform, pid)
        time.sleep(0.05)
    # Then after the attempts allowed it is FAILED with the reason, and its message is in the dead-letter queue
    assert job["status"] == "FAILED", job
    assert job["error"]["code"] == "WORKER_CRASHED"
    assert kills == 3
    sqs = platform.aws("sqs")
    dlq = sqs.get_queue_url(QueueName="maas-GpuJobsDeadLetterQueue")["QueueUrl"]
    found = []
    end = time.monotonic() + 10
    while not found and time.monotonic() < end:
        messages = sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        found = [m for m in messages if job_id in m["Body"]]
    assert found, "the job's message is not in the dead-letter queue"
    assert "worker stopped" in found[0]["MessageAttributes"]["reason"]["StringValue"]


def test_sigterm_drains_the_worker_within_thirty_seconds(platform: Platform, gpu: GpuModels) -> None:
    # Given slow jobs in flight
    inputs = submit_slow(platform, gpu, rows=200, count=4, seed=500)
    wait_until_running(platform, gpu.key, list(inputs))
    pid = worker_pid(platform)
    # When ECS (here: the test) sends SIGTERM
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    wait_for_new_worker(platform, pid, timeout=40)
    assert time.monotonic() - started < 31 + JOB_LEASE_SECONDS
    # Then everything it held completes (finished by it, or handed back and run by its successor)
    jobs = wait_for_jobs(platform, gpu.key, list(inputs), timeout=120)
    assert_slow_results(platform, gpu, jobs, inputs)
    state = read_state(platform.state_dir)
    assert state is not None
    log = Path(state["workers"][0]["log"]).read_text()
    assert "worker stopped" in log


# --- TorchScript --------------------------------------------------------------------------------------------
def register_torchscript(platform: Platform, key: str, name: str, data: bytes, signature: Any) -> dict[str, Any]:
    if platform.call("GET", f"/v1/models/{name}", key).status_code == 404:
        created = platform.call("POST", "/v1/models", key, json_body={"name": name, "framework": "torchscript"})
        assert created.status_code == 201, created.text
        assert created.json()["target"] == "gpu"
    response = platform.call("POST", f"/v1/models/{name}/versions", key, json_body={"signature": signature})
    assert response.status_code == 201, response.text
    upload_info = response.json()["upload"]
    uploaded = requests.request(
        upload_info["method"], upload_info["url"], data=data, headers=upload_info["headers"], timeout=60
    )
    assert uploaded.status_code in (200, 204)
    deadline = time.monotonic() + 60
    while True:
        version: dict[str, Any] = platform.call(
            "GET", f"/v1/models/{name}/versions/{response.json()['version']}", key
        ).json()
        if version["status"] != "PENDING_UPLOAD" or time.monotonic() > deadline:
            return version
        time.sleep(0.2)


def test_a_torchscript_model_is_validated_and_run_by_the_worker_with_torch(
    platform: Platform, make_tenant: Callable[..., TenantKeys], tmp_path: Path
) -> None:
    import torch

    from maas.modelkit import export_torchscript_mlp

    key = make_tenant()["publish,invoke,read"]
    signature = export_torchscript_mlp(tmp_path / "model.pt", [16, 24, 3], seed=5)
    version = register_torchscript(platform, key, "scripted", (tmp_path / "model.pt").read_bytes(), signature)
    assert version["status"] == "READY", version
    assert version["signature"] == signature
    rows = np.random.default_rng(3).standard_normal((5, 16)).astype(np.float32)
    response = submit(platform, key, "/v1/models/scripted/jobs", tiny_request(rows))
    assert response.status_code == 202, response.text
    job = wait_for_jobs(platform, key, [response.json()["job_id"]])[response.json()["job_id"]]
    assert job["status"] == "SUCCEEDED", job
    expected = torch.jit.load(str(tmp_path / "model.pt"))(torch.from_numpy(rows)).detach().numpy()
    np.testing.assert_allclose(logits(job), expected, rtol=1e-5, atol=1e-6)
    # a TorchScript model never serves synchronously (torch is not in the Lambda functions)
    assert_error(submit(platform, key, "/v2/models/scripted/infer", tiny_request(rows)), 409, "ASYNC_ONLY")


def test_a_torch_save_pickle_registered_as_torchscript_fails_with_the_reason(
    platform: Platform, make_tenant: Callable[..., TenantKeys], tmp_path: Path
) -> None:
    import torch

    from maas.modelkit import mlp

    key = make_tenant()["publish,invoke,read"]
    torch.save(mlp([16, 4]), str(tmp_path / "pickled.pt"))
    signature = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 16]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 4]}],
    }
    version = register_torchscript(platform, key, "pickled", (tmp_path / "pickled.pt").read_bytes(), signature)
    assert version["status"] == "FAILED"
    assert "torch.save" in version["failure_reason"]


def test_a_cpu_target_model_runs_its_jobs_in_the_cpu_jobs_function(
    platform: Platform, make_tenant: Callable[..., TenantKeys], models_dir: Path
) -> None:
    # Given a cpu-target model (the default for ONNX): it serves synchronously and takes jobs too
    key = make_tenant()["publish,invoke,read"]
    assert register_bytes(platform, key, "cpu-model", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    rows = np.random.default_rng(21).standard_normal((3, 16)).astype(np.float32)
    response = submit(platform, key, "/v1/models/cpu-model/jobs", tiny_request(rows))
    assert response.status_code == 202, response.text
    job = wait_for_jobs(platform, key, [response.json()["job_id"]])[response.json()["job_id"]]
    assert (job["status"], job["target"]) == ("SUCCEEDED", "cpu")
    synchronous = submit(platform, key, "/v2/models/cpu-model/infer", tiny_request(rows))
    assert synchronous.status_code == 200
    assert job["result"]["outputs"] == synchronous.json()["outputs"]
    # and it was the CPU jobs function, not the GPU worker, that ran it
    state = read_state(platform.state_dir)
    assert state is not None
    job_id = response.json()["job_id"]
    assert job_id in (Path(state["logs"]) / "CpuJobsFunction.log").read_text()
    assert all(job_id not in p.read_text() for p in Path(state["logs"]).glob("worker-*.log"))


def test_patch_moves_a_model_to_the_gpu_workers(
    platform: Platform, make_tenant: Callable[..., TenantKeys], models_dir: Path
) -> None:
    key = make_tenant()["publish,invoke,read"]
    assert register_bytes(platform, key, "movable", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    patched = platform.call(
        "PATCH", "/v1/models/movable", key, json_body={"target": "gpu", "batching": {"max_batch_size": 64}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["target"] == "gpu"
    assert patched.json()["batching"] == {"max_batch_size": 64, "max_queue_delay_ms": 5}
    time.sleep(1.5)  # the inference function's registry cache (RegistryCacheSeconds=1 here)
    rows = np.ones((1, 16), np.float32)
    assert_error(submit(platform, key, "/v2/models/movable/infer", tiny_request(rows)), 409, "ASYNC_ONLY")
    response = submit(platform, key, "/v1/models/movable/jobs", tiny_request(rows))
    job = wait_for_jobs(platform, key, [response.json()["job_id"]])[response.json()["job_id"]]
    assert (job["status"], job["target"]) == ("SUCCEEDED", "gpu")
    assert_error(platform.call("PATCH", "/v1/models/movable", key, json_body={"target": "tpu"}), 400, "INVALID_REQUEST")
