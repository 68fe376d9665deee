"""Domain errors. Each carries its HTTP status; the API maps them to responses in one place.

As in KServe's ``errors.py``: the docstring of each error names its status code. Code never matches on
message strings: it catches the class.
"""

from __future__ import annotations

import re


class MaasError(Exception):
    """Base of every error the platform reports to a client. 500."""

    status: int = 500
    code: str = "INTERNAL"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def to_body(self) -> dict[str, str]:
        return {"error": self.message, "code": self.code}


class InvalidRequestError(MaasError):
    """The request is malformed or does not fit the contract. 400."""

    status = 400
    code = "INVALID_REQUEST"


class ModelRunError(InvalidRequestError):
    """The model could not run on the request's inputs: its runtime refused them, or the model failed on them.
    400 (``INVALID_REQUEST``); a job fails with ``MODEL_ERROR``."""


class UnauthenticatedError(MaasError):
    """No API key, or one that is unknown or revoked. 401."""

    status = 401
    code = "UNAUTHENTICATED"


class ForbiddenError(MaasError):
    """The key is valid but lacks the scope the route needs. 403."""

    status = 403
    code = "FORBIDDEN"


class NotFoundError(MaasError):
    """Unknown, or not the caller's: another tenant's objects are reported exactly like missing ones. 404."""

    status = 404
    code = "NOT_FOUND"


class ConflictError(MaasError):
    """The object exists already or is in a state that forbids the change. 409."""

    status = 409
    code = "CONFLICT"


class PreconditionFailedError(MaasError):
    """An ``If-Match`` ETag no longer matches: someone changed the object first. 412."""

    status = 412
    code = "PRECONDITION_FAILED"


class PayloadTooLargeError(MaasError):
    """The request or artifact is over the size limit. 413."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"


class TooManyRequestsError(MaasError):
    """Over a quota; the response carries ``Retry-After``. 429."""

    status = 429
    code = "TOO_MANY_REQUESTS"


class NotReadyError(MaasError):
    """The object exists but cannot serve yet; the response carries ``Retry-After``. 503."""

    status = 503
    code = "NOT_READY"


class ModelUnavailableError(MaasError):
    """The version is READY but this instance cannot load it (its artifact fails its checksum, or it needs more
    memory than the instance may give one model). 503."""

    status = 503
    code = "MODEL_UNAVAILABLE"


class ModelLoadError(RuntimeError):
    """A READY version's artifact could not be loaded here; the message is fit for the tenant to read."""


class ArtifactRejectedError(Exception):
    """An uploaded artifact failed validation. Not an HTTP error: the version becomes FAILED with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AsyncOnlyError(ConflictError):
    """The model runs on GPU workers and only through asynchronous jobs; the message names the route. 409."""

    code = "ASYNC_ONLY"


def first_line(exc: BaseException, limit: int = 300) -> str:
    """A third-party error's message for a person: its first line (redacted), or its class name when it has none.

    Runtimes echo host paths and tensor values in their errors; a tenant reads these, so both are taken out.
    """
    text = str(exc).strip()
    return redact(text.splitlines()[0])[:limit] if text else type(exc).__name__


# Absolute paths under the usual roots (a model's node names, "/fc1/Gemm", are left alone)
_HOST_PATH = re.compile(
    r"(?<![\w.])/(?:tmp|var|opt|home|root|proc|etc|dev|usr|mnt|srv|work|sys|run|lib|lib64|bin|sbin|private|Users|data)"
    r"(?:/[^\s'\"(),;]*)?"
)
_LONG_NUMBER = re.compile(r"-?\d{7,}")


def redact(text: str) -> str:
    """A runtime's message with host paths and long numbers (bytes of a tensor read as integers) taken out.

    >>> redact("idx=8319038463520173932 must be within [-3,2] (/tmp/maas-models/x/model.onnx)")
    'idx=<number> must be within [-3,2] (<path>)'
    """
    return _LONG_NUMBER.sub("<number>", _HOST_PATH.sub("<path>", text))
