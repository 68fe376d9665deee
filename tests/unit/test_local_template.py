"""Intrinsic functions as the local runtime evaluates them."""

from __future__ import annotations

from typing import Any

import pytest

from maas.local.template import Resolver, TemplateError


@pytest.fixture
def resolver() -> Resolver:
    return Resolver(
        region="eu-west-1",
        account_id="111122223333",
        stack_name="maas",
        parameters={"EventBusName": "maas-events", "MaxArtifactBytes": "100"},
        refs={"RegistryTable": "maas-RegistryTable"},
        attributes={
            ("RegistryTable", "Arn"): "arn:aws:dynamodb:eu-west-1:111122223333:table/maas-RegistryTable",
            ("Fn", "Arn"): "arn:aws:lambda:eu-west-1:111122223333:function:maas-Fn",
        },
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AWS::Region", "eu-west-1"),
        ("AWS::AccountId", "111122223333"),
        ("AWS::StackName", "maas"),
        ("AWS::Partition", "aws"),
        ("AWS::URLSuffix", "amazonaws.com"),
        ("AWS::StackId", "arn:aws:cloudformation:eu-west-1:111122223333:stack/maas/local"),
        ("EventBusName", "maas-events"),
        ("RegistryTable", "maas-RegistryTable"),
    ],
)
def test_ref_resolves_pseudo_parameters_parameters_and_resources(resolver: Resolver, name: str, value: str) -> None:
    assert resolver.resolve({"Ref": name}) == value


def test_a_parameter_is_found_before_a_resource_of_the_same_name(resolver: Resolver) -> None:
    resolver.refs["EventBusName"] = "the-resource"

    assert resolver.resolve({"Ref": "EventBusName"}) == "maas-events"


@pytest.mark.parametrize("get_att", [["RegistryTable", "Arn"], "RegistryTable.Arn"], ids=["list", "dotted"])
def test_get_att_takes_a_list_or_a_dotted_name(resolver: Resolver, get_att: Any) -> None:
    assert resolver.resolve({"Fn::GetAtt": get_att}) == resolver.attributes[("RegistryTable", "Arn")]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${AWS::StackName}-artifacts-${AWS::AccountId}-${AWS::Region}", "maas-artifacts-111122223333-eu-west-1"),
        ("plain text", "plain text"),
        ("${RegistryTable.Arn}/index/*", "arn:aws:dynamodb:eu-west-1:111122223333:table/maas-RegistryTable/index/*"),
        ("${!Literal}", "${Literal}"),
        ("${!AWS::Region} in ${AWS::Region}", "${AWS::Region} in eu-west-1"),
        ("arn:${AWS::Partition}:s3:::b/${EventBusName}", "arn:aws:s3:::b/maas-events"),
    ],
)
def test_sub_on_a_string(resolver: Resolver, template: str, expected: str) -> None:
    assert resolver.resolve({"Fn::Sub": template}) == expected


def test_sub_with_variables_resolves_them_first(resolver: Resolver) -> None:
    value = {
        "Fn::Sub": [
            "${Table}:${Function}:${AWS::Region}",
            {"Table": {"Ref": "RegistryTable"}, "Function": {"Fn::GetAtt": ["Fn", "Arn"]}},
        ]
    }

    assert resolver.resolve(value) == (
        "maas-RegistryTable:arn:aws:lambda:eu-west-1:111122223333:function:maas-Fn:eu-west-1"
    )


def test_join_select_and_split(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Join": ["/", ["a", {"Ref": "AWS::Region"}, 3]]}) == "a/eu-west-1/3"
    assert resolver.resolve({"Fn::Join": ["", []]}) == ""
    assert resolver.resolve({"Fn::Select": [1, ["a", "b", "c"]]}) == "b"
    assert resolver.resolve({"Fn::Select": ["2", {"Fn::Split": [",", "x,y,z"]}]}) == "z"
    assert resolver.resolve({"Fn::Split": [":", {"Fn::GetAtt": "Fn.Arn"}]})[-1] == "maas-Fn"


def test_nested_structures_are_resolved_throughout(resolver: Resolver) -> None:
    value = {
        "Variables": {"TABLE": {"Ref": "RegistryTable"}, "SIZE": {"Ref": "MaxArtifactBytes"}, "N": 1},
        "List": [{"Ref": "AWS::Region"}, "x", True],
    }

    assert resolver.resolve(value) == {
        "Variables": {"TABLE": "maas-RegistryTable", "SIZE": "100", "N": 1},
        "List": ["eu-west-1", "x", True],
    }


@pytest.mark.parametrize(
    "value",
    [
        {"Ref": "Unknown"},
        {"Fn::GetAtt": ["RegistryTable", "StreamArn"]},
        {"Fn::GetAtt": "Unknown.Arn"},
        {"Fn::Sub": "${Unknown}"},
        {"Fn::Sub": "${Unknown.Arn}"},
        {"Fn::If": ["Cond", "a", "b"]},
        {"Fn::GetAZs": ""},
        {"Fn::ImportValue": "x"},
        {"Outer": {"Fn::FindInMap": ["M", "a", "b"]}},
    ],
)
def test_what_cannot_be_resolved_raises_template_error(resolver: Resolver, value: Any) -> None:
    with pytest.raises(TemplateError):
        resolver.resolve(value)
