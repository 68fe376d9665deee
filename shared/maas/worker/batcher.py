"""Dynamic batching: gather single requests into batches, run each batch once, split the results back.

Requests for one model version wait at most ``max_queue_delay_ms`` after the first of a batch arrived, or until
``max_batch_size`` rows are gathered, whichever is first (Triton's dynamic batcher and SageMaker's behave the
same way). Requests whose tensors differ in anything but the batch axis (dtype, trailing shape) cannot share a
batch; they form their own. If a batch fails, each of its requests runs alone, so one bad request fails by
itself and the others still get their results.

A server that knows which requests are on their way can say so (``eager=True``, ``announce``): the batcher then
waits only for announced requests, never the full delay for requests that may not come, and ``call`` runs a
request at once on the caller's thread when nothing else is queued, running or on its way.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

Tensors = dict[str, np.ndarray]
RunFn = Callable[[Tensors], Tensors]


class BatcherClosedError(RuntimeError):
    """The batcher no longer takes requests (the worker is stopping)."""


@dataclass
class _Pending:
    inputs: Tensors
    rows: int
    key: tuple[object, ...]
    future: Future[Tensors] = field(default_factory=Future)


def _compat_key(inputs: Tensors) -> tuple[object, ...]:
    return tuple(sorted((name, array.dtype.str, array.shape[1:]) for name, array in inputs.items()))


def _rows(inputs: Tensors) -> int:
    counts = {array.shape[0] if array.ndim else 1 for array in inputs.values()}
    if len(counts) != 1:
        raise ValueError(f"inputs disagree on the batch size: {sorted(counts)}")
    return counts.pop()


@dataclass
class BatchStats:
    batches: int = 0
    rows: int = 0
    isolated_failures: int = 0

    @property
    def mean_batch_rows(self) -> float:
        return self.rows / self.batches if self.batches else 0.0


class DynamicBatcher:
    """One model version's batcher: ``submit`` from any thread, results come back as futures."""

    def __init__(
        self, run: RunFn, *, max_batch_size: int = 32, max_queue_delay_ms: float = 5, eager: bool = False
    ) -> None:
        """``eager``: wait up to ``max_queue_delay_ms`` only while announced requests are still on their way.

        Without it a batch that is not full always waits out the delay (right for a queue consumer, which
        cannot know what comes next); with it a lone request runs at once and a burst still shares a batch.
        """
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._run = run
        self._max_rows = max_batch_size
        self._delay = max_queue_delay_ms / 1000
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self._eager = eager
        self._arriving = 0  # announced requests not yet submitted
        self._running = False  # a batch, or a request run on its caller's thread, is executing
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._loop, name="dynamic-batcher", daemon=True)
        self._thread.start()

    def announce(self) -> None:
        """A request is on its way (its body is being read): an eager batcher waits for it, up to the delay.

        Every announce is followed by exactly one ``submit(..., announced=True)``, ``call(..., announced=True)``
        or ``withdraw()``.
        """
        with self._cond:
            self._arriving += 1

    def withdraw(self) -> None:
        """An announced request will not come after all (it failed before reaching the model)."""
        with self._cond:
            self._arriving -= 1
            if self._arriving == 0 and self._queue:
                self._cond.notify()

    def submit(self, inputs: Tensors, *, announced: bool = False) -> Future[Tensors]:
        """Queue one request (batch axis first, any number of rows); its outputs arrive on the future."""
        pending = self._pending(inputs, announced)
        with self._cond:
            self._admit(announced)
            self._enqueue(pending)
        return pending.future

    def call(self, inputs: Tensors, *, announced: bool = False, timeout: float | None = None) -> Tensors:
        """Run one request and return its outputs, batched with others when there are others.

        On an eager batcher with nothing queued, running or announced, the request runs at once on the calling
        thread: a lone request pays neither the delay nor the hand-off to the batching thread and back (tens of
        microseconds). Requests that come meanwhile queue up and form the next batch.
        """
        pending = self._pending(inputs, announced)
        with self._cond:
            self._admit(announced)
            inline = self._eager and not self._queue and not self._running and self._arriving == 0
            if inline:
                self._running = True
            else:
                self._enqueue(pending)
        if inline:
            try:
                self._execute([pending])
            finally:
                with self._cond:
                    self._running = False
                    if self._queue:
                        self._cond.notify()
        return pending.future.result(timeout)

    def _pending(self, inputs: Tensors, announced: bool) -> _Pending:
        try:
            return _Pending(inputs, _rows(inputs), _compat_key(inputs))
        except Exception:
            if announced:  # it will never be submitted
                self.withdraw()
            raise

    def _admit(self, announced: bool) -> None:
        if announced:
            self._arriving -= 1
        if self._closed:
            raise BatcherClosedError("the batcher is closed")

    def _enqueue(self, pending: _Pending) -> None:
        self._queue.append(pending)
        self._queued_rows += pending.rows
        # wake the batching thread only when it has something to decide: a first request, a full batch, or
        # (eager) the last announced request arrived
        if len(self._queue) == 1 or self._queued_rows >= self._max_rows or (self._eager and self._arriving == 0):
            self._cond.notify()

    def close(self, timeout: float = 30) -> None:
        """Take no more requests; run what is queued; return once done."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    # --- the batching thread --------------------------------------------------------------------------------
    def _next_batch(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue or self._running:  # running: a caller's own run; what queued meanwhile waits
                if self._closed and not self._queue:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + self._delay
            while self._queued_rows < self._max_rows and not self._closed and (not self._eager or self._arriving > 0):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            # take compatible requests from the front until the batch is full; leave the rest in order
            key = self._queue[0].key
            batch: list[_Pending] = []
            skipped: list[_Pending] = []
            taken = 0
            while self._queue and taken < self._max_rows:
                pending = self._queue.popleft()
                if pending.key == key and (not batch or taken + pending.rows <= self._max_rows):
                    batch.append(pending)
                    taken += pending.rows
                else:
                    skipped.append(pending)
                    if len(skipped) > 4 * self._max_rows:  # a long run of other shapes: they wait their turn
                        break
            self._queue.extendleft(reversed(skipped))
            self._queued_rows -= taken
            self._running = True
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._execute(batch)
            finally:
                with self._cond:
                    self._running = False

    def _execute(self, batch: list[_Pending]) -> None:
        names = list(batch[0].inputs)
        total = sum(p.rows for p in batch)
        try:
            if len(batch) == 1:  # nothing to merge: no copy
                merged = batch[0].inputs
            else:
                merged = {n: np.concatenate([p.inputs[n] for p in batch], axis=0) for n in names}
            outputs = self._run(merged)
            if len(batch) > 1 and any(out.ndim == 0 or out.shape[0] != total for out in outputs.values()):
                raise ValueError("the model's outputs do not follow the batch axis; running requests one by one")
        except Exception as exc:
            if len(batch) == 1:
                self.stats.isolated_failures += 1
                batch[0].future.set_exception(exc)
                return
            for pending in batch:  # isolate the request that breaks the batch
                self._execute([pending])
            return
        self.stats.batches += 1
        self.stats.rows += total
        if len(batch) == 1:
            batch[0].future.set_result(outputs)
            return
        offset = 0
        for pending in batch:
            part = {n: out[offset : offset + pending.rows] for n, out in outputs.items()}
            offset += pending.rows
            pending.future.set_result(part)
