"""Validating an uploaded artifact: the work behind READY or FAILED.

Steps: size limit, sha256 (against the declared one if given), the file's kind (a pickle or a zip archive is
refused by its magic bytes, never opened), then, for ONNX, its protobuf read without loading anything: any
tensor that keeps its data in another file (external data, anywhere in the model) is refused. The model is then
loaded and smoke-run on generated inputs in a model host (``maas.sandbox``): a process of its own, confined to
the version's private directory as far as the kernel allows, under a memory limit. What that cost in memory is
measured and stored on the version; a version over ``max_model_memory_bytes`` is refused with the figure.

Every invocation works in a private temporary directory (the artifact and the host's scratch), removed
whatever happens: nothing of one validation is visible to the next.

A bundle (an ONNX model over 2 GB with its data files, as one tar) is unpacked into that private directory
after each member is checked; its model's external data may name only the bundle's own files.

TorchScript (``model.pt``): the archive's listing must be TorchScript's (``code/`` and ``constants.pkl``; a
``torch.save`` file has neither) and is never unpickled here. torch does not fit a zip-packaged Lambda, so the
validate function hands the version to the GPU workers (a ``validate`` message on gpu-jobs); a worker runs the
same validator with torch, in a confined model host: ``torch.jit.load`` and a smoke run against the signature
declared at registration.

Delivery is at least once (S3 notifications, retries). The version moves out of PENDING_UPLOAD only through a
conditional write, so a duplicate delivery cannot produce a second outcome; the event goes out after that write
and is marked sent, so a crash between the two is repaired by the next delivery.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maas.aliases import Aliases
from maas.backends.bundle import is_tar
from maas.domain import Framework, ModelVersion, Signature, VersionStatus, framework_of, parse_artifact_key, utcnow
from maas.errors import ArtifactRejectedError, redact
from maas.events import ModelVersionFailed, ModelVersionReady
from maas.observability import logger
from maas.ports import BlobStore, EventPublisher, RegistryStore

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOLS = {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}


MIB = 1024 * 1024


@dataclass(frozen=True)
class ValidationSettings:
    max_artifact_bytes: int = 256 * MIB
    max_model_memory_bytes: int = 1024 * MIB
    work_dir: str | None = None  # where private directories are made (the system's temporary directory)
    load_timeout_seconds: float = 120
    require_confinement: bool = True  # TorchScript only: ONNX is checked before it loads, and is not code

    @property
    def host_memory_bytes(self) -> int:
        """The host's hard limit: twice the allowed cost, so that a model just over it is measured, not cut off."""
        return 2 * self.max_model_memory_bytes + 64 * MIB


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
        use_cuda: bool = False,
    ) -> None:
        """``torch_handoff`` (a queue sender) takes TorchScript versions to the workers; ``load_torch`` is theirs."""
        self._store = store
        self._blobs = blobs
        self._events = events
        self._settings = settings or ValidationSettings()
        self._aliases = aliases
        self._torch_handoff = torch_handoff
        self._load_torch = load_torch
        self._use_cuda = use_cuda

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

        framework = framework_of(version.artifact_key)
        with tempfile.TemporaryDirectory(prefix="maas-validate-", dir=self._settings.work_dir) as private:
            artifact_dir = Path(private) / "artifact"
            artifact_dir.mkdir(mode=0o700)
            path = artifact_dir / ("model.pt" if framework == Framework.TORCHSCRIPT else "model.onnx")
            head = self._download(version, bucket, path)
            if framework == Framework.TORCHSCRIPT:
                sniff_artifact(head, framework)
                self._inspect_torchscript(version, path, private)
            elif is_tar(head):
                self._inspect_bundle(version, path, private)
            else:
                sniff_artifact(head, framework)
                self._inspect_onnx(version, path, private)

    def _download(self, version: ModelVersion, bucket: str, path: Path) -> bytes:
        digest = hashlib.sha256()
        head = b""
        with open(path, "wb") as out:
            for chunk in self._blobs.iter_bytes(bucket, version.artifact_key, version.artifact_version_id):
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        version.sha256 = digest.hexdigest()
        if version.declared_sha256 and version.declared_sha256 != version.sha256:
            raise ArtifactRejectedError(
                f"sha256 mismatch: declared {version.declared_sha256}, uploaded file has {version.sha256}"
            )
        return head

    def _inspect_bundle(self, version: ModelVersion, path: Path, private: str) -> None:
        from maas.backends.bundle import ENTRY, BundleError, unpack_bundle

        try:
            unpack_bundle(path, Path(private) / "bundle", max_bytes=self._settings.max_artifact_bytes)
        except BundleError as exc:
            raise ArtifactRejectedError(f"the bundle is refused: {exc}") from exc
        version.bundle = True
        self._inspect_onnx(version, Path(private) / "bundle" / ENTRY, private, bundle=True)

    def _inspect_onnx(self, version: ModelVersion, path: Path, private: str, *, bundle: bool = False) -> None:
        from maas.backends import onnx
        from maas.backends.bundle import files_beside
        from maas.datatypes import UnsupportedTypeError
        from maas.sandbox.client import HostConfig, ModelHost

        try:
            onnx.check_file(path, allowed=files_beside(path) if bundle else ())
        except onnx.ExternalDataError as exc:
            raise ArtifactRejectedError(str(exc)) from exc
        config = HostConfig(
            framework="onnx",
            artifact_dir=str(path.parent),
            entry=path.name,
            memory_bytes=self._settings.host_memory_bytes,
            require_confinement=False,
            run_timeout=self._settings.load_timeout_seconds,
        )
        with ModelHost(config, scratch_root=private) as host:
            loaded = self._start(host, "onnxruntime could not load the model")
            try:
                version.signature = onnx.signature_from_specs(loaded["inputs"], loaded["outputs"])
            except UnsupportedTypeError as exc:
                raise ArtifactRejectedError(f"unsupported model signature: {exc}") from exc
            self._smoke(host)
            self._measure(version, host.memory_bytes)

    def _start(self, host: Any, failure: str) -> dict[str, Any]:
        from maas.sandbox.client import ModelHostError

        try:
            return dict(host.start())
        except ModelHostError as exc:
            raise ArtifactRejectedError(self._host_failure(failure, exc)) from exc

    def _smoke(self, host: Any) -> list[dict[str, Any]]:
        from maas.sandbox.client import ModelHostError

        try:
            return list(host.smoke())
        except ModelHostError as exc:
            raise ArtifactRejectedError(self._host_failure("the smoke run on generated inputs failed", exc)) from exc

    def _host_failure(self, what: str, exc: Any) -> str:
        limit = self._settings.max_model_memory_bytes
        if exc.kind == "memory" or "MemoryError" in exc.message:
            return (
                f"{what}: it needs more than {_mib(self._settings.host_memory_bytes)} of memory when loaded and "
                f"run on one row, over the limit of {_mib(limit)} (MaxModelMemoryBytes)"
            )
        if exc.kind == "timeout":
            return f"{what}: it did not finish within {self._settings.load_timeout_seconds:.0f} s"
        return f"{what}: {redact(exc.message)}"

    def _measure(self, version: ModelVersion, measured: int) -> None:
        version.memory_bytes = measured
        limit = self._settings.max_model_memory_bytes
        if measured > limit:
            raise ArtifactRejectedError(
                f"loading the model and a smoke run on one row took {_mib(measured)} ({measured} bytes) of memory, "
                f"over the limit of {_mib(limit)} (MaxModelMemoryBytes)"
            )

    def _inspect_torchscript(self, version: ModelVersion, path: Path, private: str) -> None:
        check_torchscript_archive(str(path))
        signature = version.signature
        if signature is None:
            raise ArtifactRejectedError("a TorchScript version needs the signature declared at registration")
        if not self._load_torch:
            if self._torch_handoff is None:
                raise ArtifactRejectedError("TorchScript cannot be validated here: no GPU worker queue is configured")
            raise _HandedOffError
        from maas.sandbox.client import HostConfig, ModelHost

        config = HostConfig(
            framework="torchscript",
            artifact_dir=str(path.parent),
            entry=path.name,
            inputs=[spec.name for spec in signature.inputs],
            outputs=[spec.name for spec in signature.outputs],
            input_specs=[(spec.name, spec.datatype, list(spec.shape)) for spec in signature.inputs],
            memory_bytes=self._settings.host_memory_bytes,
            use_cuda=self._use_cuda,
            require_confinement=self._settings.require_confinement,
            run_timeout=self._settings.load_timeout_seconds,
        )
        with ModelHost(config, scratch_root=private) as host:
            self._start(host, "the TorchScript module could not be loaded")
            outputs = self._smoke(host)
            check_outputs(signature, {o["name"]: (str(o["dtype"]), list(o["shape"])) for o in outputs})
            self._measure(version, host.memory_bytes)

    def _announce(self, version: ModelVersion) -> None:
        if version.status == VersionStatus.READY:
            assert version.signature is not None
            assert version.sha256
            assert version.size_bytes is not None
            self._events.publish(
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


def check_outputs(signature: Signature, outputs: dict[str, tuple[str, list[int]]]) -> None:
    """The smoke run's outputs (dtype name, shape) have the declared datatypes, ranks and fixed dimensions."""
    from maas.datatypes import to_numpy

    for spec in signature.outputs:
        if spec.name not in outputs:
            raise ArtifactRejectedError(f"the smoke run returned no output '{spec.name}'")
        dtype, shape = outputs[spec.name]
        if spec.datatype != "BYTES" and np.dtype(dtype) != to_numpy(spec.datatype):
            raise ArtifactRejectedError(
                f"output '{spec.name}' is {dtype} but the declared signature says {spec.datatype}"
            )
        fixed = [(i, d) for i, d in enumerate(spec.shape) if d >= 0]
        if len(shape) != len(spec.shape) or any(shape[i] != d for i, d in fixed):
            raise ArtifactRejectedError(
                f"output '{spec.name}' has shape {shape}, which does not fit the declared {spec.shape}"
            )


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"
