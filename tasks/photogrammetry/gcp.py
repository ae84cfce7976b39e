"""Ground control points from ODM's gcp_list.txt, triangulated in the model frame.

Format: a CRS line (proj string, `EPSG:xxxx` or `WGS84 UTM 32N`), then
`geo_x geo_y geo_z im_x im_y image_name [gcp_name]` per observation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap
from pyproj import CRS

from tasks.photogrammetry.geo import Frame


@dataclass
class ControlPoint:
    name: str
    world: np.ndarray  # local UTM (3,)
    observations: list[tuple[str, float, float]]


def find_gcp_file(folder: Path) -> Path | None:
    """gcp_list.txt, or else the one other .txt that is not geo.txt, image_groups.txt or align.*."""
    if not folder.is_dir():
        return None
    if (folder / "gcp_list.txt").is_file():
        return folder / "gcp_list.txt"
    others = [
        p
        for p in sorted(folder.glob("*.txt"))
        if p.name.lower() not in ("geo.txt", "image_groups.txt") and not p.name.lower().startswith("align.")
    ]
    return others[0] if others else None


def parse_crs(line: str) -> CRS:
    m = re.match(r"WGS84 UTM (\d+)([NS])", line.strip(), re.IGNORECASE)
    if m:
        return CRS.from_epsg((32600 if m.group(2).upper() == "N" else 32700) + int(m.group(1)))
    return CRS.from_user_input(line.strip())


def read_gcps(path: Path, frame: Frame) -> list[ControlPoint]:
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    crs = parse_crs(lines[0])
    grouped: dict[tuple[float, float, float], list[tuple[str, float, float]]] = defaultdict(list)
    names: dict[tuple[float, float, float], str] = {}
    for ln in lines[1:]:
        p = ln.split()
        if len(p) < 6:
            continue
        key = (float(p[0]), float(p[1]), float(p[2]))
        grouped[key].append((p[5], float(p[3]), float(p[4])))
        names.setdefault(key, p[6] if len(p) > 6 else f"gcp{len(names) + 1}")
    keys = list(grouped)
    local = frame.from_crs(crs, np.array(keys, dtype=float)) if keys else np.zeros((0, 3))
    return [ControlPoint(names[k], local[i], grouped[k]) for i, k in enumerate(keys)]


def triangulate(rec: pycolmap.Reconstruction, point: ControlPoint) -> np.ndarray | None:
    """Linear multi-view triangulation of one GCP from its image observations."""
    by_name = {img.name: img for img in rec.images.values()}
    rows = []
    for name, u, v in point.observations:
        image = by_name.get(name)
        if image is None:
            continue
        # Undistort the click through the camera model, then use the normalised ray.
        ray = image.camera.cam_from_img(np.array([[u + 0.5, v + 0.5]]))[0]
        pose = image.cam_from_world().matrix()  # 3x4
        rows.append(ray[0] * pose[2] - pose[0])
        rows.append(ray[1] * pose[2] - pose[1])
    if len(rows) < 4:
        return None
    _, _, vt = np.linalg.svd(np.array(rows))
    x = vt[-1]
    return x[:3] / x[3]


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (scale, R, t) with dst ≈ scale * R @ src + t, least squares."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, s, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    scale = float(np.trace(np.diag(s) @ d) / (a**2).sum(1).mean())
    return scale, r, mu_d - scale * r @ mu_s
