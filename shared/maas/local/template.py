"""Reading template.yaml the way CloudFormation would: SAM translation offline, then intrinsic functions.

The SAM translator needs S3 code locations and a region; local CodeUri (and layer ContentUri) folders are
rewritten to ``s3://maas-local-code/<folder>`` for it and remembered, so that each function still runs from its
folder (and, from a ``sam build`` output, on its layers' folders).
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_CODE_BUCKET = "maas-local-code"
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    """The template cannot be translated or names something the local runtime cannot resolve."""


class _OfflinePolicyLoader:
    """The translator asks IAM for managed policy ARNs by name; the template uses none by name."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass
class Template:
    path: Path
    raw: dict[str, Any]
    translated: dict[str, Any]
    code_dirs: dict[str, Path]
    # translated AWS::Lambda::LayerVersion logical id (SAM adds a hash to it) -> the layer's folder
    layer_dirs: dict[str, Path] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.translated["Resources"]
        return resources

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res["Type"] == type_name}


def load_template(path: str | Path, region: str) -> Template:
    """Parse and translate a SAM template without touching the network."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    path = Path(path).resolve()
    raw = yaml_parse(path.read_text())
    prepared = copy.deepcopy(raw)
    code_dirs: dict[str, Path] = {}
    layer_keys: dict[str, Path] = {}
    for name, resource in prepared.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            code_dirs[name] = (path.parent / props["CodeUri"]).resolve()
            props["CodeUri"] = f"s3://{LOCAL_CODE_BUCKET}/{props['CodeUri']}"
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            layer_keys[props["ContentUri"]] = (path.parent / props["ContentUri"]).resolve()
            props["ContentUri"] = f"s3://{LOCAL_CODE_BUCKET}/{props['ContentUri']}"
    try:
        translated = transform(prepared, {}, _OfflinePolicyLoader())
    except Exception as exc:  # the translator raises its own InvalidDocumentException family
        raise TemplateError(f"SAM translation of {path} failed: {exc}") from exc
    layer_dirs = {
        name: layer_keys[key]
        for name, resource in translated.get("Resources", {}).items()
        if resource["Type"] == "AWS::Lambda::LayerVersion"
        and (key := resource["Properties"].get("Content", {}).get("S3Key")) in layer_keys
    }
    return Template(path=path, raw=raw, translated=translated, code_dirs=code_dirs, layer_dirs=layer_dirs)


@dataclass
class Resolver:
    """Evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select and Fn::Split against local resources."""

    region: str
    account_id: str
    stack_name: str
    parameters: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)

    def pseudo(self) -> dict[str, str]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
        }

    def ref(self, name: str) -> str:
        for table in (self.pseudo(), self.parameters, self.refs):
            if name in table:
                return table[name]
        raise TemplateError(f"cannot resolve Ref {name} locally")

    def get_att(self, name: str, attribute: str) -> str:
        try:
            return self.attributes[(name, attribute)]
        except KeyError:
            raise TemplateError(f"cannot resolve Fn::GetAtt {name}.{attribute} locally") from None

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return _SUB_VAR.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(resource, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return self._sub(text, variables)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local runtime")
        return {k: self.resolve(v) for k, v in value.items()}
