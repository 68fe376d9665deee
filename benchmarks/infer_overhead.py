"""What the inference handler adds to a bare onnxruntime call, warm, in process.

The handler runs its real path (API Gateway v2 event with the authorizer's context, registry lookup through its
cache, request decoding, signature checks, session.run, response encoding, the Powertools decorators) with AWS
on moto in-process; the baseline is session.run on the same inputs in the same process. Three models:
a tiny MLP 16->32->4, a medium MLP 256->1024->1024->10, and a small CNN on 1x3x64x64 images (JSON and binary).

Usage: .venv/bin/python benchmarks/infer_overhead.py [--iterations 2000]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Context,
    aws_environment,
    create_resources,
    http_event,
    p50_us,
    percentile,
    print_json,
    print_table,
    register_ready,
)

TENANT = "bench"
GOALS = {"tiny_added_us": 150, "medium_added_us": 200, "conv_json_ratio": 1.5, "conv_binary_ratio": 1.10}


def small_cnn():
    """Three 3x3 convolutions (64, 128, 256 channels) with pooling: about 1.7 ms per image on two cores."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(64, 128, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(128, 256, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(256, 10),
    )


def build_models(folder: Path) -> dict[str, tuple[Path, tuple[int, ...]]]:
    import torch

    from maas.modelkit import export_mlp, export_onnx

    return {
        "tiny": (export_mlp(folder / "tiny.onnx", [16, 32, 4]), (1, 16)),
        "medium": (export_mlp(folder / "medium.onnx", [256, 1024, 1024, 10]), (1, 256)),
        "conv": (
            export_onnx(
                small_cnn(),
                torch.zeros(1, 3, 64, 64),
                folder / "conv.onnx",
                input_names=["input"],
                output_names=["logits"],
            ),
            (1, 3, 64, 64),
        ),
    }


def paired_samples(raw: Callable[[], object], served: Callable[[], object], iterations: int) -> tuple[list, list]:
    """Seconds per call of each, measured back to back in every iteration (alternating which goes first).

    This machine's speed drifts by tens of percent within seconds; pairing adjacent calls lets the added time
    and the ratio be taken per pair, where the drift cancels, before the median.
    """
    for _ in range(50):
        raw()
        served()
    raw_samples, served_samples = [], []
    for i in range(iterations):
        order = (raw, served) if i % 2 == 0 else (served, raw)
        times = {}
        for fn in order:
            started = time.perf_counter()
            fn()
            times[fn] = time.perf_counter() - started
        raw_samples.append(times[raw])
        served_samples.append(times[served])
    return raw_samples, served_samples


def json_event(name: str, x: np.ndarray) -> dict:
    body = json.dumps(
        {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1).tolist()}]}
    )
    return http_event("POST", "/v2/models/{name}/infer", {"name": name}, TENANT, body)


def binary_event(name: str, x: np.ndarray) -> dict:
    raw = x.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
        }
    ).encode()
    return http_event(
        "POST",
        "/v2/models/{name}/infer",
        {"name": name},
        TENANT,
        base64.b64encode(header + raw).decode(),
        binary=True,
        headers={"inference-header-content-length": str(len(header))},
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from moto import mock_aws

    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        folder = Path(tmp)
        aws_environment(str(folder / "cache"))
        create_resources()
        models = build_models(folder)
        for name, (path, _) in models.items():
            register_ready(TENANT, name, path)

        from _common import load_handler

        function = load_handler("inference")
        handler = function.lambda_handler
        context = Context()
        rng = np.random.default_rng(0)
        rows, figures = [], {}
        cases = [("tiny", "json"), ("medium", "json"), ("conv", "json"), ("conv", "binary")]
        for name, encoding in cases:
            path, shape = models[name]
            x = rng.standard_normal(shape).astype(np.float32)
            event = json_event(name, x) if encoding == "json" else binary_event(name, x)
            first = handler(event, context)
            assert first["statusCode"] == 200, first
            # the handler's own cached session: a second session's thread pool would compete for the cores
            version = function.api.service.resolver.resolve(TENANT, name, None).version
            session = function.api.service.cache.session(version).session  # the backend's onnxruntime session
            iterations = args.iterations if name != "conv" else max(200, args.iterations // 4)
            raw_samples, handler_samples = paired_samples(
                lambda session=session, x=x: session.run(None, {"input": x}),
                lambda event=event: handler(event, context),
                iterations,
            )
            raw, served = p50_us(raw_samples), p50_us(handler_samples)
            added = statistics.median(h - r for h, r in zip(handler_samples, raw_samples, strict=True)) * 1e6
            ratio = statistics.median(h / r for h, r in zip(handler_samples, raw_samples, strict=True))
            rows.append(
                [
                    f"{name}/{encoding}",
                    f"{raw:.1f}",
                    f"{served:.1f}",
                    f"{added:.1f}",
                    f"{ratio:.2f}",
                    f"{percentile(handler_samples, 0.99) * 1e6:.1f}",
                ]
            )
            key = name if encoding == "json" else f"{name}_{encoding}"
            figures[f"{key}_raw_p50_us"] = round(raw, 1)
            figures[f"{key}_handler_p50_us"] = round(served, 1)
            if name in ("tiny", "medium"):
                figures[f"{name}_added_us"] = round(added, 1)
            else:
                figures[f"conv_{encoding}_ratio"] = round(ratio, 3)
            body_bytes = len(event["body"])
            figures[f"{key}_request_bytes"] = body_bytes

        print_table(
            ["case", "raw p50 us", "handler p50 us", "added us (paired)", "ratio (paired)", "handler p99 us"], rows
        )
        print()
        for goal, limit in GOALS.items():
            print(f"{goal:20} {figures[goal]:>10}  goal <= {limit}  {'met' if figures[goal] <= limit else 'NOT met'}")
        print_json(figures | {"goals": GOALS})


if __name__ == "__main__":
    main()
