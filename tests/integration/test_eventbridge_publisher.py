"""EventBridgePublisher against moto: an event put on the bus arrives, through a rule, in an SQS queue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from maas.adapters.eventbridge import EventBridgePublisher
from maas.domain import Signature, TensorSpec
from maas.events import ModelVersionFailed, ModelVersionReady

from tests.integration.conftest import client

BUS = "maas-events-test"


@pytest.fixture
def queue_url(aws_mock: None) -> str:
    events, sqs = client("events"), client("sqs")
    events.create_event_bus(Name=BUS)
    url = sqs.create_queue(QueueName="maas-events-sink")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-maas", EventBusName=BUS, EventPattern=json.dumps({"source": ["maas"]}))
    events.put_targets(Rule="all-maas", EventBusName=BUS, Targets=[{"Id": "sink", "Arn": arn}])
    return url


def received(queue_url: str) -> list[dict[str, Any]]:
    messages = client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_published_event_reaches_the_bus(queue_url: str) -> None:
    detail = ModelVersionReady(
        tenant_id="acme",
        model="resnet",
        version=3,
        sha256="ab" * 32,
        size_bytes=1234,
        signature=Signature(
            inputs=[TensorSpec(name="input", datatype="FP32", shape=[-1, 16])],
            outputs=[TensorSpec(name="logits", datatype="FP32", shape=[-1, 4])],
        ),
    )

    EventBridgePublisher(BUS).publish(detail)

    (event,) = received(queue_url)
    assert event["source"] == "maas"
    assert event["detail-type"] == "ModelVersionReady"
    assert event["detail"] == detail.model_dump(mode="json")


def test_events_go_to_the_named_bus_only(queue_url: str) -> None:
    client("events").create_event_bus(Name="other-bus")

    EventBridgePublisher("other-bus").publish(ModelVersionFailed(tenant_id="acme", model="m", version=1, reason="bad"))

    assert received(queue_url) == []


def test_a_failed_event_carries_its_reason(queue_url: str) -> None:
    EventBridgePublisher(BUS).publish(ModelVersionFailed(tenant_id="acme", model="m", version=2, reason="not ONNX"))

    (event,) = received(queue_url)
    assert event["detail-type"] == "ModelVersionFailed"
    assert event["detail"] == {"tenant_id": "acme", "model": "m", "version": 2, "reason": "not ONNX"}


def test_publishing_to_a_missing_bus_raises(aws_mock: None) -> None:
    # The validator's delivery then fails and is retried; the version stays unannounced until it succeeds.
    with pytest.raises(ClientError, match="does not exist"):
        EventBridgePublisher("no-such-bus").publish(
            ModelVersionFailed(tenant_id="acme", model="m", version=1, reason="x")
        )
