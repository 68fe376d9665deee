"""Every route of the API and the ``maas`` command that calls it (``tests/unit/test_route_coverage.py`` checks this
table against template.yaml, the SDK's route table and the CLI's parser).

A route with no command says why instead (a string that is not a command).
"""

from __future__ import annotations

NOT_A_COMMAND = "-"
ROUTE_COMMANDS: dict[str, str] = {
    "POST /v1/tenants": "tenants create",
    "GET /v1/tenants": "tenants list",
    "POST /v1/tenants/{tenant_id}/keys": "keys create",
    "GET /v1/tenants/{tenant_id}/keys": "keys list",
    "DELETE /v1/tenants/{tenant_id}/keys/{key_id}": "keys revoke",
    "PUT /v1/tenants/{tenant_id}/quota": "quotas set",
    "GET /v1/tenants/{tenant_id}/quota": "quotas get",
    "GET /v1/tenants/{tenant_id}/usage": "usage",
    "GET /v1/audit": "audit",
    "POST /v1/models": "models create",
    "GET /v1/models": "models list",
    "GET /v1/shared-models": "models shared",
    "GET /v1/models/{name}": "models show",
    "PATCH /v1/models/{name}": "models update",
    "DELETE /v1/models/{name}": "models delete",
    "POST /v1/models/{name}/versions": "models register",
    "GET /v1/models/{name}/versions": "models show",
    "GET /v1/models/{name}/versions/{version}": "models show",
    "DELETE /v1/models/{name}/versions/{version}": "models archive",
    "POST /v1/models/{name}/versions/{version}/optimize": "models optimize",
    "GET /v1/models/{name}/aliases": "aliases show",
    "GET /v1/models/{name}/aliases/{alias}": "aliases show",
    "PUT /v1/models/{name}/aliases/{alias}": "aliases set",
    "DELETE /v1/models/{name}/aliases/{alias}": "aliases delete",
    "POST /v1/models/{name}/aliases/{alias}/rollback": "aliases rollback",
    "GET /v1/models/{name}/aliases/{alias}/shadow": "aliases shadow",
    "PUT /v1/models/{name}/grants/{tenant_id}": "grants add",
    "GET /v1/models/{name}/grants": "grants list",
    "DELETE /v1/models/{name}/grants/{tenant_id}": "grants revoke",
    "POST /v1/models/{name}/jobs": "jobs submit",
    "POST /v1/models/{name}/versions/{version}/jobs": "jobs submit",
    "GET /v1/jobs": "jobs list",
    "GET /v1/jobs/{job_id}": "jobs get",
    "DELETE /v1/jobs/{job_id}": "jobs cancel",
    "POST /v1/event-sources": "event-sources add",
    "GET /v1/event-sources": "event-sources list",
    "DELETE /v1/event-sources/{source}": "event-sources delete",
    "POST /v1/batch-jobs": "batch run",
    "GET /v1/batch-jobs": "batch list",
    "GET /v1/batch-jobs/{job_id}": "batch get",
    "GET /v2/health/live": "health",
    "GET /v2/health/ready": "health",
    "GET /v2": "server",
    "GET /v2/models/{name}": "models metadata",
    "GET /v2/models/{name}/versions/{version}": "models metadata",
    "GET /v2/models/{name}/ready": "models ready",
    "GET /v2/models/{name}/versions/{version}/ready": "models ready",
    "POST /v2/models/{name}/infer": "infer",
    "POST /v2/models/{name}/versions/{version}/infer": "infer",
    "GET /v2/models/stats": "models stats",
    "GET /v2/models/{name}/stats": "models stats",
    "GET /v2/models/{name}/versions/{version}/stats": "models stats",
    "GET /v2/models/{name}/config": "models config",
    "GET /v2/models/{name}/versions/{version}/config": "models config",
    "POST /v2/repository/index": "models index",
    # Triton's explicit model control: the platform loads models itself, these answer 400 (the SDK has them for
    # Triton's clients); a command that can only fail would be noise
    "POST /v2/repository/models/{name}/load": NOT_A_COMMAND,
    "POST /v2/repository/models/{name}/unload": NOT_A_COMMAND,
    "GET /openapi.json": "openapi",
    "GET /docs": NOT_A_COMMAND,  # Swagger UI: a page for a browser
}
