"""The local runtime's Provisioner on moto, with the real template.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from maas.local.provision import FunctionSpec, Provisioner, RouteSpec, Topology
from maas.local.template import Resolver, Template, load_template

from tests.integration.conftest import REGION, REPO_ROOT, TEMPLATE, client

ACCOUNT = "123456789012"
STACK = "maas"
BUCKET = f"{STACK}-artifacts-{ACCOUNT}-{REGION}"


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(TEMPLATE, REGION)


def defaults(template: Template) -> dict[str, str]:
    return {name: str(spec["Default"]) for name, spec in template.raw["Parameters"].items()}


def provision(template: Template) -> Topology:
    resolver = Resolver(region=REGION, account_id=ACCOUNT, stack_name=STACK, parameters=defaults(template))
    return Provisioner(template, resolver, lambda service: boto3.client(service, region_name=REGION)).run()


@pytest.fixture
def topology(aws_mock: None, template: Template) -> Topology:
    return provision(template)


def test_the_registry_table_exists_with_the_templates_keys(topology: Topology) -> None:
    table = client("dynamodb").describe_table(TableName=topology.names["RegistryTable"])["Table"]

    assert topology.names["RegistryTable"] == "maas-RegistryTable"
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]


def test_the_artifacts_bucket_is_versioned_encrypted_and_private(topology: Topology) -> None:
    s3 = client("s3")

    assert topology.names["ArtifactsBucket"] == BUCKET
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_uploads_under_models_notify_the_validators_shim_queue(topology: Topology) -> None:
    config = client("s3").get_bucket_notification_configuration(Bucket=BUCKET)

    (queue,) = config["QueueConfigurations"]
    assert queue["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-s3-ValidateModelFunction"
    assert queue["Events"] == ["s3:ObjectCreated:*"]
    rules = queue["Filter"]["Key"]["FilterRules"]
    assert [(r["Name"].lower(), r["Value"]) for r in rules] == [("prefix", "models/")]
    assert "LambdaFunctionConfigurations" not in config
    (source,) = [s for s in topology.sources if s.kind == "s3" and s.function == "ValidateModelFunction"]
    assert source.queue_url.endswith(f"/{STACK}-s3-ValidateModelFunction")


def test_an_upload_under_models_lands_in_the_shim_queue(topology: Topology) -> None:
    (source,) = [s for s in topology.sources if s.kind == "s3" and s.function == "ValidateModelFunction"]
    s3, sqs = client("s3"), client("sqs")

    s3.put_object(Bucket=BUCKET, Key="elsewhere/x", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="models/acme/m/1/model.onnx", Body=b"x")

    messages = sqs.receive_message(QueueUrl=source.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    records = [r for m in messages for r in json.loads(m["Body"]).get("Records", [])]
    # Keys arrive form-encoded, as the validator's handler expects (it applies unquote_plus).
    assert [unquote_plus(r["s3"]["object"]["key"]) for r in records] == ["models/acme/m/1/model.onnx"]
    assert records[0]["s3"]["bucket"]["name"] == BUCKET


def test_the_event_bus_exists(topology: Topology) -> None:
    assert client("events").describe_event_bus(Name="maas-events")["Name"] == "maas-events"


def _declared_routes(template: Template) -> set[RouteSpec]:
    """Every HttpApi event in the raw template, as the gateway should serve it."""
    routes = set()
    for logical_id, resource in template.raw["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            public = props.get("Auth", {}).get("Authorizer") == "NONE"
            authorizer = None if public else "AuthorizerFunction"
            routes.add(RouteSpec(props["Method"].upper(), props["Path"], logical_id, authorizer))
    return routes


def test_routes_come_from_the_http_api_with_the_authorizer(topology: Topology, template: Template) -> None:
    routes = set(topology.routes)

    assert RouteSpec("POST", "/v1/models", "ControlPlaneFunction", "AuthorizerFunction") in routes
    assert RouteSpec("GET", "/v1/models/{name}/versions/{version}", "ControlPlaneFunction", "AuthorizerFunction") in (
        routes
    )
    assert routes == _declared_routes(template)
    assert len(topology.routes) == len(routes)  # no route twice


def test_functions_get_their_resolved_environment_and_code_folder(topology: Topology, template: Template) -> None:
    functions: dict[str, FunctionSpec] = topology.functions
    declared = {
        logical_id: resource["Properties"]["CodeUri"]
        for logical_id, resource in template.raw["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert {"AuthorizerFunction", "ControlPlaneFunction", "ValidateModelFunction"} <= set(declared)
    assert set(functions) == set(declared)

    control, validator = functions["ControlPlaneFunction"], functions["ValidateModelFunction"]
    assert control.environment["REGISTRY_TABLE"] == "maas-RegistryTable"
    assert control.environment["ARTIFACTS_BUCKET"] == BUCKET
    assert control.environment["UPLOAD_URL_EXPIRES_SECONDS"] == "900"
    assert validator.environment["REGISTRY_TABLE"] == "maas-RegistryTable"
    assert validator.environment["EVENT_BUS_NAME"] == "maas-events"
    assert validator.environment["MAX_ARTIFACT_BYTES"] == "268435456"
    assert validator.environment["POWERTOOLS_LOG_LEVEL"] == "INFO"
    for logical_id, spec in functions.items():
        assert spec.name == f"{STACK}-{logical_id}"
        assert spec.handler == "app.lambda_handler"
        assert spec.code_dir == REPO_ROOT / declared[logical_id]
        assert (spec.code_dir / "app.py").is_file()
        assert spec.environment["REGISTRY_TABLE"] == "maas-RegistryTable"  # from Globals
        assert all(isinstance(value, str) for value in spec.environment.values())
    assert control.code_dir == REPO_ROOT / "functions" / "control_plane"
    assert (validator.timeout, validator.memory) == (120, 2048)
    assert (functions["AuthorizerFunction"].timeout, functions["AuthorizerFunction"].memory) == (5, 256)


def test_parameters_override_the_defaults(aws_mock: None, template: Template) -> None:
    parameters: dict[str, Any] = {**defaults(template), "EventBusName": "other-bus", "MaxArtifactBytes": "1024"}
    resolver = Resolver(region=REGION, account_id=ACCOUNT, stack_name=STACK, parameters=parameters)

    topology = Provisioner(template, resolver, lambda service: boto3.client(service, region_name=REGION)).run()

    assert topology.functions["ValidateModelFunction"].environment["EVENT_BUS_NAME"] == "other-bus"
    assert topology.functions["ValidateModelFunction"].environment["MAX_ARTIFACT_BYTES"] == "1024"
    assert client("events").describe_event_bus(Name="other-bus")["Name"] == "other-bus"


def test_provisioning_twice_on_the_same_emulator_works(topology: Topology, template: Template) -> None:
    again = provision(template)

    assert again.names == topology.names
    assert set(again.routes) == set(topology.routes)


def test_rules_route_queued_jobs_by_target_and_requests_to_the_ingress(topology: Topology) -> None:
    events, sqs = client("events"), client("sqs")
    bus = topology.names["EventBus"]
    (ingress,) = [s for s in topology.sources if s.kind == "eventbridge"]
    assert ingress.function == "IngressFunction"
    gpu = sqs.get_queue_url(QueueName=f"{STACK}-GpuJobsQueue")["QueueUrl"]
    cpu = sqs.get_queue_url(QueueName=f"{STACK}-CpuJobsQueue")["QueueUrl"]

    def put(source: str, detail_type: str, detail: dict[str, str]) -> None:
        entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": bus}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

    put("maas", "InferenceJobQueued", {"job_id": "j-gpu", "target": "gpu"})
    put("maas", "InferenceJobQueued", {"job_id": "j-cpu", "target": "cpu"})
    put("orders", "InferenceRequested", {"model": "m"})
    put("maas.spoof", "InferenceRequested", {"model": "m"})  # the platform's own prefix is never ingress

    def details(url: str) -> list[dict[str, str]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"])["detail"] for m in messages]

    assert [d["job_id"] for d in details(gpu)] == ["j-gpu"]
    assert [d["job_id"] for d in details(cpu)] == ["j-cpu"]
    assert details(ingress.queue_url) == [{"model": "m"}]


def test_batch_uploads_notify_the_split_function(topology: Topology) -> None:
    (source,) = [s for s in topology.sources if s.kind == "s3" and s.function == "BatchSplitFunction"]
    client("s3").put_object(Bucket=topology.names["InboxBucket"], Key="batch/acme/m/1/x.jsonl", Body=b"{}")
    messages = client("sqs").receive_message(QueueUrl=source.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    keys = [r["s3"]["object"]["key"] for m in messages for r in json.loads(m["Body"]).get("Records", [])]
    assert [unquote_plus(k) for k in keys] == ["batch/acme/m/1/x.jsonl"]


def test_functions_get_their_runtime_and_layer_folders_globals_first(topology: Topology) -> None:
    worker = topology.functions["BatchWorkerFunction"]
    assert worker.runtime == "python3.12"
    assert worker.layers == tuple(REPO_ROOT / "layers" / name for name in ("core", "onnxruntime", "batch"))
    assert topology.functions["AuthorizerFunction"].layers == (REPO_ROOT / "layers" / "core",)


def test_a_built_templates_layers_map_to_their_folders(tmp_path: Path) -> None:
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {"Function": {"Runtime": "python3.12", "Layers": [{"Ref": "CoreLayer"}]}},
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "Fn", "Handler": "app.h", "Layers": [{"Ref": "OrtLayer"}]},
            },
            "CoreLayer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "CoreLayer"}},
            "OrtLayer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "OrtLayer"}},
        },
    }
    (tmp_path / "template.yaml").write_text(json.dumps(template))
    loaded = load_template(tmp_path / "template.yaml", "us-east-1")
    refs = [ref["Ref"] for ref in loaded.resources["Fn"]["Properties"]["Layers"]]
    # SAM renames layers with a hash; the Globals layer comes first
    assert [loaded.layer_dirs[ref] for ref in refs] == [tmp_path / "CoreLayer", tmp_path / "OrtLayer"]
