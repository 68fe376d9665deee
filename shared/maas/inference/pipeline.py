"""The one model pipeline: every path that runs a model on a request goes through these steps, in this order.

KServe's model lifecycle: a backend is loaded and ready first (``maas.backends``), then each request goes
``preprocess -> predict -> postprocess``. The sync inference service, the worker's HTTP mode, the job engine (GPU
worker and CPU jobs function) and the shadow runner all call these functions; the worker's dynamic batcher sits
between preprocess and postprocess (``predict`` runs the batcher's call instead of the backend's).

- ``decode`` + ``preprocess``: the Open Inference Protocol v2 request (JSON, or the binary tensor extension)
  decoded into arrays (datatypes, element counts, shapes numpy can hold) and checked against the version's
  signature (names, datatypes, shapes, NaN). ``decode`` is on its own because the sync service reads the
  request's id to choose an alias's route before it knows the version, and so its signature.
- ``predict``: the model runs; any failure becomes ``ModelRunError``, here and nowhere else.
- ``postprocess``: the outputs asked for, encoded (JSON, or binary where asked), within a size limit.

Each step is a plain function over plain values: a request costs no pipeline object, and the warm path is what
it was when each caller wrote the steps out itself.

    request = decode(body, header_length)
    feeds = preprocess(request, version.signature)
    outputs = predict(backend.run, feeds)
    body, header_length = postprocess(request, version.signature, outputs, model="m", version="1")
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from maas.backends.base import Tensors
from maas.domain import Signature
from maas.errors import MaasError, ModelRunError, PayloadTooLargeError, first_line
from maas.inference.checks import check_request
from maas.inference.protocol import InferRequest, encode_response, parse_request


def decode(body: str | bytes, header_length: int | None = None) -> InferRequest:
    """The request's tensors as arrays, or InvalidRequestError; the first half of ``preprocess``."""
    return parse_request(body, header_length)


def preprocess(request: InferRequest, signature: Signature, *, allow_nan: bool | None = None) -> Tensors:
    """The feeds for the model, or InvalidRequestError naming the input and what the signature expects.

    NaN and infinity are refused unless the request says ``parameters.allow_nan`` (or ``allow_nan`` decides).
    """
    if allow_nan is None:
        allow_nan = bool(request.parameters.get("allow_nan", False))
    return check_request(request, signature, allow_nan=allow_nan)


def predict(run: Callable[[Tensors], Tensors], feeds: Tensors) -> Tensors:
    """``run`` (a backend's, or a batcher's call) on the feeds: every output of the signature, by name.

    A ``MaasError`` from ``run`` keeps its meaning (a stopping worker says 503); anything else is the model
    failing on these inputs. The runtimes' messages may hold host paths and tensor bytes: only their first line,
    redacted, reaches the caller.
    """
    try:
        return run(feeds)
    except MaasError:
        raise
    except Exception as exc:  # the runtimes raise untyped errors for inputs they cannot take
        raise ModelRunError(f"the model could not run on these inputs: {first_line(exc)}") from exc


def selected_outputs(
    request: InferRequest, signature: Signature, outputs: Tensors
) -> list[tuple[str, str, np.ndarray, bool]]:
    """``(name, datatype, array, binary)`` for each output the request asked for (all of them by default)."""
    if request.outputs is None:
        binary = request.binary_outputs
        return [(s.name, s.datatype, np.asarray(outputs[s.name]), binary) for s in signature.outputs]
    datatypes = {s.name: s.datatype for s in signature.outputs}
    return [(o.name, datatypes[o.name], np.asarray(outputs[o.name]), o.binary) for o in request.outputs]


def postprocess(
    request: InferRequest,
    signature: Signature,
    outputs: Tensors,
    *,
    model: str,
    version: str,
    max_bytes: int | None = None,
) -> tuple[bytes, int | None]:
    """The outputs the request asked for, encoded: the body, and its JSON header's length when outputs travel as
    binary. Over ``max_bytes``: PayloadTooLargeError."""
    encoded, header_length = encode_response(model, version, request.id, selected_outputs(request, signature, outputs))
    if max_bytes is not None and len(encoded) > max_bytes:
        raise PayloadTooLargeError(
            f"the response would be {len(encoded)} bytes, over the {max_bytes} byte limit; "
            "send fewer rows, or ask for binary outputs"
        )
    return encoded, header_length
