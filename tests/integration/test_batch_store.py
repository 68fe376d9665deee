"""The batch store's contract, on the in-memory fake and on DynamoDB (moto): one job per inbox key, a split
claimed once, shards counted once, one assembly, and every move only from the state it expects."""

from __future__ import annotations

import time

import pytest
from samtranslator.yaml_helper import yaml_parse

from maas.adapters.dynamodb.batch import DynamoBatchStore
from maas.domain import Target
from maas.domain.batch import BatchFormat, BatchJob, BatchStatus, new_batch_id
from maas.ports import BatchStore

from tests.fakes import InMemoryBatchStore
from tests.integration.conftest import TEMPLATE, client


@pytest.fixture(params=["fake", "dynamodb"])
def store(request: pytest.FixtureRequest) -> BatchStore:
    if request.param == "fake":
        return InMemoryBatchStore()
    request.getfixturevalue("aws_mock")
    props = yaml_parse(TEMPLATE.read_text())["Resources"]["JobsTable"]["Properties"]
    client("dynamodb").create_table(
        TableName="jobs",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoBatchStore("jobs")


def job(key: str = "batch/acme/m/production/a.jsonl", tenant_id: str = "acme") -> BatchJob:
    return BatchJob(
        tenant_id=tenant_id, job_id=new_batch_id(), model="m", format=BatchFormat.JSONL, name="a", inbox_key=key
    )


def running(store: BatchStore, shards: int = 2) -> BatchJob:
    """A job split into ``shards`` shards of 10 rows (and one row the split rejected), none of them done."""
    created, _ = store.create_batch(job())
    now = time.time()
    assert store.claim_split("acme", created.job_id, "s", now, now - 900)
    totals = {"rows": shards * 10 + 1, "shards": shards, "errors": 1, "input_bytes": 99}
    assert store.finish_split("acme", created.job_id, "s", version=3, target="gpu", **totals)
    return created


def test_one_job_per_inbox_key(store: BatchStore) -> None:
    first, created = store.create_batch(job())
    again, created_again = store.create_batch(job())
    assert created
    assert not created_again
    assert again.job_id == first.job_id
    assert [j.job_id for j in store.list_batches("acme")] == [first.job_id]
    assert store.get_batch("globex", first.job_id) is None


def test_a_job_round_trips_and_is_found_by_its_inbox_key(store: BatchStore) -> None:
    created, _ = store.create_batch(job())
    found = store.find_by_key("acme", created.inbox_key)
    assert found == created
    assert store.get_batch("acme", created.job_id) == created
    assert store.find_by_key("acme", "batch/acme/m/production/other.jsonl") is None
    assert store.find_by_key("globex", created.inbox_key) is None  # another tenant's key is looked up in vain


def test_the_same_inbox_key_under_two_tenants_is_two_jobs(store: BatchStore) -> None:
    key = "batch/acme/m/production/a.jsonl"
    _, acme_created = store.create_batch(job(key, "acme"))
    _, globex_created = store.create_batch(job(key, "globex"))
    assert acme_created
    assert globex_created
    assert len(store.list_batches("acme")) == len(store.list_batches("globex")) == 1


def test_list_is_newest_first_and_limited(store: BatchStore) -> None:
    ids = []
    for name in ("a", "b", "c"):
        created, _ = store.create_batch(job(f"batch/acme/m/production/{name}.jsonl"))
        ids.append(created.job_id)
        time.sleep(0.002)  # job ids begin with their creation time in milliseconds
    assert [j.job_id for j in store.list_batches("acme")] == ids[::-1]
    assert [j.job_id for j in store.list_batches("acme", limit=2)] == ids[:0:-1]
    assert store.list_batches("globex") == []


def test_split_shards_and_assembly_each_happen_once(store: BatchStore) -> None:
    created, _ = store.create_batch(job())
    now = time.time()
    assert store.claim_split("acme", created.job_id, "s1", now, now - 900)
    assert not store.claim_split("acme", created.job_id, "s2", now, now - 900)
    assert store.complete_shard("acme", created.job_id, 0, 10, 1)  # a shard may finish before the split does
    assert not store.complete_shard("acme", created.job_id, 0, 10, 1)  # a duplicate delivery
    assert not store.claim_assembly("acme", created.job_id, "a0", now, now - 300)  # the split is not done
    assert store.finish_split(
        "acme", created.job_id, "s1", version=3, target="cpu", rows=22, shards=2, errors=1, input_bytes=99
    )
    assert not store.claim_assembly("acme", created.job_id, "a0", now, now - 300)  # one shard still runs
    assert store.complete_shard("acme", created.job_id, 1, 10, 0)
    assert store.claim_assembly("acme", created.job_id, "a1", now, now - 300)
    assert not store.claim_assembly("acme", created.job_id, "a2", now, now - 300)  # the other last shard
    mid = store.get_batch("acme", created.job_id)
    assert mid is not None
    assert (mid.status, mid.shards_done, mid.rows_done, mid.rows_failed, mid.version) == (
        BatchStatus.ASSEMBLING,
        2,
        20,
        2,
        3,
    )
    # a stale assembly (its worker died) is taken over
    assert store.claim_assembly("acme", created.job_id, "a3", now + 400, now + 100)
    assert not store.finish_batch("acme", created.job_id, "a1", BatchStatus.PARTIAL, manifest={"rows": 22}, error=None)
    assert store.finish_batch("acme", created.job_id, "a3", BatchStatus.PARTIAL, manifest={"rows": 22}, error=None)
    done = store.get_batch("acme", created.job_id)
    assert done is not None
    assert (done.status, done.manifest) == (BatchStatus.PARTIAL, {"rows": 22})
    assert not store.claim_assembly("acme", created.job_id, "a4", now + 10_000, now + 9_000)  # finished stays so


def test_finish_split_records_the_totals_and_counts_rejected_rows_as_failed(store: BatchStore) -> None:
    created = running(store, shards=2)
    split = store.get_batch("acme", created.job_id)
    assert split is not None
    assert split.started_at is not None
    assert split.split_finished_at is not None
    assert (split.status, split.split_done, split.total_rows, split.total_shards, split.split_errors) == (
        BatchStatus.RUNNING,
        True,
        21,
        2,
        1,
    )
    assert (split.version, split.target, split.input_bytes, split.rows_failed, split.shards_done) == (
        3,
        Target.GPU,
        99,
        1,
        0,
    )


def test_only_the_splits_own_claim_may_finish_it(store: BatchStore) -> None:
    created, _ = store.create_batch(job())
    now = time.time()
    assert not store.finish_split(  # not claimed at all
        "acme", created.job_id, "s1", version=1, target="cpu", rows=1, shards=1, errors=0, input_bytes=1
    )
    assert store.claim_split("acme", created.job_id, "s1", now, now - 900)
    assert not store.finish_split(
        "acme", created.job_id, "other", version=1, target="cpu", rows=1, shards=1, errors=0, input_bytes=1
    )
    assert store.get_batch("acme", created.job_id).status == BatchStatus.SPLITTING  # type: ignore[union-attr]


def test_a_stale_split_is_taken_over_and_the_first_claim_loses(store: BatchStore) -> None:
    created, _ = store.create_batch(job())
    now = time.time()
    assert store.claim_split("acme", created.job_id, "dead", now, now - 900)
    first = store.get_batch("acme", created.job_id)
    assert first is not None
    assert not store.claim_split("acme", created.job_id, "early", now + 10, now + 10 - 900)  # still live
    later = now + 901
    assert store.claim_split("acme", created.job_id, "alive", later, later - 900)
    taken = store.get_batch("acme", created.job_id)
    assert taken is not None
    assert (taken.split_token, taken.started_at) == ("alive", first.started_at)  # started once
    assert not store.finish_split(
        "acme", created.job_id, "dead", version=1, target="cpu", rows=1, shards=1, errors=0, input_bytes=1
    )
    assert store.finish_split(
        "acme", created.job_id, "alive", version=1, target="cpu", rows=1, shards=1, errors=0, input_bytes=1
    )
    assert not store.claim_split("acme", created.job_id, "late", later + 10_000, later + 9_000)  # split stays split


def test_a_split_into_no_shards_is_ready_to_assemble(store: BatchStore) -> None:
    created = running(store, shards=0)  # every row was malformed
    now = time.time()
    assert store.claim_assembly("acme", created.job_id, "a", now, now - 300)


def test_fail_only_from_the_expected_states(store: BatchStore) -> None:
    created, _ = store.create_batch(job())
    assert not store.fail_batch("acme", created.job_id, "no", (BatchStatus.SPLITTING,))
    assert store.fail_batch("acme", created.job_id, "columns do not fit", (BatchStatus.PENDING_UPLOAD,))
    failed = store.get_batch("acme", created.job_id)
    assert failed is not None
    assert (failed.status, failed.error) == (BatchStatus.FAILED, "columns do not fit")
    assert failed.finished_at is not None
    assert not store.fail_batch("acme", created.job_id, "again", (BatchStatus.PENDING_UPLOAD, BatchStatus.SPLITTING))
    assert not store.fail_batch("acme", new_batch_id(), "a job that is not there", (BatchStatus.PENDING_UPLOAD,))


def test_a_failed_assembly_keeps_its_error_and_the_job_is_announced_once_marked(store: BatchStore) -> None:
    created = running(store, shards=1)
    assert store.complete_shard("acme", created.job_id, 0, 0, 10)
    now = time.time()
    assert store.claim_assembly("acme", created.job_id, "a", now, now - 300)
    manifest = {"rows": 11, "seconds": 1.25, "sha256": {"errors": "ab"}}
    assert store.finish_batch("acme", created.job_id, "a", BatchStatus.FAILED, manifest=manifest, error="no row ran")
    assert not store.finish_batch("acme", created.job_id, "a", BatchStatus.SUCCEEDED, manifest={}, error=None)
    before = store.get_batch("acme", created.job_id)
    assert before is not None
    assert (before.status, before.error, before.manifest, before.announced) == (
        BatchStatus.FAILED,
        "no row ran",
        manifest,
        False,
    )
    assert (before.rows_done, before.rows_failed) == (0, 11)
    store.mark_batch_announced("acme", created.job_id)
    assert store.get_batch("acme", created.job_id).announced  # type: ignore[union-attr]


def test_what_a_caller_reads_is_a_copy(store: BatchStore) -> None:
    created, _ = store.create_batch(job())
    read = store.get_batch("acme", created.job_id)
    assert read is not None
    read.status = BatchStatus.SUCCEEDED
    assert store.get_batch("acme", created.job_id).status == BatchStatus.PENDING_UPLOAD  # type: ignore[union-attr]
