"""Unit tests run with no network at all, on in-memory fakes of the ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_socket

from maas.domain import OPERATOR_TENANT, Principal, Scope, Tenant

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore, RecordingPublisher
from tests.unit.factories import principal


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def store() -> InMemoryRegistryStore:
    store = InMemoryRegistryStore()
    store.create_tenant(Tenant(tenant_id="acme", name="Acme"))
    store.create_tenant(Tenant(tenant_id="globex", name="Globex"))
    return store


@pytest.fixture
def blobs() -> InMemoryBlobStore:
    return InMemoryBlobStore()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def operator() -> Principal:
    return principal(OPERATOR_TENANT, Scope.ADMIN)


@pytest.fixture(scope="session")
def mlp_onnx(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real ONNX model: input 'input' FP32 [-1, 16], output 'logits' FP32 [-1, 4]."""
    from maas.modelkit import export_mlp

    path = export_mlp(tmp_path_factory.mktemp("models") / "mlp.onnx", [16, 32, 4])
    return Path(path).read_bytes()
