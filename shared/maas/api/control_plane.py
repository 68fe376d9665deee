"""The control plane under /v1: tenants, keys, models, versions.

Each route parses its body (pydantic, through Powertools validation), reads the principal the authorizer put
into the request context, makes one call into the core, and returns a response model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, TypeVar

import pybase64
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from maas.access import Grants
from maas.aliases import Aliases
from maas.api.auth import principal_from_context
from maas.api.docs import PUBLIC_ROUTES, docs_router
from maas.api.paging import DEFAULT_PAGE, PageLimit, PageToken
from maas.api.responses import install_error_handlers
from maas.api.results import error_result
from maas.api.schemas import (
    AliasListResponse,
    AliasResponse,
    CreatedKeyResponse,
    CreatedVersionResponse,
    CreateKeyRequest,
    CreateModelRequest,
    CreateTenantRequest,
    CreateVersionRequest,
    GrantListResponse,
    GrantResponse,
    KeyListResponse,
    KeyResponse,
    ModelListResponse,
    ModelResponse,
    OptimizeRequest,
    PutGrantRequest,
    QuotaRequest,
    SetAliasRequest,
    SharedModelListResponse,
    SharedModelResponse,
    TenantListResponse,
    TenantResponse,
    UpdateModelRequest,
    UploadResponse,
    VersionListResponse,
    VersionResponse,
)
from maas.audit import AuditLog
from maas.domain import Principal
from maas.domain.aliases import Alias
from maas.errors import InvalidRequestError, UnauthenticatedError
from maas.optimize import Optimizer
from maas.quotas import Quotas
from maas.registry import Registry
from maas.tenants import Tenants

BodyT = TypeVar("BodyT")
VersionNumber = Annotated[
    str, Path(pattern=r"^([1-9][0-9]{0,9}|[a-z][a-z0-9_-]{0,62})$", description="a version number or an alias")
]
TenantPath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$", description="tenant id")]
AliasPath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,62}$", description="alias name")]


@dataclass(frozen=True)
class ControlPlane:
    tenants: Tenants
    registry: Registry
    aliases: Aliases
    grants: Grants | None = None
    quotas: Quotas | None = None
    audit: AuditLog | None = None
    optimizer: Optimizer | None = None


def _principal(router: APIGatewayHttpRouter | APIGatewayHttpResolver) -> Principal:
    return principal_from_context(router.current_event.request_context.authorizer.get_lambda)


def _created(body: BodyT) -> Response[BodyT]:
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=body)


def tenants_router(tenants: Tenants) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post("/v1/tenants", summary="Create a tenant (operator only)")
    def handle_create_tenant(body: CreateTenantRequest) -> Response[TenantResponse]:
        tenant = tenants.create_tenant(_principal(router), body.tenant_id, body.name)
        return _created(TenantResponse(**tenant.model_dump()))

    @router.get("/v1/tenants", summary="List every tenant (operator only)")
    def handle_list_tenants(limit: PageLimit = DEFAULT_PAGE, next_token: PageToken = None) -> TenantListResponse:
        found = tenants.list_tenants(_principal(router), limit=limit, next_token=next_token)
        return TenantListResponse(
            tenants=[TenantResponse(**t.model_dump()) for t in found], next_token=found.next_token
        )

    @router.post("/v1/tenants/<tenant_id>/keys", summary="Create an API key; the key is shown only here")
    def handle_create_key(tenant_id: str, body: CreateKeyRequest) -> Response[CreatedKeyResponse]:
        record, api_key = tenants.create_key(_principal(router), tenant_id, frozenset(body.scopes), body.description)
        return _created(CreatedKeyResponse(**KeyResponse.of(record).model_dump(), api_key=api_key))

    @router.get("/v1/tenants/<tenant_id>/keys", summary="List a tenant's keys (never the keys themselves)")
    def handle_list_keys(
        tenant_id: str, limit: PageLimit = DEFAULT_PAGE, next_token: PageToken = None
    ) -> KeyListResponse:
        keys = tenants.list_keys(_principal(router), tenant_id, limit=limit, next_token=next_token)
        return KeyListResponse(keys=[KeyResponse.of(k) for k in keys], next_token=keys.next_token)

    @router.delete("/v1/tenants/<tenant_id>/keys/<key_id>", summary="Revoke an API key")
    def handle_revoke_key(tenant_id: str, key_id: str) -> Response[None]:
        tenants.revoke_key(_principal(router), tenant_id, key_id)
        return Response(status_code=204, body=None)

    return router


def models_router(registry: Registry) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post("/v1/models", summary="Create a model")
    def handle_create_model(body: CreateModelRequest) -> Response[ModelResponse]:
        model = registry.create_model(
            _principal(router), body.name, body.framework, body.description, target=body.target, batching=body.batching
        )
        return _created(ModelResponse.of(model))

    @router.patch("/v1/models/<name>", summary="Change a model's target (cpu | gpu) or batching")
    def handle_update_model(name: str, body: UpdateModelRequest) -> ModelResponse:
        model = registry.update_model(
            _principal(router), name, description=body.description, target=body.target, batching=body.batching
        )
        return ModelResponse.of(model)

    @router.get("/v1/models", summary="List the tenant's models")
    def handle_list_models(limit: PageLimit = DEFAULT_PAGE, next_token: PageToken = None) -> ModelListResponse:
        models = registry.list_models(_principal(router), limit=limit, next_token=next_token)
        return ModelListResponse(models=[ModelResponse.of(m) for m in models], next_token=models.next_token)

    @router.get("/v1/models/<name>", summary="Show a model")
    def handle_get_model(name: str) -> ModelResponse:
        return ModelResponse.of(registry.get_model(_principal(router), name))

    @router.post("/v1/models/<name>/versions", summary="Register a version; returns a presigned upload")
    def handle_register_version(
        name: str, body: Annotated[CreateVersionRequest | None, Body()] = None
    ) -> Response[CreatedVersionResponse]:
        declared = body.sha256 if body else None
        signature = body.signature if body else None
        version, upload = registry.create_version(_principal(router), name, declared, signature)
        return _created(
            CreatedVersionResponse(
                version=version.version,
                status=version.status,
                upload=UploadResponse(
                    url=upload.url, method=upload.method, headers=upload.headers, expires_in=upload.expires_in
                ),
            )
        )

    @router.get("/v1/models/<name>/versions", summary="List a model's versions")
    def handle_list_versions(
        name: str, limit: PageLimit = DEFAULT_PAGE, next_token: PageToken = None
    ) -> VersionListResponse:
        versions = registry.list_versions(_principal(router), name, limit=limit, next_token=next_token)
        return VersionListResponse(versions=[VersionResponse.of(v) for v in versions], next_token=versions.next_token)

    @router.get("/v1/models/<name>/versions/<version>", summary="Show a version: status, sha256, signature")
    def handle_get_version(name: str, version: VersionNumber) -> VersionResponse:
        return VersionResponse.of(registry.get_version(_principal(router), name, version))

    @router.delete("/v1/models/<name>/versions/<version>", summary="Archive a version (refused while aliased)")
    def handle_archive_version(name: str, version: VersionNumber) -> Response[None]:
        registry.archive_version(_principal(router), name, version)
        return Response(status_code=204, body=None)

    @router.delete("/v1/models/<name>", summary="Delete a model that no alias routes traffic to")
    def handle_delete_model(name: str) -> Response[None]:
        registry.delete_model(_principal(router), name)
        return Response(status_code=204, body=None)

    return router


def _alias_response(alias: Alias, status: int = 200) -> Response[AliasResponse]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=AliasResponse.of(alias),
        headers={"ETag": alias.etag},
    )


def aliases_router(aliases: Aliases) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    def if_match() -> str | None:
        value: str | None = router.current_event.headers.get("if-match")
        return value

    @router.put("/v1/models/<name>/aliases/<alias>", summary="Point an alias at a version, or split it by weight")
    def handle_set_alias(name: str, alias: AliasPath, body: SetAliasRequest) -> Response[AliasResponse]:
        try:
            target = body.target()
        except ValueError as error:
            raise InvalidRequestError(str(error)) from None
        return _alias_response(aliases.set(_principal(router), name, alias, target, if_match()))

    @router.get("/v1/models/<name>/aliases", summary="List a model's aliases with their history")
    def handle_list_aliases(
        name: str, limit: PageLimit = DEFAULT_PAGE, next_token: PageToken = None
    ) -> AliasListResponse:
        found = aliases.list(_principal(router), name, limit=limit, next_token=next_token)
        return AliasListResponse(aliases=[AliasResponse.of(a) for a in found], next_token=found.next_token)

    @router.get("/v1/models/<name>/aliases/<alias>", summary="Show an alias")
    def handle_get_alias(name: str, alias: str) -> Response[AliasResponse]:
        return _alias_response(aliases.get(_principal(router), name, alias))

    @router.post("/v1/models/<name>/aliases/<alias>/rollback", summary="Return an alias to its previous target")
    def handle_rollback_alias(name: str, alias: str) -> Response[AliasResponse]:
        return _alias_response(aliases.rollback(_principal(router), name, alias, if_match()))

    @router.get("/v1/models/<name>/aliases/<alias>/shadow", summary="Shadow comparison: agreement and latency")
    def handle_shadow_report(name: str, alias: str) -> dict[str, Any]:
        return aliases.shadow_report(_principal(router), name, alias)

    @router.delete("/v1/models/<name>/aliases/<alias>", summary="Delete an alias")
    def handle_delete_alias(name: str, alias: str) -> Response[None]:
        aliases.delete(_principal(router), name, alias, if_match())
        return Response(status_code=204, body=None)

    return router


class HttpApiEvent(APIGatewayProxyEventV2):
    """The payload 2.0 event, whose body a route reads as text: one that is not UTF-8 is the client's error.

    API Gateway hands over a body that is not valid UTF-8 base64-encoded, whatever its Content-Type says;
    Powertools decodes it for the route's pydantic model and would raise ``UnicodeDecodeError`` (a 500).
    Routes that take raw bytes (job submissions) read ``body`` itself and never come here.
    """

    @cached_property
    def decoded_body(self) -> str | None:
        body = self.body
        if not (self.is_base64_encoded and body):
            return body
        try:
            return pybase64.b64decode(body, validate=True).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError
            raise InvalidRequestError("the request body is not UTF-8 text (a JSON body must be)") from None


class ControlPlaneResolver(APIGatewayHttpResolver):
    """Authentication comes before body validation: a caller without a valid key learns nothing of the API."""

    def _to_proxy_event(self, event: dict[str, Any]) -> HttpApiEvent:
        return HttpApiEvent(event, self._json_body_deserializer)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if event.get("routeKey") in PUBLIC_ROUTES:
            return super().resolve(event, context)
        authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
        try:
            principal_from_context(authorizer.get("lambda"))
        except UnauthenticatedError as error:
            return error_result(error)
        return super().resolve(read_body_as_json(event), context)


def read_body_as_json(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """A body is read as JSON whatever its Content-Type says: ``curl -d`` sends JSON as a form, others send it as
    ``text/plain`` or with no type at all. A body that is not JSON is then a plain 400 (not valid JSON), never a
    form read into misleading field names. Binary tensor bodies (``Inference-Header-Content-Length``) keep theirs.
    """
    headers = event.get("headers") or {}
    lowered = {k.lower(): v for k, v in headers.items()}
    if not event.get("body") or "inference-header-content-length" in lowered:
        return event
    media_type = (lowered.get("content-type") or "").split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return event
    rewritten = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return {**event, "headers": {**rewritten, "content-type": "application/json"}}


def grants_router(grants: Grants) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.put("/v1/models/<name>/grants/<tenant_id>", summary="Share a model with another tenant")
    def handle_put_grant(name: str, tenant_id: TenantPath, body: PutGrantRequest) -> GrantResponse:
        grant = grants.put(_principal(router), name, tenant_id, body.actions, aliases=body.aliases, quota=body.quota)
        return GrantResponse.of(grant)

    @router.get("/v1/models/<name>/grants", summary="List who a model is shared with")
    def handle_list_grants(
        name: str, limit: PageLimit = DEFAULT_PAGE, next_token: PageToken = None
    ) -> GrantListResponse:
        found = grants.list(_principal(router), name, limit=limit, next_token=next_token)
        return GrantListResponse(grants=[GrantResponse.of(g) for g in found], next_token=found.next_token)

    @router.delete("/v1/models/<name>/grants/<tenant_id>", summary="Revoke a grant")
    def handle_revoke_grant(name: str, tenant_id: str) -> Response[None]:
        grants.revoke(_principal(router), name, tenant_id)
        return Response(status_code=204, body=None)

    @router.get("/v1/shared-models", summary="The models other tenants shared with the caller")
    def handle_shared_models() -> SharedModelListResponse:
        shared = grants.shared_with(_principal(router))
        return SharedModelListResponse(models=[SharedModelResponse.of(g) for g in shared])

    return router


def quotas_router(quotas: Quotas) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.put("/v1/tenants/<tenant_id>/quota", summary="Set a tenant's quota (operator)")
    def handle_put_quota(tenant_id: str, body: QuotaRequest) -> dict[str, Any]:
        quota = quotas.set_tenant_quota(_principal(router), tenant_id, body.to_quota())
        return {"tenant_id": tenant_id, "quota": quota.model_dump() if quota else None}

    @router.get("/v1/tenants/<tenant_id>/quota", summary="A tenant's quota")
    def handle_get_quota(tenant_id: str) -> dict[str, Any]:
        quota = quotas.get_tenant_quota(_principal(router), tenant_id)
        return {"tenant_id": tenant_id, "quota": quota.model_dump() if quota else None}

    @router.get("/v1/tenants/<tenant_id>/usage", summary="A tenant's use per model and day")
    def handle_usage(tenant_id: str) -> dict[str, Any]:
        return {"tenant_id": tenant_id, "usage": quotas.usage(_principal(router), tenant_id)}

    return router


def audit_router(audit: AuditLog) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.get("/v1/audit", summary="Control-plane changes to the tenant's objects, newest first")
    def handle_audit(
        model: Annotated[str | None, Query()] = None,
        limit: PageLimit = DEFAULT_PAGE,
        next_token: PageToken = None,
    ) -> dict[str, Any]:
        entries = audit.list(_principal(router), model, limit, next_token=next_token)
        return {"entries": [e.model_dump(mode="json") for e in entries], "next_token": entries.next_token}

    return router


def optimize_router(optimizer: Optimizer) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post("/v1/models/<name>/versions/<version>/optimize", summary="Build an optimised variant as a new version")
    def handle_optimize(
        name: str, version: VersionNumber, body: Annotated[OptimizeRequest | None, Body()] = None
    ) -> Response[VersionResponse]:
        method = body.method if body else "dynamic_int8"
        target = optimizer.request(_principal(router), name, version, method)
        return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=VersionResponse.of(target))

    return router


def create_app(plane: ControlPlane) -> APIGatewayHttpResolver:
    app = ControlPlaneResolver(enable_validation=True)
    install_error_handlers(app)
    app.include_router(docs_router())
    app.include_router(tenants_router(plane.tenants))
    app.include_router(models_router(plane.registry))
    app.include_router(aliases_router(plane.aliases))
    if plane.grants is not None:
        app.include_router(grants_router(plane.grants))
    if plane.quotas is not None:
        app.include_router(quotas_router(plane.quotas))
    if plane.audit is not None:
        app.include_router(audit_router(plane.audit))
    if plane.optimizer is not None:
        app.include_router(optimize_router(plane.optimizer))
    return app
