"""The `test` engine: NodeODM's `--test` mode, with outputs that are small but real.

It does no photogrammetry. It writes a valid GeoTIFF orthophoto and DEMs, a real LAZ
cloud and ODM's JSON files, so the whole API lifecycle can be exercised in a second.
`seconds` stretches the run (to test cancel and restart); `fail` makes it fail, and
`fail_unless` makes it fail unless the named option is set (to test option ladders).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import laspy
import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from .base import Context, EngineError, Options, Step, stage_slice
from .odm import STAGES, odm_options

CRS = "EPSG:32615"
ORIGIN = (576000.0, 4458000.0)  # a patch of Iowa in UTM 15N, like ODM's test fixtures
SIZE = 64
GSD = 0.5


class TestEngine:
    name = "odm"
    __test__ = False  # not a pytest test class

    def __init__(self, seconds: float = 0.0, fail: bool = False, fail_unless: str | None = None) -> None:
        self.seconds = seconds
        self.fail = fail
        self.fail_unless = fail_unless

    def version(self) -> str:
        return "?"

    def options(self) -> list[dict[str, Any]]:
        return odm_options()

    def stages(self) -> list[str]:
        return list(STAGES)

    def steps(self, options: Options) -> list[Step]:
        work = {
            "dataset": (self._dataset, ()),
            "opensfm": (self._wait, (self.fail_unless,) if self.fail_unless else ()),
            "odm_georeferencing": (self._cloud, ("pc-las", "pc-csv", "pc-ply")),
            "odm_dem": (self._dem, ("dsm", "dtm", "dem-resolution")),
            "odm_orthophoto": (self._ortho, ("orthophoto-resolution",)),
            "odm_report": (self._report, ("skip-report",)),
        }
        names = stage_slice(STAGES, options.get("rerun-from"))
        return [Step(n, work[n][0], depends_on=work[n][1]) for n in names if n in work]

    def _wait(self, ctx: Context) -> None:
        # Spread the requested run time over the opensfm stand-in, reporting progress.
        ticks = max(1, int(self.seconds / 0.25))
        for i in range(ticks if self.seconds > 0 else 0):
            time.sleep(self.seconds / ticks)
            ctx.progress((i + 1) / ticks)
        ctx.log("Reconstruction done (test engine)")
        if self.fail:
            raise EngineError("Test engine asked to fail")
        if self.fail_unless and not ctx.option(self.fail_unless):
            raise EngineError(f"Test engine fails unless {self.fail_unless} is set")

    def _dataset(self, ctx: Context) -> None:
        images = sorted(p for p in ctx.images.iterdir() if p.is_file()) if ctx.images.is_dir() else []
        if not images:
            raise EngineError("No images found in the task: upload at least one image.")
        entries = [_image_entry(p) for p in images]
        (ctx.project / "images.json").write_text(json.dumps(entries))
        (ctx.project / "cameras.json").write_text(json.dumps({"test camera": {"projection_type": "brown"}}))
        ctx.log(f"Loaded {len(images)} images")

    def _cloud(self, ctx: Context) -> None:
        folder = ctx.project / "odm_georeferencing"
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        xyz = rng.uniform(0, SIZE * GSD, (1000, 3)) + [ORIGIN[0], ORIGIN[1] - SIZE * GSD, 250]
        header = laspy.LasHeader(point_format=2, version="1.2")
        header.offsets, header.scales = xyz.min(axis=0), [0.001] * 3
        header.add_crs(_pyproj_crs())
        las = laspy.LasData(header)
        las.x, las.y, las.z = xyz.T
        base = folder / "odm_georeferenced_model"
        las.write(base.with_suffix(".laz"))
        if ctx.option("pc-las"):
            las.write(base.with_suffix(".las"))
        if ctx.option("pc-csv"):
            np.savetxt(base.with_suffix(".csv"), xyz, delimiter=",", header="x,y,z", comments="")
        ctx.log(f"Wrote {len(xyz)} points")

    def _dem(self, ctx: Context) -> None:
        names = [n for n in ("dsm", "dtm") if ctx.option(n)]
        for n in names:
            yy, xx = np.mgrid[0:SIZE, 0:SIZE]
            _write_raster(ctx.project / "odm_dem" / f"{n}.tif", (250 + 0.1 * xx + 0.05 * yy)[None].astype("float32"))
        ctx.log(f"DEMs: {', '.join(names) or 'none requested'}")

    def _ortho(self, ctx: Context) -> None:
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        rgb = np.stack([xx * 4, yy * 4, (xx + yy) * 2, np.full_like(xx, 255)]).astype("uint8")
        tif = ctx.project / "odm_orthophoto" / "odm_orthophoto.tif"
        _write_raster(tif, rgb)
        Image.fromarray(np.moveaxis(rgb, 0, -1), "RGBA").save(tif.with_suffix(".png"))
        ctx.log("Orthophoto written")

    def _report(self, ctx: Context) -> None:
        if ctx.option("skip-report"):
            return
        folder = ctx.project / "odm_report"
        folder.mkdir(exist_ok=True)
        (folder / "stats.json").write_text(json.dumps({"engine": "test", "images": _count(ctx)}))
        (folder / "shots.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))


def _count(ctx: Context) -> int:
    return sum(1 for p in ctx.images.iterdir() if p.is_file()) if ctx.images.is_dir() else 0


def _pyproj_crs() -> Any:
    from pyproj import CRS as ProjCRS

    return ProjCRS.from_string(CRS)


def _image_entry(path: Path) -> dict[str, Any]:
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Exception:  # any upload is accepted in test mode, images or not
        width = height = 0
    return {"filename": path.name, "width": width, "height": height, "camera_make": "test"}


def _write_raster(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
        "dtype": data.dtype.name, "crs": CRS, "transform": from_origin(*ORIGIN, GSD, GSD),
        "tiled": True, "blockxsize": 64, "blockysize": 64, "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
