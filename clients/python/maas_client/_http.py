"""The HTTP side of the client: one ``requests`` session, the API key, errors, and retries on 429 and 503.

A 429 (over a quota) or 503 (not ready yet) is retried after the server's ``Retry-After`` (seconds), or, without
one, after an exponential backoff; at most ``RetryPolicy.max_retries`` times, and never waiting longer than
``max_delay`` at once. Such a request was refused before it did anything, so retrying is safe for every method.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import requests

from maas_client.errors import MaasApiError, error_for, parse_retry_after

RETRIED_STATUSES: frozenset[int] = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries 429 and 503: ``max_retries`` times, after ``Retry-After`` or a backoff."""

    max_retries: int = 5
    backoff: float = 0.25
    """The first wait when the server names none; each next one doubles."""
    max_delay: float = 30.0
    """No single wait is longer, whatever ``Retry-After`` says."""
    statuses: frozenset[int] = RETRIED_STATUSES

    def delay(self, attempt: int, retry_after: Optional[float]) -> float:
        wanted = retry_after if retry_after is not None else self.backoff * (2**attempt)
        return min(self.max_delay, wanted)


NO_RETRIES = RetryPolicy(max_retries=0)


@dataclass
class Transport:
    url: str
    api_key: Optional[str]
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    on_retry: Optional[Callable[[int, float], None]] = None
    """Called with (status, seconds) before each wait: for logging, or for tests that count retries."""
    user_agent: str = "maas-client"
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.session.headers["User-Agent"] = self.user_agent
        if self.api_key:
            self.session.headers["Authorization"] = f"Bearer {self.api_key}"

    def send(self, method: str, path: str, *, retry: Optional[RetryPolicy] = None, **kwargs: Any) -> requests.Response:
        """One call, retried on 429 and 503 as the policy (``retry``, else the client's) says; a ``MaasApiError``
        for any error status."""
        policy = retry or self.retry
        attempt = 0
        while True:
            response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
            if response.status_code < 400:
                return response
            if response.status_code in policy.statuses and attempt < policy.max_retries:
                wait = policy.delay(attempt, parse_retry_after(response.headers.get("Retry-After")))
                if self.on_retry is not None:
                    self.on_retry(response.status_code, wait)
                self.sleep(wait)
                attempt += 1
                continue
            raise api_error(response)

    def json(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """The JSON document the API answered (None for 204)."""
        if body is not None:
            kwargs["json"] = body
        response = self.send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def pages(self, path: str, key: str, params: Optional[Mapping[str, Any]] = None) -> Iterator[Any]:
        """Every item of a listing, following ``next_token`` from page to page."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        while True:
            page = self.json("GET", path, params=query)
            yield from page.get(key) or []
            token = page.get("next_token")
            if not token:
                return
            query["next_token"] = token


def api_error(response: requests.Response) -> MaasApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        code, message = str(body.get("code") or "ERROR"), str(body["error"])
    else:  # not the API's own answer (a proxy, a presigned URL): a short excerpt, never a whole page
        code, message = "ERROR", response.text[:500] or response.reason or "no body"
    return error_for(response.status_code, code, message, response.headers)


def split_binary(body: bytes, header_length: int) -> tuple[Any, memoryview]:
    """A binary-extension body: the JSON header, and the raw tensors after it."""
    import json

    if header_length < 0 or header_length > len(body):
        raise ValueError(f"Inference-Header-Content-Length {header_length} does not fit a {len(body)} byte body")
    return json.loads(body[:header_length]), memoryview(body)[header_length:]


__all__: list[str] = ["NO_RETRIES", "RetryPolicy", "Transport", "api_error", "split_binary"]
