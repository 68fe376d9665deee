"""The inference service on fakes and a real ONNX model: resolution, checks, the model cache, the OIP API."""

from __future__ import annotations

import base64
import hashlib
import json

import numpy as np
import onnxruntime
import pytest

from maas.aliases import Aliases
from maas.api.inference import OipApi
from maas.domain import ModelVersion, Scope, Signature, TensorSpec, VersionStatus, artifact_key
from maas.errors import ForbiddenError, InvalidRequestError, NotFoundError, NotReadyError, PayloadTooLargeError
from maas.inference.cache import ArtifactIntegrityError, ModelCache
from maas.inference.checks import check_request
from maas.inference.protocol import parse_request
from maas.inference.service import InferenceLimits, InferenceService, TtlCache, VersionResolver
from maas.registry import Registry

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore
from tests.unit.factories import principal

BUCKET = "artifacts"
SIGNATURE = Signature(
    inputs=[TensorSpec(name="input", datatype="FP32", shape=[-1, 16])],
    outputs=[TensorSpec(name="logits", datatype="FP32", shape=[-1, 4])],
)


def ready_version(
    store: InMemoryRegistryStore, blobs: InMemoryBlobStore, tenant: str, name: str, artifact: bytes
) -> ModelVersion:
    from maas.domain import Framework

    registry = Registry(store, blobs, artifacts_bucket=BUCKET)
    owner = principal(tenant, Scope.PUBLISH)
    if store.get_model(tenant, name) is None:
        registry.create_model(owner, name, Framework.ONNX, "")
    version, _ = registry.create_version(owner, name, None)
    info_version = blobs.put(BUCKET, version.artifact_key, artifact)
    version.status = VersionStatus.READY
    version.sha256 = hashlib.sha256(artifact).hexdigest()
    version.size_bytes = len(artifact)
    version.artifact_version_id = info_version
    version.signature = SIGNATURE
    assert store.finish_version(version)
    Aliases(store, store).ensure_default(version)  # as the validator does for a model's first READY version
    return version


@pytest.fixture
def service(store, blobs, mlp_onnx, tmp_path) -> InferenceService:
    ready_version(store, blobs, "acme", "tiny", mlp_onnx)
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=10_000_000)
    return InferenceService(
        VersionResolver(store, ttl_seconds=60, aliases=store), cache, InferenceLimits(max_request_bytes=50_000)
    )


def request_body(rows: int = 2) -> tuple[np.ndarray, str]:
    x = np.random.default_rng(rows).standard_normal((rows, 16)).astype(np.float32)
    return x, json.dumps(
        {
            "id": "r",
            "inputs": [{"name": "input", "shape": [rows, 16], "datatype": "FP32", "data": x.reshape(-1).tolist()}],
        }
    )


def test_infer_runs_the_model(service: InferenceService, mlp_onnx: bytes, tmp_path) -> None:
    x, body = request_body()
    encoded, header = service.infer(principal("acme", Scope.INVOKE), "tiny", None, body, None)
    assert header is None
    document = json.loads(encoded)
    assert document["model_version"] == "1"
    assert document["id"] == "r"
    (tmp_path / "m.onnx").write_bytes(mlp_onnx)
    expected = onnxruntime.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(np.array(document["outputs"][0]["data"]).reshape(2, 4), expected, rtol=1e-6)


def test_artifact_is_fetched_once_then_served_from_memory(service: InferenceService, blobs, monkeypatch) -> None:
    reads = []
    original = blobs.iter_bytes

    def counting(*args: object, **kwargs: object):
        reads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(blobs, "iter_bytes", counting)
    _, body = request_body()
    caller = principal("acme", Scope.INVOKE)
    for _ in range(3):
        service.infer(caller, "tiny", "1", body, None)
    assert service.cache.downloads == 1
    assert service.cache.loads == 1
    assert len(reads) == 1


def test_a_tampered_artifact_is_refused_and_not_cached(store, blobs, mlp_onnx, tmp_path) -> None:
    version = ready_version(store, blobs, "acme", "tiny", mlp_onnx)
    (blob,) = [b for b in blobs.objects[(BUCKET, version.artifact_key)] if b.version_id == version.artifact_version_id]
    blob.data = mlp_onnx + b"x"  # the stored object no longer matches the sha256 recorded at validation
    cache = ModelCache(blobs, BUCKET, tmp_path, max_bytes=10_000_000)
    with pytest.raises(ArtifactIntegrityError):
        cache.session(version)
    assert not list(tmp_path.glob("*.onnx"))
    assert not cache.cached(version)


def test_a_ready_version_whose_artifact_fails_its_checksum_answers_503_not_a_crash(
    service: InferenceService, blobs, store
) -> None:
    from maas.errors import ModelUnavailableError

    version = store.get_version("acme", "tiny", 1)
    (blob,) = [b for b in blobs.objects[(BUCKET, version.artifact_key)] if b.version_id == version.artifact_version_id]
    blob.data = blob.data + b"x"
    _, body = request_body()
    with pytest.raises(ModelUnavailableError) as unavailable:
        service.infer(principal("acme", Scope.INVOKE), "tiny", None, body, None)
    assert unavailable.value.status == 503
    assert "sha256" in unavailable.value.message


def test_lru_is_bounded_by_bytes(store, blobs, mlp_onnx, tmp_path) -> None:
    from maas.modelkit import export_mlp

    other = export_mlp(tmp_path / "other.onnx", [16, 8, 4], seed=3).read_bytes()
    first = ready_version(store, blobs, "acme", "a", mlp_onnx)
    second = ready_version(store, blobs, "acme", "b", other)
    cache = ModelCache(blobs, BUCKET, tmp_path / "cache", max_bytes=len(mlp_onnx) + len(other) - 1)
    cache.session(first)
    cache.session(second)
    assert cache.cached(second)
    assert not cache.cached(first)
    cache.session(first)  # back from local disk, not from S3
    assert cache.downloads == 2


def test_resolution(store, blobs, mlp_onnx) -> None:
    resolver = VersionResolver(store, ttl_seconds=0, aliases=store)
    with pytest.raises(NotFoundError):
        resolver.resolve("acme", "tiny", None)
    first = ready_version(store, blobs, "acme", "tiny", mlp_onnx)
    Registry(store, blobs, artifacts_bucket=BUCKET).create_version(principal("acme", Scope.PUBLISH), "tiny", None)
    assert resolver.resolve("acme", "tiny", None).version.version == first.version
    with pytest.raises(NotReadyError) as pending:
        resolver.resolve("acme", "tiny", "2")
    assert pending.value.headers["Retry-After"]
    for missing in ("3", "0", "abc", "-1"):
        with pytest.raises(NotFoundError):
            resolver.resolve("acme", "tiny", missing)
    with pytest.raises(NotFoundError):
        resolver.resolve("globex", "tiny", "1")


def test_failed_versions_do_not_serve(store, blobs) -> None:
    registry = Registry(store, blobs, artifacts_bucket=BUCKET)
    from maas.domain import Framework

    registry.create_model(principal("acme", Scope.PUBLISH), "bad", Framework.ONNX, "")
    version, _ = registry.create_version(principal("acme", Scope.PUBLISH), "bad", None)
    version.status, version.failure_reason = VersionStatus.FAILED, "nope"
    store.finish_version(version)
    resolver = VersionResolver(store, ttl_seconds=0, aliases=store)
    with pytest.raises(NotFoundError, match="FAILED"):
        resolver.resolve("acme", "bad", "1")
    with pytest.raises(NotFoundError, match="no READY version"):
        resolver.resolve("acme", "bad", None)


def test_ttl_cache_keeps_only_what_it_should() -> None:
    now = [0.0]
    cache = TtlCache(5, clock=lambda: now[0])
    calls = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("k", load) == 1
    assert cache.get("k", load) == 1
    now[0] = 6
    assert cache.get("k", load) == 2
    assert cache.get("n", load, keep=lambda v: False) == 3
    assert cache.get("n", load, keep=lambda v: False) == 4


def test_scopes_and_limits(service: InferenceService) -> None:
    _, body = request_body()
    with pytest.raises(ForbiddenError):
        service.infer(principal("acme", Scope.READ), "tiny", None, body, None)
    with pytest.raises(NotFoundError):
        service.infer(principal("globex", Scope.INVOKE), "tiny", None, body, None)
    _, big = request_body(rows=400)
    with pytest.raises(PayloadTooLargeError):
        service.infer(principal("acme", Scope.INVOKE), "tiny", None, big, None)


def test_checks_name_inputs_and_outputs() -> None:
    def check(body: dict, **kwargs: bool) -> None:
        check_request(parse_request(json.dumps(body)), SIGNATURE, **kwargs)

    base = {"name": "input", "shape": [1, 16], "datatype": "FP32", "data": [0] * 16}
    check({"inputs": [base]})
    with pytest.raises(InvalidRequestError, match="unknown input 'x'"):
        check({"inputs": [{**base, "name": "x"}]})
    with pytest.raises(InvalidRequestError, match="expects FP32"):
        check({"inputs": [{**base, "datatype": "FP64"}]})
    with pytest.raises(InvalidRequestError, match="does not fit"):
        check({"inputs": [{**base, "shape": [2, 8]}]})
    with pytest.raises(InvalidRequestError, match="unknown output 'y'"):
        check({"inputs": [base], "outputs": [{"name": "y"}]})


def test_model_errors_are_400_and_the_session_stays(store, blobs, tmp_path) -> None:
    from maas.modelkit import export_mlp

    artifact = export_mlp(tmp_path / "m.onnx", [16, 4]).read_bytes()
    version = ready_version(store, blobs, "acme", "loose", artifact)
    # a signature looser than the model: the model itself refuses the shape
    version.signature = Signature(
        inputs=[TensorSpec(name="input", datatype="FP32", shape=[-1, -1])], outputs=SIGNATURE.outputs
    )
    store.versions[("acme", "loose", version.version)] = version
    service = InferenceService(
        VersionResolver(store, 0, aliases=store), ModelCache(blobs, BUCKET, tmp_path / "c", 10**7)
    )
    bad = json.dumps({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [0, 0, 0]}]})
    with pytest.raises(InvalidRequestError, match="could not run"):
        service.infer(principal("acme", Scope.INVOKE), "loose", None, bad, None)
    _, good = request_body(1)
    assert service.infer(principal("acme", Scope.INVOKE), "loose", None, good, None)[0]


def event(
    route: str,
    params: dict[str, str],
    *,
    body: str | None = None,
    tenant: str | None = "acme",
    scopes: str = "invoke",
    binary: bool = False,
    headers: dict[str, str] | None = None,
) -> dict:
    authorizer = {"lambda": {"tenant_id": tenant, "key_id": "k", "scopes": scopes}} if tenant else {}
    return {
        "routeKey": route,
        "pathParameters": params,
        "headers": headers or {},
        "requestContext": {"requestId": "x", "authorizer": authorizer},
        "body": body,
        "isBase64Encoded": binary,
    }


def test_oip_api_routes_and_errors(service: InferenceService) -> None:
    api = OipApi(service)
    _, body = request_body(1)
    ok = api.handle(event("POST /v2/models/{name}/infer", {"name": "tiny"}, body=body))
    assert ok["statusCode"] == 200
    assert json.loads(ok["body"])["outputs"][0]["shape"] == [1, 4]
    assert api.handle(event("GET /v2/health/live", {}, tenant=None))["statusCode"] == 200
    denied = api.handle(event("GET /v2/models/{name}", {"name": "tiny"}, tenant=None))
    assert denied["statusCode"] == 401
    assert set(json.loads(denied["body"])) == {"error", "code"}
    assert api.handle(event("GET /v2/nope", {}))["statusCode"] == 404
    metadata = json.loads(api.handle(event("GET /v2/models/{name}", {"name": "tiny"}))["body"])
    assert metadata["platform"] == "onnxruntime_onnx"


def test_oip_api_binary_round_trip(service: InferenceService) -> None:
    x = np.ones((3, 16), dtype=np.float32)
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [3, 16], "datatype": "FP32", "parameters": {"binary_data_size": x.nbytes}}
            ],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
        }
    ).encode()
    result = OipApi(service).handle(
        event(
            "POST /v2/models/{name}/versions/{version}/infer",
            {"name": "tiny", "version": "1"},
            body=base64.b64encode(header + x.tobytes()).decode(),
            binary=True,
            headers={"inference-header-content-length": str(len(header))},
        )
    )
    assert result["statusCode"] == 200
    assert result["isBase64Encoded"]
    raw = base64.b64decode(result["body"])
    length = int(result["headers"]["Inference-Header-Content-Length"])
    assert np.frombuffer(raw[length:], dtype="<f4").shape == (12,)


def test_unexpected_errors_are_500_without_details(service: InferenceService, monkeypatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "infer", explode)
    _, body = request_body(1)
    result = OipApi(service).handle(event("POST /v2/models/{name}/infer", {"name": "tiny"}, body=body))
    assert result["statusCode"] == 500
    assert "secret" not in result["body"]


def test_artifact_key_layout() -> None:
    assert artifact_key("acme", "tiny", 3) == "models/acme/tiny/3/model.onnx"


def test_disk_cache_is_bounded_and_evicts_the_least_recently_used(store, blobs, mlp_onnx, tmp_path) -> None:
    first = ready_version(store, blobs, "acme", "a", mlp_onnx)
    second = ready_version(store, blobs, "acme", "b", mlp_onnx + b"")  # same bytes: same file
    from maas.modelkit import export_mlp

    third = ready_version(store, blobs, "acme", "c", export_mlp(tmp_path / "c.onnx", [16, 8, 4], seed=5).read_bytes())
    folder = tmp_path / "disk"
    cache = ModelCache(blobs, BUCKET, folder, max_bytes=10**9, max_disk_bytes=len(mlp_onnx) + 10)
    cache.session(first)
    cache.session(second)
    # one directory per tenant and artifact, holding the artifact alone
    assert [p.relative_to(folder).as_posix() for p in folder.rglob("*.onnx")] == [f"acme/{first.sha256}/model.onnx"]
    cache.session(third)
    assert [p.relative_to(folder).as_posix() for p in folder.rglob("*.onnx")] == [f"acme/{third.sha256}/model.onnx"]
