"""Models and versions in the registry: scopes, tenancy, version numbers and upload URLs."""

from __future__ import annotations

import pytest

from maas.domain import Framework, Principal, Scope, VersionStatus
from maas.errors import ConflictError, ForbiddenError, NotFoundError
from maas.registry import Registry

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore
from tests.unit.factories import principal

ACME_PUBLISHER = principal("acme", Scope.PUBLISH)
ACME_READER = principal("acme", Scope.READ)
ACME_INVOKER = principal("acme", Scope.INVOKE)
GLOBEX_ADMIN = principal("globex", Scope.ADMIN)


@pytest.fixture
def registry(store: InMemoryRegistryStore, blobs: InMemoryBlobStore) -> Registry:
    return Registry(store, blobs, artifacts_bucket="artifacts", upload_expires_in=600)


@pytest.fixture
def model(registry: Registry) -> str:
    registry.create_model(ACME_PUBLISHER, "resnet", Framework.ONNX, "an image classifier")
    return "resnet"


def test_a_created_model_can_be_read_back_and_listed(registry: Registry) -> None:
    created = registry.create_model(ACME_PUBLISHER, "resnet", Framework.ONNX, "an image classifier")

    assert created.tenant_id == "acme"
    assert registry.get_model(ACME_READER, "resnet") == created
    assert registry.list_models(ACME_INVOKER) == [created]


def test_a_model_name_is_taken_once_per_tenant(registry: Registry, model: str) -> None:
    with pytest.raises(ConflictError):
        registry.create_model(ACME_PUBLISHER, model, Framework.ONNX, "again")

    other = registry.create_model(GLOBEX_ADMIN, model, Framework.ONNX, "same name, other tenant")
    assert other.tenant_id == "globex"


@pytest.mark.parametrize("caller", [ACME_READER, ACME_INVOKER])
def test_a_key_without_publish_cannot_create_models_or_versions(
    registry: Registry, store: InMemoryRegistryStore, model: str, caller: Principal
) -> None:
    with pytest.raises(ForbiddenError):
        registry.create_model(caller, "other", Framework.ONNX, "")
    with pytest.raises(ForbiddenError):
        registry.create_version(caller, model, None)
    assert store.list_models("acme") == [registry.get_model(caller, model)]
    assert store.list_versions("acme", model) == []


def test_a_key_with_no_scope_cannot_read(registry: Registry, model: str) -> None:
    with pytest.raises(ForbiddenError):
        registry.get_model(principal("acme"), model)


def test_versions_are_numbered_1_2_3(registry: Registry, store: InMemoryRegistryStore, model: str) -> None:
    numbers = [registry.create_version(ACME_PUBLISHER, model, None)[0].version for _ in range(3)]

    assert numbers == [1, 2, 3]
    assert [v.version for v in registry.list_versions(ACME_READER, model)] == [1, 2, 3]
    for number in numbers:
        stored = registry.get_version(ACME_READER, model, number)
        assert stored.status == VersionStatus.PENDING_UPLOAD
        assert stored.artifact_key == f"models/acme/{model}/{number}/model.onnx"


class _FlakyPresigner(InMemoryBlobStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    def presign_put(self, bucket: str, key: str, *, expires_in: int, content_type: str) -> str:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("S3 is unreachable (injected)")
        return super().presign_put(bucket, key, expires_in=expires_in, content_type=content_type)


def test_a_version_number_is_never_reused(store: InMemoryRegistryStore) -> None:
    # Given a registration that failed after it took number 2
    blobs = _FlakyPresigner()
    registry = Registry(store, blobs, artifacts_bucket="artifacts")
    registry.create_model(ACME_PUBLISHER, "m", Framework.ONNX, "")
    registry.create_version(ACME_PUBLISHER, "m", None)
    blobs.fail_next = True
    with pytest.raises(ConnectionError):
        registry.create_version(ACME_PUBLISHER, "m", None)

    # When the publisher tries again
    version, _ = registry.create_version(ACME_PUBLISHER, "m", None)

    # Then it gets a new number, not the one that failed
    assert version.version == 3


def test_version_numbers_are_per_model(registry: Registry, model: str) -> None:
    registry.create_model(ACME_PUBLISHER, "other", Framework.ONNX, "")
    registry.create_version(ACME_PUBLISHER, model, None)
    registry.create_version(ACME_PUBLISHER, model, None)

    version, _ = registry.create_version(ACME_PUBLISHER, "other", None)

    assert version.version == 1


def test_another_tenants_model_is_not_found(registry: Registry, model: str) -> None:
    registry.create_version(ACME_PUBLISHER, model, None)

    with pytest.raises(NotFoundError):
        registry.get_model(GLOBEX_ADMIN, model)
    with pytest.raises(NotFoundError):
        registry.create_version(GLOBEX_ADMIN, model, None)
    with pytest.raises(NotFoundError):
        registry.list_versions(GLOBEX_ADMIN, model)
    with pytest.raises(NotFoundError):
        registry.get_version(GLOBEX_ADMIN, model, 1)
    assert registry.list_models(GLOBEX_ADMIN) == []


def test_an_unknown_version_is_not_found(registry: Registry, model: str) -> None:
    with pytest.raises(NotFoundError, match="version 7"):
        registry.get_version(ACME_READER, model, 7)


def test_a_version_comes_with_a_presigned_put_for_its_artifact(
    registry: Registry, blobs: InMemoryBlobStore, model: str
) -> None:
    version, upload = registry.create_version(ACME_PUBLISHER, model, None)

    (presign,) = blobs.presigned
    assert (presign.bucket, presign.key) == ("artifacts", version.artifact_key)
    assert presign.expires_in == 600
    assert upload.url == f"https://artifacts.s3.fake.test/{version.artifact_key}?X-Expires=600"
    assert upload.method == "PUT"
    # The client must send the content type that was signed, or S3 refuses the upload.
    assert upload.headers == {"Content-Type": presign.content_type}
    assert presign.content_type == "application/octet-stream"
    assert upload.expires_in == 600


def test_the_declared_sha256_is_stored_in_lower_case(
    registry: Registry, store: InMemoryRegistryStore, model: str
) -> None:
    declared = "ABCDEF0123456789" * 4

    version, _ = registry.create_version(ACME_PUBLISHER, model, declared)

    assert version.declared_sha256 == declared.lower()
    assert store.get_version("acme", model, 1).declared_sha256 == declared.lower()  # type: ignore[union-attr]


def test_no_declared_sha256_stays_none(registry: Registry, model: str) -> None:
    version, _ = registry.create_version(ACME_PUBLISHER, model, None)

    assert version.declared_sha256 is None
