"""KServe's model server on one ONNX model, for benchmarks/worker_http.py (the baseline). Not a benchmark itself.

Runs in the benchmark's own virtual environment (build/bench-kserve-venv: kserve, onnxruntime, numpy), never in
the project's: it imports nothing from maas. The model is a ``kserve.Model`` on onnxruntime with the same
session options as the worker's ONNX backend (intra-op threads = CPU count, inter-op 1), served by
``kserve.ModelServer``: REST only, Open Inference Protocol v2, one uvicorn worker. Per-request logging (uvicorn's
access log, KServe's latency and timing lines) is off, as it is in the worker, so that neither pays for logs.

Usage: <venv>/bin/python benchmarks/_kserve_server.py --model-dir DIR --model-name NAME --port PORT
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

# ModelServer parses sys.argv when kserve is imported: it sees only the program name
ARGS = sys.argv[1:]
sys.argv = sys.argv[:1]

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
from kserve import Model, ModelServer  # noqa: E402
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse  # noqa: E402
from kserve.utils.utils import generate_uuid  # noqa: E402

_DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64", np.dtype(np.int64): "INT64"}


class OnnxModel(Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.session: onnxruntime.InferenceSession | None = None
        self.output_names: list[str] = []

    def load(self) -> bool:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(self.path, sess_options=options, providers=["CPUExecutionProvider"])
        self.output_names = [output.name for output in self.session.get_outputs()]
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
        assert self.session is not None
        feeds = {tensor.name: tensor.as_numpy() for tensor in payload.inputs}
        results = self.session.run(self.output_names, feeds)
        outputs = []
        for name, array in zip(self.output_names, results, strict=True):
            output = InferOutput(name=name, shape=list(array.shape), datatype=_DATATYPES[array.dtype])
            output.set_data_from_numpy(array, binary_data=False)
            outputs.append(output)
        # as KServe's own servers do (kserve.utils.utils.get_predict_response): an id when the request has none
        return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name, infer_outputs=outputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(ARGS)
    model = OnnxModel(args.model_name, os.path.join(args.model_dir, "model.onnx"))
    model.load()
    server = ModelServer(http_port=args.port, workers=1, enable_grpc=False, enable_latency_logging=False)
    for name in ("uvicorn.access", "kserve.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server.start([model])


if __name__ == "__main__":
    main()
