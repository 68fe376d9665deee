"""``maas completion bash``, run by bash itself: what a TAB offers after what was typed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from maas.cli.completion import bash_script
from maas.cli.main import build_parser

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")


def complete(typed: str) -> set[str]:
    words = typed.split(" ")
    script = bash_script(build_parser())
    probe = (
        f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
        '_maas_complete; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], check=True, capture_output=True, text=True)
    return set(done.stdout.split())


def test_commands_complete_from_their_first_letters() -> None:
    assert complete("maas mo") == {"models"}
    assert {"local", "keys", "jobs", "completion"} <= complete("maas ")


def test_subcommands_and_options_complete_after_their_command() -> None:
    assert {"create", "list", "show", "register", "update"} <= complete("maas models ")
    assert complete("maas local status --st") == {"--state-dir"}


def test_a_value_typed_in_between_does_not_lose_the_command() -> None:
    # maas aliases show digits <TAB>: "digits" is a value, the command is still "aliases show"
    assert "--output" in complete("maas aliases show digits --")
