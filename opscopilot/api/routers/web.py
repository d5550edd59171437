"""The web chat page: three static files, no build step. The page holds no secret; it asks
for an API key and sends it as a bearer header from script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from opscopilot.core.errors import NotFoundError

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
# An allow-list rather than a directory mount: nothing else under the package is served.
ASSETS = {
    "app.js": "text/javascript",
    "markdown.js": "text/javascript",
    "style.css": "text/css",
}
_NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_NO_CACHE)


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundError("no such file")
    return FileResponse(STATIC / name, media_type=media_type, headers=_NO_CACHE)
