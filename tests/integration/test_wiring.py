"""Every function's handler builds its services through maas.wiring at import, as a cold start does on Lambda."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO_ROOT

FUNCTIONS = sorted(p.parent.name for p in (REPO_ROOT / "functions").glob("*/app.py"))
ENVIRONMENT = {
    "REGISTRY_TABLE": "registry",
    "JOBS_TABLE": "jobs",
    "ARTIFACTS_BUCKET": "artifacts",
    "JOBS_BUCKET": "jobs-bucket",
    "INBOX_BUCKET": "inbox",
    "EVENT_BUS_NAME": "maas-events",
    "MAX_ARTIFACT_BYTES": "1000000",
    "INGRESS_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ingress-dlq",
    "POWERTOOLS_SERVICE_NAME": "maas",
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_handler_builds_its_services_from_its_settings(
    function: str, aws_mock: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path))
    path = REPO_ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"wired_{function}_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)

    spec.loader.exec_module(module)  # builds every service; a wiring mistake raises here

    assert callable(module.lambda_handler)
