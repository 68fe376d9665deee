"""Metrics on the local runtime: the functions' EMF records land in the state folder's logs; `maas stats` sums them."""

from __future__ import annotations

import json
from pathlib import Path

from test_e2e_jobs import wait_for_jobs

from maas.local.functions import wait_until
from maas.local.stats import emf_records

from e2e_helpers import Platform, maas_cli, register_bytes

INFER = "POST /v2/models/{name}/infer"


def test_inference_emf_records_reach_the_logs_and_maas_stats_counts_them(
    platform: Platform, make_tenant, models_dir: Path
) -> None:
    # Given a tenant with a READY model
    tenant = make_tenant("publish,invoke,read")
    key = tenant["publish,invoke,read"]
    assert register_bytes(platform, key, "tiny", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    body = {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]}

    # When it runs three inferences, asks for a version that does not exist, and sends one bad body
    for _ in range(3):
        assert platform.call("POST", "/v2/models/tiny/infer", key, json_body=body).status_code == 200
    assert platform.call("POST", "/v2/models/tiny/versions/99/infer", key, json_body=body).status_code == 404
    assert platform.call("POST", "/v2/models/tiny/infer", key, json_body={"inputs": "no"}).status_code == 400

    # Then the inference function's log holds one EMF record per request, with the model and version in it
    mine = [doc for doc in emf_records(platform.state_dir / "logs") if doc.get("tenant_id") == tenant.tenant_id]
    inference = [doc for doc in mine if doc.get("route", "").startswith("POST /v2/")]
    assert len(inference) == 5
    served = [doc for doc in inference if doc["status"] == 200]
    assert {(d["model"], d["model_version"], d["Invocations"], d["Errors"]) for d in served} == {("tiny", "1", 1, 0)}
    assert all(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MaaS" for doc in inference)
    assert {doc["function"] for doc in inference} == {doc["function"] for doc in served}  # one function
    # and the control plane recorded the model's creation under its route
    assert any(doc["route"] == "POST /v1/models" and doc["status"] == 201 for doc in mine)

    # And `maas stats -o json` summarises them per model and version
    listed = maas_cli("stats", "-o", "json", "--state-dir", str(platform.state_dir))
    assert listed.returncode == 0, listed.stderr
    models = {
        (m["model"], m["model_version"]): m
        for m in json.loads(listed.stdout)["models"]
        if m["tenant_id"] == tenant.tenant_id
    }
    assert models[("tiny", "1")]["invocations"] == 3
    assert models[("tiny", "1")]["errors"] == {}
    assert models[("tiny", "1")]["latency_ms"]["p95"] >= models[("tiny", "1")]["latency_ms"]["p50"] > 0
    assert models[("tiny", "99")]["errors"] == {"NOT_FOUND": 1}
    assert models[("tiny", "-")]["errors"] == {"INVALID_REQUEST": 1}

    # And the table form names the model for people
    table = maas_cli("stats", "--state-dir", str(platform.state_dir))
    assert table.returncode == 0, table.stderr
    assert any(line.split()[:3] == [tenant.tenant_id, "tiny", "1"] for line in table.stdout.splitlines())


def test_a_cpu_job_is_recorded_with_its_wait_and_run_time(platform: Platform, make_tenant, models_dir: Path) -> None:
    # Given a cpu-target model and one asynchronous job on it, run by the CPU jobs function
    tenant = make_tenant("publish,invoke,read")
    key = tenant["publish,invoke,read"]
    assert register_bytes(platform, key, "queued", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    body = {"inputs": [{"name": "input", "shape": [2, 16], "datatype": "FP32", "data": [0.25] * 32}]}
    response = platform.call("POST", "/v1/models/queued/jobs", key, json_body=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert wait_for_jobs(platform, key, [job_id])[job_id]["status"] == "SUCCEEDED"

    # Then the CPU jobs function logged one job record with the model, the version and the attempt (written when
    # its invocation ends, which may be just after the job's status is readable)
    def job_records() -> list[dict]:
        return [d for d in emf_records(platform.state_dir / "logs") if d.get("job_id") == job_id and "Jobs" in d]

    assert wait_until(lambda: bool(job_records()), timeout=30)
    (doc,) = job_records()
    assert (doc["tenant_id"], doc["model"], doc["model_version"], doc["JobAttempts"], doc["JobsFailed"]) == (
        tenant.tenant_id,
        "queued",
        "1",
        1,
        0,
    )
    assert doc["JobRunTime"] > 0
    # and `maas stats` shows it in its jobs
    listed = maas_cli("stats", "-o", "json", "--state-dir", str(platform.state_dir))
    jobs = [j for j in json.loads(listed.stdout)["jobs"] if j["tenant_id"] == tenant.tenant_id]
    assert [(j["model"], j["jobs"], j["failed"]) for j in jobs] == [("queued", 1, 0)]
