"""The GPU worker's stacks in infra/: cfn-lint (what `make lint` runs), and the main-stack outputs they take."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.integration.conftest import REPO_ROOT, TEMPLATE

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
ECS_WORKER = REPO_ROOT / "infra" / "ecs-worker.yaml"
SAGEMAKER_ASYNC = REPO_ROOT / "infra" / "sagemaker-async.yaml"
INFRA_TEMPLATES = [ECS_WORKER, SAGEMAKER_ASYNC]

# What the worker stacks take from the main stack: each is a parameter there and an output of template.yaml.
MAIN_STACK_OUTPUTS = frozenset(
    {
        "GpuJobsQueueUrl",
        "GpuJobsQueueArn",
        "GpuJobsQueueName",
        "GpuJobsDeadLetterQueueUrl",
        "GpuJobsDeadLetterQueueArn",
        "JobsTableName",
        "JobsBucketName",
        "InboxBucketName",
        "RegistryTableName",
        "ArtifactsBucketName",
        "EventBusName",
        "JobLeaseSeconds",
        "JobMaxAttempts",
    }
)


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CFN_LINT), str(path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def load(path: Path) -> dict[str, Any]:
    """The template as a dict; samtranslator's loader reads CloudFormation's short tags (!Ref, !Sub, ...)."""
    template: dict[str, Any] = yaml_parse(path.read_text())
    return template


@pytest.mark.parametrize("template", INFRA_TEMPLATES, ids=lambda path: path.name)
def test_the_infra_template_passes_cfn_lint(template: Path) -> None:
    result = lint(template)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_ecs_worker_takes_every_main_stack_output_it_needs() -> None:
    parameters = set(load(ECS_WORKER)["Parameters"])

    assert sorted(MAIN_STACK_OUTPUTS - parameters) == []


@pytest.mark.parametrize("template", INFRA_TEMPLATES, ids=lambda path: path.name)
def test_the_main_stack_outputs_a_stack_takes_are_declared_in_template_yaml(template: Path) -> None:
    # Given the parameters this stack fills from the main stack's outputs
    taken = set(load(template)["Parameters"]) & MAIN_STACK_OUTPUTS
    assert taken, f"{template.name} takes nothing from the main stack"

    # When template.yaml's outputs are read
    declared = set(load(TEMPLATE).get("Outputs") or {})

    # Then each of them is there
    missing = sorted(taken - declared)
    assert missing == [], f"{template.name} takes {missing} from the main stack, but template.yaml does not output them"
