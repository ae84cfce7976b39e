"""The orthophoto: each cell coloured from its most central view, seams feathered.

Every camera projects the surface model into its image; a cell takes the camera that
sees it closest to the image centre (least lean and distortion). Near the borders
between cameras the labels are blurred into weights so seams fade over a metre or two.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pycolmap
from scipy import ndimage

from tasks.photogrammetry.raster import Grid

FEATHER_M = 1.5
MAX_REMAP = 32000


def _project(image: pycolmap.Image, xyz: np.ndarray) -> np.ndarray:
    pose = image.cam_from_world()
    cam = xyz @ pose.rotation.matrix().T + pose.translation
    uv = np.full((len(xyz), 2), np.nan)
    front = cam[:, 2] > 0
    if front.any():
        uv[front] = image.camera.img_from_cam(cam[front])
    return uv


def _window(image: pycolmap.Image, grid: Grid, zmin: float, zmax: float) -> tuple[slice, slice] | None:
    """Rows/cols of the grid the image can see, from its corner rays at the height range."""
    cam = image.camera
    w, h = cam.width, cam.height
    border = np.array([[0, 0], [w, 0], [w, h], [0, h], [w / 2, 0], [w, h / 2], [w / 2, h], [0, h / 2]], float)
    rays = cam.cam_from_img(border)
    rays = np.column_stack([rays, np.ones(len(rays))])
    world_rays = rays @ image.cam_from_world().rotation.matrix()
    c = image.projection_center()
    if (world_rays[:, 2] >= 0).any():
        return None
    pts = []
    for z in (zmin, zmax):
        t = (z - c[2]) / world_rays[:, 2]
        pts.append(c[:2] + t[:, None] * world_rays[:, :2])
    xy = np.vstack(pts)
    c0 = int(np.floor((xy[:, 0].min() - grid.xmin) / grid.res))
    c1 = int(np.ceil((xy[:, 0].max() - grid.xmin) / grid.res))
    r0 = int(np.floor((grid.ymax - xy[:, 1].max()) / grid.res))
    r1 = int(np.ceil((grid.ymax - xy[:, 1].min()) / grid.res))
    c0, c1, r0, r1 = max(c0, 0), min(c1, grid.cols), max(r0, 0), min(r1, grid.rows)
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def _cells(grid: Grid, z: np.ndarray, win: tuple[slice, slice]) -> np.ndarray:
    x, y = grid.centers(win[0].start, win[0].stop)
    x = x[:, win[1]]
    y = y[:, win[1]]
    return np.column_stack([x.ravel(), y.ravel(), z[win].ravel().astype(np.float64)])


def _sample(img: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear colours at pixel coordinates (COLMAP convention: centres at +0.5)."""
    n = len(uv)
    pad = -n % 4096
    maps = np.pad(uv - 0.5, ((0, pad), (0, 0)), constant_values=-10).astype(np.float32)
    mx, my = maps[:, 0].reshape(-1, 4096), maps[:, 1].reshape(-1, 4096)
    out = np.empty((mx.shape[0], 4096, 3), np.uint8)
    for r in range(0, mx.shape[0], MAX_REMAP // 2):
        out[r : r + MAX_REMAP // 2] = cv2.remap(
            img,
            mx[r : r + MAX_REMAP // 2],
            my[r : r + MAX_REMAP // 2],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    return out.reshape(-1, 3)[:n]


def render(
    rec: pycolmap.Reconstruction,
    images: Path,
    grid: Grid,
    z: np.ndarray,
    mask: np.ndarray,
    progress: Callable[[float], None] = lambda f: None,
) -> np.ndarray:
    """RGBA orthophoto on `grid` over surface heights `z` (NaN = unknown), limited to `mask`."""
    valid = mask & np.isfinite(z)
    zf = np.where(valid, z, np.nanmedian(z) if np.isfinite(z).any() else 0.0)
    zmin, zmax = float(np.nanmin(zf)), float(np.nanmax(zf))
    best = np.full(z.shape, np.inf, np.float32)
    label = np.full(z.shape, -1, np.int32)
    views = sorted(rec.images.values(), key=lambda im: im.name)
    windows = [_window(im, grid, zmin, zmax) for im in views]
    for i, (image, win) in enumerate(zip(views, windows, strict=True)):
        if win is None:
            continue
        uv = _project(image, _cells(grid, zf, win))
        cam = image.camera
        du = (uv[:, 0] - cam.principal_point_x) / cam.width
        dv = (uv[:, 1] - cam.principal_point_y) / cam.height
        score = np.hypot(du, dv).reshape(best[win].shape)
        inside = np.isfinite(score) & (np.abs(du) < 0.5).reshape(score.shape) & (np.abs(dv) < 0.5).reshape(score.shape)
        better = inside & (score < best[win]) & valid[win]
        best[win][better] = score[better]
        label[win][better] = i
        progress(0.3 * (i + 1) / len(views))
    acc = np.zeros((*z.shape, 3), np.float32)
    weight = np.zeros(z.shape, np.float32)
    sigma = max(1.0, FEATHER_M / grid.res)
    reach = int(3 * sigma)
    for i, (image, win) in enumerate(zip(views, windows, strict=True)):
        if win is None or not (label[win] == i).any():
            continue
        # Blur the label mask in a window grown by the feather reach, then keep what the image sees.
        rows, cols = np.nonzero(label[win] == i)
        r0 = max(win[0].start + rows.min() - reach, 0)
        r1 = min(win[0].start + rows.max() + reach + 1, grid.rows)
        c0 = max(win[1].start + cols.min() - reach, 0)
        c1 = min(win[1].start + cols.max() + reach + 1, grid.cols)
        sub = (slice(r0, r1), slice(c0, c1))
        w = cv2.GaussianBlur((label[sub] == i).astype(np.float32), (0, 0), sigma)
        w[~valid[sub]] = 0
        sel = w > 1e-3
        uv = _project(image, _cells(grid, zf, sub)[sel.ravel()])
        cam = image.camera
        seen = (uv[:, 0] >= 0) & (uv[:, 0] <= cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] <= cam.height)
        img = cv2.cvtColor(cv2.imread(str(images / image.name), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        rgb = _sample(img, np.nan_to_num(uv, nan=-10))
        wsel = w[sel] * seen
        acc_sub, weight_sub = acc[sub], weight[sub]
        acc_sub[sel] += rgb * wsel[:, None]
        weight_sub[sel] += wsel
        progress(0.3 + 0.7 * (i + 1) / len(views))
    out = np.zeros((*z.shape, 4), np.uint8)
    have = weight > 1e-6
    out[..., :3][have] = np.clip(acc[have] / weight[have][:, None] + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.where(have & valid, 255, 0).astype(np.uint8)
    out[..., :3][out[..., 3] == 0] = 0
    return out


def surface_on(grid: Grid, surface: np.ndarray, surface_grid: Grid) -> np.ndarray:
    """Bilinear heights of `surface` (NaN = unknown) at the cell centres of `grid`."""
    x, y = grid.centers()
    cols = (x - surface_grid.xmin) / surface_grid.res - 0.5
    rows = (surface_grid.ymax - y) / surface_grid.res - 0.5
    known = np.isfinite(surface)
    filled = np.where(known, surface, 0.0)
    z = ndimage.map_coordinates(filled, [rows, cols], order=1, mode="nearest")
    ok = ndimage.map_coordinates(known.astype(np.float32), [rows, cols], order=1, mode="constant") > 0.99
    return np.where(ok, z, np.nan).astype(np.float32)


def preview(rgba: np.ndarray, path: Path, max_size: int = 4096) -> None:
    """A PNG with transparency, downscaled so its long side is at most `max_size`."""
    h, w = rgba.shape[:2]
    scale = min(1.0, max_size / max(h, w))
    img = rgba if scale >= 1 else cv2.resize(rgba, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA))
