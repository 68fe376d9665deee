"""schemathesis against the local runtime, from the document it serves: no 5xx, and every answer as documented.

A tenant with a publish+invoke+read key and a READY model, so that the generated calls reach real paths: the
operations on one model (GET, and inference) take that model's name and version, the rest take generated ones.
Bounded (examples, coverage and fuzzing phases, a few examples per operation, a fixed seed) so that it stays
within a couple of minutes on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from e2e_helpers import Platform, register_bytes

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
MAX_EXAMPLES = 8
PHASES = "examples,coverage,fuzzing"


@pytest.fixture(scope="module")
def ready_model(platform: Platform, make_tenant: Any, models_dir: Path) -> tuple[str, str]:
    key = make_tenant("publish,invoke,read")["publish,invoke,read"]
    assert register_bytes(platform, key, "tiny", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    assert platform.call("GET", "/v2/models/tiny/ready", key).status_code == 200
    return key, "tiny"


def config(tmp_path: Path, key: str, model: str) -> Path:
    """The key on every call; the READY model's name and version where an operation reads or runs it."""
    path = tmp_path / "schemathesis.toml"
    path.write_text(
        f'headers = {{ Authorization = "Bearer {key}" }}\n'
        "[[operations]]\n"
        'include-method = "GET"\n'
        f'parameters = {{ "path.name" = "{model}", "path.version" = "1" }}\n'
        "[[operations]]\n"
        'include-path-regex = "/infer$"\n'
        f'parameters = {{ "path.name" = "{model}", "path.version" = "1" }}\n'
        # TRACE and QUERY: the local gateway (http.server) answers 501 Not Implemented; API Gateway has neither
        "[phases.coverage]\n"
        'unexpected-methods = ["get", "put", "post", "delete", "options", "patch"]\n'
    )
    return path


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    platform: Platform, ready_model: tuple[str, str], tmp_path: Path
) -> None:
    # Given the document the platform serves, and a tenant with a READY model
    key, model = ready_model
    document = requests.get(platform.url + "/openapi.json", timeout=30).json()

    # When schemathesis runs its checks on every operation
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config(tmp_path, key, model)),
            "--no-color",
            "run",
            platform.url + "/openapi.json",
            "--url",
            platform.url,
            "--checks",
            CHECKS,
            "--phases",
            PHASES,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "13",
            "--workers",
            "2",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
        ],
        check=False,
        text=True,
        capture_output=True,
        timeout=600,
    )

    # Then every operation ran, and no check failed
    summary = result.stdout[-6000:] + result.stderr[-2000:]
    print(result.stdout, result.stderr)  # what it ran, for the record (pytest -s)
    assert result.returncode == 0, summary
    events = [json.loads(line) for line in report.read_text().splitlines()]
    finished = [e["ScenarioFinished"] for e in events if "ScenarioFinished" in e]
    fuzzed = {e["recorder"]["label"] for e in finished if e["phase"] == "fuzzing" and e["status"] == "success"}
    documented = {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item}
    assert fuzzed == documented, summary
