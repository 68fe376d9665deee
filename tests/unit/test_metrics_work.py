"""The EMF records of queued work (jobs, dead letters, batch splits, shards, batch ends) and of the resolver-based
APIs, and ``maas stats``' summary of them, read back from the records themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest

from maas.cli.main import main as cli
from maas.domain.batch import BatchFormat
from maas.domain.jobs import JobStatus
from maas.local.stats import emf_records, percentile, summarise
from maas.metrics import record_api_requests, record_request, records
from maas.worker.engine import Action

from tests.unit.test_batch_pipeline import BatchPlatform, jsonl
from tests.unit.test_jobs import ACME, World, X, body, ingress, requested


@pytest.fixture(autouse=True)
def _empty_buffer() -> None:
    records.take()


def families(docs: list[dict]) -> dict[str, list[dict]]:
    """Records by their first metric's name."""
    out: dict[str, list[dict]] = {}
    for doc in docs:
        out.setdefault(doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], []).append(doc)
    return out


def test_a_finished_job_is_one_record_with_its_wait_run_time_and_attempts(mlp_onnx: bytes, tmp_path) -> None:
    world = World(mlp_onnx, tmp_path)
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    assert world.processor.handle(world.message(job)).action == Action.DONE
    assert world.processor.handle(world.message(job)).action == Action.DONE  # a duplicate records nothing
    (doc,) = records.take()
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["service"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "Jobs": "Count",
        "JobsFailed": "Count",
        "JobAttempts": "Count",
        "JobQueueWait": "Milliseconds",
        "JobRunTime": "Milliseconds",
    }
    assert (doc["Jobs"], doc["JobsFailed"], doc["JobAttempts"]) == (1, 0, 1)
    assert doc["JobRunTime"] > 0
    assert doc["JobQueueWait"] >= 0
    assert (doc["tenant_id"], doc["model"], doc["model_version"], doc["job_id"]) == ("acme", "tiny", "1", job.job_id)
    assert doc["status"] == JobStatus.SUCCEEDED.value


def test_a_failed_job_counts_under_its_code_and_a_dead_letter_is_counted(mlp_onnx: bytes, tmp_path) -> None:
    world = World(mlp_onnx, tmp_path)
    job, _ = world.service.submit(ACME, "tiny", None, body(X), None)
    stored = world.jobs.jobs[("acme", job.job_id)]
    stored.request_body = body(np.zeros((1, 3), np.float32)).encode()  # inputs that no longer fit the model
    world.processor.handle(world.message(job))
    assert world.processor.handle("not json").action == Action.DEAD
    by_name = families(records.take())
    (failed,) = by_name["Jobs"]
    assert (failed["JobsFailed"], failed["status"]) == (1, "FAILED")
    assert failed["_aws"]["CloudWatchMetrics"][1]["Dimensions"] == [["service", "code"]]
    assert failed["code"] == "INVALID_REQUEST"
    (letter,) = by_name["DeadLetters"]
    assert letter["DeadLetters"] == 1
    assert "not a job message" in letter["reason"]


def test_an_event_the_ingress_rejects_is_counted_as_a_dead_letter(mlp_onnx: bytes, tmp_path) -> None:
    gate, dead, _ = ingress(World(mlp_onnx, tmp_path))
    assert gate.handle(requested("strangers", {"model": "tiny", "request": {}})) is None
    assert len(dead.messages) == 1
    (doc,) = records.take()
    assert (doc["DeadLetters"], doc["source"]) == (1, "strangers")
    assert doc["reason"]


def test_a_batch_job_records_its_split_each_shard_and_its_end() -> None:
    platform = BatchPlatform()
    started, _ = platform.service.start(ACME, "scorer", "1", BatchFormat.JSONL, "daily")
    platform.upload(jsonl(*([i, i, i] for i in range(5)), b"{broken"))
    platform.deliver()
    by_name = families(records.take())
    (split,) = by_name["BatchRows"]
    assert (split["BatchRows"], split["BatchShards"], split["BatchInputErrors"]) == (6, 3, 1)
    assert (split["model"], split["model_version"], split["job_id"]) == ("scorer", "1", started.job_id)
    shards = by_name["ShardRows"]
    assert sorted(s["shard"] for s in shards) == [0, 1, 2]
    assert sum(s["ShardRows"] for s in shards) == 5
    assert all(s["ShardRowFailures"] == 0 for s in shards)
    (end,) = by_name["BatchJobsCompleted"]
    assert (end["BatchJobsCompleted"], end["BatchJobsFailed"], end["status"]) == (1, 0, "PARTIAL")


def test_a_resolver_api_request_records_its_route_and_the_code_from_its_body() -> None:
    def answer(event: dict, context: object) -> dict:
        status = event["status"]
        return {"statusCode": status, "body": json.dumps({"error": "no", "code": "CONFLICT"} if status >= 400 else {})}

    handler = record_api_requests(answer)
    event = {
        "routeKey": "POST /v1/models",
        "requestContext": {"requestId": "r1", "authorizer": {"lambda": {"tenant_id": "acme"}}},
    }
    handler({**event, "status": 201}, None)
    handler({**event, "status": 409}, None)
    created, conflict = records.take()
    assert (created["route"], created["status"], created["Errors"], created["tenant_id"]) == (
        "POST /v1/models",
        201,
        0,
        "acme",
    )
    assert (conflict["status"], conflict["code"], conflict["Errors"]) == (409, "CONFLICT", 1)


def test_an_exception_that_escapes_the_api_is_recorded_as_a_500() -> None:
    def explode(event: dict, context: object) -> dict:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        record_api_requests(explode)({"routeKey": "GET /v1/models"}, None)
    (doc,) = records.take()
    assert (doc["status"], doc["code"], doc["route"]) == (500, "INTERNAL", "GET /v1/models")


def write_log(folder: Path, name: str, docs: list[dict], noise: bool = True) -> None:
    lines = [b"START RequestId: x", b'{"level": "INFO", "message": "not a metric"}', b"{broken"] if noise else []
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"\n".join([*lines, *(orjson.dumps(d) for d in docs)]) + b"\n")


def test_stats_summarise_infer_requests_per_model_and_version(tmp_path, capsys) -> None:
    # Given the inference function's log: 20 requests of tiny v1 (one throttled), one of v2 that failed
    infer = "POST /v2/models/{name}/infer"
    docs = [
        record_request(infer, 200, float(ms), tenant_id="acme", model="tiny", model_version="1") for ms in range(1, 20)
    ]
    docs.append(
        record_request(infer, 429, 0.5, code="TOO_MANY_REQUESTS", tenant_id="acme", model="tiny", model_version="1")
    )
    docs.append(record_request(infer, 404, 0.2, code="NOT_FOUND", tenant_id="acme", model="tiny", model_version="2"))
    docs.append(record_request("GET /v1/models/{name}", 200, 3.0, tenant_id="acme", model="tiny"))  # not inference
    write_log(tmp_path / "logs", "InferenceFunction.log", docs)
    records.take()

    # When it is summarised
    summary = summarise(tmp_path / "logs")

    # Then each version has its counts, error codes and latency percentiles; other lines are skipped
    assert summary["records"] == len(docs)
    v1, v2 = summary["models"]
    assert (v1["model_version"], v1["invocations"], v1["throttles"]) == ("1", 20, 1)
    assert v1["errors"] == {"TOO_MANY_REQUESTS": 1}
    assert v1["latency_ms"] == {"p50": 9.0, "p95": 18.0}  # nearest rank of 0.5, 1, 2, ..., 19
    assert (v2["model_version"], v2["invocations"], v2["errors"]) == ("2", 1, {"NOT_FOUND": 1})

    # And the CLI prints it as JSON for scripts
    assert cli(["--state-dir", str(tmp_path), "stats", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"] == summary["models"]
    assert cli(["stats", "--state-dir", str(tmp_path)]) == 0
    assert "TOO_MANY_REQUESTS=1" in capsys.readouterr().out


def test_stats_without_logs_says_so(tmp_path, capsys) -> None:
    assert cli(["stats", "--state-dir", str(tmp_path / "nothing")]) == 1
    assert "no logs" in capsys.readouterr().out


def test_emf_records_are_only_json_objects_with_an_aws_key(tmp_path) -> None:
    write_log(tmp_path, "a.log", [{"_aws": {"Timestamp": 1}, "x": 1}, {"_aws": "no"}, {"y": 2}])
    assert [d["x"] for d in emf_records(tmp_path)] == [1]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0
