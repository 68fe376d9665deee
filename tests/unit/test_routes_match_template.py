"""template.yaml is the single source of truth for routes: the functions serve exactly what it declares."""

from __future__ import annotations

from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from maas.access import Grants
from maas.aliases import Aliases
from maas.api.control_plane import ControlPlane, create_app
from maas.api.inference import OipApi
from maas.audit import AuditLog
from maas.optimize import Optimizer
from maas.quotas import Quotas
from maas.registry import Registry
from maas.tenants import Tenants

from tests.fakes import InMemoryBlobStore, InMemoryRegistryStore

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def template_routes(function: str) -> set[tuple[str, str]]:
    from samtranslator.yaml_helper import yaml_parse

    events = yaml_parse(TEMPLATE.read_text())["Resources"][function]["Properties"]["Events"]
    return {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in events.values() if e["Type"] == "HttpApi"
    }


def served_routes(app: APIGatewayHttpResolver) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in app.get_openapi_schema().paths.items()
        for method in ("get", "put", "post", "delete", "patch")
        if getattr(item, method, None) is not None
    }


def test_control_plane_serves_exactly_the_template_routes() -> None:
    store, blobs = InMemoryRegistryStore(), InMemoryBlobStore()
    registry = Registry(store, blobs, artifacts_bucket="b", aliases=store)
    app = create_app(
        ControlPlane(
            tenants=Tenants(store),
            registry=registry,
            aliases=Aliases(store, store),
            grants=Grants(store, store),
            quotas=Quotas(store, store),
            audit=AuditLog(store),
            optimizer=Optimizer(registry, store, blobs, "b", None),
        )
    )
    assert served_routes(app) == template_routes("ControlPlaneFunction")


def test_inference_serves_exactly_the_template_routes() -> None:
    api = OipApi(service=None)  # type: ignore[arg-type]  # routing table only
    served = {tuple(key.split(" ", 1)) for key in api.routes}
    assert served == template_routes("InferenceFunction")


def test_jobs_function_serves_exactly_the_template_routes() -> None:
    from maas.api.jobs import create_jobs_app
    from maas.batch.service import BatchService
    from maas.batch.settings import BatchSettings
    from maas.jobs.service import EventSources

    from tests.fakes import InMemoryBatchStore, InMemoryBlobStore

    settings = BatchSettings(inbox_bucket="inbox", outbox_bucket="outbox")
    batches = BatchService(InMemoryBatchStore(), None, InMemoryBlobStore(), settings=settings)  # type: ignore[arg-type]
    app = create_jobs_app(jobs=None, sources=EventSources(None), batches=batches)  # type: ignore[arg-type]
    assert served_routes(app) == template_routes("JobsFunction")
