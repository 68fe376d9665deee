"""The sandbox's data path: TorchScript in a confined model host against the same module run in process.

Model: the medium MLP 256 -> 1024 -> 1024 -> 10 (TorchScript), on CPU here (the host uses CUDA where torch finds
a device). Measured in one run, alternating:
- per call, at batch sizes 1, 8, 32 and 128: ``torch.jit.load`` run in the calling process (the raw baseline, as
  the worker ran TorchScript before the sandbox; measured in a child process, so that this one, like the worker,
  holds no torch threads of its own) against ``TorchScriptBackend.run`` (tensors over a unix socket to the host
  and back);
- through the dynamic batcher: 1024 single-row requests in flight, max batch 32 and the best size.
Goal: the sandboxed path at >= 0.8x the in-process one (rows per second). Also printed: the host's start time.

Usage: .venv/bin/python benchmarks/sandbox.py [--requests 1024] [--rounds 5]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_json, print_table

GOAL = 0.8
SIZES = [256, 1024, 1024, 10]


def in_process(path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    import torch

    torch.set_num_threads(threads)
    module = torch.jit.load(str(path)).eval()

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {"logits": module(torch.from_numpy(inputs["input"])).numpy()}

    return run


def rate(run: Callable[[dict[str, np.ndarray]], Any], rows: np.ndarray, batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        run({"input": rows[i : i + batch]})
    return len(rows) / (time.perf_counter() - started)


def batched_rate(run: Callable[[dict[str, np.ndarray]], Any], rows: np.ndarray, max_batch: int) -> float:
    from maas.worker.batcher import DynamicBatcher

    batcher = DynamicBatcher(run, max_batch_size=max_batch, max_queue_delay_ms=5)
    started = time.perf_counter()
    futures = [batcher.submit({"input": rows[i : i + 1]}) for i in range(len(rows))]
    for future in futures:
        future.result(120)
    elapsed = time.perf_counter() - started
    batcher.close()
    return len(rows) / elapsed


def modes(rows: np.ndarray) -> list[tuple[str, Callable[[Callable[..., Any]], float]]]:
    return [
        *((f"batch {b}", lambda run, b=b: rate(run, rows, b)) for b in (1, 8, 32, 128)),
        ("dynamic, max 32", lambda run: batched_rate(run, rows, 32)),
        ("dynamic, max 128", lambda run: batched_rate(run, rows, 128)),
    ]


def measure(run: Callable[..., Any], rows: np.ndarray) -> dict[str, float]:
    for _ in range(20):  # warm
        run({"input": rows[:32]})
    return {name: how(run) for name, how in modes(rows)}


def raw_worker(path: Path, requests: int, threads: int) -> None:
    """One round of the baseline, in a process of its own (the worker process has no torch of its own now)."""
    import json

    rows = np.random.default_rng(0).standard_normal((requests, SIZES[0])).astype(np.float32)
    print(json.dumps(measure(in_process(path, threads), rows)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--raw-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = max(1, os.cpu_count() or 1)
    if args.export:
        from maas.modelkit import export_torchscript_mlp

        print(json.dumps(export_torchscript_mlp(args.export, SIZES)))
        return
    if args.raw_worker:
        raw_worker(args.raw_worker, args.requests, threads)
        return

    from maas.backends.torchscript import load_torchscript
    from maas.domain import Signature

    def child(*extra: str) -> str:
        done = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=True)
        return done.stdout.strip().splitlines()[-1]

    rows = np.random.default_rng(0).standard_normal((args.requests, SIZES[0])).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model" / "model.pt"
        path.parent.mkdir()
        # torch stays out of this process, as out of the worker's: the module is exported and its baseline run
        # in child processes, alternating with the sandboxed rounds
        signature = Signature.model_validate(json.loads(child("--export", str(path))))
        started = time.perf_counter()
        backend = load_torchscript(str(path), signature, use_cuda=None)
        start_s = time.perf_counter() - started
        samples: dict[str, dict[str, list[float]]] = {}
        try:
            for _ in range(args.rounds):
                raw = json.loads(child("--raw-worker", str(path), "--requests", str(args.requests)))
                boxed = measure(backend.run, rows)
                for name in boxed:
                    samples.setdefault(name, {"raw": [], "sandbox": []})
                    samples[name]["raw"].append(raw[name])
                    samples[name]["sandbox"].append(boxed[name])
            confinement = backend.host.confinement
        finally:
            backend.close()

    table, figures = [], {}
    for name, by in samples.items():
        raw_rate, box_rate = statistics.median(by["raw"]), statistics.median(by["sandbox"])
        ratio = box_rate / raw_rate
        table.append([name, f"{raw_rate:.0f}", f"{box_rate:.0f}", f"{ratio:.2f}"])
        key = name.replace(", ", "_").replace(" ", "_")
        figures[key] = {
            "raw_rows_per_s": round(raw_rate, 1),
            "sandbox_rows_per_s": round(box_rate, 1),
            "ratio": round(ratio, 3),
        }
    print(f"TorchScript MLP {SIZES}, {threads} threads, device {backend.device}; host started in {start_s:.2f} s")
    print(f"confinement: {confinement}")
    print_table(["mode", "in process rows/s", "sandboxed rows/s", "ratio"], table)
    dynamic_ratio = figures["dynamic_max_32"]["ratio"]
    print(
        f"ratio through the dynamic batcher (max 32): {dynamic_ratio}  goal >= {GOAL}  "
        f"{'met' if dynamic_ratio >= GOAL else 'NOT met'}"
    )
    print_json(
        {
            "model": SIZES,
            "device": backend.device,
            "threads": threads,
            "rounds": args.rounds,
            "host_start_s": round(start_s, 3),
            "confinement": confinement,
            "modes": figures,
            "goal": GOAL,
        }
    )


if __name__ == "__main__":
    main()
