"""The MaaS platform's Python SDK. Start with ``MaasClient``; errors are in ``maas_client.errors``."""

from maas_client._http import NO_RETRIES, RetryPolicy
from maas_client.client import MaasClient, file_sha256
from maas_client.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    MaasApiError,
    MaasError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    VersionFailedError,
    WaitTimeoutError,
)

__version__ = "0.1.0"
__all__ = [
    "NO_RETRIES",
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "MaasApiError",
    "MaasClient",
    "MaasError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PreconditionFailedError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "VersionFailedError",
    "WaitTimeoutError",
    "file_sha256",
]
