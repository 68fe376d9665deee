"""Creating the template's resources on the emulator, and reading out what the runtime must wire itself.

moto provisions tables, buckets, queues, buses and rules. What it cannot run (Lambda without Docker, HTTP
APIs, S3 and EventBridge deliveries to Lambda) becomes a ``Topology`` that the runtime serves: functions,
routes, and queues to poll. S3 -> Lambda notifications become S3 -> shim queue notifications (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError

from maas.local.template import Resolver, Template, TemplateError
from maas.observability import logger

ClientFactory = Callable[[str], Any]
_FUNCTION_IN_URI = re.compile(r"\$\{(\w+)\.Arn\}")


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    timeout: int = 3
    memory: int = 128
    runtime: str = ""
    layers: tuple[Path, ...] = ()  # the layers' folders, in the function's order (used when run from a build)


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    function: str
    authorizer: str | None


@dataclass(frozen=True)
class QueueSource:
    """A queue whose messages the runtime hands to a function: S3 shim, SQS event source, EventBridge shim."""

    kind: Literal["s3", "sqs", "eventbridge"]
    queue_url: str
    function: str
    batch_size: int = 1
    report_failures: bool = False


@dataclass
class Topology:
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[RouteSpec] = field(default_factory=list)
    sources: list[QueueSource] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)


def _ignore_exists(call: Callable[[], Any], *codes: str) -> Any:
    """Provisioning twice on a persistent emulator (--aws-endpoint) finds things there already."""
    try:
        return call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in codes:
            raise
        return None


class Provisioner:
    def __init__(self, template: Template, resolver: Resolver, clients: ClientFactory) -> None:
        self.template = template
        self.resolver = resolver
        self.clients = clients
        self.topology = Topology()

    # --- naming ---------------------------------------------------------------------------------------------
    def _arn(self, service: str, resource: str) -> str:
        r = self.resolver
        return f"arn:aws:{service}:{r.region}:{r.account_id}:{resource}"

    def _name(self, logical_id: str, props: dict[str, Any], key: str, lower: bool = False) -> str:
        if key in props:
            return str(self.resolver.resolve(props[key]))
        name = f"{self.resolver.stack_name}-{logical_id}"
        return name.lower() if lower else name

    def assign_names(self) -> None:
        """Physical names and attributes for every resource, before any intrinsic is evaluated."""
        r = self.resolver
        for logical_id, res in self.template.resources.items():
            props, kind = res.get("Properties", {}), res["Type"]
            if kind == "AWS::DynamoDB::Table":
                name = self._name(logical_id, props, "TableName")
                r.refs[logical_id] = name
                r.attributes[(logical_id, "Arn")] = self._arn("dynamodb", f"table/{name}")
                r.attributes[(logical_id, "StreamArn")] = self._arn("dynamodb", f"table/{name}/stream/local")
            elif kind == "AWS::S3::Bucket":
                name = self._name(logical_id, props, "BucketName", lower=True)
                r.refs[logical_id] = name
                r.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
            elif kind == "AWS::SQS::Queue":
                name = self._name(logical_id, props, "QueueName")
                r.refs[logical_id] = name  # replaced by the URL once created
                r.attributes[(logical_id, "Arn")] = self._arn("sqs", name)
                r.attributes[(logical_id, "QueueName")] = name
            elif kind == "AWS::Events::EventBus":
                name = self._name(logical_id, props, "Name")
                r.refs[logical_id] = name
                r.attributes[(logical_id, "Arn")] = self._arn("events", f"event-bus/{name}")
                r.attributes[(logical_id, "Name")] = name
            elif kind == "AWS::Lambda::Function":
                name = self._name(logical_id, props, "FunctionName")
                r.refs[logical_id] = name
                r.attributes[(logical_id, "Arn")] = self._arn("lambda", f"function:{name}")
            else:
                name = f"{r.stack_name}-{logical_id}"
                r.refs.setdefault(logical_id, name)
                r.attributes.setdefault((logical_id, "Arn"), self._arn("local", name))
            self.topology.names[logical_id] = name

    # --- resources ------------------------------------------------------------------------------------------
    def create_table(self, logical_id: str, props: dict[str, Any]) -> None:
        props = self.resolver.resolve(props)
        kwargs: dict[str, Any] = {
            "TableName": self.resolver.refs[logical_id],
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if key in props:
                kwargs[key] = props[key]
        ddb = self.clients("dynamodb")
        _ignore_exists(lambda: ddb.create_table(**kwargs), "ResourceInUseException")
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=kwargs["TableName"],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )

    def create_bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        props = self.resolver.resolve(props)
        bucket = self.resolver.refs[logical_id]
        s3 = self.clients("s3")
        _ignore_exists(lambda: s3.create_bucket(Bucket=bucket), "BucketAlreadyOwnedByYou", "BucketAlreadyExists")
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        if "BucketEncryption" in props:
            # CloudFormation says ServerSideEncryptionByDefault where the API says ApplyServerSideEncryptionByDefault.
            rules = [
                {
                    ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                    for k, v in rule.items()
                }
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "CorsConfiguration" in props:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": props["CorsConfiguration"]["CorsRules"]})

    def create_queue(self, logical_id: str, props: dict[str, Any]) -> None:
        props = self.resolver.resolve(props)
        name = self.resolver.attributes[(logical_id, "QueueName")]
        attributes: dict[str, str] = {}
        for key in (
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "DelaySeconds",
            "ReceiveMessageWaitTimeSeconds",
            "MaximumMessageSize",
            "FifoQueue",
            "ContentBasedDeduplication",
        ):
            if key in props:
                attributes[key] = str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = self.clients("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.resolver.refs[logical_id] = url
        self.resolver.attributes[(logical_id, "QueueUrl")] = url

    def create_event_bus(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self.resolver.refs[logical_id]
        _ignore_exists(lambda: self.clients("events").create_event_bus(Name=name), "ResourceAlreadyExistsException")

    def shim_queue(self, name: str, visibility_timeout: int) -> tuple[str, str]:
        """A queue that stands in for an invocation AWS would make directly; returns (url, arn)."""
        sqs = self.clients("sqs")
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout),
                # Lambda retries an asynchronous invocation twice before giving up.
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
            },
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def wire_bucket_notifications(self, logical_id: str, props: dict[str, Any]) -> None:
        config = props.get("NotificationConfiguration", {})
        queue_configs = []
        for item in config.get("LambdaConfigurations", []):
            function = item["Function"]["Fn::GetAtt"][0] if "Fn::GetAtt" in item["Function"] else None
            if function is None or function not in self.topology.functions:
                raise TemplateError(f"bucket {logical_id}: notification target {item['Function']} is not a function")
            timeout = self.topology.functions[function].timeout
            url, arn = self.shim_queue(f"{self.resolver.stack_name}-s3-{function}", max(30, timeout))
            entry: dict[str, Any] = {"QueueArn": arn, "Events": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
            queue_configs.append(entry)
            self.topology.sources.append(QueueSource(kind="s3", queue_url=url, function=function))
        for item in config.get("QueueConfigurations", []):
            queue_configs.append(
                {"QueueArn": self.resolver.resolve(item["Queue"]), "Events": [item["Event"]]}
                | ({"Filter": {"Key": {"FilterRules": item["Filter"]["S3Key"]["Rules"]}}} if "Filter" in item else {})
            )
        if queue_configs:
            self.clients("s3").put_bucket_notification_configuration(
                Bucket=self.resolver.refs[logical_id],
                NotificationConfiguration={"QueueConfigurations": queue_configs},
            )

    def create_rule(self, logical_id: str, props: dict[str, Any]) -> None:
        """An EventBridge rule; Lambda targets go through a shim queue (moto cannot invoke Lambda)."""
        props = self.resolver.resolve(props)
        events = self.clients("events")
        name = str(props.get("Name") or f"{self.resolver.stack_name}-{logical_id}")[:64]
        bus = props.get("EventBusName", "default")
        bus = bus.rsplit("/", 1)[-1] if isinstance(bus, str) and bus.startswith("arn:") else bus
        pattern = props["EventPattern"]
        events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=pattern if isinstance(pattern, str) else json.dumps(pattern),
            State=props.get("State", "ENABLED"),
        )
        targets = []
        for target in props.get("Targets", []):
            arn = str(target["Arn"])
            if ":lambda:" in arn:
                function = next(
                    (f for f, spec in self.topology.functions.items() if arn.endswith(f":function:{spec.name}")), None
                )
                if function is None:
                    raise TemplateError(f"rule {logical_id}: target {arn} is not a function of this template")
                timeout = self.topology.functions[function].timeout
                url, arn = self.shim_queue(f"{self.resolver.stack_name}-events-{function}", max(30, timeout))
                self.topology.sources.append(QueueSource(kind="eventbridge", queue_url=url, function=function))
            elif ":sqs:" not in arn:
                logger.warning("rule target not run locally", extra={"rule": logical_id, "target": arn})
                continue
            targets.append({"Id": str(target["Id"]), "Arn": arn})
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)

    def read_outputs(self) -> None:
        for name, output in (self.template.raw.get("Outputs") or {}).items():
            try:
                self.topology.outputs[name] = str(self.resolver.resolve(output["Value"]))
            except (KeyError, TemplateError):  # outputs naming what the runtime does not make (the API's URL)
                continue

    def read_function(self, logical_id: str, props: dict[str, Any]) -> FunctionSpec:
        code_dir = self.template.code_dirs.get(logical_id)
        if code_dir is None:
            raise TemplateError(f"function {logical_id} has no local CodeUri folder")
        variables = self.resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        layers = []
        for layer in props.get("Layers", []):
            ref = layer.get("Ref") if isinstance(layer, dict) else None
            if ref not in self.template.layer_dirs:
                raise TemplateError(f"function {logical_id} uses layer {layer}, which is not a folder of the template")
            layers.append(self.template.layer_dirs[ref])
        return FunctionSpec(
            logical_id=logical_id,
            name=self.resolver.refs[logical_id],
            handler=props["Handler"],
            code_dir=code_dir,
            environment={k: str(v) for k, v in variables.items()},
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            runtime=str(props.get("Runtime", "")),
            layers=tuple(layers),
        )

    def read_routes(self, props: dict[str, Any]) -> None:
        body = props.get("Body") or {}
        schemes = body.get("components", {}).get("securitySchemes", {})
        authorizers: dict[str, str] = {}
        for scheme_name, scheme in schemes.items():
            uri = scheme.get("x-amazon-apigateway-authorizer", {}).get("authorizerUri")
            if isinstance(uri, dict) and "Fn::Sub" in uri:
                sub = uri["Fn::Sub"]
                if isinstance(sub, list) and "__FunctionArn__" in sub[1]:
                    authorizers[scheme_name] = sub[1]["__FunctionArn__"]["Fn::GetAtt"][0]
        default_security = body.get("security", [])
        for path, methods in body.get("paths", {}).items():
            for method, operation in methods.items():
                integration = operation.get("x-amazon-apigateway-integration", {})
                uri = integration.get("uri", {})
                text = uri.get("Fn::Sub", "") if isinstance(uri, dict) else str(uri)
                match = _FUNCTION_IN_URI.search(text if isinstance(text, str) else text[0])
                if not match:
                    continue
                security = operation.get("security", default_security)
                authorizer = next((authorizers[n] for entry in security for n in entry if n in authorizers), None)
                http_method = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                self.topology.routes.append(RouteSpec(http_method, path, match.group(1), authorizer))

    def read_event_source_mapping(self, props: dict[str, Any]) -> None:
        source = self.resolver.resolve(props["EventSourceArn"])
        if ":sqs:" not in source:
            logger.warning("event source not run locally", extra={"source": source})
            return
        function = props["FunctionName"]["Ref"] if isinstance(props["FunctionName"], dict) else props["FunctionName"]
        queue_name = source.rsplit(":", 1)[1]
        url = self.clients("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]
        self.topology.sources.append(
            QueueSource(
                kind="sqs",
                queue_url=url,
                function=function,
                batch_size=int(props.get("BatchSize", 10)),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            )
        )

    # --- the whole template ---------------------------------------------------------------------------------
    def run(self) -> Topology:
        self.assign_names()
        creators = {
            "AWS::DynamoDB::Table": self.create_table,
            "AWS::S3::Bucket": self.create_bucket,
            "AWS::SQS::Queue": self.create_queue,
            "AWS::Events::EventBus": self.create_event_bus,
        }
        # Queues first: redrive policies and environment variables refer to them.
        order = ["AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Events::EventBus"]
        for kind in order:
            resources = self.template.of_type(kind).items()
            # dead-letter queues before the queues that redrive into them
            for logical_id, res in sorted(resources, key=lambda r: "RedrivePolicy" in r[1].get("Properties", {})):
                creators[kind](logical_id, res.get("Properties", {}))
        for logical_id, res in self.template.of_type("AWS::Lambda::Function").items():
            self.topology.functions[logical_id] = self.read_function(logical_id, res["Properties"])
        for res in self.template.of_type("AWS::ApiGatewayV2::Api").values():
            self.read_routes(res.get("Properties", {}))
        for logical_id, res in self.template.of_type("AWS::S3::Bucket").items():
            self.wire_bucket_notifications(logical_id, res.get("Properties", {}))
        for res in self.template.of_type("AWS::Lambda::EventSourceMapping").values():
            self.read_event_source_mapping(res["Properties"])
        for logical_id, res in self.template.of_type("AWS::Events::Rule").items():
            self.create_rule(logical_id, res.get("Properties", {}))
        self.read_outputs()
        return self.topology
