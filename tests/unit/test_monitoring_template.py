"""template.yaml watches what it deploys: an alarm on every dead-letter queue, a retention on every function's logs,
HTTP API access logs, a 5xx-rate alarm, and a dashboard that names the metrics maas.metrics records."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from maas.metrics import FAMILIES

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@cache
def resources() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())["Resources"]


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res.get("Properties", {}) for name, res in resources().items() if res["Type"] == kind}


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        yield value
        for inner in value.values():
            yield from _walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner)


def dead_letter_queues() -> set[str]:
    """Queues that something sends its failures to: SQS redrive targets and EventBridge targets' DLQs."""
    found = set()
    for node in _walk(resources()):
        for key in ("deadLetterTargetArn", "DeadLetterConfig"):
            target = node.get(key)
            if isinstance(target, dict):
                arn = target.get("Arn", target)
                if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                    found.add(arn["Fn::GetAtt"][0])
    return found


def test_the_template_has_dead_letter_queues_to_watch() -> None:
    assert {"GpuJobsDeadLetterQueue", "CpuShardsDeadLetterQueue", "IngressDeadLetterQueue"} <= dead_letter_queues()


def test_every_dead_letter_queue_has_an_alarm_on_a_visible_message() -> None:
    watched = {}
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        if alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            (dimension,) = alarm["Dimensions"]
            assert dimension["Name"] == "QueueName"
            watched[dimension["Value"]["Fn::GetAtt"][0]] = alarm
    assert dead_letter_queues() <= set(watched)
    for alarm in watched.values():
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_every_function_keeps_its_logs_for_the_retention_parameter() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    retained = {}
    for group in groups.values():
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        named = re.fullmatch(r"/aws/lambda/\$\{(\w+)\}", str(group["LogGroupName"].get("Fn::Sub", "")))
        if named:
            retained[named.group(1)] = group
    assert set(of_type("AWS::Serverless::Function")) == set(retained)


def test_the_http_api_writes_access_logs_with_the_tenant_and_the_status() -> None:
    (api,) = of_type("AWS::Serverless::HttpApi").values()
    settings = api["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(settings["Format"])
    assert {"requestId", "routeKey", "status", "tenant", "latency"} <= set(fields)


def test_the_5xx_rate_alarm_divides_5xx_by_requests() -> None:
    alarm = of_type("AWS::CloudWatch::Alarm")["Api5xxRateAlarm"]
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert (stats["errors"]["MetricName"], stats["requests"]["MetricName"]) == ("5xx", "Count")
    assert {"Name": "ApiId", "Value": {"Ref": "MaasApi"}} in stats["errors"]["Dimensions"]
    (rate,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert "errors / requests" in rate["Expression"]


def test_the_dashboard_is_json_and_shows_every_metric_family() -> None:
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    body = re.sub(r"\$\{[^}]+\}", "x", dashboard["DashboardBody"]["Fn::Sub"])
    widgets = json.loads(body)["widgets"]
    assert len(widgets) >= 8
    text = json.dumps(widgets)
    for family in FAMILIES:
        assert any(name in text for name, _ in family.metrics), family.name
