"""The paging contract of every listing, on the in-memory fakes and on DynamoDB (moto): the same pages, the same
tokens (base64url of the key the next page starts after), and a token that is garbage, another tenant's or
another listing's is InvalidRequestError (400), never a page of someone else's items."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from samtranslator.yaml_helper import yaml_parse

from maas.adapters.dynamodb.batch import DynamoBatchStore
from maas.adapters.dynamodb.jobs import DynamoJobStore
from maas.domain import Framework, Model, ModelVersion, artifact_key
from maas.domain.access import Action, Grant
from maas.domain.audit import AuditEntry
from maas.domain.batch import BatchFormat, BatchJob
from maas.domain.jobs import EventSource, Job, JobStatus
from maas.domain.paging import Page, encode_token
from maas.errors import InvalidRequestError
from maas.ports import BatchStore, JobStore

from tests.fakes import InMemoryBatchStore, InMemoryJobStore
from tests.integration.conftest import TEMPLATE, client

T = TypeVar("T")


def every_page(fetch: Callable[[str | None], Page[T]]) -> tuple[list[list[T]], list[str | None]]:
    """Follow next_token from the first page to the last: the pages and the tokens that led to them."""
    pages, tokens, token = [], [], None
    while True:
        page = fetch(token)
        pages.append(list(page))
        tokens.append(page.next_token)
        if page.next_token is None:
            return pages, tokens
        token = page.next_token


def token(tenant: str, sk: str) -> str:
    return encode_token({"PK": f"T#{tenant}", "SK": sk})


def test_models_page_in_name_order_and_skip_deleted_ones(registry_stores: Any) -> None:
    store = registry_stores.registry
    # Given five models of acme (one of them deleted) and one of globex
    for name in ("a", "b", "c", "d", "e"):
        store.create_model(Model(tenant_id="acme", name=name, framework=Framework.ONNX))
    store.create_model(Model(tenant_id="globex", name="g", framework=Framework.ONNX))
    store.delete_model("acme", "c", datetime.now(UTC))

    # When acme pages through them two at a time
    pages, tokens = every_page(lambda t: store.list_models("acme", limit=2, next_token=t))

    # Then every live model comes once, in order, under tokens that name the last key of each page
    assert [[m.name for m in page] for page in pages] == [["a", "b"], ["d", "e"]]
    assert tokens == [token("acme", "MODEL#b"), None]
    assert [m.name for m in store.list_models("acme")] == ["a", "b", "d", "e"]  # no limit: everything


def test_a_page_that_ends_the_listing_has_no_token(registry_stores: Any) -> None:
    store = registry_stores.registry
    for name in ("a", "b"):
        store.create_model(Model(tenant_id="acme", name=name, framework=Framework.ONNX))

    page = store.list_models("acme", limit=2)

    assert [m.name for m in page] == ["a", "b"]
    assert page.next_token is None


@pytest.mark.parametrize(
    "bad",
    [
        "garbage!",
        "",
        encode_token({"PK": "T#globex", "SK": "MODEL#g"}),  # another tenant's
        encode_token({"PK": "T#acme", "SK": "KEY#k1"}),  # another listing's
        encode_token({"PK": "T#acme", "SK": "MODEL#a", "extra": "x"}),
        "W10",  # base64url of "[]"
        "x" * 5000,
    ],
)
def test_a_token_this_listing_did_not_give_out_is_invalid(registry_stores: Any, bad: str) -> None:
    store = registry_stores.registry
    store.create_model(Model(tenant_id="acme", name="a", framework=Framework.ONNX))
    store.create_model(Model(tenant_id="globex", name="g", framework=Framework.ONNX))

    with pytest.raises(InvalidRequestError):
        store.list_models("acme", limit=1, next_token=bad)


def test_versions_keys_and_grants_page_under_their_model(registry_stores: Any) -> None:
    store = registry_stores.registry
    store.create_model(Model(tenant_id="acme", name="m", framework=Framework.ONNX))
    store.create_model(Model(tenant_id="acme", name="m2", framework=Framework.ONNX))
    for number in (1, 2, 3):
        for name in ("m", "m2"):
            key = artifact_key("acme", name, number)
            store.put_version(ModelVersion(tenant_id="acme", model=name, version=number, artifact_key=key))
    for grantee in ("globex", "initech", "umbrella"):
        registry_stores.grants.put_grant(Grant(owner="acme", model="m", grantee=grantee, actions=[Action.INFER]))

    versions, version_tokens = every_page(lambda t: store.list_versions("acme", "m", limit=2, next_token=t))
    grants, _ = every_page(lambda t: registry_stores.grants.list_grants("acme", "m", limit=2, next_token=t))

    assert [[v.version for v in page] for page in versions] == [[1, 2], [3]]
    assert version_tokens == [token("acme", "VERSION#m#0000000002"), None]
    assert [[g.grantee for g in page] for page in grants] == [["globex", "initech"], ["umbrella"]]
    with pytest.raises(InvalidRequestError):  # m2's token does not page m
        store.list_versions("acme", "m", limit=2, next_token=token("acme", "VERSION#m2#0000000001"))


def test_audit_pages_newest_first_and_by_model(registry_stores: Any) -> None:
    audit = registry_stores.audit
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(5):
        model = "m" if i % 2 == 0 else "other"
        entry = AuditEntry(
            tenant_id="acme", at=start + timedelta(minutes=i), actor="acme/k", action=f"a{i}", model=model
        )
        audit.put_audit(entry)

    pages, _ = every_page(lambda t: audit.list_audit("acme", 2, next_token=t))
    of_m, _ = every_page(lambda t: audit.list_audit("acme", 1, model="m", next_token=t))

    assert [[e.action for e in page] for page in pages] == [["a4", "a3"], ["a2", "a1"], ["a0"]]
    assert [e.action for page in of_m for e in page] == ["a4", "a2", "a0"]


def test_event_sources_page(registry_stores: Any) -> None:
    sources = registry_stores.event_sources
    for name in ("acme.a", "acme.b", "acme.c"):
        sources.put_event_source(EventSource(source=name, tenant_id="acme"))

    pages, tokens = every_page(lambda t: sources.list_event_sources("acme", limit=2, next_token=t))

    assert [[s.source for s in page] for page in pages] == [["acme.a", "acme.b"], ["acme.c"]]
    assert tokens == [token("acme", "SOURCE#acme.b"), None]


def _jobs_table() -> None:
    props = yaml_parse(TEMPLATE.read_text())["Resources"]["JobsTable"]["Properties"]
    client("dynamodb").create_table(
        TableName="jobs",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture(params=["fake", "dynamodb"])
def job_store(request: pytest.FixtureRequest) -> JobStore:
    if request.param == "fake":
        return InMemoryJobStore()
    request.getfixturevalue("aws_mock")
    _jobs_table()
    return DynamoJobStore("jobs")


@pytest.fixture(params=["fake", "dynamodb"])
def batch_store(request: pytest.FixtureRequest) -> BatchStore:
    if request.param == "fake":
        return InMemoryBatchStore()
    request.getfixturevalue("aws_mock")
    _jobs_table()
    return DynamoBatchStore("jobs")


def test_jobs_page_newest_first_with_their_filter(job_store: JobStore) -> None:
    ids = [f"j{i}" for i in range(5)]
    for i, job_id in enumerate(ids):
        job = Job(
            tenant_id="acme", job_id=job_id, model="m" if i != 2 else "n", owner="acme", model_name="m", version=1
        )
        job_store.create_job(job)
    job_store.create_job(Job(tenant_id="globex", job_id="j9", model="m", owner="globex", model_name="m", version=1))

    pages, _ = every_page(lambda t: job_store.list_jobs("acme", model="m", limit=2, next_token=t))
    queued = job_store.list_jobs("acme", status=JobStatus.QUEUED, limit=10)

    assert [[j.job_id for j in page] for page in pages] == [["j4", "j3"], ["j1", "j0"]]
    assert len(queued) == 5
    assert queued.next_token is None
    with pytest.raises(InvalidRequestError):
        job_store.list_jobs("acme", limit=2, next_token=token("globex", "JOB#j9"))


def test_batch_jobs_page_newest_first_past_their_shard_records(batch_store: BatchStore) -> None:
    created = []
    for i, name in enumerate(("a", "b", "c")):
        job = BatchJob(
            tenant_id="acme",
            job_id=f"b-{i:012x}-000000000000",  # as new ids are: the creation time first
            model="m",
            format=BatchFormat.JSONL,
            name=name,
            inbox_key=f"batch/acme/m/production/{name}.jsonl",
        )
        batch_store.create_batch(job)
        created.append(job.job_id)
    # the newest job has shard records under its key
    now = time.time()
    assert batch_store.claim_split("acme", created[2], "s", now, now - 900)
    totals = {"rows": 20, "shards": 2, "errors": 0, "input_bytes": 9}
    assert batch_store.finish_split("acme", created[2], "s", version=1, target="cpu", **totals)
    assert batch_store.complete_shard("acme", created[2], 0, 10, 0)
    assert batch_store.complete_shard("acme", created[2], 1, 10, 0)

    pages, _ = every_page(lambda t: batch_store.list_batches("acme", 1, next_token=t))

    assert [j.job_id for page in pages for j in page] == list(reversed(created))
