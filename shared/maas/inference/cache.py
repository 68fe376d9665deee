"""Model cache: artifacts fetched from S3 once, kept on local disk per tenant, verified at every load.

Disk: ``<cache_dir>/<tenant>/<sha256>/model.{onnx,pt,tar}``: one directory per artifact, holding that file
and nothing else, so that a model's runtime (which resolves an ONNX model's external data beside it) reaches
no other file. The file is written under a temporary directory, renamed into place only after its digest
matched, and left read-only. Every load hashes it again against the sha256 recorded at validation, so a file
changed on disk after download (by anything) is never loaded: it is fetched anew, and refused if S3 disagrees.
A bundle is unpacked, at every load, into a fresh ``<sha256>.bundle`` directory beside it.

Memory: loaded backends in an LRU bounded by what each model costs: the memory its validation measured
(``ModelVersion.memory_bytes``), or its file's size when that is larger or unknown. A backend evicted from the
LRU is closed if it can be (a model host process stops). A warm request finds its backend in memory and touches
neither disk nor S3.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maas.backends.base import Backend
from maas.backends.bundle import ENTRY, BundleError, unpack_bundle
from maas.backends.onnx import load_onnx
from maas.domain import ModelVersion, framework_of
from maas.errors import ModelLoadError, first_line
from maas.observability import logger
from maas.ports import BlobStore
from maas.settings import InferenceSettings


class ArtifactIntegrityError(ModelLoadError):
    """The artifact in S3 (or on disk) does not match the sha256 recorded at validation."""


class ModelTooLargeError(ModelLoadError):
    """The model costs more memory than this cache may hold."""


@dataclass
class _Entry:
    session: Backend
    size: int


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def memory_cost(version: ModelVersion) -> int:
    """What a loaded version is taken to cost: its measured memory, or its artifact's size if larger."""
    return max(version.memory_bytes or 0, version.size_bytes or 0)


def artifact_name(version: ModelVersion) -> str:
    if version.bundle:
        return "model.tar"
    return "model.pt" if framework_of(version.artifact_key) == "torchscript" else "model.onnx"


def _make_writable(path: Path) -> None:
    for root, dirs, _ in os.walk(path):
        os.chmod(root, stat.S_IRWXU)
        for name in dirs:
            os.chmod(os.path.join(root, name), stat.S_IRWXU)


def remove_tree(path: Path) -> None:
    """rmtree for a directory this cache left read-only."""
    if path.exists():
        _make_writable(path)
        shutil.rmtree(path, ignore_errors=True)


class ModelCache:
    def __init__(
        self,
        blobs: BlobStore,
        bucket: str,
        cache_dir: str | Path,
        max_bytes: int,
        max_disk_bytes: int | None = None,
        *,
        loader: Callable[[str, ModelVersion], Backend] | None = None,
        max_bundle_bytes: int = 8 * 1024**3,
    ) -> None:
        """``loader(path, version)`` makes the backend ``session`` returns; by default ONNX on CPU, in process."""
        self._blobs = blobs
        self._bucket = bucket
        self._dir = Path(cache_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._max_disk_bytes = max_disk_bytes if max_disk_bytes is not None else 2 * max_bytes
        self._max_bundle_bytes = max_bundle_bytes
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._disk_lock = threading.Lock()
        self._loader = loader or _onnx_backend
        self.loads = 0
        self.downloads = 0

    @staticmethod
    def _key(version: ModelVersion) -> str:
        return f"{version.tenant_id}/{version.sha256}"

    def session(self, version: ModelVersion) -> Backend:
        """The loaded, ready backend (``maas.backends.base.Backend``) for a READY version."""
        if version.sha256 is None:
            raise ArtifactIntegrityError(f"version {version.version} has no recorded sha256")
        key = self._key(version)
        with self._lock:
            entry = self._sessions.get(key)
            if entry is not None:
                self._sessions.move_to_end(key)
                return entry.session
        cost = memory_cost(version)
        if cost > self._max_bytes:
            raise ModelTooLargeError(
                f"version {version.version} of '{version.model}' needs {cost} bytes of memory; "
                f"this instance holds models of up to {self._max_bytes} bytes"
            )
        entry_path = self._entry(version)
        try:
            session = self._loader(str(entry_path), version)
        except ModelLoadError:
            raise
        except Exception as exc:  # the runtimes raise their own untyped errors
            raise ModelLoadError(f"the model could not be loaded: {first_line(exc)}") from exc
        evicted: list[Backend] = []
        with self._lock:
            self.loads += 1
            previous = self._sessions.pop(key, None)
            if previous is not None:  # another thread loaded it meanwhile: keep one
                self._bytes -= previous.size
                evicted.append(previous.session)
            self._sessions[key] = _Entry(session, cost)
            self._bytes += cost
            while self._bytes > self._max_bytes and len(self._sessions) > 1:
                _, old = self._sessions.popitem(last=False)
                self._bytes -= old.size
                evicted.append(old.session)
        for old_session in evicted:
            _close(old_session)
        return session

    def cached(self, version: ModelVersion) -> bool:
        with self._lock:
            return self._key(version) in self._sessions

    def close(self) -> None:
        with self._lock:
            sessions = [e.session for e in self._sessions.values()]
            self._sessions.clear()
            self._bytes = 0
        for session in sessions:
            _close(session)

    # --- disk -----------------------------------------------------------------------------------------------
    def artifact_dir(self, version: ModelVersion) -> Path:
        return self._dir / version.tenant_id / str(version.sha256)

    def _entry(self, version: ModelVersion) -> Path:
        """The verified file to load: the artifact itself, or a bundle's ``model.onnx`` freshly unpacked."""
        path = self._verified_file(version)
        if not version.bundle:
            return path
        unpacked = path.parent.with_name(f"{path.parent.name}.bundle")
        with self._disk_lock:
            remove_tree(unpacked)
            try:
                unpack_bundle(path, unpacked, max_bytes=self._max_bundle_bytes)
            except BundleError as exc:
                raise ArtifactIntegrityError(f"the bundle of version {version.version} cannot be unpacked") from exc
        return unpacked / ENTRY

    def _verified_file(self, version: ModelVersion) -> Path:
        digest = str(version.sha256)
        path = self.artifact_dir(version) / artifact_name(version)
        if path.exists():
            if file_sha256(path) == digest:
                os.utime(path.parent)  # recently used: the last to leave the disk
                return path
            logger.warning("cached artifact does not match its sha256; fetched again", extra={"sha256": digest})
            remove_tree(path.parent)
        self._download(version, path)
        if file_sha256(path) != digest:  # changed between the download and now
            remove_tree(path.parent)
            raise ArtifactIntegrityError(f"artifact of {version.model} version {version.version} changed on disk")
        return path

    def _download(self, version: ModelVersion, path: Path) -> None:
        tenant_dir = path.parent.parent
        tenant_dir.mkdir(parents=True, exist_ok=True)
        self._make_room(version.size_bytes or 0)
        staging = Path(tempfile.mkdtemp(dir=tenant_dir, prefix=".part-"))
        try:
            hasher = hashlib.sha256()
            staged = staging / path.name
            with open(staged, "wb") as out:
                for chunk in self._blobs.iter_bytes(self._bucket, version.artifact_key, version.artifact_version_id):
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != version.sha256:
                raise ArtifactIntegrityError(
                    f"artifact of {version.model} version {version.version} does not match its sha256"
                )
            os.chmod(staged, 0o444)
            os.chmod(staging, 0o555)  # noqa: S103 - read-only: a model host of another user reads it
            try:
                os.rename(staging, path.parent)
            except OSError:  # another thread or process put it there first; theirs is as good
                if not path.exists():
                    raise
                remove_tree(staging)
        except BaseException:
            remove_tree(staging)
            raise
        self.downloads += 1
        logger.info("artifact cached", extra={"sha256": version.sha256, "bytes": path.stat().st_size})

    def _make_room(self, incoming: int) -> None:
        """Delete the least recently used artifacts until ``incoming`` more bytes fit the disk budget."""
        dirs = [d for d in self._dir.glob("*/*") if d.is_dir() and not d.name.startswith(".")]
        sizes = {d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) for d in dirs}
        used = sum(sizes.values())
        for old in sorted(dirs, key=lambda d: d.stat().st_mtime):
            if used + incoming <= self._max_disk_bytes:
                break
            used -= sizes[old]
            remove_tree(old)  # a loaded session keeps its own copy of the model


def _close(session: Any) -> None:
    close = getattr(session, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # a model host that is already gone
            logger.warning("closing an evicted model failed", exc_info=True)


def _onnx_backend(path: str, version: ModelVersion) -> Backend:
    return load_onnx(path, threads=cpu_count(), use_cuda=False, bundle=version.bundle)


def model_cache_for(
    settings: InferenceSettings, blobs: BlobStore, loader: Callable[[str, ModelVersion], Backend] | None = None
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
