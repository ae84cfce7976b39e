"""The map page and its static files (Leaflet is vendored, so the page needs no internet)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
STATIC_URL = "/webodm-static"


async def map_page(request: Request) -> Response:
    return FileResponse(STATIC / "map.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


static_files = StaticFiles(directory=STATIC)
