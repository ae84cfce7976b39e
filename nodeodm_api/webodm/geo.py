"""What WebODM records about a finished task's rasters: COG form, CRS, extents and bands."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import rasterio
from rasterio.enums import ColorInterp
from rasterio.warp import transform_bounds

log = logging.getLogger("odmflow.webodm")

#: The map layers a task can have, and the ODM raster each is drawn from.
RASTERS: dict[str, str] = {
    "orthophoto": "odm_orthophoto/odm_orthophoto.tif",
    "dsm": "odm_dem/dsm.tif",
    "dtm": "odm_dem/dtm.tif",
}


def ensure_cog(path: Path) -> None:
    """Rewrite `path` as a Cloud Optimized GeoTIFF (with overviews) unless it is one, so
    tiles at low zooms read overviews rather than the full raster; left as is on failure."""
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    try:
        if cog_validate(path, strict=True, quiet=True)[0]:  # strict: a big raster without overviews is redone
            return
        tmp = path.with_name(f".{path.name}.cog")
        with rasterio.open(path) as src:
            profile = dict(cog_profiles["deflate"])
            cog_translate(src, tmp, profile, quiet=True, in_memory=False)
        os.replace(tmp, path)
    except Exception:
        log.warning("Could not convert %s to COG; tiles will read it as it is", path, exc_info=True)


def raster_facts(path: Path) -> dict[str, Any]:
    """EPSG:4326 extent, EPSG code (or WKT), and the colour interpretation of each band."""
    with rasterio.open(path) as src:
        facts: dict[str, Any] = {"extent": None, "epsg": None, "wkt": None, "bands": []}
        if src.crs is not None:
            west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
            facts["extent"] = [west, south, east, north]
            facts["epsg"] = src.crs.to_epsg()
            if facts["epsg"] is None:
                facts["wkt"] = src.crs.to_wkt()
        facts["bands"] = [
            {"name": ci.name.lower() if isinstance(ci, ColorInterp) else str(ci),
             "description": src.descriptions[i] or ""}
            for i, ci in enumerate(src.colorinterp)
        ]
    return facts


def task_rasters(assets: Path) -> dict[str, Path]:
    return {kind: assets / rel for kind, rel in RASTERS.items() if (assets / rel).is_file()}
