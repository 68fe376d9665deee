"""Validating an uploaded artifact: the work behind READY or FAILED.

Steps: size limit, sha256 (against the declared one if given), the file's kind (a pickle or a zip archive is
refused by its magic bytes, never opened), load with onnxruntime, signature, a smoke run on generated inputs.

TorchScript (``model.pt``): the archive's listing must be TorchScript's (``code/`` and ``constants.pkl``; a
``torch.save`` file has neither) and is never unpickled here. torch does not fit a zip-packaged Lambda, so the
validate function hands the version to the GPU workers (a ``validate`` message on gpu-jobs); a worker runs the
same validator with torch: ``torch.jit.load`` and a smoke run against the signature declared at registration.

Delivery is at least once (S3 notifications, retries). The version moves out of PENDING_UPLOAD only through a
conditional write, so a duplicate delivery cannot produce a second outcome; the event goes out after that write
and is marked sent, so a crash between the two is repaired by the next delivery.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from maas.aliases import Aliases
from maas.domain import Framework, ModelVersion, Signature, VersionStatus, framework_of, parse_artifact_key, utcnow
from maas.errors import ArtifactRejectedError, first_line
from maas.events import ModelVersionFailed, ModelVersionReady
from maas.observability import logger
from maas.ports import BlobStore, EventPublisher, RegistryStore

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOLS = {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}


@dataclass(frozen=True)
class ValidationSettings:
    max_artifact_bytes: int = 256 * 1024 * 1024
    work_dir: str = tempfile.gettempdir()


class _HandedOffError(Exception):
    """The cheap checks passed; loading needs torch, which runs on the GPU workers."""


def sniff_artifact(head: bytes, framework: Framework = Framework.ONNX) -> None:
    """Refuse files that are plainly not what they claim, by their first bytes, before any parser sees them."""
    if not head:
        raise ArtifactRejectedError("the artifact is empty")
    if framework == Framework.TORCHSCRIPT:
        if head[:2] in PICKLE_PROTOCOLS:
            raise ArtifactRejectedError("the artifact is a Python pickle, not TorchScript; pickles are never loaded")
        if not head.startswith(ZIP_MAGIC):
            raise ArtifactRejectedError("the artifact is not a TorchScript archive (save it with torch.jit.save)")
        return
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
        *,
        torch_handoff: Any = None,
        load_torch: bool = False,
    ) -> None:
        """``torch_handoff`` (a queue sender) takes TorchScript versions to the workers; ``load_torch`` is theirs."""
        self._store = store
        self._blobs = blobs
        self._events = events
        self._settings = settings or ValidationSettings()
        self._aliases = aliases
        self._torch_handoff = torch_handoff
        self._load_torch = load_torch

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
        except _HandedOffError:
            self._torch_handoff.send(
                json.dumps({"kind": "validate", "bucket": bucket, "key": key, "version_id": object_version_id})
            )
            logger.info("TorchScript version handed to the GPU workers for validation", extra={"key": key})
            return version
        except ArtifactRejectedError as rejected:
            version.status = VersionStatus.FAILED
            version.failure_reason = rejected.reason
            version.signature = None  # a model that failed its smoke run has no signature to serve
        version.finished_at = utcnow()

        # The default alias first: a client that sees READY can call the model by its name at once. Its event
        # follows the version's, so that subscribers hear of the version before of an alias pointing at it.
        alias = None
        if self._aliases is not None and version.status == VersionStatus.READY:
            alias = self._aliases.ensure_default(version, announce=False)
        if not self._store.finish_version(version):
            logger.info("another delivery finished this version first", extra={"key": key})
            return self._store.get_version(version.tenant_id, version.model, version.version)
        logger.info("version validated", extra={"key": key, "status": version.status})
        self._announce(version)
        if alias is not None and self._aliases is not None:
            self._aliases.announce_default(alias)
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
            framework = framework_of(version.artifact_key)
            sniff_artifact(head, framework)
            if framework == Framework.TORCHSCRIPT:
                self._inspect_torchscript(version, path)
            else:
                self._inspect(version, path)
        finally:
            os.unlink(path)

    def _inspect(self, version: ModelVersion, path: str) -> None:
        from maas.datatypes import UnsupportedTypeError
        from maas.runtime import onnx

        try:
            session = onnx.load_session(path, threads=1)
        except Exception as exc:  # onnxruntime raises its own untyped errors for any unreadable file
            reason = first_line(exc).replace(path, "the artifact")
            raise ArtifactRejectedError(f"onnxruntime could not load the model: {reason}") from exc
        try:
            version.signature = onnx.read_signature(session)
        except UnsupportedTypeError as exc:
            raise ArtifactRejectedError(f"unsupported model signature: {exc}") from exc
        try:
            session.run(None, onnx.smoke_inputs(version.signature))
        except Exception as exc:
            raise ArtifactRejectedError(f"the smoke run on generated inputs failed: {first_line(exc)}") from exc

    def _inspect_torchscript(self, version: ModelVersion, path: str) -> None:
        check_torchscript_archive(path)
        if version.signature is None:
            raise ArtifactRejectedError("a TorchScript version needs the signature declared at registration")
        if not self._load_torch:
            if self._torch_handoff is None:
                raise ArtifactRejectedError("TorchScript cannot be validated here: no GPU worker queue is configured")
            raise _HandedOffError
        from maas.worker.backends import BackendLoadError, load_torchscript

        try:
            backend = load_torchscript(path, version.signature)
        except BackendLoadError as exc:
            raise ArtifactRejectedError(str(exc)) from exc
        from maas.runtime.onnx import smoke_inputs

        try:
            outputs = backend.run(smoke_inputs(version.signature))
        except Exception as exc:
            raise ArtifactRejectedError(f"the smoke run on generated inputs failed: {first_line(exc)}") from exc
        check_outputs(version.signature, outputs)

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


def check_torchscript_archive(path: str) -> None:
    """A TorchScript archive has ``code/`` and ``constants.pkl``; ``torch.save`` writes neither. Never unpickled."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as exc:
        raise ArtifactRejectedError("the artifact is not a readable zip archive (TorchScript is one)") from exc
    has_code = any("/code/" in name for name in names)
    has_constants = any(name.endswith("/constants.pkl") for name in names)
    if not (has_code and has_constants):
        raise ArtifactRejectedError(
            "the archive is not TorchScript (no code/ or constants.pkl): a file saved with torch.save is a "
            "pickle and is never loaded; export with torch.jit.script or torch.jit.trace and torch.jit.save"
        )


def check_outputs(signature: Signature, outputs: dict[str, np.ndarray]) -> None:
    """The smoke run's outputs have the declared datatypes, ranks and fixed dimensions."""
    from maas.datatypes import to_numpy

    for spec in signature.outputs:
        array = outputs[spec.name]
        if spec.datatype != "BYTES" and array.dtype != to_numpy(spec.datatype):
            raise ArtifactRejectedError(
                f"output '{spec.name}' is {array.dtype} but the declared signature says {spec.datatype}"
            )
        fixed = [(i, d) for i, d in enumerate(spec.shape) if d >= 0]
        if array.ndim != len(spec.shape) or any(array.shape[i] != d for i, d in fixed):
            raise ArtifactRejectedError(
                f"output '{spec.name}' has shape {list(array.shape)}, which does not fit the declared {spec.shape}"
            )
