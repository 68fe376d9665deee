"""The EMF records the functions print: names, units, dimensions and properties, parsed back from stdout."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from maas.api.inference import OipApi
from maas.inference.cache import ModelCache
from maas.inference.service import InferenceLimits, InferenceService, VersionResolver
from maas.metrics import FAMILIES, JOB, EmfBuffer, record, record_request, records
from maas.observability import metrics

from tests.unit.test_inference_service import BUCKET, event, ready_version, request_body

INFER = "POST /v2/models/{name}/infer"


@pytest.fixture
def api(store, blobs, mlp_onnx, tmp_path) -> OipApi:
    ready_version(store, blobs, "acme", "tiny", mlp_onnx)
    ready_version(store, blobs, "acme", "tiny", mlp_onnx)  # version 2; the default alias stays on 1
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=10_000_000)
    records.take()  # nothing left over from another test
    return OipApi(InferenceService(VersionResolver(store, 60, aliases=store), cache, InferenceLimits()))


def emitted(capsys: pytest.CaptureFixture[str], handler, *events: dict) -> list[dict]:
    """The EMF records printed by ``@metrics.log_metrics`` around ``handler``, one invocation per event."""
    wrapped = metrics.log_metrics(lambda e, context: handler(e))
    for e in events:
        wrapped(e, None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def metric_units(doc: dict) -> dict[str, str]:
    return {m["Name"]: m["Unit"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def test_an_infer_request_is_one_record_with_its_model_and_served_version_as_properties(api, capsys) -> None:
    # Given a model whose default alias points at version 1
    _, body = request_body(1)
    # When it is called without a version, then with version 2
    docs = emitted(
        capsys,
        api.handle,
        event(INFER, {"name": "tiny"}, body=body),
        event("POST /v2/models/{name}/versions/{version}/infer", {"name": "tiny", "version": "2"}, body=body),
    )
    # Then each request is one EMF record: route and service are the only dimensions
    assert len(docs) == 2
    first, second = docs
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "MaaS"
    assert directive["Dimensions"] == [["service", "route"]]
    assert metric_units(first) == {
        "Invocations": "Count",
        "Latency": "Milliseconds",
        "Errors": "Count",
        "Throttles": "Count",
    }
    assert first["route"] == INFER
    assert (first["Invocations"], first["Errors"], first["Throttles"]) == (1, 0, 0)
    assert first["Latency"] > 0
    # and the tenant, model and version the alias resolved to are properties, not dimensions
    assert (first["tenant_id"], first["model"], first["model_version"], first["status"]) == ("acme", "tiny", "1", 200)
    assert second["model_version"] == "2"
    assert "code" not in first
    assert isinstance(first["_aws"]["Timestamp"], int)


def test_an_error_counts_under_its_code_as_a_second_dimension_set(api, capsys) -> None:
    _, body = request_body(1)
    (unknown, unauthenticated) = emitted(
        capsys,
        api.handle,
        event(INFER, {"name": "nope"}, body=body),
        event(INFER, {"name": "tiny"}, body=body, tenant=None),
    )
    by_route, by_code = unknown["_aws"]["CloudWatchMetrics"]
    assert by_route["Dimensions"] == [["service", "route"]]
    assert (by_code["Dimensions"], by_code["Metrics"]) == ([["service", "code"]], [{"Name": "Errors", "Unit": "Count"}])
    assert (unknown["Errors"], unknown["code"], unknown["status"], unknown["model"]) == (1, "NOT_FOUND", 404, "nope")
    assert unauthenticated["code"] == "UNAUTHENTICATED"
    assert "tenant_id" not in unauthenticated


def test_a_binary_answer_names_its_version_too(api, capsys) -> None:
    x = np.ones((1, 16), dtype=np.float32)
    header = json.dumps(
        {
            "inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "parameters": {"binary_data_size": 64}}],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
        }
    ).encode()
    binary = event(
        INFER,
        {"name": "tiny"},
        body=base64.b64encode(header + x.tobytes()).decode(),
        binary=True,
        headers={"inference-header-content-length": str(len(header))},
    )
    (doc,) = emitted(capsys, api.handle, binary)
    assert (doc["status"], doc["model_version"]) == (200, "1")


def test_a_throttled_request_counts_as_a_throttle_and_an_error() -> None:
    buffer = EmfBuffer()
    doc = record_request("POST /v2/models/{name}/infer", 429, 1.5, code="TOO_MANY_REQUESTS", buffer=buffer)
    assert (doc["Throttles"], doc["Errors"], doc["code"]) == (1, 1, "TOO_MANY_REQUESTS")
    assert buffer.take() == [doc]


def test_unknown_routes_share_one_dimension_value(api, capsys) -> None:
    (doc,) = emitted(capsys, api.handle, event("GET /v2/whatever/{x}", {"x": "1"}))
    assert (doc["route"], doc["status"]) == ("unmatched", 404)


def test_nothing_recorded_flushes_nothing_and_warns_nothing(recwarn, capsys) -> None:
    records.take()
    assert emitted(capsys, lambda e: {"statusCode": 200}, {}) == []
    assert not [w for w in recwarn if "No application metrics" in str(w.message)]


def test_metrics_disabled_prints_nothing(api, capsys, monkeypatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    assert not EmfBuffer().enabled  # read when the buffer is made, at import in a function
    monkeypatch.setattr(records, "enabled", False)
    _, body = request_body(1)
    assert emitted(capsys, api.handle, event(INFER, {"name": "tiny"}, body=body)) == []


def test_every_family_declares_units_cloudwatch_knows_and_only_bounded_dimensions() -> None:
    for family in FAMILIES:
        assert set(family.dimensions) <= {"service", "route"}
        for _, unit in family.metrics:
            assert unit in {"Count", "Milliseconds"}
        (plain,) = family.directive(False)
        assert plain["Dimensions"] == [list(family.dimensions)]
        coded = family.directive(True)
        assert len(coded) == (2 if family.failures else 1)
        if family.failures:  # the one metric counted per code is one of the family's
            assert coded[1]["Metrics"] == [{"Name": family.failures, "Unit": "Count"}]
            assert family.failures in dict(family.metrics)


def test_properties_that_are_none_are_left_out_and_listeners_see_each_record() -> None:
    buffer = EmfBuffer()
    seen: list[dict] = []
    buffer.listeners.append(seen.append)
    doc = record(JOB, {"Jobs": 1}, buffer=buffer, tenant_id="acme", model=None)
    assert "model" not in doc
    assert seen == [doc]


def test_a_flush_is_one_write_of_json_lines() -> None:
    writes: list[bytes] = []
    buffer = EmfBuffer(write=writes.append)
    record(JOB, {"Jobs": 1}, buffer=buffer, job_id="a")
    record(JOB, {"Jobs": 1}, buffer=buffer, job_id="b")
    assert buffer.flush() == 2
    assert len(writes) == 1
    assert [json.loads(line)["job_id"] for line in writes[0].splitlines()] == ["a", "b"]
    assert buffer.flush() == 0
