"""The JobStore and EventSourceStore contracts, on the in-memory fakes and on DynamoDB (moto): conditional claims,
leases, outcomes, idempotency items, event sources."""

from __future__ import annotations

import time

import pytest
from samtranslator.yaml_helper import yaml_parse

from maas import wiring
from maas.adapters.dynamodb.jobs import DynamoJobStore
from maas.domain.jobs import EventSource, Job, JobOutcome, JobStatus, new_job_id
from maas.errors import ConflictError
from maas.ports import EventSourceStore, JobStore

from tests.fakes import InMemoryEventSourceStore, InMemoryJobStore
from tests.integration.conftest import TEMPLATE, client, registry_table_schema


@pytest.fixture(params=["fake", "dynamodb"])
def store(request: pytest.FixtureRequest) -> JobStore:
    if request.param == "fake":
        return InMemoryJobStore()
    request.getfixturevalue("aws_mock")
    props = yaml_parse(TEMPLATE.read_text())["Resources"]["JobsTable"]["Properties"]
    client("dynamodb").create_table(
        TableName="jobs",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoJobStore("jobs")


def job(**changes: object) -> Job:
    fields: dict[str, object] = {
        "tenant_id": "acme",
        "job_id": new_job_id(),
        "model": "m",
        "owner": "acme",
        "model_name": "m",
        "version": 1,
        "request_body": b"\x00\x01binary",
        "request_header_length": 2,
    }
    fields.update(changes)
    return Job.model_validate(fields)


def test_a_job_round_trips_with_its_binary_body(store: JobStore) -> None:
    created, fresh = store.create_job(job())
    assert fresh
    assert store.get_job("acme", created.job_id) == created
    assert store.get_job("globex", created.job_id) is None


def test_claim_lease_and_finish_are_conditional(store: JobStore) -> None:
    created, _ = store.create_job(job())
    now = time.time()
    claimed = store.claim_job("acme", created.job_id, token="a", worker="w", lease_until=now + 30, now=now)
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.lease_token) == (JobStatus.RUNNING, 1, "a")
    assert store.claim_job("acme", created.job_id, token="b", worker="w", lease_until=now + 30, now=now) is None
    assert store.extend_lease("acme", created.job_id, "a", now + 60)
    assert not store.extend_lease("acme", created.job_id, "b", now + 60)
    # an expired lease can be taken over
    later = now + 61
    stolen = store.claim_job("acme", created.job_id, token="b", worker="w2", lease_until=later + 30, now=later)
    assert stolen is not None
    assert stolen.attempts == 2
    outcome = JobOutcome(
        status=JobStatus.SUCCEEDED, result_body=b'{"outputs": []}', queue_ms=1.5, run_ms=2.5, batch_rows=3
    )
    assert not store.finish_job("acme", created.job_id, outcome, token="a", expect=(JobStatus.RUNNING,))
    assert store.finish_job("acme", created.job_id, outcome, token="b", expect=(JobStatus.RUNNING,))
    done = store.get_job("acme", created.job_id)
    assert done is not None
    assert (done.status, done.result_body, done.queue_ms, done.run_ms, done.batch_rows) == (
        JobStatus.SUCCEEDED,
        b'{"outputs": []}',
        1.5,
        2.5,
        3,
    )
    assert not store.finish_job("acme", created.job_id, outcome, token="b", expect=(JobStatus.RUNNING,))
    assert not store.cancel_job("acme", created.job_id)


def test_release_and_cancel(store: JobStore) -> None:
    created, _ = store.create_job(job())
    now = time.time()
    store.claim_job("acme", created.job_id, token="a", worker="w", lease_until=now + 30, now=now)
    assert not store.release_job("acme", created.job_id, "b")
    assert store.release_job("acme", created.job_id, "a")
    assert store.cancel_job("acme", created.job_id)
    assert store.get_job("acme", created.job_id).status == JobStatus.CANCELLED  # type: ignore[union-attr]


def test_idempotency_keys_replay_or_conflict(store: JobStore) -> None:
    first, fresh = store.create_job(job(idempotency_key="k"), "hash-1")
    again, fresh_again = store.create_job(job(idempotency_key="k"), "hash-1")
    assert fresh
    assert not fresh_again
    assert again.job_id == first.job_id
    with pytest.raises(ConflictError):
        store.create_job(job(idempotency_key="k"), "hash-2")
    assert [j.job_id for j in store.list_jobs("acme")] == [first.job_id]


def test_list_is_newest_first_filtered_and_hides_expired_jobs(store: JobStore) -> None:
    old, _ = store.create_job(job(model="a"))
    time.sleep(0.002)
    new, _ = store.create_job(job(model="b"))
    store.create_job(job(model="b", expires_at=int(time.time()) - 1))
    assert [j.job_id for j in store.list_jobs("acme")] == [new.job_id, old.job_id]
    assert [j.job_id for j in store.list_jobs("acme", model="a")] == [old.job_id]
    assert store.list_jobs("acme", status=JobStatus.RUNNING) == []


@pytest.fixture(params=["fake", "dynamodb"])
def sources(request: pytest.FixtureRequest) -> EventSourceStore:
    if request.param == "fake":
        return InMemoryEventSourceStore()
    request.getfixturevalue("aws_mock")
    client("dynamodb").create_table(TableName="registry", BillingMode="PAY_PER_REQUEST", **registry_table_schema())
    return wiring.registry_stores("registry").event_sources


def test_event_sources_are_kept_under_their_tenant(sources: EventSourceStore) -> None:
    sources.put_event_source(EventSource(source="acme.orders", tenant_id="acme"))
    sources.put_event_source(EventSource(source="acme.billing", tenant_id="acme"))
    with pytest.raises(ConflictError):
        sources.put_event_source(EventSource(source="acme.orders", tenant_id="acme"))
    found = sources.get_event_source("acme", "acme.orders")
    assert found is not None
    assert (found.tenant_id, found.source) == ("acme", "acme.orders")
    assert sources.get_event_source("globex", "acme.orders") is None  # another tenant's is looked up in vain
    assert [s.source for s in sources.list_event_sources("acme")] == ["acme.billing", "acme.orders"]
    assert sources.list_event_sources("globex") == []
    assert not sources.delete_event_source("globex", "acme.orders")
    assert sources.delete_event_source("acme", "acme.orders")
    assert not sources.delete_event_source("acme", "acme.orders")
    assert sources.get_event_source("acme", "acme.orders") is None
    assert [s.source for s in sources.list_event_sources("acme")] == ["acme.billing"]


def test_a_job_claimed_max_attempts_times_is_not_claimed_again(store: JobStore) -> None:
    created, _ = store.create_job(job())
    now = time.time()
    for token in ("a", "b"):  # two holders whose leases ran out
        assert store.claim_job(
            "acme", created.job_id, token=token, worker="w", lease_until=now - 1, now=now, max_attempts=2
        )
    assert (
        store.claim_job("acme", created.job_id, token="c", worker="w", lease_until=now + 30, now=now, max_attempts=2)
        is None
    )
    assert store.get_job("acme", created.job_id).attempts == 2  # type: ignore[union-attr]
