"""Integration tests: the boto3 adapters against moto, in process (``mock_aws``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from maas.adapters import aws

REGION = "us-east-1"
REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"


@pytest.fixture
def aws_mock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, one region, no endpoint override; boto3 clients cached by maas are dropped around it."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    aws.reset()
    with mock_aws():
        yield
    aws.reset()


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


@functools.cache
def registry_table_schema() -> dict[str, Any]:
    """KeySchema and AttributeDefinitions of template.yaml's RegistryTable, so the tests cannot drift from it."""
    from samtranslator.yaml_helper import yaml_parse

    props = yaml_parse(TEMPLATE.read_text())["Resources"]["RegistryTable"]["Properties"]
    return {"KeySchema": props["KeySchema"], "AttributeDefinitions": props["AttributeDefinitions"]}


REGISTRY_TABLE = "maas-registry-contract"


@pytest.fixture(params=["memory", "dynamodb"])
def registry_stores(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The registry table's ports, once as the unit tests' in-memory fakes and once on DynamoDB (moto).

    A contract test takes this fixture (or one built on it) and runs against both, so that a fake cannot drift from
    the adapter it stands in for.
    """
    from types import SimpleNamespace

    from maas import wiring

    from tests.fakes import InMemoryEventSourceStore, InMemoryRegistryStore

    if request.param == "memory":
        fake = InMemoryRegistryStore()
        yield SimpleNamespace(
            registry=fake,
            aliases=fake,
            grants=fake,
            quotas=fake,
            audit=fake,
            shadow_stats=fake,
            event_sources=InMemoryEventSourceStore(),
        )
        return
    request.getfixturevalue("aws_mock")
    client("dynamodb").create_table(TableName=REGISTRY_TABLE, BillingMode="PAY_PER_REQUEST", **registry_table_schema())
    yield wiring.registry_stores(REGISTRY_TABLE)
