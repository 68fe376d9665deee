"""Scopes, principals, artifact keys and the naming rules for tenants and models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from maas.domain import (
    OPERATOR_TENANT,
    Framework,
    Model,
    ModelVersion,
    Principal,
    Scope,
    Tenant,
    VersionStatus,
    artifact_key,
    parse_artifact_key,
)

tenant_ids = st.from_regex(r"[a-z][a-z0-9-]{1,38}[a-z0-9]", fullmatch=True)
model_names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)
versions = st.integers(min_value=1, max_value=10**9)


def principal(tenant_id: str, *scopes: Scope) -> Principal:
    return Principal(tenant_id=tenant_id, key_id="k", scopes=frozenset(scopes))


# --- scopes ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("held", "granted"),
    [
        ({Scope.ADMIN}, {Scope.ADMIN, Scope.PUBLISH, Scope.INVOKE, Scope.READ}),
        ({Scope.PUBLISH}, {Scope.PUBLISH, Scope.READ}),
        ({Scope.INVOKE}, {Scope.INVOKE, Scope.READ}),
        ({Scope.READ}, {Scope.READ}),
        ({Scope.PUBLISH, Scope.INVOKE}, {Scope.PUBLISH, Scope.INVOKE, Scope.READ}),
        (set(), set()),
    ],
)
def test_scopes_grant_what_they_imply_and_nothing_more(held: set[Scope], granted: set[Scope]) -> None:
    caller = principal("acme", *held)

    assert caller.effective_scopes == frozenset(granted)
    for scope in Scope:
        assert caller.has(scope) == (scope in granted)


@pytest.mark.parametrize(
    ("tenant_id", "scopes", "expected"),
    [
        (OPERATOR_TENANT, {Scope.ADMIN}, True),
        (OPERATOR_TENANT, {Scope.ADMIN, Scope.READ}, True),
        (OPERATOR_TENANT, {Scope.PUBLISH, Scope.INVOKE, Scope.READ}, False),
        ("acme", {Scope.ADMIN}, False),
    ],
)
def test_only_an_admin_key_of_the_operator_tenant_is_the_operator(
    tenant_id: str, scopes: set[Scope], expected: bool
) -> None:
    assert principal(tenant_id, *scopes).is_operator is expected


def test_a_principal_is_immutable() -> None:
    caller = principal("acme", Scope.READ)

    with pytest.raises(ValidationError):
        caller.tenant_id = "globex"  # type: ignore[misc]


# --- artifact keys --------------------------------------------------------------------------------------------
@given(tenant_ids, model_names, versions)
def test_artifact_keys_parse_back_to_tenant_model_and_version(tenant_id: str, model: str, version: int) -> None:
    key = artifact_key(tenant_id, model, version)

    assert key == f"models/{tenant_id}/{model}/{version}/model.onnx"
    assert parse_artifact_key(key) == (tenant_id, model, version)


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=120))
def test_parse_artifact_key_never_raises_on_ascii_text(text: str) -> None:
    parsed = parse_artifact_key(text)

    if parsed is not None:
        tenant_id, model, version = parsed
        assert text.startswith(f"models/{tenant_id}/{model}/")
        assert version >= 0


@given(st.lists(st.sampled_from(["models", "acme", "m", "1", "model.onnx", "", "x", "..", "MODELS"]), max_size=7))
def test_parse_artifact_key_accepts_only_the_five_part_layout(parts: list[str]) -> None:
    key = "/".join(parts)
    expected = parts == ["models", "acme", "m", "1", "model.onnx"]

    assert (parse_artifact_key(key) is not None) == expected


@pytest.mark.parametrize(
    "key",
    [
        "models/acme/m/1/weights.onnx",
        "models/acme/m/v1/model.onnx",
        "models/acme/m/-1/model.onnx",
        "models/acme/m/1.5/model.onnx",
        "models/Acme/m/1/model.onnx",
        "models/ac/m/1/model.onnx",
        "models/acme/M/1/model.onnx",
        "models/acme/m/1/model.onnx/extra",
        "/models/acme/m/1/model.onnx",
        "uploads/acme/m/1/model.onnx",
        "models/acme/m//model.onnx",
        "models/acme/-m/1/model.onnx",
        "",
    ],
)
def test_parse_artifact_key_rejects_other_keys(key: str) -> None:
    assert parse_artifact_key(key) is None


@pytest.mark.parametrize("digit", ["\u00b2", "\u0661", "\U0001d7d9"])
def test_parse_artifact_key_rejects_non_ascii_digits(digit: str) -> None:
    assert parse_artifact_key(f"models/acme/m/{digit}/model.onnx") is None


def test_artifact_key_of_the_onnx_framework_ends_in_model_onnx() -> None:
    assert artifact_key("acme", "m", 3, Framework.ONNX) == "models/acme/m/3/model.onnx"


# --- names ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tenant_id", ["abc", "acme", "a-1", "t" * 40, "acme-corp-2"])
def test_valid_tenant_ids_are_accepted(tenant_id: str) -> None:
    assert Tenant(tenant_id=tenant_id, name="x").tenant_id == tenant_id


@pytest.mark.parametrize(
    "tenant_id", ["", "ab", "t" * 41, "Acme", "1acme", "-acme", "acme-", "ac_me", "ac me", "acme.io", "acmé"]
)
def test_invalid_tenant_ids_are_refused(tenant_id: str) -> None:
    with pytest.raises(ValidationError, match="tenant id"):
        Tenant(tenant_id=tenant_id, name="x")


@pytest.mark.parametrize("name", ["m", "0", "resnet-50", "my_model", "m" * 64])
def test_valid_model_names_are_accepted(name: str) -> None:
    assert Model(tenant_id="acme", name=name, framework=Framework.ONNX).name == name


@pytest.mark.parametrize("name", ["", "-m", "_m", "M", "m" * 65, "a/b", "a.b", "a b", "a#b"])
def test_invalid_model_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="model name"):
        Model(tenant_id="acme", name=name, framework=Framework.ONNX)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Tenant(tenant_id="acme\n", name="x"),
        lambda: Model(tenant_id="acme", name="m\n", framework=Framework.ONNX),
    ],
    ids=["tenant", "model"],
)
def test_names_with_a_trailing_newline_are_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValidationError):
        build()


@given(tenant_ids)
def test_every_id_the_pattern_describes_is_a_valid_tenant_id(tenant_id: str) -> None:
    assert Tenant(tenant_id=tenant_id, name="x").tenant_id == tenant_id


def test_tenant_names_are_1_to_200_characters() -> None:
    Tenant(tenant_id="acme", name="n" * 200)
    for name in ("", "n" * 201):
        with pytest.raises(ValidationError):
            Tenant(tenant_id="acme", name=name)


# --- versions -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "final"),
    [(VersionStatus.PENDING_UPLOAD, False), (VersionStatus.READY, True), (VersionStatus.FAILED, True)],
)
def test_a_version_is_final_once_ready_or_failed(status: VersionStatus, final: bool) -> None:
    version = ModelVersion(tenant_id="acme", model="m", version=1, artifact_key="k", status=status)

    assert version.is_final is final


def test_a_new_version_waits_for_its_upload_and_is_not_announced() -> None:
    version = ModelVersion(tenant_id="acme", model="m", version=1, artifact_key="k")

    assert version.status == VersionStatus.PENDING_UPLOAD
    assert not version.announced
    assert version.created_at.tzinfo is not None
