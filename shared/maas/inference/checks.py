"""Checking a decoded request against the version's signature, before the model runs."""

from __future__ import annotations

import numpy as np

from maas.domain import Signature, TensorSpec
from maas.errors import InvalidRequestError
from maas.inference.protocol import InferRequest


def _describe(spec: TensorSpec) -> str:
    return f"'{spec.name}' ({spec.datatype} {spec.shape})"


def check_request(request: InferRequest, signature: Signature, *, allow_nan: bool = False) -> dict[str, np.ndarray]:
    """The feeds for the session, or InvalidRequestError naming the input and what was expected."""
    specs = {spec.name: spec for spec in signature.inputs}
    feeds: dict[str, np.ndarray] = {}
    for tensor in request.inputs:
        spec = specs.get(tensor.name)
        if spec is None:
            expected = ", ".join(_describe(s) for s in signature.inputs)
            raise InvalidRequestError(f"unknown input '{tensor.name}'; the model takes {expected}")
        if tensor.datatype != spec.datatype:
            raise InvalidRequestError(
                f"input '{tensor.name}': datatype {tensor.datatype}, the model expects {spec.datatype}"
            )
        if len(tensor.shape) != len(spec.shape) or any(
            want >= 0 and got != want for got, want in zip(tensor.shape, spec.shape, strict=True)
        ):
            raise InvalidRequestError(
                f"input '{tensor.name}': shape {list(tensor.shape)} does not fit the model's {spec.shape} "
                "(-1 is any size)"
            )
        if not allow_nan and tensor.array.dtype.kind == "f" and not np.isfinite(tensor.array).all():
            raise InvalidRequestError(
                f"input '{tensor.name}' contains NaN or infinity (send parameters.allow_nan=true if the model "
                "expects them)"
            )
        feeds[tensor.name] = tensor.array
    missing = [spec for name, spec in specs.items() if name not in feeds]
    if missing:
        raise InvalidRequestError(f"missing input {', '.join(_describe(s) for s in missing)}")
    if request.outputs is not None:
        known = {spec.name for spec in signature.outputs}
        for output in request.outputs:
            if output.name not in known:
                raise InvalidRequestError(f"unknown output '{output.name}'; the model has {', '.join(sorted(known))}")
    return feeds
