"""Georeferenced raster grids and GeoTIFF/COG writing shared by the DEM and orthophoto."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import Affine

from tasks.photogrammetry.geo import Frame


@dataclass(frozen=True)
class Grid:
    """A north-up grid in local UTM: top-left corner, cell size, shape."""

    xmin: float
    ymax: float
    res: float
    rows: int
    cols: int

    @classmethod
    def covering(cls, xmin: float, ymin: float, xmax: float, ymax: float, res: float) -> Grid:
        x0, y1 = np.floor(xmin / res) * res, np.ceil(ymax / res) * res
        cols = int(np.ceil((xmax - x0) / res))
        rows = int(np.ceil((y1 - ymin) / res))
        return cls(float(x0), float(y1), res, max(rows, 1), max(cols, 1))

    def centers(self, r0: int = 0, r1: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates (X, Y) for rows r0..r1, as 2-D arrays."""
        r1 = self.rows if r1 is None else r1
        x = self.xmin + (np.arange(self.cols) + 0.5) * self.res
        y = self.ymax - (np.arange(r0, r1) + 0.5) * self.res
        return np.meshgrid(x, y)

    def transform(self, frame: Frame) -> Affine:
        return Affine(self.res, 0.0, self.xmin + frame.east, 0.0, -self.res, self.ymax + frame.north)

    @classmethod
    def of(cls, path: Path, frame: Frame) -> Grid:
        with rasterio.open(path) as src:
            t = src.transform
            return cls(t.c - frame.east, t.f - frame.north, t.a, src.height, src.width)


def write_tif(
    path: Path,
    data: np.ndarray,
    grid: Grid,
    frame: Frame,
    nodata: float | None = None,
    cog: bool = False,
    alpha: bool = False,
) -> None:
    """Tiled, deflate-compressed GeoTIFF with overviews; a Cloud-Optimized GeoTIFF on `cog`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bands = data[None] if data.ndim == 2 else np.moveaxis(data, -1, 0)
    profile = {
        "driver": "GTiff",
        "height": grid.rows,
        "width": grid.cols,
        "count": bands.shape[0],
        "dtype": bands.dtype,
        "crs": frame.crs,
        "transform": grid.transform(frame),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 2,
        "BIGTIFF": "IF_SAFER",
    }
    if nodata is not None:
        profile["nodata"] = nodata
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(bands)
        if alpha:
            dst.colorinterp = [
                rasterio.enums.ColorInterp.red,
                rasterio.enums.ColorInterp.green,
                rasterio.enums.ColorInterp.blue,
                rasterio.enums.ColorInterp.alpha,
            ]
        factors = [f for f in (2, 4, 8, 16, 32) if min(grid.rows, grid.cols) // f >= 128]
        if factors:
            dst.build_overviews(factors, Resampling.average)
    if cog:
        from rio_cogeo.cogeo import cog_translate
        from rio_cogeo.profiles import cog_profiles

        cog_translate(tmp, path, cog_profiles.get("deflate"), quiet=True, overview_resampling="average")
        tmp.unlink()
    else:
        shutil.move(tmp, path)


def read_tif(path: Path) -> tuple[np.ndarray, float | None]:
    with rasterio.open(path) as src:
        return src.read(1), src.nodata
