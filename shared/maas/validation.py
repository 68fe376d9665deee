"""Validating an uploaded artifact: the work behind READY or FAILED.

Steps: size limit, sha256 (against the declared one if given), the file's kind (a pickle or a zip archive is
refused by its magic bytes, never opened), load with onnxruntime, signature, a smoke run on generated inputs.

Delivery is at least once (S3 notifications, retries). The version moves out of PENDING_UPLOAD only through a
conditional write, so a duplicate delivery cannot produce a second outcome; the event goes out after that write
and is marked sent, so a crash between the two is repaired by the next delivery.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass

from maas.aliases import Aliases
from maas.domain import ModelVersion, VersionStatus, parse_artifact_key, utcnow
from maas.errors import ArtifactRejectedError
from maas.events import ModelVersionFailed, ModelVersionReady
from maas.observability import logger
from maas.ports import BlobStore, EventPublisher, RegistryStore

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOLS = {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}


@dataclass(frozen=True)
class ValidationSettings:
    max_artifact_bytes: int = 256 * 1024 * 1024
    work_dir: str = tempfile.gettempdir()


def sniff_artifact(head: bytes) -> None:
    """Refuse files that are plainly not ONNX, by their first bytes, before any parser sees them."""
    if not head:
        raise ArtifactRejectedError("the artifact is empty")
    if head.startswith(ZIP_MAGIC):
        raise ArtifactRejectedError(
            "the artifact is a zip archive (a PyTorch file saved with torch.save or torch.jit.save?), "
            "not an ONNX model; export it with torch.onnx.export"
        )
    if head[:2] in PICKLE_PROTOCOLS:
        raise ArtifactRejectedError("the artifact is a Python pickle, not an ONNX model; pickles are never loaded")


class ArtifactValidator:
    def __init__(
        self,
        store: RegistryStore,
        blobs: BlobStore,
        events: EventPublisher,
        settings: ValidationSettings | None = None,
        aliases: Aliases | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._events = events
        self._settings = settings or ValidationSettings()
        self._aliases = aliases

    def handle_upload(self, bucket: str, key: str, object_version_id: str | None) -> ModelVersion | None:
        """Validate the artifact at ``bucket/key``; returns the version as stored afterwards."""
        parsed = parse_artifact_key(key)
        version = self._store.get_version(*parsed) if parsed else None
        if version is None or key != version.artifact_key:
            # a stray object under models/ (another name, or not this version's artifact) decides nothing
            logger.warning("upload matches no registered version; ignored", extra={"key": key})
            return None
        if version.is_final:
            logger.info("version already validated", extra={"key": key, "status": version.status})
            if not version.announced:
                self._announce(version)
            self._ensure_default_alias(version)
            return version

        try:
            self._validate(version, bucket, object_version_id)
            version.status = VersionStatus.READY
        except ArtifactRejectedError as rejected:
            version.status = VersionStatus.FAILED
            version.failure_reason = rejected.reason
            version.signature = None  # a model that failed its smoke run has no signature to serve
        version.finished_at = utcnow()

        if not self._store.finish_version(version):
            logger.info("another delivery finished this version first", extra={"key": key})
            return self._store.get_version(version.tenant_id, version.model, version.version)
        logger.info("version validated", extra={"key": key, "status": version.status})
        self._announce(version)
        self._ensure_default_alias(version)
        return version

    def _ensure_default_alias(self, version: ModelVersion) -> None:
        if self._aliases is not None and version.status == VersionStatus.READY:
            self._aliases.ensure_default(version)

    def _validate(self, version: ModelVersion, bucket: str, object_version_id: str | None) -> None:
        limit = self._settings.max_artifact_bytes
        info = self._blobs.head(bucket, version.artifact_key, object_version_id)
        if info is None:
            raise ArtifactRejectedError("the uploaded artifact is no longer in the bucket")
        if info.size > limit:
            raise ArtifactRejectedError(f"the artifact is {info.size} bytes, over the limit of {limit} bytes")
        version.size_bytes = info.size
        version.artifact_version_id = info.version_id or object_version_id

        fd, path = tempfile.mkstemp(suffix=".onnx", dir=self._settings.work_dir)
        try:
            digest = hashlib.sha256()
            head = b""
            with os.fdopen(fd, "wb") as out:
                for chunk in self._blobs.iter_bytes(bucket, version.artifact_key, version.artifact_version_id):
                    if len(head) < 16:
                        head += chunk[:16]
                    digest.update(chunk)
                    out.write(chunk)
            version.sha256 = digest.hexdigest()
            if version.declared_sha256 and version.declared_sha256 != version.sha256:
                raise ArtifactRejectedError(
                    f"sha256 mismatch: declared {version.declared_sha256}, uploaded file has {version.sha256}"
                )
            sniff_artifact(head)
            self._inspect(version, path)
        finally:
            os.unlink(path)

    def _inspect(self, version: ModelVersion, path: str) -> None:
        from maas.datatypes import UnsupportedTypeError
        from maas.runtime import onnx

        try:
            session = onnx.load_session(path, threads=1)
        except Exception as exc:  # onnxruntime raises its own untyped errors for any unreadable file
            reason = _first_line(exc).replace(path, "the artifact")
            raise ArtifactRejectedError(f"onnxruntime could not load the model: {reason}") from exc
        try:
            version.signature = onnx.read_signature(session)
        except UnsupportedTypeError as exc:
            raise ArtifactRejectedError(f"unsupported model signature: {exc}") from exc
        try:
            session.run(None, onnx.smoke_inputs(version.signature))
        except Exception as exc:
            raise ArtifactRejectedError(f"the smoke run on generated inputs failed: {_first_line(exc)}") from exc

    def _announce(self, version: ModelVersion) -> None:
        if version.status == VersionStatus.READY:
            assert version.signature is not None
            assert version.sha256
            assert version.size_bytes is not None
            self._events.publish(
                "ModelVersionReady",
                ModelVersionReady(
                    tenant_id=version.tenant_id,
                    model=version.model,
                    version=version.version,
                    sha256=version.sha256,
                    size_bytes=version.size_bytes,
                    signature=version.signature,
                ),
            )
        else:
            self._events.publish(
                "ModelVersionFailed",
                ModelVersionFailed(
                    tenant_id=version.tenant_id,
                    model=version.model,
                    version=version.version,
                    reason=version.failure_reason or "unknown",
                ),
            )
        self._store.mark_announced(version.tenant_id, version.model, version.version)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
