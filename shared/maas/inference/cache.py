"""Model cache: artifacts fetched from S3 once, verified by sha256, kept on local disk and as sessions.

Disk: ``<cache_dir>/<sha256>.onnx``, written under a temporary name and renamed only after the digest
matched, so a partial or tampered download is never used. Memory: onnxruntime sessions in an LRU bounded by
the artifacts' bytes. A warm request finds its session in memory and touches neither disk nor S3.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maas.domain import ModelVersion, framework_of
from maas.observability import logger
from maas.ports import BlobStore
from maas.settings import InferenceSettings


class ArtifactIntegrityError(RuntimeError):
    """The artifact in S3 does not match the sha256 recorded at validation."""


@dataclass
class _Entry:
    session: Any
    size: int


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class ModelCache:
    def __init__(
        self,
        blobs: BlobStore,
        bucket: str,
        cache_dir: str | Path,
        max_bytes: int,
        max_disk_bytes: int | None = None,
        *,
        loader: Callable[[str, ModelVersion], Any] | None = None,
    ) -> None:
        """``loader(path, version)`` makes what ``session`` returns; by default an onnxruntime CPU session."""
        self._blobs = blobs
        self._bucket = bucket
        self._dir = Path(cache_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._max_disk_bytes = max_disk_bytes if max_disk_bytes is not None else 2 * max_bytes
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._loader = loader or _onnx_session
        self.loads = 0
        self.downloads = 0

    def session(self, version: ModelVersion) -> Any:
        """The onnxruntime session for a READY version."""
        digest = version.sha256
        if digest is None:
            raise ArtifactIntegrityError(f"version {version.version} has no recorded sha256")
        with self._lock:
            entry = self._sessions.get(digest)
            if entry is not None:
                self._sessions.move_to_end(digest)
                return entry.session
        path = self._local_file(version, digest)
        session = self._loader(str(path), version)
        size = path.stat().st_size
        with self._lock:
            self.loads += 1
            self._sessions[digest] = _Entry(session, size)
            self._bytes += size
            while self._bytes > self._max_bytes and len(self._sessions) > 1:
                _, evicted = self._sessions.popitem(last=False)
                self._bytes -= evicted.size
        return session

    def _make_room(self, incoming: int) -> None:
        """Delete the least recently used artifacts until ``incoming`` more bytes fit the disk budget."""
        files = sorted((*self._dir.glob("*.onnx"), *self._dir.glob("*.pt")), key=lambda p: p.stat().st_mtime)
        used = sum(p.stat().st_size for p in files)
        for old in files:
            if used + incoming <= self._max_disk_bytes:
                break
            used -= old.stat().st_size
            old.unlink(missing_ok=True)  # a loaded session keeps its own copy of the model

    def cached(self, version: ModelVersion) -> bool:
        with self._lock:
            return version.sha256 in self._sessions

    def _local_file(self, version: ModelVersion, digest: str) -> Path:
        suffix = ".pt" if framework_of(version.artifact_key) == "torchscript" else ".onnx"
        path = self._dir / f"{digest}{suffix}"
        if path.exists():
            os.utime(path)  # recently used: the last to leave the disk
            return path
        self._make_room(version.size_bytes or 0)
        fd, tmp = tempfile.mkstemp(dir=self._dir, suffix=".part")
        try:
            hasher = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in self._blobs.iter_bytes(self._bucket, version.artifact_key, version.artifact_version_id):
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != digest:
                raise ArtifactIntegrityError(
                    f"artifact of {version.model} version {version.version} does not match its sha256"
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.downloads += 1
        logger.info("artifact cached", extra={"sha256": digest, "bytes": path.stat().st_size})
        return path


def _onnx_session(path: str, version: ModelVersion) -> Any:
    from maas.runtime.onnx import load_session

    return load_session(path, threads=cpu_count())


def model_cache_for(
    settings: InferenceSettings, blobs: BlobStore, loader: Callable[[str, ModelVersion], Any] | None = None
) -> ModelCache:
    """The cache a function's settings describe (the inference function and the shadow worker share it)."""
    return ModelCache(
        blobs,
        settings.artifacts_bucket,
        settings.model_cache_dir,
        settings.model_cache_bytes,
        settings.model_disk_cache_bytes,
        loader=loader,
    )
