"""Sharing models between tenants: grant, use as {owner}.{model}, limits, revoke, and no leaks."""

from __future__ import annotations

from pathlib import Path

from e2e_helpers import Platform, assert_error, maas_cli, register_bytes

BODY = {"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [0.25] * 16}]}


def test_grant_use_limit_and_revoke(platform: Platform, make_tenant, models_dir: Path) -> None:
    owner = make_tenant("publish,invoke,read")
    partner = make_tenant("publish,invoke,read")
    stranger = make_tenant("invoke,read")
    own, theirs, other = owner["publish,invoke,read"], partner["publish,invoke,read"], stranger["invoke,read"]
    tiny = (models_dir / "tiny.onnx").read_bytes()
    assert register_bytes(platform, own, "scorer", tiny)["status"] == "READY"
    assert register_bytes(platform, own, "scorer", tiny)["status"] == "READY"
    shared = f"{owner.tenant_id}.scorer"

    # Given no grant, the shared name does not exist for the partner: exactly like a missing model
    before = platform.call("POST", f"/v2/models/{shared}/infer", theirs, json_body=BODY)
    missing = platform.call("POST", f"/v2/models/{owner.tenant_id}.nothing/infer", theirs, json_body=BODY)
    assert_error(before, 404, "NOT_FOUND")
    assert before.json()["error"].replace("scorer", "X") == missing.json()["error"].replace("nothing", "X")

    # When the owner grants infer and read through production only
    granted = platform.call(
        "PUT",
        f"/v1/models/scorer/grants/{partner.tenant_id}",
        own,
        json_body={"actions": ["infer", "read"], "aliases": ["production"]},
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["grantee"] == partner.tenant_id
    listed = platform.call("GET", "/v1/models/scorer/grants", own).json()["grants"]
    assert [g["grantee"] for g in listed] == [partner.tenant_id]

    # Then the partner can use it, through what the grant allows
    used = platform.call("POST", f"/v2/models/{shared}/infer", theirs, json_body=BODY)
    assert used.status_code == 200, used.text
    assert used.json()["model_name"] == shared
    assert used.json()["model_version"] == "1"
    assert platform.call("GET", f"/v2/models/{shared}", theirs).json()["versions"] == ["1"]
    assert platform.call("GET", f"/v1/models/{shared}", theirs).status_code == 200
    assert_error(
        platform.call("POST", f"/v2/models/{shared}/versions/2/infer", theirs, json_body=BODY), 403, "FORBIDDEN"
    )
    # ...but cannot change it
    assert_error(
        platform.call("PUT", f"/v1/models/{shared}/aliases/production", theirs, json_body={"version": 2}),
        404,
        "NOT_FOUND",
    )
    assert_error(platform.call("POST", f"/v1/models/{shared}/versions", theirs, json_body={}), 404, "NOT_FOUND")
    # and a third tenant still sees nothing
    for path in (f"/v2/models/{shared}", f"/v1/models/{shared}"):
        response = platform.call("GET", path, other)
        assert_error(response, 404, "NOT_FOUND")
        assert partner.tenant_id not in response.text

    # A grant without infer allows reading only
    platform.call("PUT", f"/v1/models/scorer/grants/{partner.tenant_id}", own, json_body={"actions": ["read"]})
    assert_error(platform.call("POST", f"/v2/models/{shared}/infer", theirs, json_body=BODY), 403, "FORBIDDEN")
    assert platform.call("GET", f"/v2/models/{shared}/versions/2", theirs).status_code == 200

    # When the owner revokes, the partner gets 404 at once on the local runtime
    assert platform.call("DELETE", f"/v1/models/scorer/grants/{partner.tenant_id}", own).status_code == 204
    assert_error(platform.call("GET", f"/v2/models/{shared}", theirs), 404, "NOT_FOUND")
    assert_error(platform.call("DELETE", f"/v1/models/scorer/grants/{partner.tenant_id}", own), 404, "NOT_FOUND")


def test_an_alias_limited_grant_shows_only_the_versions_its_aliases_route_to(
    platform: Platform, make_tenant, models_dir: Path
) -> None:
    owner, partner = make_tenant("publish,invoke,read"), make_tenant("invoke,read")
    own, theirs = owner["publish,invoke,read"], partner["invoke,read"]
    tiny = (models_dir / "tiny.onnx").read_bytes()
    # Given versions 1 (production), 2 (canary), 3 (FAILED) and 4 (READY, no alias), shared through production only
    assert register_bytes(platform, own, "ranker", tiny)["status"] == "READY"
    assert register_bytes(platform, own, "ranker", tiny)["status"] == "READY"
    assert register_bytes(platform, own, "ranker", b"not a model")["status"] == "FAILED"
    assert register_bytes(platform, own, "ranker", tiny)["status"] == "READY"
    canary = platform.call("PUT", "/v1/models/ranker/aliases/canary", own, json_body={"version": 2})
    assert canary.status_code == 200, canary.text
    granted = platform.call(
        "PUT",
        f"/v1/models/ranker/grants/{partner.tenant_id}",
        own,
        json_body={"actions": ["infer", "read"], "aliases": ["production"]},
    )
    assert granted.status_code == 200, granted.text
    shared = f"{owner.tenant_id}.ranker"

    # Then the partner's list holds only what production routes to
    listed = platform.call("GET", f"/v1/models/{shared}/versions", theirs)
    assert listed.status_code == 200, listed.text
    assert [v["version"] for v in listed.json()["versions"]] == [1]
    assert platform.call("GET", f"/v1/models/{shared}/versions/1", theirs).json()["version"] == 1
    assert platform.call("GET", f"/v1/models/{shared}/versions/production", theirs).json()["version"] == 1
    # and every other version or alias answers exactly as one that does not exist
    missing = platform.call("GET", f"/v1/models/{shared}/versions/99", theirs)
    assert_error(missing, 404, "NOT_FOUND")
    for ref in ("2", "3", "4", "canary"):
        hidden = platform.call("GET", f"/v1/models/{shared}/versions/{ref}", theirs)
        assert_error(hidden, 404, "NOT_FOUND")
        assert hidden.json()["error"] == missing.json()["error"].replace("version 99 ", f"version {ref} ")
    assert platform.call("GET", f"/v2/models/{shared}", theirs).json()["versions"] == ["1"]
    # /v2 names no version outside the grant's aliases, whether it exists or not
    refused = [platform.call("GET", f"/v2/models/{shared}/versions/{ref}", theirs) for ref in ("2", "canary", "99")]
    assert {(r.status_code, r.json()["code"], r.json()["error"]) for r in refused} == {
        (403, "FORBIDDEN", "this grant allows only the aliases production")
    }
    assert platform.call("GET", "/v1/models/ranker/versions", own).json()["versions"][3]["version"] == 4

    # When the owner moves production, what the partner sees moves with it
    moved = platform.call("PUT", "/v1/models/ranker/aliases/production", own, json_body={"version": 4})
    assert moved.status_code == 200, moved.text
    listed = platform.call("GET", f"/v1/models/{shared}/versions", theirs).json()["versions"]
    assert [v["version"] for v in listed] == [4]
    assert_error(platform.call("GET", f"/v1/models/{shared}/versions/1", theirs), 404, "NOT_FOUND")


def test_grant_requests_are_checked(platform: Platform, make_tenant, models_dir: Path) -> None:
    owner = make_tenant("publish,invoke,read", "read")
    key = owner["publish,invoke,read"]
    register_bytes(platform, key, "m", (models_dir / "tiny.onnx").read_bytes())
    for bad in (
        {"actions": []},
        {"actions": ["delete"]},
        {"actions": ["infer"], "quota": {"requests_per_second": 0}},
        {"actions": ["infer"], "extra": 1},
    ):
        assert_error(platform.call("PUT", "/v1/models/m/grants/someone", key, json_body=bad), 400, "INVALID_REQUEST")
    assert_error(
        platform.call("PUT", "/v1/models/m/grants/someone", owner["read"], json_body={"actions": ["read"]}),
        403,
        "FORBIDDEN",
    )
    assert_error(
        platform.call("PUT", "/v1/models/nope/grants/someone", key, json_body={"actions": ["read"]}), 404, "NOT_FOUND"
    )
    assert_error(
        platform.call("PUT", f"/v1/models/m/grants/{owner.tenant_id}", key, json_body={"actions": ["read"]}),
        403,
        "FORBIDDEN",
    )


def test_cli_grants(platform: Platform, make_tenant, models_dir: Path) -> None:
    owner, partner = make_tenant("publish,invoke,read"), make_tenant("invoke,read")
    key = owner["publish,invoke,read"]
    register_bytes(platform, key, "cli-shared", (models_dir / "tiny.onnx").read_bytes())
    env = {"MAAS_URL": platform.url, "MAAS_API_KEY": key}
    added = maas_cli("grants", "add", "cli-shared", partner.tenant_id, "--actions", "infer,read", env=env)
    assert added.returncode == 0, added.stderr
    listed = maas_cli("grants", "list", "cli-shared", env=env)
    assert partner.tenant_id in listed.stdout
    revoked = maas_cli("grants", "revoke", "cli-shared", partner.tenant_id, env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert partner.tenant_id not in maas_cli("grants", "list", "cli-shared", env=env).stdout


def test_audit_records_who_changed_what(platform: Platform, make_tenant, models_dir: Path) -> None:
    owner = make_tenant("admin", "publish,invoke,read")
    key = owner["publish,invoke,read"]
    register_bytes(platform, key, "audited", (models_dir / "tiny.onnx").read_bytes())
    register_bytes(platform, key, "audited", (models_dir / "tiny.onnx").read_bytes())
    platform.call("PUT", "/v1/models/audited/aliases/production", key, json_body={"version": 2})
    platform.call("PUT", "/v1/models/audited/grants/someone-else", key, json_body={"actions": ["read"]})
    platform.call("DELETE", "/v1/models/audited/grants/someone-else", key)

    entries = platform.call("GET", "/v1/audit?model=audited", key).json()["entries"]

    actions = [e["action"] for e in entries]
    assert actions[:3] == ["grant.revoked", "grant.put", "alias.set"]
    assert actions.count("version.registered") == 2
    assert "model.created" in actions
    moved = entries[2]
    assert moved["before"]["routes"] == [{"version": 1, "weight": 100}]
    assert moved["after"]["routes"] == [{"version": 2, "weight": 100}]
    assert moved["actor"].startswith(f"{owner.tenant_id}/")
    everything = [e["action"] for e in platform.call("GET", "/v1/audit", owner["admin"]).json()["entries"]]
    assert "key.created" in everything
    assert "tenant.created" in everything
    # another tenant's log shows none of it
    stranger = make_tenant("read")["read"]
    assert platform.call("GET", "/v1/audit?model=audited", stranger).json()["entries"] == []
