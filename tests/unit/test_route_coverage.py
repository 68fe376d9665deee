"""Every route of template.yaml has an SDK method (``maas_client.routes``) and a ``maas`` command
(``maas.cli.routes``); the tables name nothing that does not exist, and each named command parses."""

from __future__ import annotations

from pathlib import Path

import pytest
from maas_client import MaasClient
from maas_client.routes import ROUTES

from maas.cli.main import build_parser
from maas.cli.routes import NOT_A_COMMAND, ROUTE_COMMANDS

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def template_routes() -> set[str]:
    """Every HttpApi event of every function in the template, as ``METHOD /path``."""
    from samtranslator.yaml_helper import yaml_parse

    found = set()
    for resource in yaml_parse(TEMPLATE.read_text())["Resources"].values():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            if event.get("Type") == "HttpApi":
                found.add(f"{event['Properties']['Method'].upper()} {event['Properties']['Path']}")
    return found


def test_the_template_has_routes_to_check() -> None:
    assert len(template_routes()) > 40
    assert "GET /v1/models" in template_routes()


@pytest.mark.parametrize("route", sorted(template_routes()))
def test_every_template_route_has_an_sdk_method_and_a_cli_command(route: str) -> None:
    assert route in ROUTES, f"{route}: no SDK method in maas_client.routes"
    assert route in ROUTE_COMMANDS, f"{route}: no entry in maas.cli.routes"


@pytest.mark.parametrize(("route", "method"), sorted((r, m) for r, m in ROUTES.items() if m is not None))
def test_each_sdk_method_named_exists(route: str, method: str) -> None:
    assert callable(getattr(MaasClient, method, None)), f"{route}: MaasClient.{method} does not exist"


def _command_paths() -> set[str]:
    paths: set[str] = set()

    def walk(parser: object, prefix: str) -> None:
        subparsers = getattr(parser, "_subparsers", None)
        if subparsers is None:
            paths.add(prefix.strip())
            return
        for action in subparsers._group_actions:
            for name, child in (getattr(action, "choices", None) or {}).items():
                walk(child, f"{prefix} {name}")

    walk(build_parser(), "")
    return paths


@pytest.mark.parametrize(("route", "command"), sorted(ROUTE_COMMANDS.items()))
def test_each_cli_command_named_exists(route: str, command: str) -> None:
    if command == NOT_A_COMMAND:
        assert ROUTES[route] is None or route.startswith("POST /v2/repository/models/")
        return
    assert command in _command_paths(), f"{route}: `maas {command}` is not a command"


def test_the_sdk_and_cli_tables_name_the_same_routes() -> None:
    assert set(ROUTES) == set(ROUTE_COMMANDS)
