"""The first HTTP client of the platform's API (plain dicts), kept for the demo and the gateway benchmark.

The CLI and new code use the SDK, ``maas_client`` (clients/python): typed, paged, honouring Retry-After.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import requests

from maas.cli.credentials import find_local_env, progress_bar, resolve_credentials
from maas.cli.errors import ApiError

__all__ = ["MaasClient", "file_sha256", "find_local_env", "progress_bar", "resolve_credentials"]


class _ProgressReader:
    """A file wrapper that reports bytes read; has a length so requests sends Content-Length (S3 needs it)."""

    def __init__(self, file: BinaryIO, size: int, report: Callable[[int], None]) -> None:
        self._file, self._size, self._report, self._done = file, size, report, 0

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        chunk = self._file.read(n if n and n > 0 else 1024 * 1024)
        if chunk:
            self._done += len(chunk)
            self._report(self._done)
        return chunk


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


class MaasClient:
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30,
        *,
        state_dir: str | Path | None = None,
    ) -> None:
        self.url, self.api_key = resolve_credentials(url, api_key, state_dir)
        self.timeout = timeout
        self.http = requests.Session()
        if self.api_key:
            self.http.headers["Authorization"] = f"Bearer {self.api_key}"

    def request(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        response = self.http.request(method, self.url + path, json=json, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ApiError(response.status_code, body.get("code", "ERROR"), body.get("error", response.text))
            except ValueError:
                raise ApiError(response.status_code, "ERROR", response.text[:500]) from None
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # --- tenants and keys -----------------------------------------------------------------------------------
    def create_tenant(self, tenant_id: str, name: str) -> Any:
        return self.request("POST", "/v1/tenants", {"tenant_id": tenant_id, "name": name})

    def create_key(self, tenant_id: str, scopes: list[str], description: str = "") -> Any:
        return self.request("POST", f"/v1/tenants/{tenant_id}/keys", {"scopes": scopes, "description": description})

    def list_keys(self, tenant_id: str) -> Any:
        return self.request("GET", f"/v1/tenants/{tenant_id}/keys")["keys"]

    def revoke_key(self, tenant_id: str, key_id: str) -> None:
        self.request("DELETE", f"/v1/tenants/{tenant_id}/keys/{key_id}")

    # --- models ---------------------------------------------------------------------------------------------
    def create_model(self, name: str, framework: str = "onnx", description: str = "", target: str | None = None) -> Any:
        body = {"name": name, "framework": framework, "description": description}
        if target:
            body["target"] = target
        return self.request("POST", "/v1/models", body)

    def get_model(self, name: str) -> Any:
        return self.request("GET", f"/v1/models/{name}")

    def list_models(self) -> Any:
        return self.request("GET", "/v1/models")["models"]

    def create_version(self, name: str, sha256: str | None = None, signature: Any = None) -> Any:
        body: dict[str, Any] = {"sha256": sha256} if sha256 else {}
        if signature is not None:
            body["signature"] = signature
        return self.request("POST", f"/v1/models/{name}/versions", body)

    def get_version(self, name: str, version: int) -> Any:
        return self.request("GET", f"/v1/models/{name}/versions/{version}")

    def list_versions(self, name: str) -> Any:
        return self.request("GET", f"/v1/models/{name}/versions")["versions"]

    # --- aliases and lifecycle ------------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, target: dict[str, Any], if_match: str | None = None) -> Any:
        headers = {"If-Match": if_match} if if_match else {}
        return self.request("PUT", f"/v1/models/{name}/aliases/{alias}", target, headers=headers)

    def get_alias(self, name: str, alias: str) -> Any:
        return self.request("GET", f"/v1/models/{name}/aliases/{alias}")

    def list_aliases(self, name: str) -> Any:
        return self.request("GET", f"/v1/models/{name}/aliases")["aliases"]

    def rollback_alias(self, name: str, alias: str, if_match: str | None = None) -> Any:
        headers = {"If-Match": if_match} if if_match else {}
        return self.request("POST", f"/v1/models/{name}/aliases/{alias}/rollback", headers=headers)

    def optimize(self, name: str, version: int, method: str = "dynamic_int8") -> Any:
        return self.request("POST", f"/v1/models/{name}/versions/{version}/optimize", {"method": method})

    def archive_version(self, name: str, version: int) -> None:
        self.request("DELETE", f"/v1/models/{name}/versions/{version}")

    def put_grant(self, name: str, tenant_id: str, grant: dict[str, Any]) -> Any:
        return self.request("PUT", f"/v1/models/{name}/grants/{tenant_id}", grant)

    def list_grants(self, name: str) -> Any:
        return self.request("GET", f"/v1/models/{name}/grants")["grants"]

    def revoke_grant(self, name: str, tenant_id: str) -> None:
        self.request("DELETE", f"/v1/models/{name}/grants/{tenant_id}")

    # --- inference ------------------------------------------------------------------------------------------
    def _v2_path(self, name: str, version: str | int | None) -> str:
        return f"/v2/models/{name}" + (f"/versions/{version}" if version is not None else "")

    def model_metadata(self, name: str, version: str | int | None = None) -> Any:
        return self.request("GET", self._v2_path(name, version))

    def infer(self, name: str, request: dict[str, Any], version: str | int | None = None) -> Any:
        """One Open Inference Protocol v2 infer request (JSON); returns the response document."""
        return self.request("POST", self._v2_path(name, version) + "/infer", request)

    def upload(self, upload: dict[str, Any], path: Path, progress: Callable[[int], None] | None = None) -> None:
        size = path.stat().st_size
        with path.open("rb") as f:
            body: Any = _ProgressReader(f, size, progress) if progress else f
            response = requests.request(
                upload["method"], upload["url"], data=body, headers=upload.get("headers", {}), timeout=300
            )
        if response.status_code >= 300:
            raise ApiError(response.status_code, "UPLOAD_FAILED", response.text[:500])

    def wait_for_version(self, name: str, version: int, timeout: float = 120, interval: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            current = self.get_version(name, version)
            if current["status"] != "PENDING_UPLOAD" or time.monotonic() > deadline:
                return current
            time.sleep(interval)

    def register(
        self,
        name: str,
        path: Path,
        *,
        framework: str = "onnx",
        wait: bool = True,
        progress: bool = False,
        signature: Any = None,
        target: str | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> Any:
        """Create the model if needed, register a version declaring the file's sha256, upload, and wait.

        An ONNX model that keeps its weights in other files (``model.onnx.data``) has them inlined first, or is
        bundled with them when over 2 GB (``maas.cli.prepare``); ``notice`` hears what was done.
        """
        import tempfile

        from maas.cli.prepare import prepare_onnx

        try:
            self.get_model(name)
        except ApiError as error:
            if error.status != 404:
                raise
            self.create_model(name, framework, target=target)
        with tempfile.TemporaryDirectory(prefix="maas-upload-") as workdir:
            upload = path
            if framework == "onnx":
                prepared = prepare_onnx(path, Path(workdir))
                upload = prepared.path
                if prepared.note and notice is not None:
                    notice(prepared.note)
            created = self.create_version(name, file_sha256(upload), signature)
            report = progress_bar(f"uploading {upload.name}", upload.stat().st_size) if progress else None
            self.upload(created["upload"], upload, report)
        if not wait:
            return self.get_version(name, created["version"])
        return self.wait_for_version(name, created["version"])

    # --- async jobs -----------------------------------------------------------------------------------------
    def submit_job(
        self, name: str, request: Any, version: str | None = None, *, idempotency_key: str | None = None
    ) -> Any:
        path = f"/v1/models/{name}" + (f"/versions/{version}" if version else "") + "/jobs"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", path, request, headers=headers)

    def get_job(self, job_id: str) -> Any:
        return self.request("GET", f"/v1/jobs/{job_id}")

    def list_jobs(self, status: str | None = None, model: str | None = None, limit: int = 100) -> Any:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if model:
            params["model"] = model
        return self.request("GET", "/v1/jobs", params=params)["jobs"]

    def cancel_job(self, job_id: str) -> Any:
        return self.request("DELETE", f"/v1/jobs/{job_id}")

    def wait_for_job(self, job_id: str, timeout: float = 300, interval: float = 0.2) -> Any:
        """Poll until the job is SUCCEEDED, FAILED or CANCELLED; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(interval)

    # --- batch jobs -----------------------------------------------------------------------------------------
    def start_batch(self, model: str, fmt: str, version: str | None = None, name: str | None = None) -> Any:
        body: dict[str, Any] = {"model": model, "format": fmt}
        if version is not None:
            body["version"] = version
        if name is not None:
            body["name"] = name
        return self.request("POST", "/v1/batch-jobs", body)

    def get_batch(self, job_id: str) -> Any:
        return self.request("GET", f"/v1/batch-jobs/{job_id}")

    def update_model(self, name: str, **changes: Any) -> Any:
        return self.request("PATCH", f"/v1/models/{name}", changes)

    def register_event_source(self, source: str) -> Any:
        return self.request("POST", "/v1/event-sources", {"source": source})
