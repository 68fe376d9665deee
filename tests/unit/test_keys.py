"""API keys: the codec the authorizer trusts with every request."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maas import keys

tenant_ids = st.from_regex(r"[a-z][a-z0-9-]{1,38}[a-z0-9]", fullmatch=True)


@given(tenant_ids)
def test_a_new_key_parses_back_to_its_tenant_and_key_id(tenant_id: str) -> None:
    key_id, api_key = keys.new_key(tenant_id)

    assert re.fullmatch(r"[0-9a-f]{16}", key_id)
    assert api_key.startswith(f"mk_{tenant_id}_{key_id}_")
    assert keys.parse_key(api_key) == keys.ParsedKey(tenant_id, key_id)


@given(tenant_ids)
def test_new_keys_are_never_the_same_twice(tenant_id: str) -> None:
    (first_id, first), (second_id, second) = keys.new_key(tenant_id), keys.new_key(tenant_id)

    assert first_id != second_id
    assert first != second


@given(tenant_ids)
def test_a_key_matches_its_own_hash_and_no_other(tenant_id: str) -> None:
    _, api_key = keys.new_key(tenant_id)
    _, other_key = keys.new_key(tenant_id)
    stored = keys.hash_key(api_key)

    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert api_key not in stored
    assert keys.matches(api_key, stored)
    assert not keys.matches(other_key, stored)
    assert not keys.matches(api_key[:-1] + ("A" if api_key[-1] != "A" else "B"), stored)


@given(st.text(), st.text())
def test_matches_is_true_exactly_for_equal_keys(a: str, b: str) -> None:
    assert keys.matches(a, keys.hash_key(b)) == (a == b)


@given(st.text(max_size=300))
def test_parse_key_never_raises_and_returns_only_what_the_text_carries(text: str) -> None:
    parsed = keys.parse_key(text)

    if parsed is not None:
        assert text.startswith(f"mk_{parsed.tenant_id}_{parsed.key_id}_")
        assert len(parsed.key_id) == 16
        assert len(text) <= 200


SECRET = "s" * 43
KEY_ID = "0123456789abcdef"


@pytest.mark.parametrize(
    "api_key",
    [
        "",
        "mk",
        "mk_acme",
        f"mk_acme_{KEY_ID}",
        f"xx_acme_{KEY_ID}_{SECRET}",
        f"MK_acme_{KEY_ID}_{SECRET}",
        f"mk__{KEY_ID}_{SECRET}",
        f"mk_acme_{KEY_ID[:-1]}_{SECRET}",
        f"mk_acme_{KEY_ID}0_{SECRET}",
        f"mk_acme_{KEY_ID}_{'s' * 31}",
        f"mk_acme_{KEY_ID}_{'s' * 200}",
        f"Bearer mk_acme_{KEY_ID}_{SECRET}",
    ],
)
def test_parse_key_rejects_malformed_keys(api_key: str) -> None:
    assert keys.parse_key(api_key) is None


def test_parse_key_keeps_underscores_in_the_secret() -> None:
    api_key = f"mk_acme_{KEY_ID}_{'a_b-' * 10}"

    assert keys.parse_key(api_key) == ("acme", KEY_ID)
