"""What the API answered when a call failed: one ``MaasApiError`` per status, each with the API's ``code``.

The API answers every error as ``{"error": "<for a person>", "code": "<UPPER_SNAKE>"}``; ``status``, ``code`` and
``message`` carry them. Catch a subclass for one status (``NotFoundError``), ``MaasApiError`` for any.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional


class MaasError(Exception):
    """Anything this SDK raises on its own account (a wait that ran out, a tensor it cannot encode)."""


class MaasApiError(MaasError):
    """The API answered an error status."""

    status = 0

    def __init__(self, status: int, code: str, message: str, headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        """The response's headers, by lower-case name (``error.headers["retry-after"]``)."""


class BadRequestError(MaasApiError):
    """400: the request is not valid (the message says which field, or why)."""


class UnauthorizedError(MaasApiError):
    """401: no API key, or one that is unknown or revoked."""


class ForbiddenError(MaasApiError):
    """403: the key lacks the scope (admin, publish, invoke, read) the call needs."""


class NotFoundError(MaasApiError):
    """404: no such object, or one that is not yours (the API never says which)."""


class ConflictError(MaasApiError):
    """409: the name is taken, or the object is in a state that refuses the call."""


class PreconditionFailedError(MaasApiError):
    """412: the alias changed since the ETag given as ``if_match``."""


class PayloadTooLargeError(MaasApiError):
    """413: the request or artifact is over a limit."""


class TooManyRequestsError(MaasApiError):
    """429: over a quota; ``retry_after`` says when to try again. Raised once the client's retries are spent."""

    @property
    def retry_after(self) -> Optional[float]:
        return parse_retry_after(self.headers.get("retry-after"))


class ServiceUnavailableError(MaasApiError):
    """503: not ready yet (a model still validating, a queue); raised once the client's retries are spent."""

    @property
    def retry_after(self) -> Optional[float]:
        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(MaasApiError):
    """5xx other than 503."""


class WaitTimeoutError(MaasError, TimeoutError):
    """A ``wait_*`` call ran out of time; ``last`` is what the API said at the end."""

    def __init__(self, message: str, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


class VersionFailedError(MaasError):
    """``wait_ready``: the version failed validation; ``version`` holds it, with its ``failure_reason``."""

    def __init__(self, version: Any) -> None:
        super().__init__(f"version {version.version} failed: {version.failure_reason}")
        self.version = version


_BY_STATUS = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: PayloadTooLargeError,
    429: TooManyRequestsError,
    503: ServiceUnavailableError,
}


def error_for(status: int, code: str, message: str, headers: Optional[Mapping[str, str]] = None) -> MaasApiError:
    """The error class for ``status`` (``MaasApiError`` itself for a status without one)."""
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else MaasApiError)
    return kind(status, code, message, headers)


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds (the API sends seconds; an HTTP date counts as unknown here)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds)
