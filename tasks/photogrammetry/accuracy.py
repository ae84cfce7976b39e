"""Scoring a processed task against truth: a synthetic survey's, or a reference point cloud.

Used by the tests and by `bench/accuracy.py`. Shifts are measured by phase correlation
between the orthophoto and the true ground texture rendered on the same grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import laspy
import numpy as np
import pycolmap
import rasterio
from scipy import ndimage
from scipy.spatial import cKDTree

from tasks.photogrammetry.geo import Frame
from tasks.photogrammetry.layout import Layout
from tasks.photogrammetry.raster import Grid
from tasks.photogrammetry.synthetic import Survey


@dataclass
class Score:
    registered: int
    images: int
    reprojection_px: float
    camera_rmse_h: float
    camera_rmse_v: float
    ortho_shift_m: float
    ortho_shift_gsd: float
    dsm_rmse: float
    dsm_bias: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)


def phase_shift(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sub-pixel (dx, dy) that moves `b` onto `a`, inside `mask`, in pixels.

    Both images are centred and tapered to zero at the mask's edge, so the shared edge of
    the mask cannot pull the correlation peak to zero shift.
    """
    rows, cols = np.nonzero(mask)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    m = mask[r0:r1, c0:c1].astype(np.float32)
    taper = cv2.GaussianBlur(cv2.erode(m, np.ones((9, 9), np.uint8)), (0, 0), 3.0)
    taper *= cv2.createHanningWindow((c1 - c0, r1 - r0), cv2.CV_32F)
    fa = (a[r0:r1, c0:c1] - a[mask].mean()) * taper
    fb = (b[r0:r1, c0:c1] - b[mask].mean()) * taper
    (dx, dy), _ = cv2.phaseCorrelate(fb.astype(np.float32), fa.astype(np.float32))
    return np.array([dx, dy])


def ortho_shift(path: Path, survey: Survey) -> float:
    """Horizontal shift (m) of an orthophoto against the true texture."""
    with rasterio.open(path) as src:
        rgba = np.moveaxis(src.read(), 0, -1)
        frame = survey.frame
        grid = Grid(src.transform.c - frame.east, src.transform.f - frame.north, src.transform.a, src.height, src.width)
    x, y = grid.centers()
    truth = survey.texture_at(x, y)
    mask = rgba[..., 3] > 0
    d = phase_shift(_gray(truth), _gray(rgba[..., :3]), mask)
    return float(np.hypot(*d) * grid.res)


def dsm_error(path: Path, survey: Survey) -> tuple[float, float]:
    """RMSE and bias (m) of a DSM against the true terrain, over its valid cells."""
    with rasterio.open(path) as src:
        z = src.read(1)
        nodata = src.nodata
        grid = Grid(
            src.transform.c - survey.frame.east,
            src.transform.f - survey.frame.north,
            src.transform.a,
            src.height,
            src.width,
        )
    x, y = grid.centers()
    valid = z != nodata
    diff = z[valid] - survey.height_at(x[valid], y[valid])
    return float(np.sqrt(np.mean(diff**2))), float(np.mean(diff))


def cameras_error(project: Path, survey: Survey) -> tuple[int, float, float, float]:
    """Registered count, reprojection error and camera position RMSE (h, v) vs truth."""
    rec = pycolmap.Reconstruction(Layout(project).georef)
    index = {n: i for i, n in enumerate(survey.names)}
    d = np.array([im.projection_center() - survey.centers[index[im.name]] for im in rec.images.values()])
    return (
        rec.num_reg_images(),
        rec.compute_mean_reprojection_error(),
        float(np.sqrt((d[:, :2] ** 2).sum(1).mean())),
        float(np.sqrt((d[:, 2] ** 2).mean())),
    )


def score(project: Path, survey: Survey) -> Score:
    layout = Layout(project)
    registered, reproj, cam_h, cam_v = cameras_error(project, survey)
    shift = ortho_shift(layout.orthophoto, survey)
    rmse, bias = dsm_error(layout.dsm, survey) if layout.dsm.is_file() else (float("nan"), float("nan"))
    return Score(registered, len(survey.names), reproj, cam_h, cam_v, shift, shift / survey.gsd, rmse, bias)


def _reference_shift(project: Path, ref: np.ndarray, rgb: np.ndarray, res: float = 0.25) -> float | None:
    """Horizontal shift (m) of our orthophoto against the reference cloud's colours."""
    with rasterio.open(Layout(project).orthophoto) as src:
        t = src.transform
        scale = t.a / res
        shape = (max(1, int(src.height * scale)), max(1, int(src.width * scale)))
        ours = np.moveaxis(src.read(out_shape=(4, *shape), resampling=rasterio.enums.Resampling.average), 0, -1)
    cols = ((ref[:, 0] - t.c) / res).astype(int)
    rows = ((t.f - ref[:, 1]) / res).astype(int)
    ok = (cols >= 0) & (cols < shape[1]) & (rows >= 0) & (rows < shape[0])
    acc = np.zeros((*shape, 3))
    count = np.zeros(shape)
    np.add.at(acc, (rows[ok], cols[ok]), rgb[ok])
    np.add.at(count, (rows[ok], cols[ok]), 1)
    have = count > 0
    # Empty cells take their nearest neighbour's colour, so the mask's holes don't correlate.
    dist, (ir, ic) = ndimage.distance_transform_edt(~have, return_indices=True)
    mask = (dist * res <= 1.0) & (ours[..., 3] > 0)
    mask = ndimage.binary_erosion(mask, iterations=4)
    if mask.sum() < 1000:
        return None
    theirs = (acc / np.maximum(count, 1)[..., None])[ir, ic]
    d = phase_shift(_gray(theirs), _gray(ours[..., :3]), mask)
    return float(np.hypot(*d) * res)


def against_reference(project: Path, reference: Path, max_points: int = 1_000_000) -> dict[str, float]:
    """Height offset and horizontal shift of our cloud against a reference cloud (e.g. ODM's)."""
    frame = Frame.read(Layout(project).coords)
    ours = laspy.read(str(Layout(project).cloud))
    ref = laspy.read(str(reference))
    step = max(1, len(ref.x) // max_points)
    r = np.column_stack([ref.x[::step], ref.y[::step], ref.z[::step]])
    o = np.column_stack([ours.x, ours.y, ours.z])
    tree = cKDTree(r[:, :2])
    dist, idx = tree.query(o[:, :2], k=8, distance_upper_bound=1.0)
    ok = np.isfinite(dist).all(axis=1)
    if not ok.any():
        return {"points_compared": 0}
    dz = o[ok, 2] - np.median(r[idx[ok], 2], axis=1)
    colors = np.column_stack([ref.red[::step], ref.green[::step], ref.blue[::step]]).astype(float)
    shift = _reference_shift(project, r, colors / max(colors.max() / 255.0, 1.0))
    return {
        "points_compared": int(ok.sum()),
        "median_height_offset_m": float(np.median(dz)),
        "height_mad_m": float(np.median(np.abs(dz - np.median(dz)))),
        "horizontal_shift_m": shift if shift is not None else float("nan"),
        "crs_epsg": frame.epsg,
    }
