"""The interactive API docs (`/docs` Swagger UI, `/redoc`), off unless `settings.api_docs`.

FastAPI's own pages load their scripts, styles, favicon and fonts from public CDNs, which a
deployment without egress cannot reach and should not be made to try. When turned on, these pages
load the copies that the `fastapi-offline` package ships (Swagger UI 5, which reads OpenAPI 3.1,
and Redoc), served from `/docs/assets/`, and a Content-Security-Policy keeps the browser from
fetching anything from elsewhere. `/openapi.json` is served either way.
"""

from __future__ import annotations

from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Callable

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
DOCS_HEADERS = {
    # Swagger UI starts from an inline script; nothing may load from another origin
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; font-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def docs_assets_dir() -> Path:
    """The folder of the vendored Swagger UI and Redoc files."""
    return Path(str(files("fastapi_offline") / "static"))


def mount_api_docs(app: FastAPI, title: str) -> None:
    """Add `/docs`, `/redoc` and their assets to `app` (call only when docs are turned on)."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_URL, StaticFiles(directory=docs_assets_dir()), name="api-docs-assets")
    swagger_ui = partial(
        get_swagger_ui_html, openapi_url=openapi_url, title=f"{title} - API docs",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # the default asks a public validator
    )
    redoc = partial(
        get_redoc_html, openapi_url=openapi_url, title=f"{title} - API reference",
        redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js", redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    for path, name, render in (("/docs", "swagger_ui", swagger_ui), ("/redoc", "redoc", redoc)):
        app.add_api_route(path, _docs_page(render), methods=["GET"], name=name, include_in_schema=False)


def _docs_page(render: Callable[[], HTMLResponse]) -> Callable[[], HTMLResponse]:
    """A route answering `render()` with the docs pages' security headers."""

    def page() -> HTMLResponse:
        response = render()
        response.headers.update(DOCS_HEADERS)
        return response

    return page
