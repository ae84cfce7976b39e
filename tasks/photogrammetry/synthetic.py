"""A synthetic drone survey with ground truth: textured terrain seen by nadir cameras.

`make_survey` renders JPEGs with EXIF GPS (optionally noisy) over a smooth terrain and
keeps the truth (camera poses, terrain heights, the ground texture) so a processed result
can be scored (`tasks.photogrammetry.accuracy`). `load_survey` rebuilds the truth from
the folder's `survey.json`, so the texture need not be stored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import piexif
from scipy import ndimage

from tasks.photogrammetry.geo import Frame
from tasks.photogrammetry.scene import terrain, texture

SENSOR_WIDTH_MM = 6.4


@dataclass
class Plan:
    """The survey's parameters; everything else is derived from these and the seed."""

    n_images: int = 12
    width: int = 1000
    height: int = 750
    focal_px: float = 800.0
    flight_height: float = 80.0
    forward_overlap: float = 0.75
    side_overlap: float = 0.65
    relief: float = 6.0
    ground_alt: float = 100.0
    gps_noise_m: float = 0.0
    tilt_deg: float = 2.0
    seed: int = 0
    lat: float = 46.8425
    lon: float = -92.0
    texture_res: float = 0.05


@dataclass
class Survey:
    folder: Path
    plan: Plan
    frame: Frame
    names: list[str]
    centers: np.ndarray  # true camera centres, local UTM (N, 3)
    rotations: np.ndarray  # true cam_from_world (N, 3, 3)
    gps: np.ndarray  # positions written to EXIF, local UTM (N, 3)
    bounds: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax of the ground model
    heights: np.ndarray = field(repr=False)  # terrain on a 1 m grid, north-up
    texture: np.ndarray = field(repr=False)  # RGB at plan.texture_res, north-up

    @property
    def images(self) -> Path:
        return self.folder / "images"

    @property
    def gsd(self) -> float:
        return self.plan.flight_height / self.plan.focal_px

    def height_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        xmin, _, _, ymax = self.bounds
        rows, cols = (ymax - np.asarray(y)) - 0.5, (np.asarray(x) - xmin) - 0.5
        return ndimage.map_coordinates(self.heights, [rows, cols], order=1, mode="nearest")

    def texture_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """RGB of the ground at local UTM points (any shape), bilinear."""
        xmin, _, _, ymax = self.bounds
        res = self.plan.texture_res
        cols = ((np.asarray(x) - xmin) / res - 0.5).astype(np.float32)
        rows = ((ymax - np.asarray(y)) / res - 0.5).astype(np.float32)
        # cv2.remap wants maps under 32767 on a side: lay the points out 4096 to a row.
        pad = -cols.size % 4096
        mx, my = (np.pad(m.ravel(), (0, pad), constant_values=-1).reshape(-1, 4096) for m in (cols, rows))
        out = np.concatenate(
            [
                cv2.remap(
                    self.texture, mx[r : r + 8192], my[r : r + 8192], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
                )
                for r in range(0, len(mx), 8192)
            ]
        )
        return out.reshape(-1, 3)[: cols.size].reshape(*cols.shape, 3)


def _layout(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """Camera positions (lawnmower lines along x) and headings in radians."""
    foot_x = plan.width / plan.focal_px * plan.flight_height
    foot_y = plan.height / plan.focal_px * plan.flight_height
    lines = max(2, round(math.sqrt(plan.n_images / 1.6)))
    per_line = math.ceil(plan.n_images / lines)
    step_x, step_y = foot_x * (1 - plan.forward_overlap), foot_y * (1 - plan.side_overlap)
    xy, yaw = [], []
    for line in range(lines):
        cols = range(per_line) if line % 2 == 0 else reversed(range(per_line))
        for col in cols:
            xy.append((col * step_x, line * step_y))
            yaw.append(0.0 if line % 2 == 0 else math.pi)
    xy_arr = np.array(xy[: plan.n_images])
    return xy_arr - xy_arr.mean(axis=0), np.array(yaw[: plan.n_images])


def _rotation(yaw: float, tilt: np.ndarray) -> np.ndarray:
    """cam_from_world for a nadir camera with heading `yaw` and small (rx, ry) tilts."""
    c, s = math.cos(yaw), math.sin(yaw)
    world_from_cam = np.column_stack([[c, s, 0], [s, -c, 0], [0, 0, -1]]).astype(float)
    rx, ry = tilt
    tilt_m = cv2.Rodrigues(np.array([rx, ry, 0.0]))[0]
    return (world_from_cam @ tilt_m).T


def _render(survey: Survey, i: int) -> np.ndarray:
    plan = survey.plan
    v, u = np.mgrid[0 : plan.height, 0 : plan.width].astype(np.float64)
    rays = np.stack(
        [(u + 0.5 - plan.width / 2) / plan.focal_px, (v + 0.5 - plan.height / 2) / plan.focal_px, np.ones_like(u)],
        axis=-1,
    )
    d = rays @ survey.rotations[i]  # world directions: R^T applied row-wise
    c = survey.centers[i]
    z = np.full(u.shape, plan.ground_alt)
    for _ in range(8):
        t = (z - c[2]) / d[..., 2]
        z = survey.height_at(c[0] + t * d[..., 0], c[1] + t * d[..., 1])
    t = (z - c[2]) / d[..., 2]
    return survey.texture_at(c[0] + t * d[..., 0], c[1] + t * d[..., 1])


def _rational(value: float, den: int = 10000) -> tuple[int, int]:
    return int(round(value * den)), den


def _dms(deg: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    deg = abs(deg)
    d = int(deg)
    m = int((deg - d) * 60)
    s = (deg - d - m / 60) * 3600
    return (d, 1), (m, 1), _rational(s)


def _exif(plan: Plan, lat: float, lon: float, alt: float) -> bytes:
    plane_res = plan.width / SENSOR_WIDTH_MM
    zeroth = {piexif.ImageIFD.Make: b"odmflow", piexif.ImageIFD.Model: b"synthetic"}
    exif = {
        piexif.ExifIFD.FocalLength: _rational(plan.focal_px / plane_res),
        piexif.ExifIFD.FocalPlaneXResolution: _rational(plane_res),
        piexif.ExifIFD.FocalPlaneYResolution: _rational(plane_res),
        piexif.ExifIFD.FocalPlaneResolutionUnit: 4,
        piexif.ExifIFD.DateTimeOriginal: b"2026:01:01 12:00:00",
    }
    gps = {
        piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
        piexif.GPSIFD.GPSLatitude: _dms(lat),
        piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
        piexif.GPSIFD.GPSLongitude: _dms(lon),
        piexif.GPSIFD.GPSAltitudeRef: 0,
        piexif.GPSIFD.GPSAltitude: _rational(alt, 1000),
    }
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps})


def _build(folder: Path, plan: Plan) -> Survey:
    rng = np.random.default_rng(plan.seed)
    xy, yaw = _layout(plan)
    n = len(xy)
    margin = plan.flight_height * 1.2
    bounds = (
        float(np.floor(xy[:, 0].min() - margin)),
        float(np.floor(xy[:, 1].min() - margin)),
        float(np.ceil(xy[:, 0].max() + margin)),
        float(np.ceil(xy[:, 1].max() + margin)),
    )
    size_m = (int(bounds[3] - bounds[1]), int(bounds[2] - bounds[0]))
    heights = terrain(rng, size_m, plan.relief, plan.ground_alt)
    ground = texture(rng, (int(size_m[0] / plan.texture_res), int(size_m[1] / plan.texture_res)))
    tilts = rng.normal(0, math.radians(plan.tilt_deg) / 2, (n, 2))
    alt = plan.ground_alt + plan.flight_height + rng.normal(0, 0.5, n)
    centers = np.column_stack([xy, alt])
    noise = rng.normal(0, 1, (n, 3)) * np.array([1.0, 1.0, 1.5]) * plan.gps_noise_m
    frame = Frame.around(np.array([plan.lat]), np.array([plan.lon]))
    # Centre the scene on the rounded offset's neighbourhood (local origin = frame offset).
    survey = Survey(
        folder=folder,
        plan=plan,
        frame=frame,
        names=[f"IMG_{i:04d}.JPG" for i in range(n)],
        centers=centers,
        rotations=np.stack([_rotation(yaw[i], tilts[i]) for i in range(n)]),
        gps=centers + noise,
        bounds=bounds,
        heights=heights,
        texture=ground,
    )
    return survey


def make_survey(
    out_dir: Path | str,
    n_images: int = 12,
    gps_noise_m: float = 0.0,
    seed: int = 0,
    width: int = 1000,
    **plan_fields: float,
) -> Survey:
    """Render a survey into `out_dir/images` and write its truth to `out_dir/survey.json`."""
    folder = Path(out_dir)
    height = int(round(width * 0.75))
    plan = Plan(
        n_images=n_images,
        gps_noise_m=gps_noise_m,
        seed=seed,
        width=width,
        height=height,
        focal_px=0.8 * width,
        **plan_fields,  # type: ignore[arg-type]
    )
    survey = _build(folder, plan)
    survey.images.mkdir(parents=True, exist_ok=True)
    wgs = survey.frame.to_wgs84(survey.gps)
    noise_rng = np.random.default_rng(plan.seed + 1)
    for i, name in enumerate(survey.names):
        rgb = _render(survey, i).astype(np.float32)
        rgb += noise_rng.normal(0, 2.0, rgb.shape)
        bgr = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        path = survey.images / name
        cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        piexif.insert(_exif(plan, wgs[i, 1], wgs[i, 0], wgs[i, 2]), str(path))
    (folder / "survey.json").write_text(json.dumps({"plan": plan.__dict__}, indent=1))
    return survey


def load_survey(folder: Path | str) -> Survey:
    """The truth of a survey made by `make_survey` (re-derived from its seed)."""
    folder = Path(folder)
    plan = Plan(**json.loads((folder / "survey.json").read_text())["plan"])
    return _build(folder, plan)


def project(survey: Survey, i: int, xyz: np.ndarray) -> np.ndarray:
    """Pixel coordinates (COLMAP convention, centres at +0.5) of local points in image i."""
    cam = (xyz - survey.centers[i]) @ survey.rotations[i].T
    plan = survey.plan
    u = plan.focal_px * cam[:, 0] / cam[:, 2] + plan.width / 2
    v = plan.focal_px * cam[:, 1] / cam[:, 2] + plan.height / 2
    return np.column_stack([u, v])


def write_gcp_list(survey: Survey, path: Path, n_points: int = 6, seed: int = 0) -> Path:
    """ODM's gcp_list.txt for ground points seen (exactly) by the true cameras."""
    rng = np.random.default_rng(seed)
    spread = np.ptp(survey.centers[:, :2], axis=0) / 2
    xy = rng.uniform(-0.8, 0.8, (n_points, 2)) * spread + survey.centers[:, :2].mean(0)
    xyz = np.column_stack([xy, survey.height_at(xy[:, 0], xy[:, 1])])
    lines = [f"EPSG:{survey.frame.epsg}"]
    for k, point in enumerate(xyz):
        world = point + survey.frame.offset
        for i, name in enumerate(survey.names):
            u, v = project(survey, i, point[None])[0]
            if 20 < u < survey.plan.width - 20 and 20 < v < survey.plan.height - 20:
                lines.append(f"{world[0]:.3f} {world[1]:.3f} {world[2]:.3f} {u - 0.5:.2f} {v - 0.5:.2f} {name} gcp{k}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
