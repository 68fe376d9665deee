"""Hostile ONNX artifacts at validation and in the model cache: external data, bundles, memory bombs, tampering.

The attacks are those an earlier probe carried out with a ``publish`` key: a ``Gather`` whose indices live in
"external data" naming a file beside the model (the operator's ``local.env``) leaked that file's bytes through
the smoke run's error; a 205-byte ``ConstantOfShape`` took gigabytes in the inference function.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from maas.backends.bundle import BundleError, check_bundle, unpack_bundle
from maas.domain import ModelVersion, VersionStatus, artifact_key
from maas.inference.cache import ArtifactIntegrityError, ModelCache
from maas.validation import ArtifactValidator, ValidationSettings

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore, RecordingPublisher
from tests.hostile import bomb, bundle_of, external_indices, gather_model, member, tar_of

BUCKET = "artifacts"
SECRET = b"MAAS_API_KEY=mk_admin_0123456789abcdef\n"
MIB = 1024 * 1024


class Versions:
    def __init__(self, store: InMemoryRegistryStore, blobs: InMemoryBlobStore, validator: ArtifactValidator):
        self.store, self.blobs, self.validator = store, blobs, validator

    def validate(self, data: bytes) -> ModelVersion:
        number = len(self.store.versions) + 1
        key = artifact_key("acme", "m", number)
        self.store.put_version(ModelVersion(tenant_id="acme", model="m", version=number, artifact_key=key))
        version_id = self.blobs.put(BUCKET, key, data)
        self.validator.handle_upload(BUCKET, key, version_id)
        stored = self.store.get_version("acme", "m", number)
        assert stored is not None
        return stored


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    (path / "local.env").write_bytes(SECRET)  # beside every private directory validation makes
    return path


@pytest.fixture
def versions(store: InMemoryRegistryStore, blobs: InMemoryBlobStore, publisher: RecordingPublisher, work_dir: Path):
    settings = ValidationSettings(work_dir=str(work_dir), max_model_memory_bytes=128 * MIB)
    return Versions(store, blobs, ArtifactValidator(store, blobs, publisher, settings))


# --- external data ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("location", ["local.env", "../local.env", "artifact/../../local.env", "model.onnx"])
def test_external_data_is_refused_with_a_reason_that_names_it_and_no_bytes(versions: Versions, location: str) -> None:
    version = versions.validate(gather_model(external_indices(location)).SerializeToString())

    assert version.status == VersionStatus.FAILED
    reason = version.failure_reason or ""
    assert "external data" in reason
    assert "maas models register" in reason  # the fix
    assert str(int.from_bytes(SECRET[:8], "little")) not in reason
    assert "MAAS_API_KEY" not in reason
    assert "/" not in reason.replace(location, "")  # no host path


def test_the_leak_is_real_when_onnxruntime_loads_such_a_model_beside_the_file(tmp_path: Path) -> None:
    # without the check, onnxruntime reads the file beside the model and prints its bytes as an index
    import onnxruntime

    (tmp_path / "local.env").write_bytes(SECRET)
    onnx.save(gather_model(external_indices("local.env")), str(tmp_path / "model.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception) as leaked:
        session.run(None, {"x": np.zeros(1, np.float32)})
    assert str(int.from_bytes(SECRET[:8], "little", signed=True)) in str(leaked.value)


def test_validation_leaves_nothing_behind(versions: Versions, work_dir: Path, mlp_onnx: bytes) -> None:
    versions.validate(mlp_onnx)
    versions.validate(gather_model(external_indices("local.env")).SerializeToString())
    versions.validate(bundle_of(gather_model(numpy_helper.from_array(np.array([1], np.int64), "idx"))))
    assert sorted(p.name for p in work_dir.iterdir()) == ["local.env"]


# --- bundles --------------------------------------------------------------------------------------------------
def test_a_bundle_with_its_data_file_becomes_ready_and_serves_from_the_cache(
    versions: Versions, blobs: InMemoryBlobStore, tmp_path: Path
) -> None:
    model = gather_model(numpy_helper.from_array(np.array([2], np.int64), "idx"))
    version = versions.validate(bundle_of(model))

    assert version.status == VersionStatus.READY, version.failure_reason
    assert version.bundle
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=64 * MIB)
    backend = cache.session(version)
    assert [a.tolist() for a in backend.run({"x": np.array([0.5], np.float32)}).values()] == [[2.5]]
    unpacked = cache.artifact_dir(version).with_name(f"{version.sha256}.bundle")
    assert sorted(p.name for p in unpacked.iterdir()) == ["model.onnx", "weights.bin"]


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([member("model.onnx", b"x"), member("../escape.bin", b"x")], "'..'"),
        ([member("model.onnx", b"x"), member("a/../../escape.bin", b"x")], "'..'"),
        ([member("model.onnx", b"x"), member("/etc/cron.d/x", b"x")], "absolute"),
        ([member("model.onnx", b"x"), member("weights.bin", None, tarfile.SYMTYPE, "/etc/passwd")], "link"),
        ([member("model.onnx", b"x"), member("weights.bin", None, tarfile.LNKTYPE, "model.onnx")], "link"),
        ([member("model.onnx", b"x"), member("fifo", None, tarfile.FIFOTYPE)], "special file"),
        ([member("weights.bin", b"x")], "no model.onnx"),
        ([member("model.onnx", b"x"), member("model.onnx", b"y")], "twice"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "fifo", "no-model", "duplicate"],
)
def test_a_bundle_with_a_member_that_is_not_a_plain_file_inside_it_is_refused(
    versions: Versions, work_dir: Path, members: list, why: str
) -> None:
    archive = tar_of(members)
    with pytest.raises(BundleError, match=why):
        check_bundle(io.BytesIO(archive) if False else _written(work_dir.parent / "b.tar", archive), max_bytes=MIB)

    version = versions.validate(archive)
    assert version.status == VersionStatus.FAILED
    assert (version.failure_reason or "").startswith("the bundle is refused")
    assert not (work_dir.parent / "escape.bin").exists()


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_bundle_over_the_size_limit_is_refused_before_it_is_written(tmp_path: Path) -> None:
    path = _written(tmp_path / "b.tar", tar_of([member("model.onnx", b"x" * 2048)]))
    with pytest.raises(BundleError, match="limit"):
        unpack_bundle(path, tmp_path / "out", max_bytes=1024)
    assert not (tmp_path / "out").exists()


def test_a_bundle_model_may_not_name_files_outside_the_bundle(versions: Versions) -> None:
    model = gather_model(external_indices("local.env"))
    archive = tar_of([member("model.onnx", model.SerializeToString()), member("weights.bin", b"\x00" * 8)])
    version = versions.validate(archive)
    assert version.status == VersionStatus.FAILED
    assert "external data" in (version.failure_reason or "")


# --- memory -----------------------------------------------------------------------------------------------------
def test_a_memory_bomb_fails_with_its_measured_size(versions: Versions) -> None:
    version = versions.validate(bomb(48 * MIB // 4 * 4))  # 192 MiB of float32 against a 128 MiB limit

    assert version.status == VersionStatus.FAILED, (version.memory_bytes, version.failure_reason)
    assert version.memory_bytes is not None
    assert version.memory_bytes > 128 * MIB
    reason = version.failure_reason or ""
    assert "MiB" in reason
    assert "MaxModelMemoryBytes" in reason
    assert f"({version.memory_bytes} bytes)" in reason


def test_a_bomb_beyond_the_hosts_hard_limit_fails_without_taking_the_memory(versions: Versions) -> None:
    version = versions.validate(bomb(2 * 1024 * MIB // 4))  # 2 GiB: the host's limit stops it first

    assert version.status == VersionStatus.FAILED
    assert "more than" in (version.failure_reason or "")
    assert "MaxModelMemoryBytes" in (version.failure_reason or "")


def test_a_ready_version_carries_its_measured_memory(versions: Versions, mlp_onnx: bytes) -> None:
    version = versions.validate(mlp_onnx)
    assert version.status == VersionStatus.READY
    assert version.memory_bytes is not None
    assert version.memory_bytes < 128 * MIB


def test_the_cache_counts_each_model_at_its_measured_cost(blobs: InMemoryBlobStore, tmp_path: Path, mlp_onnx: bytes):
    import hashlib

    versions = []
    for number in (1, 2):
        key = artifact_key("acme", "m", number)
        blobs.put(BUCKET, key, mlp_onnx)
        versions.append(
            ModelVersion(
                tenant_id="acme",
                model="m",
                version=number,
                artifact_key=key,
                status=VersionStatus.READY,
                sha256=hashlib.sha256(mlp_onnx).hexdigest(),
                size_bytes=len(mlp_onnx),
                memory_bytes=60 * MIB,
            )
        )
    versions[1] = versions[1].model_copy(update={"tenant_id": "globex"})
    blobs.put(BUCKET, versions[1].artifact_key, mlp_onnx)
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=100 * MIB)
    cache.session(versions[0])
    cache.session(versions[1])  # 120 MiB together: the first leaves memory
    assert not cache.cached(versions[0])
    assert cache.cached(versions[1])


# --- cache integrity --------------------------------------------------------------------------------------------
def ready(blobs: InMemoryBlobStore, data: bytes, tenant: str = "acme") -> ModelVersion:
    import hashlib

    key = artifact_key(tenant, "m", 1)
    blobs.put(BUCKET, key, data)
    return ModelVersion(
        tenant_id=tenant,
        model="m",
        version=1,
        artifact_key=key,
        status=VersionStatus.READY,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )


def test_a_cached_artifact_changed_on_disk_is_never_loaded_but_fetched_again(
    blobs: InMemoryBlobStore, tmp_path: Path, mlp_onnx: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from maas.modelkit import export_mlp

    other = export_mlp(tmp_path_factory.mktemp("o") / "o.onnx", [16, 32, 4], seed=9).read_bytes()
    version = ready(blobs, mlp_onnx)
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=64 * MIB)
    cache.session(version)
    cached = cache.artifact_dir(version) / "model.onnx"
    cached.chmod(0o644)
    cached.write_bytes(other)  # another tenant's code, or anything, rewrote it

    fresh = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=64 * MIB)  # a restarted worker
    fresh.session(version)

    assert cached.read_bytes() == mlp_onnx
    assert fresh.downloads == 1


def test_an_artifact_that_s3_holds_changed_is_refused(blobs: InMemoryBlobStore, tmp_path: Path, mlp_onnx: bytes):
    version = ready(blobs, mlp_onnx)
    blobs.put(BUCKET, version.artifact_key, mlp_onnx + b"\x00")
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=64 * MIB)
    with pytest.raises(ArtifactIntegrityError):
        cache.session(version)
    assert list((tmp_path / "cache").rglob("model.onnx")) == []


def test_cached_artifacts_are_kept_per_tenant_and_read_only(blobs: InMemoryBlobStore, tmp_path: Path, mlp_onnx: bytes):
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=64 * MIB)
    mine, theirs = ready(blobs, mlp_onnx, "acme"), ready(blobs, mlp_onnx, "globex")
    cache.session(mine)
    cache.session(theirs)
    files = sorted(p.relative_to(tmp_path / "cache").as_posix() for p in (tmp_path / "cache").rglob("model.onnx"))
    assert files == [f"acme/{mine.sha256}/model.onnx", f"globex/{theirs.sha256}/model.onnx"]
    for path in (tmp_path / "cache").rglob("model.onnx"):
        assert path.stat().st_mode & 0o222 == 0
        assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]  # nothing beside it to reach
