"""A denser point cloud from stereo pairs: rectify neighbouring views and run OpenCV SGBM.

pycolmap's multi-view stereo needs CUDA, so each image is paired with the neighbour whose
baseline suits stereo (about a quarter of the flying height, along the image rows), the
pair is rectified with the reconstruction's poses, and semi-global matching gives a depth
per pixel. Depths from all pairs are merged on a grid, keeping cells where several
measurements agree, which removes most mismatches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pycolmap

from tasks.photogrammetry.pointcloud import Cloud

STEREO_SIZE = 800  # long side of the images used for stereo
BASE_RATIO = (0.08, 0.6)  # usable baseline / depth
MIN_AGREEING = 3  # measurements a grid cell needs
MAX_SPREAD_GSD = 6.0  # their allowed spread, in stereo ground pixels


def _intrinsics(cam: pycolmap.Camera, scale: float) -> tuple[np.ndarray, np.ndarray] | None:
    """OpenCV K and distortion at `scale` (OpenCV puts pixel centres at integers)."""
    p = dict(zip(cam.params_info.split(", "), cam.params, strict=False))
    if cam.model_name in ("SIMPLE_RADIAL", "RADIAL", "SIMPLE_PINHOLE", "PINHOLE"):
        fx = fy = p.get("f", p.get("fx", 0.0))
        fy = p.get("fy", fy)
        dist = np.array([p.get("k", p.get("k1", 0.0)), p.get("k2", 0.0), 0.0, 0.0])
    elif cam.model_name == "OPENCV":
        fx, fy = p["fx"], p["fy"]
        dist = np.array([p["k1"], p["k2"], p["p1"], p["p2"]])
    else:
        return None
    k = np.array([[fx * scale, 0, p["cx"] * scale - 0.5], [0, fy * scale, p["cy"] * scale - 0.5], [0, 0, 1]], float)
    return k, dist


def stereo_pairs(rec: pycolmap.Reconstruction, depth: float) -> list[tuple[int, int]]:
    """For each image, the neighbour with the best stereo baseline along its rows or columns."""
    ids = sorted(rec.images)
    centres = {i: rec.images[i].projection_center() for i in ids}
    pairs = []
    for i in ids:
        pose = rec.images[i].cam_from_world()
        best, best_cost = None, np.inf
        for j in ids:
            if j == i:
                continue
            base = pose.rotation.matrix() @ (centres[j] - centres[i])
            ratio = np.hypot(base[0], base[1]) / depth
            along_axis = max(abs(base[0]), abs(base[1])) >= 2 * min(abs(base[0]), abs(base[1]))
            if not BASE_RATIO[0] <= ratio <= BASE_RATIO[1] or not along_axis:
                continue
            cost = abs(ratio - 0.25)
            if cost < best_cost:
                best, best_cost = j, cost
        if best is not None and (best, i) not in pairs:
            pairs.append((i, best))
    return pairs


def _load(path: Path, scale: float) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img


def pair_points(
    rec: pycolmap.Reconstruction, i: int, j: int, images: Path, depth_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """World points and colours from one rectified pair (empty arrays if unusable)."""
    empty = np.zeros((0, 3)), np.zeros((0, 3), np.uint8)
    a, b = rec.images[i], rec.images[j]
    scale = min(1.0, STEREO_SIZE / max(a.camera.width, a.camera.height))
    ka, kb = _intrinsics(a.camera, scale), _intrinsics(b.camera, scale)
    if ka is None or kb is None:
        return empty
    pa, pb = a.cam_from_world(), b.cam_from_world()
    r = pb.rotation.matrix() @ pa.rotation.matrix().T
    t = pb.translation - r @ pa.translation
    size = (round(a.camera.width * scale), round(a.camera.height * scale))
    r1, r2, p1, p2, q, _, _ = cv2.stereoRectify(
        ka[0], ka[1], kb[0], kb[1], size, r, t.reshape(3, 1), flags=cv2.CALIB_ZERO_DISPARITY, alpha=0
    )
    vertical = abs(p2[1, 3]) > abs(p2[0, 3])
    if p2[int(vertical), 3] > 0:
        return empty  # the partner is left of (or above) this image: the other ordering serves
    left = cv2.remap(
        _load(images / a.name, scale), *cv2.initUndistortRectifyMap(*ka, r1, p1, size, cv2.CV_32FC1), cv2.INTER_LINEAR
    )
    right = cv2.remap(
        _load(images / b.name, scale), *cv2.initUndistortRectifyMap(*kb, r2, p2, size, cv2.CV_32FC1), cv2.INTER_LINEAR
    )
    f, base = p1[0, 0], abs(p2[int(vertical), 3] / p2[0, 0])
    dmin, dmax = f * base / depth_range[1], f * base / depth_range[0]
    lo = max(0, int(dmin * 0.85))
    span = int(np.ceil((dmax * 1.15 - lo) / 16.0)) * 16
    if span <= 0 or span > 512:
        return empty
    block = 5
    sgbm = cv2.StereoSGBM_create(
        minDisparity=lo,
        numDisparities=span,
        blockSize=block,
        P1=8 * 3 * block**2,
        P2=32 * 3 * block**2,
        disp12MaxDiff=1,
        uniquenessRatio=10,
        speckleWindowSize=100,
        speckleRange=2,
    )
    gray = [cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in (left, right)]
    if vertical:  # SGBM searches along rows: turn column stereo into row stereo
        gray = [cv2.transpose(g) for g in gray]
    disp = sgbm.compute(gray[0], gray[1]).astype(np.float32) / 16.0
    disp[:, : lo + span] = -1  # SGBM leaves the left band unmatched
    if vertical:
        disp = cv2.transpose(disp)
    valid = disp > lo
    valid[::2] = False  # every other row: the grid merge needs no more
    if valid.sum() < 100:
        return empty
    xyz_rect = cv2.reprojectImageTo3D(disp, q)[valid]
    cam = xyz_rect @ r1  # rectified -> original camera frame (r1 is orthonormal)
    world = (cam - pa.translation) @ pa.rotation.matrix()
    rgb = cv2.cvtColor(left, cv2.COLOR_BGR2RGB)[valid]
    return world, rgb


def merge(points: list[np.ndarray], colours: list[np.ndarray], cell: float) -> Cloud:
    """One point per grid cell where enough measurements agree (median height)."""
    xyz, rgb = np.vstack(points), np.vstack(colours)
    key = np.floor(xyz[:, :2] / cell).astype(np.int64)
    order = np.lexsort((xyz[:, 2], key[:, 1], key[:, 0]))
    key, xyz, rgb = key[order], xyz[order], rgb[order]
    start = np.flatnonzero(np.r_[True, (np.diff(key, axis=0) != 0).any(axis=1)])
    count = np.diff(np.r_[start, len(xyz)])
    mid = start + count // 2  # sorted by z within a cell: the median
    q1, q3 = start + count // 4, start + (3 * count) // 4
    spread = xyz[np.minimum(q3, len(xyz) - 1), 2] - xyz[q1, 2]
    keep = (count >= MIN_AGREEING) & (spread <= MAX_SPREAD_GSD * cell / 2)
    # The median point itself, not the cell centre: a perfectly regular grid makes the TIN's
    # Delaunay triangulation degenerate and slow.
    return Cloud(xyz[mid][keep], rgb[mid][keep])


def densify(
    rec: pycolmap.Reconstruction,
    images: Path,
    log: Callable[[str], None] = print,
    progress: Callable[[float], None] = lambda f: None,
) -> Cloud | None:
    """A dense 2.5D cloud, or None when no image pair suits stereo."""
    z = np.array([p.xyz[2] for p in rec.points3D.values()])
    centres = np.array([im.projection_center() for im in rec.images.values()])
    if len(z) < 10:
        return None
    depths = centres[:, 2].mean() - np.percentile(z, [1, 50, 99])
    depth_range = (max(depths[2] * 0.8, 1e-3), depths[0] * 1.25)
    pairs = stereo_pairs(rec, float(depths[1]))
    if not pairs:
        return None
    points, colours = [], []
    for k, (i, j) in enumerate(pairs):
        xyz, rgb = pair_points(rec, i, j, images, depth_range)
        if len(xyz) == 0:
            xyz, rgb = pair_points(rec, j, i, images, depth_range)
        points.append(xyz)
        colours.append(rgb)
        progress(0.9 * (k + 1) / len(pairs))
    if not sum(len(p) for p in points):
        return None
    cam = next(iter(rec.images.values())).camera
    scale = min(1.0, STEREO_SIZE / max(cam.width, cam.height))
    gsd = float(depths[1]) / cam.mean_focal_length() / scale
    cloud = merge(points, colours, 2 * gsd)
    log(
        f"Dense stereo: {len(pairs)} pairs, {sum(len(p) for p in points)} depths -> {len(cloud)} points "
        f"on a {2 * gsd * 100:.0f} cm grid"
    )
    return cloud
