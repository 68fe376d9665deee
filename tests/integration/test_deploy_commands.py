"""``maas deploy bootstrap`` and ``maas deploy outputs`` against a stack in moto's CloudFormation."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from maas import wiring
from maas.adapters.dynamodb.registry import DynamoRegistryStore
from maas.cli.main import main
from maas.domain import OPERATOR_TENANT, Scope
from maas.tenants import Tenants

from tests.integration.conftest import REPO_ROOT, client, registry_table_schema

API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com"


@pytest.fixture
def stack(aws_mock: None) -> str:
    """A stack with the main template's registry table and the outputs the commands read."""
    template = {
        "Resources": {
            "RegistryTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {**registry_table_schema(), "BillingMode": "PAY_PER_REQUEST"},
            },
            "GpuJobsQueue": {"Type": "AWS::SQS::Queue"},
        },
        "Outputs": {
            "ApiUrl": {"Value": API_URL},
            "RegistryTableName": {"Value": {"Ref": "RegistryTable"}},
            "GpuJobsQueueUrl": {"Value": {"Ref": "GpuJobsQueue"}},
            "JobsBucketName": {"Value": "maas-jobs-123456789012-us-east-1"},
        },
    }
    client("cloudformation").create_stack(StackName="maas-test", TemplateBody=json.dumps(template))
    return "maas-test"


def registry(stack: str) -> DynamoRegistryStore:
    outputs = client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    return wiring.registry_stores(
        next(o["OutputValue"] for o in outputs if o["OutputKey"] == "RegistryTableName")
    ).registry


def test_bootstrap_prints_a_working_admin_key_and_the_api_url(stack: str, capsys: pytest.CaptureFixture) -> None:
    # When the operator bootstraps the deployed stack
    assert main(["deploy", "bootstrap", "--stack-name", stack]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    # Then the URL is the stack's, and the key authenticates as the operator with the admin scope
    assert lines["MAAS_URL"] == API_URL
    principal = Tenants(registry(stack)).authenticate(lines["MAAS_API_KEY"])
    assert principal.tenant_id == OPERATOR_TENANT
    assert principal.scopes == frozenset({Scope.ADMIN})


def test_bootstrap_writes_the_key_only_where_asked_readable_only_by_the_owner(
    stack: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["deploy", "bootstrap", "--stack-name", stack]) == 0
    assert list(tmp_path.iterdir()) == []  # nothing on disk unless asked
    env_file = tmp_path / "secrets" / "maas.env"
    assert main(["deploy", "bootstrap", "--stack-name", stack, "--env-file", str(env_file)]) == 0
    printed = capsys.readouterr().out.splitlines()[-2:]
    assert env_file.read_text().splitlines() == printed
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    # Each run issues another key; both work
    keys = registry(stack).list_keys(OPERATOR_TENANT)
    assert len(keys) == 2


def test_bootstrap_names_a_missing_stack(aws_mock: None, capsys: pytest.CaptureFixture) -> None:
    assert main(["deploy", "bootstrap", "--stack-name", "nope"]) == 1
    assert "cannot read stack nope" in capsys.readouterr().err


def test_bootstrap_names_a_missing_output(aws_mock: None, capsys: pytest.CaptureFixture) -> None:
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"ApiUrl": {"Value": API_URL}}}
    client("cloudformation").create_stack(StackName="other", TemplateBody=json.dumps(template))
    assert main(["deploy", "bootstrap", "--stack-name", "other"]) == 1
    assert "has no output RegistryTableName" in capsys.readouterr().err


def test_outputs_for_a_worker_stack_are_the_parameters_it_declares(stack: str, capsys: pytest.CaptureFixture) -> None:
    template = REPO_ROOT / "infra" / "ecs-worker.yaml"
    assert main(["deploy", "outputs", "--stack-name", stack, "--parameters-of", str(template)]) == 0
    pairs = dict(item.split("=", 1) for item in capsys.readouterr().out.split())
    # ApiUrl is the main stack's but no parameter of the ECS stack: left out
    assert set(pairs) == {"GpuJobsQueueUrl", "JobsBucketName", "RegistryTableName"}
    assert pairs["JobsBucketName"] == "maas-jobs-123456789012-us-east-1"
    assert "GpuJobsQueue" in pairs["GpuJobsQueueUrl"]
