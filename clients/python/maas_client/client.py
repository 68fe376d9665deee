"""``MaasClient``: every route of the API as a typed method, waits with backoff, uploads and downloads."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import IO, Any, Callable, Optional, Union

import requests

from maas_client._control import ControlPlane, VersionRef
from maas_client._http import RetryPolicy, Transport
from maas_client._serving import Serving
from maas_client.errors import MaasError, NotFoundError, VersionFailedError, WaitTimeoutError
from maas_client.models import BatchJob, Job, Upload, Version

JOB_FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
BATCH_FINAL = ("SUCCEEDED", "PARTIAL", "FAILED")
Progress = Callable[[int, int], None]
"""Called with (bytes sent, total bytes) while a file uploads."""


class MaasClient(ControlPlane, Serving):
    """The platform's API.

    >>> client = MaasClient("http://127.0.0.1:3000", api_key="...")    # doctest: +SKIP
    >>> client.register("iris", "iris.onnx")                           # doctest: +SKIP
    >>> client.infer("iris", {"input": features}, binary=True)["output"]  # doctest: +SKIP

    ``url`` and ``api_key`` default to ``MAAS_URL`` and ``MAAS_API_KEY``. ``retry`` says how 429 and 503 are
    retried (``Retry-After`` honoured); ``sleep`` is what waits (tests pass one that records).
    """

    def __init__(
        self,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = 30.0,
        retry: Optional[RetryPolicy] = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Optional[Callable[[int, float], None]] = None,
        session: Optional[requests.Session] = None,
    ) -> None:
        url = url or os.environ.get("MAAS_URL")
        if not url:
            raise MaasError("no API URL: pass url= or set MAAS_URL")
        self.http = Transport(
            url,
            api_key or os.environ.get("MAAS_API_KEY"),
            timeout=timeout,
            retry=retry or RetryPolicy(),
            sleep=sleep,
            on_retry=on_retry,
            session=session or requests.Session(),
        )

    @property
    def url(self) -> str:
        return self.http.url

    # --- files ----------------------------------------------------------------------------------------------------
    def upload_file(self, upload: Upload, path: Union[str, Path], progress: Optional[Progress] = None) -> None:
        """PUT a file to a presigned upload. The API key is not sent: the URL carries its own authority."""
        path = Path(path)
        size = path.stat().st_size
        with path.open("rb") as f:
            body: Any = _Reader(f, size, progress) if progress else f
            response = requests.request(
                upload.method, upload.url, data=body, headers=upload.headers, timeout=max(self.http.timeout, 300)
            )
        if response.status_code >= 300:
            from maas_client._http import api_error

            raise api_error(response)

    def download(self, url: str) -> bytes:
        """GET a presigned link (a result, a batch output); no API key goes with it."""
        response = requests.get(url, timeout=max(self.http.timeout, 300))
        if response.status_code >= 300:
            from maas_client._http import api_error

            raise api_error(response)
        return bytes(response.content)

    def register(
        self,
        name: str,
        path: Union[str, Path],
        *,
        framework: Optional[str] = None,
        signature: Optional[dict[str, Any]] = None,
        target: Optional[str] = None,
        wait: bool = True,
        timeout: float = 300,
        progress: Optional[Progress] = None,
    ) -> Version:
        """Create the model if it does not exist, register a version declaring the file's sha256, upload the file,
        and (``wait``) wait until it is READY or FAILED; returns the version either way (``status`` says which).

        An ONNX file must hold its weights (the ``maas`` CLI inlines external data first).
        """
        path = Path(path)
        framework = framework or ("torchscript" if path.suffix == ".pt" else "onnx")
        try:
            self.get_model(name)
        except NotFoundError:
            self.create_model(name, framework, target=target)
        created = self.create_version(name, file_sha256(path), signature)
        self.upload_file(created.upload, path, progress)
        if not wait:
            return self.get_version(name, created.version)
        return self.wait_version(name, created.version, timeout=timeout)

    # --- waits ----------------------------------------------------------------------------------------------------
    def _poll(self, fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float, what: str) -> Any:
        """Fetch until ``done``: 0.1 s between looks at first, growing by half each time to 2 s."""
        deadline = time.monotonic() + timeout
        interval = 0.1
        while True:
            current = fetch()
            if done(current):
                return current
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"{what}: still {getattr(current, 'status', current)} after {timeout} s", current
                )
            self.http.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(2.0, interval * 1.5)

    def wait_version(self, name: str, version: VersionRef, *, timeout: float = 300) -> Version:
        """Wait until a version is no longer PENDING_UPLOAD (validated: READY or FAILED)."""
        return self._poll(  # type: ignore[no-any-return]
            lambda: self.get_version(name, version),
            lambda v: v.status != "PENDING_UPLOAD",
            timeout,
            f"version {version} of {name}",
        )

    def wait_ready(self, name: str, version: Optional[VersionRef] = None, *, timeout: float = 300) -> Version:
        """Wait until the version (default: the model's newest) is READY; VersionFailedError when it failed."""
        if version is None:
            numbers = [v.version for v in self.list_versions(name)]
            if not numbers:
                raise MaasError(f"model {name} has no version yet")
            version = max(numbers)
        found = self.wait_version(name, version, timeout=timeout)
        if found.status != "READY":
            raise VersionFailedError(found)
        return found

    def wait_job(self, job_id: str, *, timeout: float = 600) -> Job:
        """Wait until a job is SUCCEEDED, FAILED or CANCELLED, and return it (with its result)."""
        return self._poll(  # type: ignore[no-any-return]
            lambda: self.get_job(job_id), lambda j: j.status in JOB_FINAL, timeout, f"job {job_id}"
        )

    def wait_batch(
        self, job_id: str, *, timeout: float = 3600, on_progress: Optional[Callable[[BatchJob], None]] = None
    ) -> BatchJob:
        """Wait until a batch job is SUCCEEDED, PARTIAL or FAILED; ``on_progress`` sees each look."""

        def fetch() -> BatchJob:
            job = self.get_batch(job_id)
            if on_progress is not None:
                on_progress(job)
            return job

        return self._poll(fetch, lambda j: j.status in BATCH_FINAL, timeout, f"batch job {job_id}")  # type: ignore[no-any-return]


class _Reader:
    """A file that reports bytes read; it has a length, so requests sends Content-Length (S3 needs it)."""

    def __init__(self, file: IO[bytes], size: int, report: Progress) -> None:
        self._file, self._size, self._report, self._done = file, size, report, 0

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        chunk = self._file.read(n if n and n > 0 else 1024 * 1024)
        if chunk:
            self._done += len(chunk)
            self._report(self._done, self._size)
        return chunk


def file_sha256(path: Union[str, Path]) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
