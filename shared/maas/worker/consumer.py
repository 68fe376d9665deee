"""The GPU worker's SQS consumer: long-poll the jobs queue, run jobs through the engine, keep leases alive, drain.

- Receives only as many messages as it has room for (``max_inflight``), each under a visibility timeout of one
  lease; a heartbeat extends the message's visibility and the job's lease while the job runs.
- DONE deletes the message; RETRY makes it visible again after the delay; DEAD sends it to the dead-letter
  queue with the reason (a message attribute) and deletes it.
- On SIGTERM (ECS stops a task; SageMaker scales in): stops receiving, finishes what it holds, hands back what it
  has not started (visibility 0), and returns within ``drain_seconds``; whatever still runs then is released.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from maas.domain.jobs import Job
from maas.metrics import records
from maas.observability import logger
from maas.ports import JobStore
from maas.worker.engine import Action, Handled, JobProcessor


@dataclass
class _Held:
    message_id: str
    receipt: str
    body: str
    job: Job | None = None
    started: bool = False
    future: Future[Handled] | None = field(default=None, repr=False)


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class SqsConsumer:
    def __init__(
        self,
        processor: JobProcessor,
        jobs: JobStore,
        sqs: Any,
        queue_url: str,
        dead_letter_url: str | None,
        *,
        lease_seconds: int = 60,
        max_inflight: int = 64,
        wait_seconds: int = 2,
        drain_seconds: float = 25,
    ) -> None:
        self.processor = processor
        self.jobs = jobs
        self.sqs = sqs
        self.queue_url = queue_url
        self.dead_letter_url = dead_letter_url
        self.lease_seconds = lease_seconds
        self.max_inflight = max_inflight
        self.wait_seconds = wait_seconds
        self.drain_seconds = drain_seconds
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._room = threading.Semaphore(max_inflight)
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_inflight, thread_name_prefix="job")
        self.handled = 0

    # --- lifecycle ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to drain and return (safe from a signal handler)."""
        self._stopping.set()

    def run(self) -> None:
        heartbeat = threading.Thread(target=self._heartbeat, name="lease-heartbeat", daemon=True)
        heartbeat.start()
        logger.info("worker polling", extra={"queue": self.queue_url, "max_inflight": self.max_inflight})
        try:
            while not self._stopping.is_set():
                self._poll_once()
        finally:
            self._drain()

    def _poll_once(self) -> None:
        if not self._room.acquire(timeout=0.5):
            return
        taken = 1
        while taken < 10 and self._room.acquire(blocking=False):  # room for up to 10 in one receive
            taken += 1
        try:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=taken,
                WaitTimeSeconds=self.wait_seconds,
                VisibilityTimeout=self.lease_seconds,
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
        except Exception:
            for _ in range(taken):
                self._room.release()
            if not self._stopping.is_set():
                logger.exception("receive failed", extra={"queue": self.queue_url})
                self._stopping.wait(1)
            return
        for _ in range(taken - len(messages)):
            self._room.release()
        for message in messages:
            held = _Held(message["MessageId"], message["ReceiptHandle"], message["Body"])
            with self._lock:
                self._held[held.message_id] = held
            held.future = self._pool.submit(self._handle, held)

    def _handle(self, held: _Held) -> Handled:
        held.started = True
        try:
            if self._stopping.is_set():  # received just before the stop: hand it back unstarted
                self._release_message(held)
                return Handled(Action.RETRY)

            def claimed(job: Job) -> None:
                held.job = job

            handled = self.processor.handle(held.body, claimed)
            self._settle(held, handled)
            return handled
        except Exception:
            logger.exception("message handling failed; it comes back after its visibility timeout")
            return Handled(Action.RETRY)
        finally:
            with self._lock:
                self._held.pop(held.message_id, None)
            records.flush()  # this message's EMF records (stdout: the ECS log driver, or the local worker's log)
            self.handled += 1
            self._room.release()

    def _settle(self, held: _Held, handled: Handled) -> None:
        if handled.action == Action.DONE:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=held.receipt)
        elif handled.action == Action.RETRY:
            self._change_visibility(held, max(0, min(handled.delay, 43_200)))
        else:
            if self.dead_letter_url:
                self.sqs.send_message(
                    QueueUrl=self.dead_letter_url,
                    MessageBody=held.body,
                    MessageAttributes={"reason": {"DataType": "String", "StringValue": handled.reason[:1000]}},
                )
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=held.receipt)
            logger.warning("message dead-lettered", extra={"job_id": handled.job_id, "reason": handled.reason})

    def _change_visibility(self, held: _Held, seconds: int) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=held.receipt, VisibilityTimeout=seconds
            )
        except Exception:  # the receipt expired: the message is visible again anyway
            logger.warning("could not change visibility", extra={"message_id": held.message_id})

    def _release_message(self, held: _Held) -> None:
        if held.job is not None and held.job.lease_token:
            self.jobs.release_job(held.job.tenant_id, held.job.job_id, held.job.lease_token)
        self._change_visibility(held, 0)

    # --- leases ---------------------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        interval = max(0.5, self.lease_seconds / 3)
        while True:
            if self._stopping.is_set():
                time.sleep(interval)  # draining: keep what still runs alive until it is done or released
            else:
                self._stopping.wait(interval)
            with self._lock:
                held = list(self._held.values())
            if self._stopping.is_set() and not held:
                return
            for item in held:
                self._change_visibility(item, self.lease_seconds)
                job = item.job
                if job is not None and job.lease_token:
                    self.jobs.extend_lease(job.tenant_id, job.job_id, job.lease_token, time.time() + self.lease_seconds)

    # --- stopping -------------------------------------------------------------------------------------------
    def _drain(self) -> None:
        deadline = time.monotonic() + self.drain_seconds
        with self._lock:
            held = list(self._held.values())
        running = [h for h in held if h.future is not None]
        wait([h.future for h in running if h.future], timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = list(self._held.values())
        for item in left:  # still running at the deadline: hand back, another worker runs it
            logger.warning("released at shutdown", extra={"message_id": item.message_id})
            self._release_message(item)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.processor.close(timeout=max(1.0, deadline - time.monotonic()))
        logger.info("worker stopped", extra={"handled": self.handled, "released": len(left)})
