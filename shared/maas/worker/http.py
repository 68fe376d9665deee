"""The GPU worker over HTTP: SageMaker's container contract and the Open Inference Protocol v2, for one model.

SageMaker (real-time and asynchronous endpoints) mounts the model at ``/opt/ml/model`` and calls ``GET /ping``
and ``POST /invocations`` on port 8080. The same server answers the KServe / Triton routes for the same model,
so that OIP clients (tritonclient's HTTP client, KServe's) work against it unchanged::

    GET  /ping                                  200 once the model is loaded and warm, 503 before
    POST /invocations                           an OIP v2 infer request (JSON, or the binary tensor extension)
    GET  /v2/health/live | /v2/health/ready | /v2
    GET  /metrics                               Prometheus text, Triton's nv_inference_* (maas.worker.prometheus)
    GET  /v2/models/{name}[/versions/1][/ready]
    POST /v2/models/{name}[/versions/1]/infer

The binary extension's JSON length comes in the ``Inference-Header-Content-Length`` header or, since SageMaker
passes only the Content-Type through, as Triton's SageMaker content type
``application/vnd.sagemaker-triton.binary+json;json-header-size=N`` (binary answers to ``/invocations`` use it).

Every infer request goes through the model pipeline (``maas.inference.pipeline``) with one eager
``DynamicBatcher`` between preprocess and postprocess: concurrent requests share a batch, a lone request runs at
once on its own thread. The HTTP/1.1 layer is ``maas.worker.wire``.

    python -m maas.worker.http --model-dir /opt/ml/model --port 8080
"""

from __future__ import annotations

import argparse
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic import Field, ValidationError

from maas.backends.base import Backend, BackendLoadError, SandboxPolicy, Tensors
from maas.backends.loader import load_model_dir
from maas.backends.onnx import smoke_inputs
from maas.domain import Framework
from maas.errors import InvalidRequestError, MaasError, NotFoundError, NotReadyError, first_line
from maas.inference.pipeline import decode, postprocess, predict, preprocess
from maas.observability import logger
from maas.settings import FunctionSettings, SandboxMode
from maas.worker.batcher import BatcherClosedError, BatchStats, DynamicBatcher
from maas.worker.prometheus import CONTENT_TYPE, WorkerMetrics
from maas.worker.wire import HttpServer, Response

DEFAULT_MODEL_DIR = "/opt/ml/model"
MODEL_VERSION = "1"
RETRY_AFTER_SECONDS = "1"
PLATFORMS = {Framework.ONNX: "onnxruntime_onnx", Framework.TORCHSCRIPT: "pytorch_libtorch"}
SAGEMAKER_BINARY = b"application/vnd.sagemaker-triton.binary+json"

_JSON = b"application/json"
_HEADER_SIZE = re.compile(rb"json-header-size=(\d+)")


class WorkerHttpSettings(FunctionSettings):
    """The worker's settings from the environment; ``main``'s flags override them."""

    model_dir: str = Field(default=DEFAULT_MODEL_DIR, alias="SM_MODEL_DIR")
    port: int = Field(default=8080, alias="SAGEMAKER_BIND_TO_PORT", ge=0, le=65535)
    max_batch_size: int = Field(default=32, alias="MAAS_MAX_BATCH_SIZE", ge=1, le=4096)
    max_queue_delay_ms: float = Field(default=5, alias="MAAS_MAX_QUEUE_DELAY_MS", ge=0, le=10_000)
    max_request_bytes: int = Field(default=100 * 1024 * 1024, alias="MAAS_MAX_REQUEST_BYTES", gt=0)
    tenant_code_sandbox: SandboxMode = Field(default="required", alias="TENANT_CODE_SANDBOX")


_SETTINGS = ("model_dir", "port", "max_batch_size", "max_queue_delay_ms", "max_request_bytes")


# --- the model ---------------------------------------------------------------------------------------------------
class ServedModel:
    """The loaded model, its batcher, and what its routes answer that never changes (encoded once)."""

    def __init__(self, name: str, backend: Backend, framework: Framework, *, max_batch_size: int, delay_ms: float):
        self.name = name
        self.backend = backend
        self.signature = signature = backend.signature
        # only a model whose every tensor has a free first (batch) dimension can run requests stacked together
        batchable = all(spec.shape[:1] == [-1] for spec in [*signature.inputs, *signature.outputs])
        self.batcher = DynamicBatcher(
            backend.run, max_batch_size=max_batch_size if batchable else 1, max_queue_delay_ms=delay_ms, eager=True
        )
        self.metadata = orjson.dumps(
            {
                "name": name,
                "versions": [MODEL_VERSION],
                "platform": PLATFORMS[framework],
                "inputs": [spec.model_dump() for spec in signature.inputs],
                "outputs": [spec.model_dump() for spec in signature.outputs],
            }
        )
        self.ready = orjson.dumps({"name": name, "ready": True})

    def warm_up(self) -> None:
        """One run on small inputs before ``/ping`` says ready: a broken model fails here, not on a request."""
        try:
            self.backend.run(smoke_inputs(self.signature))
        except Exception as exc:
            raise BackendLoadError(f"the model failed a smoke run on its signature: {first_line(exc)}") from exc

    def infer(self, body: bytes, headers: dict[bytes, bytes], *, announced: bool) -> tuple[bytes, int | None]:
        """The model pipeline, batched. ``announced``: the batcher was told this request is coming."""
        try:
            request = decode(body, _header_length(headers))
            feeds = preprocess(request, self.signature)
        except BaseException:
            if announced:
                self.batcher.withdraw()
            raise
        outputs = predict(lambda batch: self._batched(batch, announced), feeds)
        return postprocess(request, self.signature, outputs, model=self.name, version=MODEL_VERSION)

    def _batched(self, feeds: Tensors, announced: bool) -> Tensors:
        try:
            return self.batcher.call(feeds, announced=announced)
        except BatcherClosedError:
            raise NotReadyError("the worker is stopping", headers={"Retry-After": RETRY_AFTER_SECONDS}) from None


# --- routes -----------------------------------------------------------------------------------------------------
def _json(status: int, document: dict[str, Any], headers: list[tuple[str, str]] | None = None) -> Response:
    return status, orjson.dumps(document), _JSON, headers or []


class WorkerApp:
    """The routes for one model; the HTTP layer hands it parsed requests."""

    def __init__(self, model_name: str, max_request_bytes: int) -> None:
        self.model_name = model_name
        self.max_request_bytes = max_request_bytes
        self.model: ServedModel | None = None
        self.metrics = WorkerMetrics(
            model_name, MODEL_VERSION, lambda: self.model.batcher.stats if self.model else None
        )
        self._gets: dict[str, Callable[[], Response]] = {
            "/metrics": lambda: (200, self.metrics.exposition(), CONTENT_TYPE, []),
            "/ping": self._ready,
            "/v2/health/ready": self._ready,
            "/v2/health/live": lambda: _json(200, {"live": True}),
            "/v2": lambda: _json(200, {"name": "maas-worker", "extensions": ["binary_tensor_data"]}),
        }
        self._infer_paths = {"/invocations"}
        for base in (f"/v2/models/{model_name}", f"/v2/models/{model_name}/versions/{MODEL_VERSION}"):
            self._gets[base] = lambda: (200, self._loaded().metadata, _JSON, [])
            self._gets[f"{base}/ready"] = lambda: (200, self._loaded().ready, _JSON, [])
            self._infer_paths.add(f"{base}/infer")

    def _loaded(self) -> ServedModel:
        if self.model is None:
            raise NotReadyError(f"model '{self.model_name}' is loading", headers={"Retry-After": RETRY_AFTER_SECONDS})
        return self.model

    def _ready(self) -> Response:
        return 200, self._loaded().ready, _JSON, []

    def infer_model(self, path: str) -> ServedModel | None:
        """The model, when a POST to ``path`` is an infer request that can reach it (the batcher can expect it)."""
        return self.model if path in self._infer_paths else None

    def get(self, path: str) -> Response:
        route = self._gets.get(path)
        if route is None:
            raise self._not_found("GET", path)
        return route()

    def post(self, path: str, headers: dict[bytes, bytes], body: bytes, *, announced: bool) -> Response:
        if path not in self._infer_paths:
            raise self._not_found("POST", path)
        started = time.perf_counter()
        try:
            encoded, header_length = self._loaded().infer(body, headers, announced=announced)
        except Exception as exc:
            self.metrics.observe(time.perf_counter() - started, exc.code if isinstance(exc, MaasError) else "INTERNAL")
            raise
        self.metrics.observe(time.perf_counter() - started)
        if header_length is None:
            return 200, encoded, _JSON, []
        length = str(header_length)
        if path == "/invocations":  # SageMaker returns only the body and its Content-Type to the caller
            return (
                200,
                encoded,
                SAGEMAKER_BINARY + b";json-header-size=" + length.encode(),
                [("Inference-Header-Content-Length", length)],
            )
        return 200, encoded, b"application/octet-stream", [("Inference-Header-Content-Length", length)]

    def _not_found(self, method: str, path: str) -> NotFoundError:
        if path.startswith("/v2/models/"):
            name = path.split("/")[3]
            if name != self.model_name:
                return NotFoundError(f"model '{name}' not found; this worker serves '{self.model_name}'")
        return NotFoundError(f"no route {method} {path}")


def _header_length(headers: dict[bytes, bytes]) -> int | None:
    """The binary extension's JSON length: Triton's header, or Triton's SageMaker content type."""
    raw = headers.get(b"inference-header-content-length")
    content_type = headers.get(b"content-type", b"")
    if raw is None and content_type.startswith(SAGEMAKER_BINARY):
        found = _HEADER_SIZE.search(content_type)
        raw = found.group(1) if found else None
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise InvalidRequestError("Inference-Header-Content-Length must be a non-negative integer")
    return int(raw)


# --- the server -------------------------------------------------------------------------------------------------
class WorkerServer:
    """The listening server and its model: ``start`` (listen; ``/ping`` is 503), ``load``, then ``stop``."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_name: str = "model",
        max_batch_size: int = 32,
        max_queue_delay_ms: float = 5,
        max_request_bytes: int = 100 * 1024 * 1024,
        policy: SandboxPolicy | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.policy = policy
        self.max_batch_size = max_batch_size
        self.max_queue_delay_ms = max_queue_delay_ms
        self.app = WorkerApp(model_name, max_request_bytes)
        self._httpd = HttpServer((host, port), self.app)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._httpd.server_address[0])
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"  # noqa: S104 - a display name

    @property
    def stats(self) -> BatchStats | None:
        return self.app.model.batcher.stats if self.app.model else None

    def start(self) -> WorkerServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="worker-http", daemon=True)
        self._thread.start()
        return self

    def load(self) -> ServedModel:
        """Load and warm the model; ``/ping`` answers 200 from then on. Raises ``BackendLoadError``."""
        backend, framework = load_model_dir(self.model_dir, policy=self.policy)
        model = ServedModel(
            self.app.model_name,
            backend,
            framework,
            max_batch_size=self.max_batch_size,
            delay_ms=self.max_queue_delay_ms,
        )
        try:
            model.warm_up()
        except BackendLoadError:
            model.batcher.close()
            raise
        self.app.model = model
        return model

    def stop(self) -> None:
        """Stop listening, run what is queued (the batcher drains), close."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        if self.app.model is not None:
            self.app.model.batcher.close()
            self.app.model.backend.close()  # a TorchScript model host stops with the server
        self._httpd.server_close()

    def __enter__(self) -> WorkerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    model_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    model_name: str = "model",
    max_batch_size: int = 32,
    max_queue_delay_ms: float = 5,
    max_request_bytes: int = 100 * 1024 * 1024,
) -> WorkerServer:
    """Listen, load the model, and return the running server (port 0: any free port; see ``.url``).

    server = serve("build/model", model_name="tiny")
    ...  # POST f"{server.url}/invocations"
    server.stop()
    """
    server = WorkerServer(
        model_dir,
        host=host,
        port=port,
        model_name=model_name,
        max_batch_size=max_batch_size,
        max_queue_delay_ms=max_queue_delay_ms,
        max_request_bytes=max_request_bytes,
    ).start()
    try:
        server.load()
    except BaseException:
        server.stop()
        raise
    return server


def main(argv: list[str] | None = None) -> int:
    """``maas worker serve``: serve one model until SIGTERM or SIGINT, then drain the batcher and exit."""
    env = WorkerHttpSettings.from_env()
    parser = argparse.ArgumentParser(prog="maas worker serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=env.model_dir, help="model.onnx, or model.pt + signature.json")
    parser.add_argument("--model-name", default="model")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's server listens on every interface
    parser.add_argument("--port", type=int, default=env.port)
    parser.add_argument("--max-batch-size", type=int, default=env.max_batch_size)
    parser.add_argument("--max-queue-delay-ms", type=float, default=env.max_queue_delay_ms)
    parser.add_argument("--max-request-bytes", type=int, default=env.max_request_bytes)
    args = parser.parse_args(argv)
    try:
        settings = WorkerHttpSettings.model_validate({name: getattr(args, name) for name in _SETTINGS})
    except ValidationError as exc:
        parser.error(str(exc))

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    server = WorkerServer(
        settings.model_dir,
        host=args.host,
        port=settings.port,
        model_name=args.model_name,
        max_batch_size=settings.max_batch_size,
        max_queue_delay_ms=settings.max_queue_delay_ms,
        max_request_bytes=settings.max_request_bytes,
        policy=SandboxPolicy(require_confinement=env.tenant_code_sandbox == "required"),
    ).start()
    try:
        model = server.load()
    except BackendLoadError as exc:
        logger.error("the model could not be loaded", extra={"model_dir": settings.model_dir, "reason": str(exc)})
        server.stop()
        return 1
    logger.info(
        "serving",
        extra={"url": server.url, "model": args.model_name, "device": model.backend.device, **settings.model_dump()},
    )
    stopping.wait()
    logger.info("stopping: draining the batcher")
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
