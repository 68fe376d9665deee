"""The API description, served: ``GET /openapi.json`` and Swagger UI at ``GET /docs``, both without a key.

The document is generated at build time from the routes (``make openapi``, ``python -m maas.api.openapi``) and
ships in the package as ``maas/api/openapi.json``, so that the control plane serves it without importing the
other functions' APIs at cold start (a unit test checks that the file equals a fresh generation). Swagger UI's
script and stylesheet are the copies Powertools ships: the page works offline, with no CDN.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

# Routes the authorizer does not guard (template.yaml: Auth: { Authorizer: NONE }); the resolver serves them
# without a principal.
PUBLIC_ROUTES = frozenset({"GET /openapi.json", "GET /docs"})
DOCUMENT = "openapi.json"
SWAGGER_ASSETS = "aws_lambda_powertools.event_handler.openapi.swagger_ui"

# The document's first server is "/", so "Try it out" calls the origin that served the page.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>MaaS API</title>
  <style>@@CSS@@</style>
</head>
<body>
  <div id="swagger-ui">Loading...</div>
  <script>@@JS@@</script>
  <script>
    window.ui = SwaggerUIBundle({
      url: new URL("openapi.json", window.location.href).href,
      dom_id: "#swagger-ui",
      deepLinking: true,
      docExpansion: "list",
      filter: true,
      layout: "BaseLayout",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    });
  </script>
</body>
</html>
"""


@cache
def openapi_document() -> str:
    """The generated OpenAPI document, as shipped in the package."""
    return resources.files("maas.api").joinpath(DOCUMENT).read_text(encoding="utf-8")


@cache
def swagger_page() -> str:
    """Swagger UI with its assets inlined, reading the document from the same origin."""
    assets = resources.files(SWAGGER_ASSETS)
    css = assets.joinpath("swagger-ui.min.css").read_text(encoding="utf-8")
    js = assets.joinpath("swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    return PAGE.replace("@@CSS@@", css).replace("@@JS@@", js)


def docs_router() -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    # gzip when the client accepts it (browsers do): the page is 1.8 MB, 0.5 MB compressed
    @router.get("/openapi.json", summary="This API's OpenAPI 3.1 description", compress=True)
    def handle_openapi_document() -> Response[str]:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())

    @router.get("/docs", summary="Swagger UI for this API (works offline)", compress=True)
    def handle_swagger_ui() -> Response[str]:
        return Response(status_code=200, content_type="text/html; charset=utf-8", body=swagger_page())

    return router
