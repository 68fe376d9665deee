"""Every route of the API and the ``MaasClient`` method that calls it (a test checks this against template.yaml).

``None`` marks a route that is not an API call: a page for browsers.
"""

from __future__ import annotations

from typing import Optional

ROUTES: dict[str, Optional[str]] = {
    # tenants, keys, quotas, usage, audit
    "POST /v1/tenants": "create_tenant",
    "GET /v1/tenants": "list_tenants",
    "POST /v1/tenants/{tenant_id}/keys": "create_key",
    "GET /v1/tenants/{tenant_id}/keys": "list_keys",
    "DELETE /v1/tenants/{tenant_id}/keys/{key_id}": "revoke_key",
    "PUT /v1/tenants/{tenant_id}/quota": "set_quota",
    "GET /v1/tenants/{tenant_id}/quota": "get_quota",
    "GET /v1/tenants/{tenant_id}/usage": "get_usage",
    "GET /v1/audit": "list_audit",
    # models and versions
    "POST /v1/models": "create_model",
    "GET /v1/models": "list_models",
    "GET /v1/shared-models": "list_shared_models",
    "GET /v1/models/{name}": "get_model",
    "PATCH /v1/models/{name}": "update_model",
    "DELETE /v1/models/{name}": "delete_model",
    "POST /v1/models/{name}/versions": "create_version",
    "GET /v1/models/{name}/versions": "list_versions",
    "GET /v1/models/{name}/versions/{version}": "get_version",
    "DELETE /v1/models/{name}/versions/{version}": "archive_version",
    "POST /v1/models/{name}/versions/{version}/optimize": "optimize",
    # aliases and grants
    "GET /v1/models/{name}/aliases": "list_aliases",
    "GET /v1/models/{name}/aliases/{alias}": "get_alias",
    "PUT /v1/models/{name}/aliases/{alias}": "set_alias",
    "DELETE /v1/models/{name}/aliases/{alias}": "delete_alias",
    "POST /v1/models/{name}/aliases/{alias}/rollback": "rollback_alias",
    "GET /v1/models/{name}/aliases/{alias}/shadow": "shadow_report",
    "PUT /v1/models/{name}/grants/{tenant_id}": "put_grant",
    "GET /v1/models/{name}/grants": "list_grants",
    "DELETE /v1/models/{name}/grants/{tenant_id}": "revoke_grant",
    # jobs, event sources, batch jobs
    "POST /v1/models/{name}/jobs": "submit_job",
    "POST /v1/models/{name}/versions/{version}/jobs": "submit_job",
    "GET /v1/jobs": "list_jobs",
    "GET /v1/jobs/{job_id}": "get_job",
    "DELETE /v1/jobs/{job_id}": "cancel_job",
    "POST /v1/event-sources": "add_event_source",
    "GET /v1/event-sources": "list_event_sources",
    "DELETE /v1/event-sources/{source}": "delete_event_source",
    "POST /v1/batch-jobs": "start_batch",
    "GET /v1/batch-jobs": "list_batches",
    "GET /v1/batch-jobs/{job_id}": "get_batch",
    # the Open Inference Protocol v2 and Triton's extensions
    "GET /v2/health/live": "live",
    "GET /v2/health/ready": "ready",
    "GET /v2": "server_metadata",
    "GET /v2/models/{name}": "model_metadata",
    "GET /v2/models/{name}/versions/{version}": "model_metadata",
    "GET /v2/models/{name}/ready": "model_ready",
    "GET /v2/models/{name}/versions/{version}/ready": "model_ready",
    "POST /v2/models/{name}/infer": "infer",
    "POST /v2/models/{name}/versions/{version}/infer": "infer",
    "GET /v2/models/stats": "model_stats",
    "GET /v2/models/{name}/stats": "model_stats",
    "GET /v2/models/{name}/versions/{version}/stats": "model_stats",
    "GET /v2/models/{name}/config": "model_config",
    "GET /v2/models/{name}/versions/{version}/config": "model_config",
    "POST /v2/repository/index": "repository_index",
    "POST /v2/repository/models/{name}/load": "load_model",
    "POST /v2/repository/models/{name}/unload": "unload_model",
    # the API's description
    "GET /openapi.json": "openapi",
    "GET /docs": None,  # Swagger UI, for a browser
}
