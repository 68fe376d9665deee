"""Queue sender on SQS."""

from __future__ import annotations

from maas.adapters.aws import client


class SqsQueueSender:
    def __init__(self, queue_url: str) -> None:
        self._url = queue_url

    def send(self, body: str) -> None:
        client("sqs").send_message(QueueUrl=self._url, MessageBody=body)
