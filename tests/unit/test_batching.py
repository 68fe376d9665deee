"""The dynamic batcher: every request gets exactly its own rows back, batches respect the limits, failures
stay with the request that caused them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maas.worker.batcher import BatcherClosedError, DynamicBatcher


def doubling(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    x = inputs["x"]
    return {"y": x * 2, "rowsum": x.reshape(len(x), -1).sum(axis=1)}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=40), st.integers(1, 16))
def test_every_request_gets_its_own_rows(row_counts: list[int], max_batch: int) -> None:
    batcher = DynamicBatcher(doubling, max_batch_size=max_batch, max_queue_delay_ms=2)
    try:
        requests = [np.full((rows, 3), i, dtype=np.float32) for i, rows in enumerate(row_counts)]
        with ThreadPoolExecutor(8) as pool:
            futures = list(pool.map(lambda x: batcher.submit({"x": x}), requests))
        for x, future in zip(requests, futures, strict=True):
            out = future.result(timeout=10)
            np.testing.assert_array_equal(out["y"], x * 2)
            np.testing.assert_array_equal(out["rowsum"], x.sum(axis=1))
    finally:
        batcher.close()


def test_batches_fill_up_to_the_limit_under_load() -> None:
    sizes: list[int] = []

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sizes.append(len(inputs["x"]))
        time.sleep(0.005)  # a model that takes a while, so requests pile up
        return doubling(inputs)

    batcher = DynamicBatcher(run, max_batch_size=8, max_queue_delay_ms=20)
    try:
        with ThreadPoolExecutor(32) as pool:
            futures = [pool.submit(lambda i=i: batcher.submit({"x": np.full((1, 2), i)}).result(10)) for i in range(64)]
            results = [f.result() for f in futures]
    finally:
        batcher.close()
    assert len(results) == 64
    assert max(sizes) <= 8
    assert sum(sizes) == 64
    assert batcher.stats.mean_batch_rows > 2  # single requests were batched


def test_a_lone_request_runs_without_a_full_batch() -> None:
    batcher = DynamicBatcher(doubling, max_batch_size=64, max_queue_delay_ms=30)
    try:
        # the timeout only keeps a broken batcher (one waiting for 64 rows) from hanging the suite
        assert batcher.submit({"x": np.ones((1, 2))}).result(10)["y"].tolist() == [[2.0, 2.0]]
        assert batcher.stats.batches == 1
    finally:
        batcher.close()


def test_incompatible_requests_do_not_share_a_batch() -> None:
    seen: list[tuple[int, ...]] = []

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(inputs["x"].shape)
        return doubling(inputs)

    batcher = DynamicBatcher(run, max_batch_size=16, max_queue_delay_ms=20)
    try:
        a = batcher.submit({"x": np.ones((1, 3), dtype=np.float32)})
        b = batcher.submit({"x": np.ones((1, 4), dtype=np.float32)})
        c = batcher.submit({"x": np.ones((1, 3), dtype=np.float64)})
        for future in (a, b, c):
            future.result(5)
    finally:
        batcher.close()
    assert sorted(seen) == [(1, 3), (1, 3), (1, 4)]


def test_a_bad_request_fails_alone() -> None:
    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if (inputs["x"] < 0).any():
            raise ValueError("negative input")
        return doubling(inputs)

    batcher = DynamicBatcher(run, max_batch_size=16, max_queue_delay_ms=50)
    try:
        futures = [batcher.submit({"x": np.full((1, 2), v, dtype=np.float32)}) for v in (1, -1, 2, 3)]
        good = [futures[i].result(5)["y"][0, 0] for i in (0, 2, 3)]
        with pytest.raises(ValueError, match="negative"):
            futures[1].result(5)
    finally:
        batcher.close()
    assert good == [2, 4, 6]
    assert batcher.stats.isolated_failures == 1


def test_close_drains_then_refuses() -> None:
    release = threading.Event()

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        release.wait(5)
        return doubling(inputs)

    batcher = DynamicBatcher(run, max_batch_size=4, max_queue_delay_ms=1)
    futures = [batcher.submit({"x": np.ones((1, 2))}) for _ in range(6)]
    release.set()
    batcher.close()
    assert all(f.result(1)["y"][0, 0] == 2 for f in futures)
    with pytest.raises(BatcherClosedError):
        batcher.submit({"x": np.ones((1, 2))})


def test_disagreeing_batch_sizes_are_refused() -> None:
    batcher = DynamicBatcher(doubling)
    try:
        with pytest.raises(ValueError, match="batch size"):
            batcher.submit({"x": np.ones((2, 2)), "z": np.ones((3, 2))})
    finally:
        batcher.close()
