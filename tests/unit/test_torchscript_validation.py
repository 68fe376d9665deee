"""TorchScript versions: the archive check (no unpickling), the hand-off to the workers, torch's load and smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maas.domain import Framework, Scope, Signature, VersionStatus
from maas.errors import InvalidRequestError
from maas.registry import Registry
from maas.validation import ArtifactValidator

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore, RecordingPublisher, RecordingQueue
from tests.unit.factories import principal

BUCKET = "artifacts"
OWNER = principal("acme", Scope.PUBLISH, Scope.READ)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Signature]:
    from maas.modelkit import export_torchscript_mlp

    path = tmp_path_factory.mktemp("ts") / "model.pt"
    signature = export_torchscript_mlp(path, [16, 8, 4])
    return path.read_bytes(), Signature.model_validate(signature)


@pytest.fixture(scope="module")
def pickled(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    import torch

    from maas.modelkit import mlp

    path = tmp_path_factory.mktemp("pickle") / "model.pt"
    torch.save(mlp([16, 8, 4]), str(path))  # a pickle in a zip: must never be loaded
    return path.read_bytes()


def upload(data: bytes, signature: Signature) -> tuple[InMemoryRegistryStore, InMemoryBlobStore, str]:
    store, blobs = InMemoryRegistryStore(), InMemoryBlobStore()
    registry = Registry(store, blobs, artifacts_bucket=BUCKET)
    registry.create_model(OWNER, "ts", Framework.TORCHSCRIPT, "")
    version, _ = registry.create_version(OWNER, "ts", None, signature)
    blobs.put(BUCKET, version.artifact_key, data)
    return store, blobs, version.artifact_key


def test_torchscript_needs_a_declared_signature_and_the_gpu_target(scripted) -> None:
    store, blobs = InMemoryRegistryStore(), InMemoryBlobStore()
    registry = Registry(store, blobs, artifacts_bucket=BUCKET)
    model = registry.create_model(OWNER, "ts", Framework.TORCHSCRIPT, "")
    assert model.target == "gpu"
    with pytest.raises(InvalidRequestError, match="signature"):
        registry.create_version(OWNER, "ts", None)
    with pytest.raises(InvalidRequestError, match="GPU"):
        registry.create_model(OWNER, "ts2", Framework.TORCHSCRIPT, "", target="cpu")  # type: ignore[arg-type]
    version, _ = registry.create_version(OWNER, "ts", None, scripted[1])
    assert version.artifact_key.endswith("/model.pt")


def test_the_lambda_validator_hands_torchscript_to_the_workers(scripted) -> None:
    store, blobs, key = upload(*scripted)
    queue = RecordingQueue()
    validator = ArtifactValidator(store, blobs, RecordingPublisher(), torch_handoff=queue)
    version = validator.handle_upload(BUCKET, key, None)
    assert version is not None
    assert version.status == VersionStatus.PENDING_UPLOAD
    assert [json.loads(m) for m in queue.messages] == [
        {"kind": "validate", "bucket": BUCKET, "key": key, "version_id": None}
    ]


def test_a_worker_loads_it_with_torch_and_makes_it_ready(scripted) -> None:
    store, blobs, key = upload(*scripted)
    events = RecordingPublisher()
    version = ArtifactValidator(store, blobs, events, load_torch=True).handle_upload(BUCKET, key, None)
    assert version is not None
    assert version.status == VersionStatus.READY, version.failure_reason
    assert version.signature == scripted[1]
    assert [e["version"] for e in events.of_type("ModelVersionReady")] == [1]


def test_a_torch_save_pickle_is_refused_without_being_loaded(pickled, scripted, monkeypatch) -> None:
    import torch

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pickle reached torch")

    monkeypatch.setattr(torch, "load", never)
    monkeypatch.setattr(torch.jit, "load", never)
    store, blobs, key = upload(pickled, scripted[1])
    version = ArtifactValidator(store, blobs, RecordingPublisher(), torch_handoff=RecordingQueue()).handle_upload(
        BUCKET, key, None
    )
    assert version is not None
    assert version.status == VersionStatus.FAILED
    assert "torch.save" in (version.failure_reason or "")


def test_a_signature_that_does_not_fit_the_module_fails_validation(scripted) -> None:
    wrong = Signature.model_validate(
        {
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 16]}],
            "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 5]}],
        }
    )
    store, blobs, key = upload(scripted[0], wrong)
    version = ArtifactValidator(store, blobs, RecordingPublisher(), load_torch=True).handle_upload(BUCKET, key, None)
    assert version is not None
    assert version.status == VersionStatus.FAILED
    assert "shape" in (version.failure_reason or "")


def test_a_file_that_is_no_archive_is_refused(scripted, tmp_path: Path) -> None:
    store, blobs, key = upload(b"\x80\x04not a model", scripted[1])
    version = ArtifactValidator(store, blobs, RecordingPublisher(), load_torch=True).handle_upload(BUCKET, key, None)
    assert version is not None
    assert version.status == VersionStatus.FAILED
    assert "pickle" in (version.failure_reason or "")
