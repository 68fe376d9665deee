"""The RegistryStore contract: tenants, keys, models and versions, run on the in-memory fake and on DynamoDB (moto).

Tests that only the real table can answer (its key schema, paging, concurrent writers) take ``dynamo_store``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from maas import wiring
from maas.adapters.dynamodb.registry import DynamoRegistryStore
from maas.domain import (
    ApiKey,
    Framework,
    Model,
    ModelVersion,
    Scope,
    Signature,
    Tenant,
    TensorSpec,
    VersionStatus,
    artifact_key,
)
from maas.domain.paging import encode_token
from maas.errors import ConflictError, InvalidRequestError, NotFoundError
from maas.ports import RegistryStore

from tests.integration.conftest import client, registry_table_schema

TABLE = "maas-registry-test"


@pytest.fixture
def store(registry_stores: Any) -> RegistryStore:
    return registry_stores.registry  # type: ignore[no-any-return]


@pytest.fixture
def dynamo_store(aws_mock: None) -> Iterator[DynamoRegistryStore]:
    ddb = client("dynamodb")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **registry_table_schema())
    yield wiring.registry_stores(TABLE).registry
    ddb.delete_table(TableName=TABLE)


def key(tenant_id: str = "acme", key_id: str = "0123456789abcdef", **kwargs: object) -> ApiKey:
    return ApiKey(tenant_id=tenant_id, key_id=key_id, key_hash="f" * 64, scopes=frozenset({Scope.READ}), **kwargs)


def model(tenant_id: str = "acme", name: str = "resnet") -> Model:
    return Model(tenant_id=tenant_id, name=name, framework=Framework.ONNX, description="d")


def version(number: int, name: str = "resnet", **kwargs: object) -> ModelVersion:
    return ModelVersion(
        tenant_id="acme", model=name, version=number, artifact_key=artifact_key("acme", name, number), **kwargs
    )


def test_the_table_has_the_templates_key_schema(dynamo_store: DynamoRegistryStore) -> None:
    schema = client("dynamodb").describe_table(TableName=TABLE)["Table"]["KeySchema"]

    assert schema == [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}]


# --- tenants and keys -----------------------------------------------------------------------------------------
def test_a_tenant_round_trips(store: RegistryStore) -> None:
    tenant = Tenant(tenant_id="acme", name="Acme Corp")

    store.create_tenant(tenant)

    assert store.get_tenant("acme") == tenant
    assert store.get_tenant("globex") is None


def test_a_tenant_id_is_taken_once(store: RegistryStore) -> None:
    store.create_tenant(Tenant(tenant_id="acme", name="first"))

    with pytest.raises(ConflictError, match="acme"):
        store.create_tenant(Tenant(tenant_id="acme", name="second"))
    assert store.get_tenant("acme").name == "first"  # type: ignore[union-attr]


def test_tenants_are_listed_in_id_order(store: RegistryStore) -> None:
    acme, globex = Tenant(tenant_id="acme", name="Acme"), Tenant(tenant_id="globex", name="Globex")
    store.create_tenant(globex)
    store.create_tenant(acme)
    store.put_key(key())  # another kind of item of acme's partition: not a tenant
    store.create_model(model())

    assert store.list_tenants() == [acme, globex]


def test_a_tenant_taken_twice_is_listed_once(store: RegistryStore) -> None:
    store.create_tenant(Tenant(tenant_id="acme", name="first"))

    with pytest.raises(ConflictError):
        store.create_tenant(Tenant(tenant_id="acme", name="second"))

    assert [(t.tenant_id, t.name) for t in store.list_tenants()] == [("acme", "first")]


def test_tenants_page_under_tokens_of_their_own_listing(store: RegistryStore) -> None:
    # Given five tenants
    ids = ["t-a", "t-b", "t-c", "t-d", "t-e"]
    for tenant_id in reversed(ids):
        store.create_tenant(Tenant(tenant_id=tenant_id, name=tenant_id.upper()))

    # When the operator pages through them two at a time
    pages, token = [], None
    while True:
        page = store.list_tenants(limit=2, next_token=token)
        pages.append([t.tenant_id for t in page])
        if page.next_token is None:
            break
        token = page.next_token

    # Then every tenant comes once, in id order, over three pages; the token names the last tenant of its page
    assert pages == [["t-a", "t-b"], ["t-c", "t-d"], ["t-e"]]
    assert store.list_tenants(limit=2).next_token == encode_token({"PK": "TENANTS", "SK": "T#t-b"})
    # and a token of another listing (a tenant's keys) is refused, not read as a place in this one
    with pytest.raises(InvalidRequestError):
        store.list_tenants(next_token=encode_token({"PK": "T#t-a", "SK": "T#t-b"}))
    with pytest.raises(InvalidRequestError):
        store.list_tenants(next_token="garbage")


def test_a_key_round_trips_with_its_scopes(store: RegistryStore) -> None:
    record = ApiKey(
        tenant_id="acme",
        key_id="0123456789abcdef",
        key_hash="a" * 64,
        scopes=frozenset({Scope.PUBLISH, Scope.INVOKE}),
        description="ci",
    )

    store.put_key(record)

    assert store.get_key("acme", "0123456789abcdef") == record
    assert store.get_key("globex", "0123456789abcdef") is None
    assert store.list_keys("acme") == [record]


def test_a_key_id_is_taken_once(store: RegistryStore) -> None:
    store.put_key(key())

    with pytest.raises(ConflictError):
        store.put_key(key(description="other"))


def test_revoking_a_key(store: RegistryStore) -> None:
    store.put_key(key())
    first = datetime(2026, 1, 1, tzinfo=UTC)

    assert store.revoke_key("acme", "0123456789abcdef", first) is True
    assert store.revoke_key("acme", "0123456789abcdef", datetime(2026, 2, 1, tzinfo=UTC)) is True
    assert store.revoke_key("acme", "ffffffffffffffff", first) is False
    assert store.revoke_key("globex", "0123456789abcdef", first) is False

    assert store.get_key("acme", "0123456789abcdef").revoked_at == first  # type: ignore[union-attr]
    assert store.get_key("acme", "ffffffffffffffff") is None  # a failed revoke creates nothing


# --- models and versions --------------------------------------------------------------------------------------
def test_a_model_round_trips(store: RegistryStore) -> None:
    store.create_model(model())

    assert store.get_model("acme", "resnet") == model().model_copy(
        update={"created_at": store.get_model("acme", "resnet").created_at}  # type: ignore[union-attr]
    )
    assert store.get_model("acme", "other") is None


def test_a_model_name_is_taken_once_per_tenant(store: RegistryStore) -> None:
    store.create_model(model())

    with pytest.raises(ConflictError, match="resnet"):
        store.create_model(model())
    store.create_model(model(tenant_id="globex"))


def test_versions_round_trip_with_their_signature(store: RegistryStore) -> None:
    store.create_model(model())
    pending = version(1, declared_sha256="ab" * 32)
    store.put_version(pending)
    assert store.get_version("acme", "resnet", 1) == pending

    ready = pending.model_copy(
        update={
            "status": VersionStatus.READY,
            "sha256": "ab" * 32,
            "size_bytes": 12345,
            "artifact_version_id": "v1",
            "signature": Signature(
                inputs=[TensorSpec(name="input", datatype="FP32", shape=[-1, 3, 224, 224])],
                outputs=[TensorSpec(name="logits", datatype="FP32", shape=[-1, 1000])],
            ),
            "finished_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )
    assert store.finish_version(ready) is True

    stored = store.get_version("acme", "resnet", 1)
    assert stored == ready
    assert stored is not None
    assert stored.signature is not None
    assert type(stored.signature.inputs[0].shape[1]) is int


def test_a_version_number_is_stored_once(store: RegistryStore) -> None:
    store.create_model(model())
    store.put_version(version(1))

    with pytest.raises(ConflictError):
        store.put_version(version(1))


def test_versions_are_listed_in_numeric_order(store: RegistryStore) -> None:
    store.create_model(model())
    store.create_model(model(name="resnet-2"))
    for number in (10, 2, 1):
        store.put_version(version(number))
    store.put_version(version(1, name="resnet-2"))

    assert [v.version for v in store.list_versions("acme", "resnet")] == [1, 2, 10]
    assert [v.version for v in store.list_versions("acme", "resnet-2")] == [1]


def test_allocate_version_counts_per_model(store: RegistryStore) -> None:
    store.create_model(model())
    store.create_model(model(name="other"))

    assert [store.allocate_version("acme", "resnet") for _ in range(3)] == [1, 2, 3]
    assert store.allocate_version("acme", "other") == 1


def test_allocate_version_of_an_unknown_model_is_not_found(store: RegistryStore) -> None:
    with pytest.raises(NotFoundError):
        store.allocate_version("acme", "ghost")
    assert store.get_model("acme", "ghost") is None  # no stub item is left behind


@pytest.fixture
def atomic_moto_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's UpdateItem atomic, as DynamoDB's is: moto applies it as an unlocked read-modify-write.

    Each call is serialised on its own, nothing more; an adapter that read the counter and wrote it back in two
    calls would still hand out duplicates here.
    """
    lock = threading.Lock()
    original = DynamoDBBackend.update_item

    def update_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)


@pytest.mark.usefixtures("atomic_moto_updates")
def test_allocate_version_from_16_threads_gives_16_distinct_numbers(dynamo_store: DynamoRegistryStore) -> None:
    store = dynamo_store
    store.create_model(model())
    numbers: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def allocate() -> None:
        try:
            start.wait()
            numbers.append(store.allocate_version("acme", "resnet"))
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=allocate) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(numbers) == list(range(1, 17))
    assert store.allocate_version("acme", "resnet") == 17


def test_a_version_is_finished_only_once(store: RegistryStore) -> None:
    store.create_model(model())
    store.put_version(version(1))
    failed = version(1, status=VersionStatus.FAILED, failure_reason="first")
    ready = version(1, status=VersionStatus.READY, sha256="ab" * 32, size_bytes=1)

    assert store.finish_version(failed) is True
    assert store.finish_version(ready) is False

    stored = store.get_version("acme", "resnet", 1)
    assert stored is not None
    assert stored.status == VersionStatus.FAILED
    assert stored.failure_reason == "first"


def test_finishing_a_version_that_was_never_registered_writes_nothing(store: RegistryStore) -> None:
    assert store.finish_version(version(5, status=VersionStatus.READY)) is False
    assert store.get_version("acme", "resnet", 5) is None


def test_mark_announced(store: RegistryStore) -> None:
    store.create_model(model())
    store.put_version(version(1))
    store.finish_version(version(1, status=VersionStatus.FAILED, failure_reason="bad"))

    store.mark_announced("acme", "resnet", 1)

    stored = store.get_version("acme", "resnet", 1)
    assert stored is not None
    assert stored.announced is True
    assert stored.status == VersionStatus.FAILED


# --- listing and tenancy --------------------------------------------------------------------------------------
def test_list_models_returns_models_only(store: RegistryStore) -> None:
    store.create_tenant(Tenant(tenant_id="acme", name="Acme"))
    record = key()
    store.put_key(record)
    store.create_model(model())
    store.create_model(model(name="bert"))
    store.put_version(version(1))

    listed = store.list_models("acme")

    assert [m.name for m in listed] == ["bert", "resnet"]
    assert all(isinstance(m, Model) for m in listed)
    assert store.list_keys("acme") == [record]


def test_another_tenants_lists_are_empty(store: RegistryStore) -> None:
    store.put_key(key())
    store.create_model(model())
    store.put_version(version(1))

    assert store.list_models("globex") == []
    assert store.list_keys("globex") == []
    assert store.list_versions("globex", "resnet") == []
    assert store.get_model("globex", "resnet") is None
    assert store.get_version("globex", "resnet", 1) is None


def test_a_tenant_whose_id_is_a_prefix_of_another_sees_only_its_own(store: RegistryStore) -> None:
    store.create_model(model(tenant_id="acme"))
    store.create_model(model(tenant_id="acme-corp", name="other"))

    assert [m.name for m in store.list_models("acme")] == ["resnet"]


def test_listing_pages_through_many_items(dynamo_store: DynamoRegistryStore) -> None:
    store = dynamo_store
    store.create_model(model())
    for number in range(1, 121):
        store.put_version(version(number, failure_reason="x" * 9000))  # ~1 MB in all: more than one query page

    assert [v.version for v in store.list_versions("acme", "resnet")] == list(range(1, 121))
