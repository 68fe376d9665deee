"""The batch store against moto: one job per inbox key, a split claimed once, shards counted once, one assembly."""

from __future__ import annotations

import time

import pytest
from samtranslator.yaml_helper import yaml_parse

from maas.adapters.batch import DynamoBatchStore
from maas.domain.batch import BatchFormat, BatchJob, BatchStatus, new_batch_id

from tests.integration.conftest import TEMPLATE, client


@pytest.fixture
def store(aws_mock: None) -> DynamoBatchStore:
    props = yaml_parse(TEMPLATE.read_text())["Resources"]["JobsTable"]["Properties"]
    client("dynamodb").create_table(
        TableName="jobs",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoBatchStore("jobs")


def job(key: str = "batch/acme/m/production/a.jsonl") -> BatchJob:
    return BatchJob(
        tenant_id="acme", job_id=new_batch_id(), model="m", format=BatchFormat.JSONL, name="a", inbox_key=key
    )


def test_one_job_per_inbox_key(store: DynamoBatchStore) -> None:
    first, created = store.create_batch(job())
    again, created_again = store.create_batch(job())
    assert created
    assert not created_again
    assert again.job_id == first.job_id
    assert [j.job_id for j in store.list_batches("acme")] == [first.job_id]
    assert store.get_batch("globex", first.job_id) is None


def test_split_shards_and_assembly_each_happen_once(store: DynamoBatchStore) -> None:
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


def test_fail_only_from_the_expected_states(store: DynamoBatchStore) -> None:
    created, _ = store.create_batch(job())
    assert not store.fail_batch("acme", created.job_id, "no", (BatchStatus.SPLITTING,))
    assert store.fail_batch("acme", created.job_id, "columns do not fit", (BatchStatus.PENDING_UPLOAD,))
    failed = store.get_batch("acme", created.job_id)
    assert failed is not None
    assert (failed.status, failed.error) == (BatchStatus.FAILED, "columns do not fit")
