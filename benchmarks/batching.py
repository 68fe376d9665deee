"""Dynamic batching in process (no SQS): many concurrent single-row requests, batched, against
(a) the same requests run one at a time and (b) session.run on the best batch size over the same rows.

Model: the medium MLP 256 -> 1024 -> 1024 -> 10, on onnxruntime (``--backend onnx``, CPU) or on torch
(``--backend torch``: CUDA where a GPU is present, else CPU). Goals: dynamic >= 3x (a), and >= 0.8x (b).
``--max-batch 0`` (the default) gives the dynamic batcher the best fixed batch size as its maximum, as an operator
would set ``max_batch_size``; the default configuration's 32 is measured too.

Usage: .venv/bin/python benchmarks/batching.py [--backend onnx|torch] [--requests 1024] [--clients 32]
       [--max-batch 0] [--delay-ms 5]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_json, print_table

GOALS = {"speedup_vs_one_at_a_time": 3.0, "ratio_vs_best_batch": 0.8}


def make_runner(backend: str) -> tuple[object, str]:
    """The model as the worker's backends run it: a dict of numpy arrays in, a dict out."""
    from maas.modelkit import export_mlp, export_torchscript_mlp

    tmp = tempfile.mkdtemp(prefix="maas-bench-")  # kept: the TorchScript model host reads the artifact from it
    if backend == "torch":  # in a model host, as the worker runs TorchScript (benchmarks/sandbox.py compares)
        from maas.backends.torchscript import load_torchscript
        from maas.domain import Signature

        signature = Signature.model_validate(export_torchscript_mlp(Path(tmp) / "m.pt", [256, 1024, 1024, 10]))
        torchscript = load_torchscript(str(Path(tmp) / "m.pt"), signature)
        return torchscript.run, torchscript.device
    from maas.backends.onnx import load_onnx

    onnx = load_onnx(str(export_mlp(Path(tmp) / "m.onnx", [256, 1024, 1024, 10])))
    return onnx.run, onnx.device


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=0, help="0: the best fixed batch size")
    parser.add_argument("--delay-ms", type=float, default=5)
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    args = parser.parse_args()

    from maas.worker.batcher import DynamicBatcher

    run, device = make_runner(args.backend)
    rows = np.random.default_rng(0).standard_normal((args.requests, 256)).astype(np.float32)

    for _ in range(20):  # warm
        run({"input": rows[:32]})

    # (a) one at a time
    started = time.perf_counter()
    for i in range(args.requests):
        run({"input": rows[i : i + 1]})
    one_at_a_time = args.requests / (time.perf_counter() - started)

    # (b) the best fixed batch size over the same rows
    best, best_size = 0.0, 1
    for size in (8, 16, 32, 64, 128):
        started = time.perf_counter()
        for i in range(0, args.requests, size):
            run({"input": rows[i : i + size]})
        rate = args.requests / (time.perf_counter() - started)
        if rate > best:
            best, best_size = rate, size

    max_batch = args.max_batch or best_size

    def open_loop(size: int) -> tuple[float, DynamicBatcher]:
        """All M single-row requests in flight at once."""
        batcher = DynamicBatcher(run, max_batch_size=size, max_queue_delay_ms=args.delay_ms)
        started = time.perf_counter()
        futures = [batcher.submit({"input": rows[i : i + 1]}) for i in range(args.requests)]
        for future in futures:
            future.result(60)
        rate = args.requests / (time.perf_counter() - started)
        batcher.close()
        return rate, batcher

    dynamic_default, default_batcher = open_loop(32)
    dynamic, open_batcher = open_loop(max_batch)

    # dynamic batching, closed loop: clients each sending single-row requests one after another
    batcher = DynamicBatcher(run, max_batch_size=max_batch, max_queue_delay_ms=args.delay_ms)
    per_client = args.requests // args.clients
    latencies: list[float] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        mine = []
        for j in range(per_client):
            i = index * per_client + j
            t0 = time.perf_counter()
            out = batcher.submit({"input": rows[i : i + 1]}).result(60)
            mine.append(time.perf_counter() - t0)
            assert out["logits"].shape == (1, 10)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    closed_loop = per_client * args.clients / (time.perf_counter() - started)
    batcher.close()

    # correctness: batched results equal the direct ones
    direct = run({"input": rows[:8]})["logits"]
    checker = DynamicBatcher(run, max_batch_size=max_batch, max_queue_delay_ms=args.delay_ms)
    batched = [f.result(60)["logits"] for f in [checker.submit({"input": rows[i : i + 1]}) for i in range(8)]]
    checker.close()
    np.testing.assert_allclose(np.concatenate(batched), direct, rtol=1e-4, atol=1e-5)

    latencies.sort()
    rows_table = [
        ["one at a time (a)", f"{one_at_a_time:.0f}", "1"],
        [f"best fixed batch (b), size {best_size}", f"{best:.0f}", str(best_size)],
        [
            f"dynamic, {args.requests} in flight, max 32",
            f"{dynamic_default:.0f}",
            f"{default_batcher.stats.mean_batch_rows:.1f} (mean)",
        ],
        [
            f"dynamic, {args.requests} in flight, max {max_batch}",
            f"{dynamic:.0f}",
            f"{open_batcher.stats.mean_batch_rows:.1f} (mean)",
        ],
        [
            f"dynamic, {args.clients} closed-loop clients",
            f"{closed_loop:.0f}",
            f"{batcher.stats.mean_batch_rows:.1f} (mean)",
        ],
    ]
    print(f"backend {args.backend} on {device}")
    print_table(["mode", "rows/s", "batch"], rows_table)
    figures = {
        "backend": args.backend,
        "device": device,
        "requests": per_client * args.clients,
        "clients": args.clients,
        "max_batch_size": max_batch,
        "max_queue_delay_ms": args.delay_ms,
        "one_at_a_time_rows_per_s": round(one_at_a_time, 1),
        "best_batch_rows_per_s": round(best, 1),
        "best_batch_size": best_size,
        "dynamic_rows_per_s": round(dynamic, 1),
        "dynamic_max32_rows_per_s": round(dynamic_default, 1),
        "ratio_vs_best_batch_at_max32": round(dynamic_default / best, 3),
        "dynamic_mean_batch": round(open_batcher.stats.mean_batch_rows, 2),
        "closed_loop_rows_per_s": round(closed_loop, 1),
        "closed_loop_mean_batch": round(batcher.stats.mean_batch_rows, 2),
        "closed_loop_p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "closed_loop_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "speedup_vs_one_at_a_time": round(dynamic / one_at_a_time, 2),
        "ratio_vs_best_batch": round(dynamic / best, 3),
        "goals": GOALS,
    }
    for goal, limit in GOALS.items():
        print(f"{goal:26} {figures[goal]:>8}  goal >= {limit}  {'met' if figures[goal] >= limit else 'NOT met'}")
    print_json(figures)


if __name__ == "__main__":
    main()
