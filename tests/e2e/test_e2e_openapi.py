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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from maas.domain.aliases import DEFAULT_ALIAS

from e2e_helpers import Platform, register_bytes

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
MAX_EXAMPLES = 20
PHASES = "examples,coverage,fuzzing"


@dataclass
class Seeded:
    """A tenant's real objects, so that generated calls reach them and not only 404s."""

    key: str
    tenant_id: str
    model: str
    job_id: str
    batch_job_id: str
    source: str


@pytest.fixture(scope="module")
def seeded(platform: Platform, make_tenant: Any, models_dir: Path) -> Seeded:
    tenant = make_tenant("publish,invoke,read")
    key = tenant["publish,invoke,read"]
    assert register_bytes(platform, key, "tiny", (models_dir / "tiny.onnx").read_bytes())["status"] == "READY"
    metadata = platform.call("GET", "/v2/models/tiny", key).json()
    request = {
        "inputs": [{"name": metadata["inputs"][0]["name"], "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]
    }
    job = platform.call("POST", "/v1/models/tiny/jobs", key, json_body=request)
    assert job.status_code == 202, job.text
    batch = platform.call("POST", "/v1/batch-jobs", key, json_body={"model": "tiny", "format": "jsonl"})
    assert batch.status_code == 201, batch.text
    source = f"{tenant.tenant_id}.orders"
    assert platform.call("POST", "/v1/event-sources", key, json_body={"source": source}).status_code == 201
    return Seeded(key, tenant.tenant_id, "tiny", job.json()["job_id"], batch.json()["job_id"], source)


def config(tmp_path: Path, seeded: Seeded) -> Path:
    """The key on every call; the seeded objects' names where an operation reads them or runs the model."""
    model = f'"path.name" = "{seeded.model}", "path.version" = "1", "path.alias" = "{DEFAULT_ALIAS}"'
    reads = {
        "^/v[12]/models/": model,
        "^/v1/jobs/": f'"path.job_id" = "{seeded.job_id}"',
        "^/v1/batch-jobs/": f'"path.job_id" = "{seeded.batch_job_id}"',
        "^/v1/tenants/": f'"path.tenant_id" = "{seeded.tenant_id}"',
    }
    lines = [f'headers = {{ Authorization = "Bearer {seeded.key}" }}']
    for regex, parameters in reads.items():
        lines += ["[[operations]]", f'include-name-regex = "^GET {regex[1:]}"']  # one filter: GET and the path
        lines.append(f"parameters = {{ {parameters} }}")
    lines += ["[[operations]]", 'include-name-regex = "^POST /v2/.*/infer$"', f"parameters = {{ {model} }}"]
    # TRACE and QUERY: the local gateway (http.server) answers 501 Not Implemented; API Gateway has neither
    lines += ["[phases.coverage]", 'unexpected-methods = ["get", "put", "post", "delete", "options", "patch"]']
    # Names learnt from responses would let DELETE and PUT calls archive the seeded version and drop its alias
    # midway, and the reads above would then meet a model with nothing to serve (503 NOT_READY)
    for phase in ("coverage", "fuzzing"):
        lines += [f"[phases.{phase}.extra-data-sources]", "responses = false"]
    path = tmp_path / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    platform: Platform, seeded: Seeded, tmp_path: Path
) -> None:
    # Given the document the platform serves, and a tenant with a READY model, a job, a batch job, a source
    document = requests.get(platform.url + "/openapi.json", timeout=30).json()

    # When schemathesis runs its checks on every operation
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config(tmp_path, seeded)),
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
            # One worker: with two, hypothesis describes lambdas by parsing its source in two threads at once,
            # and Python 3.11's ast module then fails now and then ("AST constructor recursion depth mismatch")
            "--workers",
            "1",
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
        cwd=tmp_path,  # its cache (.schemathesis/) stays out of the checkout
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
    assert fuzzed == documented - {"GET /openapi.json"}, summary  # schemathesis leaves out the document's own URL
