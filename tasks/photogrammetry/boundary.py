"""The area an output covers: where points are, shrunk by `crop`, limited by `auto-boundary`."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, Delaunay

from tasks.photogrammetry.raster import Grid


def occupancy(xy: np.ndarray, grid: Grid, gap_m: float) -> np.ndarray:
    """Cells within the point cloud's footprint, with gaps up to `gap_m` closed."""
    cols = ((xy[:, 0] - grid.xmin) / grid.res).astype(int)
    rows = ((grid.ymax - xy[:, 1]) / grid.res).astype(int)
    ok = (cols >= 0) & (cols < grid.cols) & (rows >= 0) & (rows < grid.rows)
    mask = np.zeros((grid.rows, grid.cols), bool)
    mask[rows[ok], cols[ok]] = True
    reach = max(1, int(gap_m / grid.res))
    dist = ndimage.distance_transform_edt(~mask)
    grown = dist <= reach
    # Closing: grow by the gap, fill enclosed holes, shrink back.
    grown = ndimage.binary_fill_holes(grown)
    return ndimage.distance_transform_edt(grown) > reach


def shrink(mask: np.ndarray, metres: float, res: float) -> np.ndarray:
    if metres <= 0:
        return mask
    return ndimage.distance_transform_edt(mask) > metres / res


def hull_mask(xy: np.ndarray, grid: Grid, buffer_m: float) -> np.ndarray:
    """Cells inside the convex hull of `xy` grown by `buffer_m` (for `auto-boundary`)."""
    if len(xy) < 3:
        return np.ones((grid.rows, grid.cols), bool)
    hull = ConvexHull(xy)
    tri = Delaunay(xy[hull.vertices])
    x, y = grid.centers()
    inside = tri.find_simplex(np.column_stack([x.ravel(), y.ravel()])) >= 0
    inside = inside.reshape(grid.rows, grid.cols)
    return ndimage.distance_transform_edt(~inside) <= buffer_m / grid.res


def resample_mask(mask: np.ndarray, src: Grid, dst: Grid) -> np.ndarray:
    """Nearest-neighbour lookup of a mask from one grid into another."""
    x, y = dst.centers()
    cols = np.clip(((x - src.xmin) / src.res).astype(int), 0, src.cols - 1)
    rows = np.clip(((src.ymax - y) / src.res).astype(int), 0, src.rows - 1)
    return mask[rows, cols]
