"""Reads template.yaml, the one description of what runs, for the local runtime and the tests.

Understands the CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub`` …) as plain data and resolves the few
intrinsic functions the local stack needs against the resources it has created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Function:
    logical_id: str
    module: str  # importable module of the handler, e.g. functions.api.app
    handler: str  # attribute name, e.g. lambda_handler
    environment: dict[str, Any]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout: int = 3


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def functions(template: dict[str, Any]) -> list[Function]:
    glob = template.get("Globals", {}).get("Function", {})
    out = []
    for logical_id, res in resources(template, "AWS::Serverless::Function").items():
        props = res["Properties"]
        code_uri = props.get("CodeUri", glob.get("CodeUri", "")).strip("/")
        module_name, _, attr = props.get("Handler", glob.get("Handler", "")).rpartition(".")
        env = {**glob.get("Environment", {}).get("Variables", {}), **props.get("Environment", {}).get("Variables", {})}
        out.append(
            Function(
                logical_id=logical_id,
                module=".".join([*Path(code_uri).parts, *module_name.split(".")]),
                handler=attr,
                environment=env,
                events=props.get("Events", {}),
                timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
            )
        )
    return out


def table_definition(template: dict[str, Any], logical_id: str, table_name: str) -> dict[str, Any]:
    """``create_table`` arguments for a DynamoDB table resource, as CloudFormation would create it."""
    props = resources(template, "AWS::DynamoDB::Table")[logical_id]["Properties"]
    args: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in props:
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return args


def parameters(template: dict[str, Any]) -> dict[str, str]:
    return {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}


def resolve(value: Any, refs: dict[str, str], attrs: dict[tuple[str, str], str]) -> Any:
    """Resolve ``Ref``/``Fn::GetAtt``/``Fn::Sub`` against the local stack's names."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":  # what the local stack did not create (an API, a log group) keeps a readable name
            return refs.get(arg, f"local-{arg}")
        if key == "Fn::GetAtt":
            return attrs.get((arg[0], arg[1]), f"arn:local:{arg[0]}:{arg[1]}")
        if key == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            for name, ref in refs.items():
                text = text.replace("${" + name + "}", ref)
            return text
    if isinstance(value, dict):
        return {k: resolve(v, refs, attrs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs, attrs) for v in value]
    return value
