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
import sys
import tempfile
import warnings
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
    time_calls,
)

TENANT = "bench"
GOALS = {"tiny_added_us": 150, "medium_added_us": 200, "conv_json_ratio": 1.5, "conv_binary_ratio": 1.10}


def small_cnn():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(64, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
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
            version = function.api.service.resolver.resolve(TENANT, name, None)
            session = function.api.service.cache.session(version)
            iterations = args.iterations if name != "conv" else max(200, args.iterations // 5)
            # interleave the two measurements in rounds so that machine noise hits both alike
            raw_samples, handler_samples = [], []

            def run_raw(session=session, x=x):
                return session.run(None, {"input": x})

            def run_handler(event=event):
                return handler(event, context)

            for _ in range(5):
                raw_samples += time_calls(run_raw, iterations // 5, warmup=20)
                handler_samples += time_calls(run_handler, iterations // 5, warmup=20)
            raw, served = p50_us(raw_samples), p50_us(handler_samples)
            rows.append(
                [
                    f"{name}/{encoding}",
                    f"{raw:.1f}",
                    f"{served:.1f}",
                    f"{served - raw:.1f}",
                    f"{served / raw:.2f}",
                    f"{percentile(handler_samples, 0.99) * 1e6:.1f}",
                ]
            )
            key = name if encoding == "json" else f"{name}_{encoding}"
            figures[f"{key}_raw_p50_us"] = round(raw, 1)
            figures[f"{key}_handler_p50_us"] = round(served, 1)
            if name in ("tiny", "medium"):
                figures[f"{name}_added_us"] = round(served - raw, 1)
            else:
                figures[f"conv_{encoding}_ratio"] = round(served / raw, 3)
            body_bytes = len(event["body"])
            figures[f"{key}_request_bytes"] = body_bytes

        print_table(["case", "raw p50 us", "handler p50 us", "added us", "ratio", "handler p99 us"], rows)
        print()
        for goal, limit in GOALS.items():
            print(f"{goal:20} {figures[goal]:>10}  goal <= {limit}  {'met' if figures[goal] <= limit else 'NOT met'}")
        print_json(figures | {"goals": GOALS})


if __name__ == "__main__":
    main()
