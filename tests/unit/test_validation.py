"""Validating uploaded artifacts with real ONNX models, on fakes of the store, the bucket and the bus."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest

from maas.domain import ModelVersion, VersionStatus, artifact_key
from maas.validation import ArtifactValidator, ValidationSettings

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore, RecordingPublisher

BUCKET = "artifacts"
SIGNATURE = {
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 16]}],
    "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 4]}],
}


class Upload:
    """One registered version and what the tests put in the bucket for it."""

    def __init__(self, store: InMemoryRegistryStore, blobs: InMemoryBlobStore, declared_sha256: str | None = None):
        self.store, self.blobs = store, blobs
        number = len(store.versions) + 1
        self.key = artifact_key("acme", "m", number)
        store.put_version(
            ModelVersion(
                tenant_id="acme", model="m", version=number, artifact_key=self.key, declared_sha256=declared_sha256
            )
        )
        self.number = number

    def put(self, data: bytes) -> str:
        return self.blobs.put(BUCKET, self.key, data)

    def stored(self) -> ModelVersion:
        version = self.store.get_version("acme", "m", self.number)
        assert version is not None
        return version


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def validator(
    store: InMemoryRegistryStore, blobs: InMemoryBlobStore, publisher: RecordingPublisher, work_dir: Path
) -> ArtifactValidator:
    return ArtifactValidator(store, blobs, publisher, ValidationSettings(work_dir=str(work_dir)))


@pytest.fixture
def upload(store: InMemoryRegistryStore, blobs: InMemoryBlobStore) -> Upload:
    return Upload(store, blobs)


def reject(validator: ArtifactValidator, upload: Upload, data: bytes, publisher: RecordingPublisher) -> str:
    """Upload ``data``, validate it, check it FAILED with one event; returns the reason."""
    version_id = upload.put(data)

    result = validator.handle_upload(BUCKET, upload.key, version_id)

    assert result is not None
    assert result.status == VersionStatus.FAILED
    stored = upload.stored()
    assert stored.status == VersionStatus.FAILED
    assert stored.failure_reason == result.failure_reason
    assert stored.finished_at is not None
    assert stored.announced
    assert publisher.events == [
        (
            "ModelVersionFailed",
            {"tenant_id": "acme", "model": "m", "version": upload.number, "reason": stored.failure_reason},
        )
    ]
    assert stored.failure_reason
    return stored.failure_reason


class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


# --- READY ----------------------------------------------------------------------------------------------------
def test_a_valid_model_becomes_ready_with_its_signature(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher, mlp_onnx: bytes, work_dir: Path
) -> None:
    version_id = upload.put(mlp_onnx)

    result = validator.handle_upload(BUCKET, upload.key, version_id)

    assert result is not None
    stored = upload.stored()
    assert stored.status == VersionStatus.READY
    assert stored.failure_reason is None
    assert stored.signature is not None
    assert stored.signature.model_dump() == SIGNATURE
    assert stored.sha256 == hashlib.sha256(mlp_onnx).hexdigest()
    assert stored.size_bytes == len(mlp_onnx)
    assert stored.artifact_version_id == version_id
    assert stored.finished_at is not None
    assert stored.announced
    assert result.model_dump(exclude={"announced"}) == stored.model_dump(exclude={"announced"})
    assert publisher.events == [
        (
            "ModelVersionReady",
            {
                "tenant_id": "acme",
                "model": "m",
                "version": upload.number,
                "sha256": stored.sha256,
                "size_bytes": len(mlp_onnx),
                "signature": SIGNATURE,
            },
        )
    ]
    assert list(work_dir.iterdir()) == []  # the temporary copy is gone


def test_a_matching_declared_sha256_is_accepted(
    validator: ArtifactValidator, store: InMemoryRegistryStore, blobs: InMemoryBlobStore, mlp_onnx: bytes
) -> None:
    upload = Upload(store, blobs, declared_sha256=hashlib.sha256(mlp_onnx).hexdigest())

    validator.handle_upload(BUCKET, upload.key, upload.put(mlp_onnx))

    assert upload.stored().status == VersionStatus.READY


def test_the_uploaded_object_version_is_validated_not_a_later_overwrite(
    validator: ArtifactValidator, upload: Upload, mlp_onnx: bytes
) -> None:
    uploaded = upload.put(mlp_onnx)
    upload.put(b"overwritten before the notification arrived")

    validator.handle_upload(BUCKET, upload.key, uploaded)

    stored = upload.stored()
    assert stored.status == VersionStatus.READY
    assert stored.artifact_version_id == uploaded
    assert stored.sha256 == hashlib.sha256(mlp_onnx).hexdigest()


def test_an_artifact_read_in_tiny_chunks_validates_the_same(
    store: InMemoryRegistryStore, publisher: RecordingPublisher, mlp_onnx: bytes, work_dir: Path
) -> None:
    blobs = InMemoryBlobStore(chunk_size=7)
    validator = ArtifactValidator(store, blobs, publisher, ValidationSettings(work_dir=str(work_dir)))
    upload = Upload(store, blobs)

    validator.handle_upload(BUCKET, upload.key, upload.put(mlp_onnx))

    assert upload.stored().status == VersionStatus.READY
    assert upload.stored().sha256 == hashlib.sha256(mlp_onnx).hexdigest()


# --- FAILED ---------------------------------------------------------------------------------------------------
def test_a_declared_sha256_mismatch_fails(
    validator: ArtifactValidator,
    store: InMemoryRegistryStore,
    blobs: InMemoryBlobStore,
    publisher: RecordingPublisher,
    mlp_onnx: bytes,
) -> None:
    upload = Upload(store, blobs, declared_sha256="0" * 64)

    reason = reject(validator, upload, mlp_onnx, publisher)

    assert "sha256" in reason
    assert hashlib.sha256(mlp_onnx).hexdigest() in reason


def test_a_torch_save_zip_archive_fails_without_being_unpickled(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher, tmp_path: Path
) -> None:
    import torch

    marker = tmp_path / "unpickled-zip"
    archive = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2), "payload": _Payload(marker)}, archive)

    reason = reject(validator, upload, archive.read_bytes(), publisher)

    assert "zip archive" in reason
    assert "torch.onnx.export" in reason
    assert not marker.exists()


def test_a_malicious_pickle_fails_without_being_unpickled(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Payload(marker))

    reason = reject(validator, upload, payload, publisher)

    assert "pickle" in reason
    assert not marker.exists()


def test_the_pickle_payload_would_really_run_when_loaded(tmp_path: Path) -> None:
    # The control for the test above: loading this payload does leave the marker behind.
    marker = tmp_path / "control"

    pickle.loads(pickle.dumps(_Payload(marker)))

    assert marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickles_of_every_binary_protocol_are_refused_by_their_first_bytes(
    store: InMemoryRegistryStore, publisher: RecordingPublisher, work_dir: Path, protocol: int
) -> None:
    # One-byte chunks: the magic must be found even when the first read is short.
    blobs = InMemoryBlobStore(chunk_size=1)
    validator = ArtifactValidator(store, blobs, publisher, ValidationSettings(work_dir=str(work_dir)))

    reason = reject(validator, Upload(store, blobs), pickle.dumps({"w": [1.0, 2.0]}, protocol=protocol), publisher)

    assert "pickle" in reason


def test_a_truncated_model_fails_as_malformed_and_with_no_local_path(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher, mlp_onnx: bytes, work_dir: Path
) -> None:
    reason = reject(validator, upload, mlp_onnx[: len(mlp_onnx) // 2], publisher)

    # the protobuf is read (and found truncated) before any runtime sees it
    assert reason.startswith("the file is not a well-formed ONNX model")
    assert str(work_dir) not in reason
    assert ".onnx" not in reason.replace("model.onnx", "")
    assert "\n" not in reason
    assert list(work_dir.iterdir()) == []


def test_an_artifact_over_the_size_limit_fails_before_it_is_read(
    store: InMemoryRegistryStore,
    blobs: InMemoryBlobStore,
    publisher: RecordingPublisher,
    mlp_onnx: bytes,
    work_dir: Path,
) -> None:
    validator = ArtifactValidator(
        store, blobs, publisher, ValidationSettings(max_artifact_bytes=100, work_dir=str(work_dir))
    )

    reason = reject(validator, Upload(store, blobs), mlp_onnx, publisher)

    assert "limit of 100 bytes" in reason
    assert str(len(mlp_onnx)) in reason


def test_an_artifact_at_the_size_limit_is_not_refused_for_its_size(
    store: InMemoryRegistryStore,
    blobs: InMemoryBlobStore,
    publisher: RecordingPublisher,
    mlp_onnx: bytes,
    work_dir: Path,
) -> None:
    validator = ArtifactValidator(
        store, blobs, publisher, ValidationSettings(max_artifact_bytes=len(mlp_onnx), work_dir=str(work_dir))
    )
    upload = Upload(store, blobs)

    validator.handle_upload(BUCKET, upload.key, upload.put(mlp_onnx))

    assert upload.stored().status == VersionStatus.READY


def test_an_empty_file_fails(validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher) -> None:
    assert "empty" in reject(validator, upload, b"", publisher)


def test_text_that_is_not_a_model_fails_before_it_is_loaded(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher
) -> None:
    reason = reject(validator, upload, b"hello, I am not a model\n" * 10, publisher)
    assert reason.startswith("the file is not a well-formed ONNX model")


def test_a_well_formed_protobuf_that_onnxruntime_refuses_fails_at_load(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher
) -> None:
    # a ModelProto with only a producer name: readable protobuf, no graph to load
    assert "onnxruntime could not load" in reject(validator, upload, b"\x12\x04maas", publisher)


def test_an_artifact_gone_from_the_bucket_fails(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher
) -> None:
    result = validator.handle_upload(BUCKET, upload.key, "no-such-version")

    assert result is not None
    assert "no longer in the bucket" in (upload.stored().failure_reason or "")
    assert [kind for kind, _ in publisher.events] == ["ModelVersionFailed"]


def _onnx_model(nodes: list, inputs: list, outputs: list, initializers: list | None = None) -> bytes:
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_model_whose_smoke_run_fails_is_failed(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher
) -> None:
    from onnx import TensorProto, helper

    # Loads fine (the batch dimension is free), but [1, 4] cannot be reshaped to [3] when it runs.
    model = _onnx_model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [helper.make_tensor("shape", TensorProto.INT64, [1], [3])],
    )

    reason = reject(validator, upload, model, publisher)

    assert reason.startswith("the smoke run on generated inputs failed")


def test_a_model_with_a_sequence_output_fails_with_an_unsupported_signature(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher
) -> None:
    from onnx import TensorProto, helper

    model = _onnx_model(
        [helper.make_node("SequenceConstruct", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_sequence_value_info("y", TensorProto.FLOAT, None)],
    )

    reason = reject(validator, upload, model, publisher)

    assert reason.startswith("unsupported model signature")
    assert "'y'" in reason


# --- deliveries -----------------------------------------------------------------------------------------------
def test_a_duplicate_delivery_announces_once(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher, mlp_onnx: bytes
) -> None:
    version_id = upload.put(mlp_onnx)
    first = validator.handle_upload(BUCKET, upload.key, version_id)

    second = validator.handle_upload(BUCKET, upload.key, version_id)

    assert first is not None
    assert second is not None
    assert second.status == VersionStatus.READY
    assert second.finished_at == first.finished_at
    assert len(publisher.events) == 1


def test_a_second_upload_after_the_outcome_changes_nothing(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher, mlp_onnx: bytes
) -> None:
    reject(validator, upload, b"", publisher)

    validator.handle_upload(BUCKET, upload.key, upload.put(mlp_onnx))

    assert upload.stored().status == VersionStatus.FAILED
    assert len(publisher.events) == 1


def test_a_delivery_that_loses_the_race_returns_the_winners_outcome(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher, mlp_onnx: bytes
) -> None:
    # Given another delivery that settled the version while this one was validating
    class _RacingStore(InMemoryRegistryStore):
        def finish_version(self, version: ModelVersion) -> bool:
            winner = version.model_copy(update={"status": VersionStatus.FAILED, "failure_reason": "the winner"})
            assert super().finish_version(winner)
            return super().finish_version(version)

    store = _RacingStore()
    store.put_version(upload.stored())
    racing = ArtifactValidator(store, upload.blobs, publisher)

    result = racing.handle_upload(BUCKET, upload.key, upload.put(mlp_onnx))

    # Then this one reports the stored outcome and announces nothing
    assert result is not None
    assert result.failure_reason == "the winner"
    assert publisher.events == []


def test_a_crash_between_finish_and_announce_is_repaired_by_the_next_delivery(
    validator: ArtifactValidator, upload: Upload, publisher: RecordingPublisher, mlp_onnx: bytes
) -> None:
    # Given a delivery whose event could not be sent after the outcome was stored
    version_id = upload.put(mlp_onnx)
    publisher.failures = 1
    with pytest.raises(ConnectionError):
        validator.handle_upload(BUCKET, upload.key, version_id)
    assert upload.stored().status == VersionStatus.READY
    assert not upload.stored().announced
    assert publisher.events == []

    # When the notification is delivered again (twice)
    validator.handle_upload(BUCKET, upload.key, version_id)
    validator.handle_upload(BUCKET, upload.key, version_id)

    # Then the event goes out exactly once
    assert [kind for kind, _ in publisher.events] == ["ModelVersionReady"]
    assert upload.stored().announced


@pytest.mark.parametrize(
    "key",
    [
        "models/acme/m/99/model.onnx",
        "models/globex/m/1/model.onnx",
        "models/acme/other/1/model.onnx",
        "uploads/acme/m/1/model.onnx",
        "models/acme/m/1",
    ],
)
def test_an_upload_that_matches_no_version_is_ignored(
    validator: ArtifactValidator,
    upload: Upload,
    blobs: InMemoryBlobStore,
    publisher: RecordingPublisher,
    mlp_onnx: bytes,
    key: str,
) -> None:
    version_id = blobs.put(BUCKET, key, mlp_onnx)

    assert validator.handle_upload(BUCKET, key, version_id) is None
    assert publisher.events == []
    assert upload.stored().status == VersionStatus.PENDING_UPLOAD


@pytest.mark.parametrize("key", ["models/acme/m/1/model.pt", "models/acme/m/01/model.onnx"])
def test_an_upload_to_another_key_under_the_version_leaves_it_pending(
    validator: ArtifactValidator,
    upload: Upload,
    blobs: InMemoryBlobStore,
    publisher: RecordingPublisher,
    mlp_onnx: bytes,
    key: str,
) -> None:
    stray = blobs.put(BUCKET, key, mlp_onnx)

    validator.handle_upload(BUCKET, key, stray)

    assert upload.stored().status == VersionStatus.PENDING_UPLOAD
    assert publisher.events == []
