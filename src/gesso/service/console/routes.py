"""The web console: `/` answers its page, `/web/...` its static assets (`gesso/web`).

The console is plain HTML, CSS and ES modules that talk only to the public `/v1` API with the
signed-in key, so it needs no server-side logic; a strict Content-Security-Policy keeps any
injected markup from running script or sending the key elsewhere.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(str(files("gesso") / "web"))
CONSOLE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/")
def console_page() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers=CONSOLE_HEADERS)


class _ConsoleAssets(StaticFiles):
    """Static files with the console's headers (revalidated each load, so an upgrade shows at once)."""

    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        for name, value in CONSOLE_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def mount_console(app: FastAPI) -> None:
    """Add the page route and the asset mount (a prefix mount, so no API route is shadowed)."""
    app.include_router(router)
    app.mount("/web", _ConsoleAssets(directory=WEB_DIR), name="console-assets")
