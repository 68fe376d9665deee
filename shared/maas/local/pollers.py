"""Queue pollers: what Lambda's event source mappings and asynchronous invocations do, from SQS queues.

- ``s3`` shim queues carry S3 notifications: one message, one asynchronous invocation with the S3 event;
  a failed invocation leaves the message, to be retried after the visibility timeout and dead-lettered
  after the shim queue's receive limit (Lambda retries asynchronous invocations twice).
- ``sqs`` event sources: batches of ``batch_size`` as an SQS event; with ReportBatchItemFailures, the
  reported items stay on the queue and the rest are deleted; a failed invocation leaves the whole batch.

Up to ``concurrency`` deliveries run at once (Lambda scales a queue's consumers out in the same way); a poller
receives only when one of them is free, so nothing waits in memory while its visibility timeout runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from maas.local.functions import InvocationError
from maas.local.provision import QueueSource
from maas.observability import logger

WAIT_SECONDS = 1


class QueuePoller:
    def __init__(
        self, source: QueueSource, sqs: Any, invoke: Callable[[str, Any], Any], region: str, concurrency: int = 1
    ) -> None:
        self.source = source
        self._sqs = sqs
        self._invoke = invoke
        self._region = region
        self._slots = threading.Semaphore(max(1, concurrency))
        self._deliveries = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix=f"deliver-{source.function}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller-{source.function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        self._deliveries.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                self._poll_once()
            except BaseException:
                self._slots.release()
                raise

    def _poll_once(self) -> None:
        """Receive one batch into the slot ``_run`` took; the slot is free again when its delivery ends."""
        try:
            messages = self._sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size),
                WaitTimeSeconds=WAIT_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        except Exception:
            self._slots.release()
            if not self._stop.is_set():
                logger.exception("polling failed", extra={"queue": self.source.queue_url})
                self._stop.wait(1)
            return
        if not messages:
            self._slots.release()
            return
        self._deliveries.submit(self._deliver, messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        try:
            if self.source.kind == "sqs":
                self._deliver_batch(messages)
            else:
                for message in messages:
                    self._deliver_one(message)
        except Exception:
            logger.exception("delivery failed", extra={"queue": self.source.queue_url})
        finally:
            self._slots.release()

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self._sqs.delete_message(QueueUrl=self.source.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _deliver_one(self, message: dict[str, Any]) -> None:
        event = json.loads(message["Body"])
        if self.source.kind == "s3" and event.get("Event") == "s3:TestEvent":
            self._delete([message])
            return
        if self.source.kind == "eventbridge" and "detail-type" not in event:
            logger.warning("not an EventBridge event; dropped", extra={"body": message["Body"][:200]})
            self._delete([message])
            return
        try:
            self._invoke(self.source.function, event)
        except InvocationError as error:
            logger.warning("asynchronous invocation failed; will retry", extra={"error": str(error)})
            return
        self._delete([message])

    def _deliver_batch(self, messages: list[dict[str, Any]]) -> None:
        arn = self._queue_arn()
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    k: {
                        "stringValue": v.get("StringValue"),
                        "binaryValue": v.get("BinaryValue"),
                        "dataType": v["DataType"],
                        "stringListValues": [],
                        "binaryListValues": [],
                    }
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": self._region,
            }
            for m in messages
        ]
        try:
            result = self._invoke(self.source.function, {"Records": records})
        except InvocationError as error:
            logger.warning("batch invocation failed; the batch stays on the queue", extra={"error": str(error)})
            return
        failed: set[str] = set()
        if self.source.report_failures and isinstance(result, dict):
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures") or []}
        self._delete([m for m in messages if m["MessageId"] not in failed])

    def _queue_arn(self) -> str:
        if not hasattr(self, "_arn"):
            attributes = self._sqs.get_queue_attributes(QueueUrl=self.source.queue_url, AttributeNames=["QueueArn"])
            self._arn: str = attributes["Attributes"]["QueueArn"]
        return self._arn
