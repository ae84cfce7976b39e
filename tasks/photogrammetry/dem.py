"""Elevation models from the point cloud: a DSM (all points) and a DTM (ground only).

Sparse clouds are triangulated (TIN) and the TIN is sampled on the grid. Dense clouds are
binned into the grid and the gaps filled by push-pull interpolation, which is linear in
the number of cells where a Delaunay triangulation of a million points takes seconds.
Cells far from any point are left empty.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from scipy.interpolate import LinearNDInterpolator
from scipy.spatial import cKDTree

from tasks.photogrammetry.raster import Grid

NODATA = -9999.0
# Above this many points the cloud is binned rather than triangulated.
TIN_MAX_POINTS = 50_000


def surface(xyz: np.ndarray, grid: Grid, max_gap: float) -> np.ndarray:
    """Heights at cell centres (NaN where unknown), by TIN or by binning."""
    if len(xyz) <= TIN_MAX_POINTS:
        return tin(xyz, grid, max_gap)
    return binned(xyz, grid, max_gap)


def binned(xyz: np.ndarray, grid: Grid, max_gap: float) -> np.ndarray:
    """Mean height per cell, gaps filled from coarser levels (push-pull)."""
    cols = ((xyz[:, 0] - grid.xmin) / grid.res).astype(np.int64)
    rows = ((grid.ymax - xyz[:, 1]) / grid.res).astype(np.int64)
    ok = (cols >= 0) & (cols < grid.cols) & (rows >= 0) & (rows < grid.rows)
    index = rows[ok] * grid.cols + cols[ok]
    size = grid.rows * grid.cols
    count = np.bincount(index, minlength=size).reshape(grid.rows, grid.cols).astype(np.float32)
    total = np.bincount(index, xyz[ok, 2], minlength=size).reshape(grid.rows, grid.cols).astype(np.float32)
    filled = _push_pull(total, count)
    far = ndimage.distance_transform_edt(count == 0) * grid.res > max_gap
    filled[far] = np.nan
    return filled


def _push_pull(total: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill cells of zero weight with the weighted mean of coarser pyramid levels."""
    h, w = weight.shape
    known = weight > 0
    value = np.where(known, total / np.maximum(weight, 1e-9), 0).astype(np.float32)
    if min(h, w) <= 2 or known.all():
        return value
    pad_h, pad_w = h % 2, w % 2
    t = np.pad(total, ((0, pad_h), (0, pad_w)))
    c = np.pad(weight, ((0, pad_h), (0, pad_w)))
    t2 = t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2]
    c2 = c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]
    coarse = _push_pull(t2, c2)
    up = cv2.resize(coarse, (w + pad_w, h + pad_h), interpolation=cv2.INTER_LINEAR)[:h, :w]
    return np.where(known, value, up)


def tin(xyz: np.ndarray, grid: Grid, max_gap: float) -> np.ndarray:
    """Sample the TIN of `xyz` at cell centres; NaN outside the hull or far from points."""
    if len(xyz) < 3:
        return np.full((grid.rows, grid.cols), np.nan, np.float32)
    interp = LinearNDInterpolator(xyz[:, :2], xyz[:, 2])
    tree = cKDTree(xyz[:, :2])
    out = np.empty((grid.rows, grid.cols), np.float32)
    step = max(1, 2_000_000 // max(grid.cols, 1))
    for r0 in range(0, grid.rows, step):
        x, y = grid.centers(r0, min(grid.rows, r0 + step))
        z = interp(x, y)
        dist, _ = tree.query(np.column_stack([x.ravel(), y.ravel()]), distance_upper_bound=max_gap)
        z[np.isinf(dist).reshape(z.shape)] = np.nan
        out[r0 : r0 + step] = z
    return out


def fill_small_holes(z: np.ndarray, size: int = 5) -> np.ndarray:
    """Fill NaN cells that sit among valid ones with the neighbourhood mean."""
    valid = np.isfinite(z)
    filled = np.where(valid, z, 0.0)
    num = ndimage.uniform_filter(filled, size)
    den = ndimage.uniform_filter(valid.astype(np.float32), size)
    out = z.copy()
    hole = ~valid & (den > 0.5)
    out[hole] = num[hole] / den[hole]
    return out


def ground_points(xyz: np.ndarray, grid: Grid, window_m: float = 12.0, threshold: float = 0.5) -> np.ndarray:
    """A simple morphological ground filter: keep points near the opened minimum surface."""
    res = max(grid.res, 0.5)
    coarse = Grid.covering(
        grid.xmin, grid.ymax - grid.rows * grid.res, grid.xmin + grid.cols * grid.res, grid.ymax, res
    )
    cols = np.clip(((xyz[:, 0] - coarse.xmin) / res).astype(int), 0, coarse.cols - 1)
    rows = np.clip(((coarse.ymax - xyz[:, 1]) / res).astype(int), 0, coarse.rows - 1)
    low = np.full((coarse.rows, coarse.cols), np.inf)
    np.minimum.at(low, (rows, cols), xyz[:, 2])
    finite = np.isfinite(low)
    if not finite.any():
        return np.ones(len(xyz), bool)
    # Empty cells take the nearest occupied cell's minimum so the opening sees no holes.
    _, (ir, ic) = ndimage.distance_transform_edt(~finite, return_indices=True)
    low = low[ir, ic]
    size = max(3, int(window_m / res) | 1)
    opened = ndimage.grey_opening(low, size=(size, size))
    return xyz[:, 2] - opened[rows, cols] <= threshold


def as_raster(z: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(z), z, NODATA).astype(np.float32)
