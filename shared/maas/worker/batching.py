"""Dynamic batching: gather single requests into batches, run each batch once, split the results back.

Requests for one model version wait at most ``max_queue_delay_ms`` after the first of a batch arrived, or until
``max_batch_size`` rows are gathered, whichever is first (Triton's dynamic batcher and SageMaker's behave the
same way). Requests whose tensors differ in anything but the batch axis (dtype, trailing shape) cannot share a
batch; they form their own. If a batch fails, each of its requests runs alone, so one bad request fails by
itself and the others still get their results.
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

    def __init__(self, run: RunFn, *, max_batch_size: int = 32, max_queue_delay_ms: float = 5) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._run = run
        self._max_rows = max_batch_size
        self._delay = max_queue_delay_ms / 1000
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._loop, name="dynamic-batcher", daemon=True)
        self._thread.start()

    def submit(self, inputs: Tensors) -> Future[Tensors]:
        """Queue one request (batch axis first, any number of rows); its outputs arrive on the future."""
        pending = _Pending(inputs, _rows(inputs), _compat_key(inputs))
        with self._cond:
            if self._closed:
                raise BatcherClosedError("the batcher is closed")
            self._queue.append(pending)
            self._queued_rows += pending.rows
            # wake the batching thread only when it has something to decide: a first request, or a full batch
            if len(self._queue) == 1 or self._queued_rows >= self._max_rows:
                self._cond.notify()
        return pending.future

    def close(self, timeout: float = 30) -> None:
        """Take no more requests; run what is queued; return once done."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    # --- the batching thread --------------------------------------------------------------------------------
    def _next_batch(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + self._delay
            while self._queued_rows < self._max_rows and not self._closed:
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
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._execute(batch)

    def _execute(self, batch: list[_Pending]) -> None:
        names = list(batch[0].inputs)
        total = sum(p.rows for p in batch)
        try:
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
