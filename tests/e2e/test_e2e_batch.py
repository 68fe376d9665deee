"""Batch predictions end to end: upload a file, split, shards on the batch worker or the GPU worker, assembly."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from maas.local.state import read_state

from e2e_helpers import MAX_BATCH_INPUT_BYTES, BusTap, Platform, TenantKeys, assert_error, maas_cli, register_bytes

FINAL = ("SUCCEEDED", "PARTIAL", "FAILED")


@pytest.fixture(scope="module")
def scorer(platform: Platform, make_tenant: Callable[..., TenantKeys], models_dir: Path) -> tuple[str, str, Any]:
    """(tenant, key, session) with the tiny MLP registered as 'scorer' (cpu target)."""
    tenant = make_tenant()
    key = tenant["publish,invoke,read"]
    assert register_bytes(platform, key, "scorer", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    session = onnxruntime.InferenceSession(str(models_dir / "tiny.onnx"), providers=["CPUExecutionProvider"])
    return tenant.tenant_id, key, session


def start(platform: Platform, key: str, model: str, fmt: str, data: bytes, **extra: Any) -> str:
    response = platform.call("POST", "/v1/batch-jobs", key, json_body={"model": model, "format": fmt, **extra})
    assert response.status_code == 201, response.text
    upload = response.json()["upload"]
    assert upload["method"] == "PUT"
    put = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=120)
    assert put.status_code == 200, put.text
    return str(response.json()["job_id"])


def wait(platform: Platform, key: str, job_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = platform.call("GET", f"/v1/batch-jobs/{job_id}", key).json()
        if job["status"] in FINAL:
            return job
        assert time.monotonic() < deadline, f"batch job still {job['status']} after {timeout} s: {job}"
        time.sleep(0.25)


def download(job: dict[str, Any], kind: str) -> bytes:
    response = requests.get(job["downloads"][kind], timeout=120)
    assert response.status_code == 200
    return response.content


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def logits_of(predictions: bytes) -> tuple[list[str], np.ndarray]:
    lines = [json.loads(line) for line in predictions.splitlines() if line.strip()]
    return [line["id"] for line in lines], np.asarray([line["outputs"]["logits"] for line in lines], np.float32)


def test_jsonl_in_order_with_ids_and_a_malformed_line_in_errors(
    platform: Platform, scorer: tuple[str, str, Any], bus_tap: BusTap
) -> None:
    _, key, session = scorer
    x = np.random.default_rng(1).standard_normal((1500, 16)).astype(np.float32)
    lines = [json.dumps({"id": f"r{i}", "inputs": {"input": row.tolist()}}).encode() for i, row in enumerate(x)]
    lines.insert(10, b"{this is not json")
    lines.insert(20, json.dumps({"inputs": {"input": [1, 2, 3]}}).encode())  # the wrong length: a row error
    job_id = start(platform, key, "scorer", "jsonl", b"\n".join(lines) + b"\n")
    job = wait(platform, key, job_id)
    assert job["status"] == "PARTIAL", job
    assert job["rows"] == {"total": 1502, "done": 1502, "failed": 2}
    ids, logits = logits_of(download(job, "predictions"))
    assert ids == [f"r{i}" for i in range(1500)]
    np.testing.assert_allclose(logits, session.run(None, {"input": x})[0], rtol=1e-5, atol=1e-6)
    errors = [json.loads(line) for line in download(job, "errors").splitlines()]
    assert [(e["row"], e["id"]) for e in errors] == [(10, "10"), (20, "20")]
    assert "JSON" in errors[0]["error"]
    assert "shape" in errors[1]["error"]
    manifest = json.loads(download(job, "manifest"))
    assert (manifest["rows"], manifest["rows_succeeded"], manifest["rows_failed"]) == (1502, 1500, 2)
    import hashlib

    assert manifest["sha256"]["predictions"] == hashlib.sha256(download(job, "predictions")).hexdigest()
    assert manifest["version"] == 1
    # announced once
    events = bus_tap.events(wait=10, until=lambda seen: any(e.get("detail", {}).get("job_id") == job_id for e in seen))
    completed = [e for e in events if e["detail-type"] == "BatchJobCompleted" and e["detail"]["job_id"] == job_id]
    assert len(completed) == 1
    assert completed[0]["detail"]["status"] == "PARTIAL"


def test_csv_with_an_id_column_and_feature_columns(platform: Platform, scorer: tuple[str, str, Any]) -> None:
    _, key, session = scorer
    x = np.random.default_rng(2).standard_normal((300, 16)).astype(np.float32)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", *[f"f{i}" for i in range(16)]])
    for i, row in enumerate(x):
        writer.writerow([f"c{i}", *[repr(float(v)) for v in row]])
    job = wait(platform, key, start(platform, key, "scorer", "csv", text.getvalue().encode()))
    assert job["status"] == "SUCCEEDED", job
    table = list(csv.reader(io.StringIO(download(job, "predictions").decode())))
    assert table[0] == ["id", "logits_0", "logits_1", "logits_2", "logits_3"]
    assert [r[0] for r in table[1:]] == [f"c{i}" for i in range(300)]
    got = np.asarray([[float(v) for v in r[1:]] for r in table[1:]], np.float32)
    np.testing.assert_allclose(got, session.run(None, {"input": x})[0], rtol=1e-5, atol=1e-6)


def test_parquet_with_a_list_column_per_input(platform: Platform, scorer: tuple[str, str, Any]) -> None:
    _, key, session = scorer
    x = np.random.default_rng(3).standard_normal((700, 16)).astype(np.float32)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(700)], "input": [row.tolist() for row in x]}), buffer)
    job = wait(platform, key, start(platform, key, "scorer", "parquet", buffer.getvalue()))
    assert job["status"] == "SUCCEEDED", job
    table = pq.read_table(io.BytesIO(download(job, "predictions"))).to_pydict()
    assert table["id"] == [f"p{i}" for i in range(700)]
    np.testing.assert_allclose(
        np.asarray(table["logits"], np.float32), session.run(None, {"input": x})[0], rtol=1e-5, atol=1e-6
    )


def test_columns_that_do_not_fit_fail_the_job_with_the_reason(platform: Platform, scorer: tuple[str, str, Any]) -> None:
    _, key, _ = scorer
    job = wait(platform, key, start(platform, key, "scorer", "csv", b"id,a,b,c\n1,2,3,4\n"))
    assert job["status"] == "FAILED"
    assert "do not fit the model" in job["error"]
    assert "16 feature columns" in job["error"]


def test_fifty_thousand_jsonl_rows_each_once_in_order(platform: Platform, scorer: tuple[str, str, Any]) -> None:
    _, key, session = scorer
    x = np.random.default_rng(4).standard_normal((50_000, 16)).astype(np.float32).round(4)
    data = b"".join(b'{"inputs":{"input":' + json.dumps(row.tolist()).encode() + b"}}\n" for row in x)
    job = wait(platform, key, start(platform, key, "scorer", "jsonl", data), timeout=300)
    assert job["status"] == "SUCCEEDED", job
    assert job["shards"] == {"total": 50, "done": 50}
    ids, logits = logits_of(download(job, "predictions"))
    assert ids == [str(i) for i in range(50_000)]  # no id: the row number
    np.testing.assert_allclose(logits, session.run(None, {"input": x})[0], rtol=1e-4, atol=1e-5)


def test_a_direct_inbox_write_starts_a_job(platform: Platform, scorer: tuple[str, str, Any]) -> None:
    tenant, key, session = scorer
    x = np.random.default_rng(5).standard_normal((10, 16)).astype(np.float32)
    inbox = f"maas-inbox-123456789012-{platform.env['AWS_DEFAULT_REGION']}"
    name = f"nightly-{uuid.uuid4().hex[:6]}"
    body = jsonl([{"id": i, "inputs": {"input": row.tolist()}} for i, row in enumerate(x)])
    platform.aws("s3").put_object(Bucket=inbox, Key=f"batch/{tenant}/scorer/1/{name}.jsonl", Body=body)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = platform.call("GET", "/v1/batch-jobs", key).json()["batch_jobs"]
        mine = [j for j in jobs if j["name"] == name]
        if mine and mine[0]["status"] in FINAL:
            break
        time.sleep(0.25)
    (job,) = mine
    assert (job["source"], job["status"], job["version"]) == ("inbox", "SUCCEEDED", 1)
    full = wait(platform, key, job["job_id"])
    np.testing.assert_allclose(
        logits_of(download(full, "predictions"))[1], session.run(None, {"input": x})[0], rtol=1e-5
    )


def test_a_model_the_tenant_may_not_use_fails_and_runs_nothing(
    platform: Platform, scorer: tuple[str, str, Any], make_tenant: Callable[..., TenantKeys]
) -> None:
    owner, _, _ = scorer
    other = make_tenant()
    inbox = f"maas-inbox-123456789012-{platform.env['AWS_DEFAULT_REGION']}"
    body = jsonl([{"inputs": {"input": [0.0] * 16}}])
    # the other tenant names the owner's model without a grant
    platform.aws("s3").put_object(Bucket=inbox, Key=f"batch/{other.tenant_id}/{owner}.scorer/1/x.jsonl", Body=body)
    key = other["publish,invoke,read"]
    deadline = time.monotonic() + 30
    while (
        not (jobs := platform.call("GET", "/v1/batch-jobs", key).json()["batch_jobs"]) or jobs[0]["status"] not in FINAL
    ):
        assert time.monotonic() < deadline
        time.sleep(0.25)
    assert jobs[0]["status"] == "FAILED"
    assert "not found" in jobs[0]["error"]
    assert jobs[0]["shards"]["total"] is None  # nothing was split or run
    # through the API, the same is a 404 at once
    assert_error(
        platform.call("POST", "/v1/batch-jobs", key, json_body={"model": f"{owner}.scorer", "format": "jsonl"}),
        404,
        "NOT_FOUND",
    )


def test_a_duplicate_shard_delivery_counts_once(platform: Platform, scorer: tuple[str, str, Any]) -> None:
    tenant, key, _ = scorer
    x = np.random.default_rng(6).standard_normal((20, 16)).astype(np.float32)
    job_id = start(platform, key, "scorer", "jsonl", jsonl([{"inputs": {"input": r.tolist()}} for r in x]))
    job = wait(platform, key, job_id)
    before = download(job, "predictions")
    sqs = platform.aws("sqs")
    queue = sqs.get_queue_url(QueueName="maas-CpuShardsQueue")["QueueUrl"]
    message = {"kind": "shard", "tenant_id": tenant, "job_id": job_id, "shard": 0, "rows": 20, "version": 1}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(message))
    time.sleep(3)
    again = platform.call("GET", f"/v1/batch-jobs/{job_id}", key).json()
    assert (again["status"], again["rows"], again["shards"]) == ("SUCCEEDED", job["rows"], job["shards"])
    assert download(again, "predictions") == before


def test_cli_batch_run_uploads_waits_and_downloads(
    platform: Platform, scorer: tuple[str, str, Any], tmp_path: Path
) -> None:
    _, key, session = scorer
    x = np.random.default_rng(7).standard_normal((50, 16)).astype(np.float32)
    source = tmp_path / "rows.jsonl"
    source.write_bytes(jsonl([{"id": f"k{i}", "inputs": {"input": r.tolist()}} for i, r in enumerate(x)]))
    done = maas_cli(
        "batch",
        "run",
        "scorer",
        str(source),
        "--out",
        str(tmp_path / "out"),
        env={"MAAS_URL": platform.url, "MAAS_API_KEY": key},
    )
    assert done.returncode == 0, done.stderr
    assert "SUCCEEDED" in done.stderr
    ids, logits = logits_of((tmp_path / "out" / "predictions.jsonl").read_bytes())
    assert ids == [f"k{i}" for i in range(50)]
    np.testing.assert_allclose(logits, session.run(None, {"input": x})[0], rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["rows"] == 50


def test_a_gpu_target_batch_runs_on_the_gpu_worker_and_survives_its_kill(
    platform: Platform, make_tenant: Callable[..., TenantKeys], tmp_path: Path
) -> None:
    from maas.modelkit import export_slow_model

    key = make_tenant()["publish,invoke,read"]
    path = export_slow_model(tmp_path / "slow.onnx")
    created = platform.call("POST", "/v1/models", key, json_body={"name": "slow", "framework": "onnx", "target": "gpu"})
    assert created.status_code == 201
    assert register_bytes(platform, key, "slow", path.read_bytes())["status"] == "READY"
    x = np.random.default_rng(8).standard_normal((2500, 256)).astype(np.float32).round(3)
    data = b"".join(b'{"inputs":{"input":' + json.dumps(row.tolist()).encode() + b"}}\n" for row in x)
    job_id = start(platform, key, "slow", "jsonl", data)
    # When the GPU worker is killed while it runs the shards
    deadline = time.monotonic() + 60
    while platform.call("GET", f"/v1/batch-jobs/{job_id}", key).json()["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    state = read_state(platform.state_dir)
    assert state is not None
    os.kill(state["workers"][0]["pid"], signal.SIGKILL)
    # Then every row is in the predictions exactly once, in order, with the model's outputs
    job = wait(platform, key, job_id, timeout=240)
    assert job["status"] == "SUCCEEDED", job
    assert job["shards"] == {"total": 3, "done": 3}
    ids, _ = logits_of(download(job, "predictions").replace(b'"output"', b'"logits"'))
    assert ids == [str(i) for i in range(2500)]
    outputs = np.asarray(
        [json.loads(line)["outputs"]["output"] for line in download(job, "predictions").splitlines()], np.float32
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(outputs, session.run(None, {"input": x})[0], atol=1e-4)
    log = "".join(p.read_text() for p in Path(state["logs"]).glob("worker-*.log"))
    assert job_id in log  # the GPU worker ran its shards


def test_a_file_over_the_size_limit_fails_and_runs_nothing(platform: Platform, scorer: tuple[str, str, Any]) -> None:
    _, key, _ = scorer
    line = json.dumps({"inputs": {"input": [0.5] * 16}}).encode() + b"\n"
    data = line * (MAX_BATCH_INPUT_BYTES // len(line) + 1)
    job = wait(platform, key, start(platform, key, "scorer", "jsonl", data))
    assert job["status"] == "FAILED"
    assert "over the limit" in job["error"]
    assert job["shards"]["total"] is None
