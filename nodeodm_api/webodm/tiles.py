"""Map tiles of a task's orthophoto, DSM and DTM with rio-tiler, as WebODM serves them.

`tiles.json` is TileJSON 2.1.0 whose zoom range is rio-tiler's natural one widened by
three levels each side (WebODM's ZOOM_EXTRA_LEVELS); tiles are XYZ web-mercator PNGs,
256 px or 512 px (`@2x`). Elevation tiles take `rescale=min,max` (default 0,1000) and a
`color_map` name (default gray).
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rasterio.enums import ColorInterp
from rio_tiler.colormap import cmap
from rio_tiler.constants import WGS84_CRS
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from starlette.requests import Request
from starlette.responses import Response

from .auth import service
from .common import JSON, ApiError, api, not_found
from .geo import RASTERS
from .tasks import readable_task

ZOOM_EXTRA_LEVELS = 3
#: How long a tile request's access check is reused for the same credentials and task.
GRANT_SECONDS = 2.0
_TILE = re.compile(r"^(\d+)(@2x)?(?:\.(png|jpg|jpeg|webp))?$")
_FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"), "jpeg": ("JPEG", "image/jpeg"),
            "webp": ("WEBP", "image/webp")}
_PASSED_ON = ("rescale", "color_map", "formula", "bands", "hillshade", "size", "crop")


@dataclass
class Style:
    size: int = 256
    rescale: tuple[float, float] | None = None
    colormap: Any = None


@dataclass
class Zooms:
    minzoom: int
    maxzoom: int
    bounds: list[float]


async def _raster(request: Request) -> tuple[Path, str, Any]:
    kind = str(request.path_params["kind"])
    if kind not in RASTERS:
        raise not_found()
    task = await readable_task(request)
    path = service(request).assets_dir(task.id) / RASTERS[kind]
    if not path.is_file():
        raise not_found()
    return path, kind, task


async def _tile_raster(request: Request) -> tuple[Path, str]:
    """`_raster` for tiles, remembered for a moment per credentials and task: a map view asks
    for dozens of tiles at once, and each would otherwise check the same token and records."""
    kind = str(request.path_params["kind"])
    key = (request.headers.get("authorization", ""), request.query_params.get("jwt", ""),
           str(request.path_params["task_id"]), kind)
    grants = service(request).tile_grants
    hit = grants.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < GRANT_SECONDS:
        return hit[1], kind
    path, kind, _ = await _raster(request)
    if len(grants) > 10_000:
        grants.clear()
    grants[key] = (now, path)
    return path, kind


def zooms(path: Path) -> Zooms:
    return _zooms(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _zooms(path: str, mtime_ns: int) -> Zooms:
    with Reader(path) as src:
        bounds = list(src.get_geographic_bounds(WGS84_CRS))
        return Zooms(max(0, src.minzoom - ZOOM_EXTRA_LEVELS), min(30, src.maxzoom + ZOOM_EXTRA_LEVELS), bounds)


def style(request: Request, kind: str, retina: bool) -> Style:
    q = request.query_params
    out = Style(size=512 if retina else 256)
    if "size" in q:
        if q["size"] not in ("256", "512"):
            raise ApiError.invalid("Invalid size")
        out.size = int(q["size"])
    if kind == "orthophoto":
        if "hillshade" in q:
            raise ApiError.invalid("Cannot compute hillshade of non-elevation raster")
        return out
    raw = q.get("rescale") or "0,1000"
    try:
        low, high = (float(v) for v in raw.split(","))
    except ValueError:
        raise ApiError.invalid("Invalid rescale value") from None
    out.rescale = (low, high)
    name = q.get("color_map") or "gray"
    try:
        out.colormap = cmap.get(name.lower())
    except Exception:
        raise ApiError.invalid("Not a valid color_map value") from None
    return out


def render(path: Path, kind: str, x: int, y: int, z: int, st: Style, fmt: str) -> bytes:
    with Reader(str(path)) as src:
        kwargs: dict[str, Any] = {}
        if kind == "orthophoto":
            interp = list(src.dataset.colorinterp)
            kwargs["indexes"] = [i + 1 for i, ci in enumerate(interp) if ci != ColorInterp.alpha][:3] or [1]
            if ColorInterp.alpha not in interp and src.dataset.nodata is None:
                kwargs["nodata"] = 0  # ODM's orthophotos without alpha use black for no data
        else:
            kwargs["indexes"] = [1]
        img = src.tile(x, y, z, tilesize=st.size, **kwargs)
    if st.rescale is not None:
        img = img.rescale(in_range=[st.rescale])
    elif img.data.dtype.name != "uint8":
        img = img.rescale(in_range=[(0, 255)] * img.count)
    return bytes(img.render(add_mask=fmt != "JPEG", img_format=fmt, colormap=st.colormap if img.count == 1 else None))


async def _tilejson(request: Request) -> Response:
    path, kind, task = await _raster(request)
    z = await asyncio.to_thread(zooms, path)
    base = f"/api/projects/{task.project_id}/tasks/{task.id}/{kind}/tiles/{{z}}/{{x}}/{{y}}"
    params = [(k, v) for k, v in request.query_params.multi_items() if k in _PASSED_ON]
    return JSON({
        "tilejson": "2.1.0", "name": task.name, "version": "1.0.0", "scheme": "xyz",
        "tiles": [base + (f"?{urlencode(params)}" if params else "")],
        "minzoom": z.minzoom, "maxzoom": z.maxzoom, "bounds": z.bounds,
    })


async def _bounds(request: Request) -> Response:
    path, kind, task = await _raster(request)
    z = await asyncio.to_thread(zooms, path)
    return JSON({"url": f"/api/projects/{task.project_id}/tasks/{task.id}/{kind}/tiles/{{z}}/{{x}}/{{y}}",
                 "bounds": z.bounds})


def statistics(path: Path) -> dict[str, Any]:
    with Reader(str(path)) as src:
        stats = src.statistics(percentiles=[2, 98], max_size=512)
    out = {}
    for i, (_, band) in enumerate(stats.items(), start=1):
        data = band.model_dump()
        out[str(i)] = {"min": data["min"], "max": data["max"],
                       "percentiles": [data.get("percentile_2"), data.get("percentile_98")]}
    return out


async def _metadata(request: Request) -> Response:
    path, kind, task = await _raster(request)
    z = await asyncio.to_thread(zooms, path)
    stats = await asyncio.to_thread(statistics, path)
    return JSON({"name": task.name, "scheme": "xyz", "minzoom": z.minzoom, "maxzoom": z.maxzoom,
                 "bounds": {"value": z.bounds, "crs": "EPSG:4326"}, "statistics": stats,
                 "color_maps": sorted(cmap.list())})


async def _tile(request: Request) -> Response:
    path, kind = await _tile_raster(request)
    match = _TILE.match(str(request.path_params["y"]))
    if match is None:
        raise not_found()
    z, x, y = int(request.path_params["z"]), int(request.path_params["x"]), int(match.group(1))
    st = style(request, kind, retina=bool(match.group(2)))
    fmt, media = _FORMATS[match.group(3) or "png"]
    try:
        data = await asyncio.to_thread(_zoomed_render, path, kind, x, y, z, st, fmt)
    except TileOutsideBounds:
        raise not_found("Outside of bounds") from None
    if data is None:
        raise not_found()
    return Response(data, media_type=media)


def _zoomed_render(path: Path, kind: str, x: int, y: int, z: int, st: Style, fmt: str) -> bytes | None:
    """One trip to a worker thread per tile: the zoom check and the rendering together."""
    if not path.is_file():  # removed since access was granted
        return None
    zr = zooms(path)
    if not zr.minzoom <= z <= zr.maxzoom:
        return None
    return render(path, kind, x, y, z, st, fmt)


tilejson = api({"GET": _tilejson})
bounds = api({"GET": _bounds})
metadata = api({"GET": _metadata})
tile = api({"GET": _tile})
