"""Cold start: a fresh process that imports the inference handler and serves its first request, against a fresh
process doing the bare ``import onnxruntime; InferenceSession; run`` on the same model.

Two handler cases: the artifact already on the function's local disk (a warm sandbox's /tmp, or a second
instance sharing it locally), and fetched from S3. AWS is a moto server started by this script; the registry
read and the S3 download are real requests to it. Every figure is the wall time of a whole process, from
spawn to exit, median of --runs, the cases interleaved.

Usage: .venv/bin/python benchmarks/cold_start.py [--runs 5]
Prints a table, then one JSON object of the figures as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    BUCKET,
    ROOT,
    TABLE,
    create_resources,
    free_port,
    http_event,
    print_json,
    print_table,
    register_ready,
)

GOAL_RATIO = 1.3
TENANT = "cold"

BARE = """
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession({path!r}, providers=["CPUExecutionProvider"])
session.run(None, {{"input": np.zeros((1, 16), dtype=np.float32)}})
"""

HANDLER = """
import json, sys
sys.path.insert(0, {code!r})
import app

class Context:
    function_name = "maas-InferenceFunction"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:maas-InferenceFunction"
    aws_request_id = "cold"

result = app.lambda_handler(json.loads({event!r}), Context())
assert result["statusCode"] == 200, result
"""


def timed(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            env = {
                **os.environ,
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "REGISTRY_TABLE": TABLE,
                "ARTIFACTS_BUCKET": BUCKET,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_SERVICE_NAME": "maas",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
            os.environ.update({k: v for k, v in env.items() if k.startswith(("AWS_", "REGISTRY", "ARTIFACTS"))})
            from maas.modelkit import export_mlp

            model = export_mlp(folder / "tiny.onnx", [16, 32, 4])
            create_resources()
            version = register_ready(TENANT, "tiny", model)
            event = json.dumps(
                http_event(
                    "POST",
                    "/v2/models/{name}/infer",
                    {"name": "tiny"},
                    TENANT,
                    json.dumps({"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [0] * 16}]}),
                )
            )
            handler_code = HANDLER.format(code=str(ROOT / "functions" / "inference"), event=event)
            bare_code = BARE.format(path=str(model))
            disk_cache = folder / "disk-cache"
            disk_cache.mkdir()
            shutil.copy(model, disk_cache / f"{version.sha256}.onnx")

            samples: dict[str, list[float]] = {"bare": [], "handler_disk": [], "handler_s3": []}
            timed(bare_code, env)  # page cache warm for everyone
            for run in range(args.runs):
                samples["bare"].append(timed(bare_code, env))
                samples["handler_disk"].append(timed(handler_code, {**env, "MODEL_CACHE_DIR": str(disk_cache)}))
                s3_cache = folder / f"s3-cache-{run}"
                samples["handler_s3"].append(timed(handler_code, {**env, "MODEL_CACHE_DIR": str(s3_cache)}))
    finally:
        moto.terminate()
        moto.wait()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    rows = [
        [
            name,
            f"{medians[name] * 1000:.0f}",
            f"{medians[name] / medians['bare']:.2f}",
            f"{min(samples[name]) * 1000:.0f}",
        ]
        for name in samples
    ]
    print_table(["process", "median ms", "ratio to bare", "min ms"], rows)
    figures = {
        "runs": args.runs,
        "bare_ms": round(medians["bare"] * 1000),
        "handler_disk_ms": round(medians["handler_disk"] * 1000),
        "handler_s3_ms": round(medians["handler_s3"] * 1000),
        "disk_ratio": round(medians["handler_disk"] / medians["bare"], 2),
        "s3_ratio": round(medians["handler_s3"] / medians["bare"], 2),
        "goal_ratio": GOAL_RATIO,
    }
    print_json(figures)


if __name__ == "__main__":
    main()
