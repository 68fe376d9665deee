"""The README's deployment walkthrough lists what `sam deploy --guided` asks: every parameter, with its default."""

from __future__ import annotations

import re
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_parameter_is_in_the_walkthrough_with_its_default() -> None:
    parameters = yaml_parse((ROOT / "template.yaml").read_text())["Parameters"]
    readme = (ROOT / "README.md").read_text()
    listed = dict(re.findall(r"^\| Parameter (\w+) `\[([^\]]*)\]` \|", readme, re.MULTILINE))
    assert listed == {name: str(p["Default"]) for name, p in parameters.items()}
