"""Bring the reconstruction into local UTM: a Sim3 fitted to GPS positions or to GCPs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pycolmap

from tasks.photogrammetry.gcp import read_gcps, triangulate, umeyama
from tasks.photogrammetry.geo import Frame

# Cameras more oblique than this make a survey non-nadir (no levelling).
NADIR_MAX_DEG = 15.0
# Systematic gimbal error that averaging over images cannot remove.
GIMBAL_BIAS_DEG = 0.3


class GeoreferenceError(Exception):
    pass


@dataclass
class Alignment:
    source: str  # "gps" or "gcp"
    scale: float
    residuals: dict[str, list[float]] = field(default_factory=dict)  # name -> [dx, dy, dz]
    gsd: float = 0.0
    ground: float = 0.0

    @property
    def rmse(self) -> tuple[float, float]:
        r = np.array(list(self.residuals.values())) if self.residuals else np.zeros((1, 3))
        return float(np.sqrt((r[:, :2] ** 2).sum(1).mean())), float(np.sqrt((r[:, 2] ** 2).mean()))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> Alignment:
        return cls(**json.loads(path.read_text()))


def align_gps(rec: pycolmap.Reconstruction, locations: dict[str, np.ndarray], accuracy: float) -> Alignment:
    names = [img.name for img in rec.images.values() if img.name in locations]
    if len(names) < 3:
        raise GeoreferenceError(
            f"Only {len(names)} registered images have GPS positions; at least 3 are needed "
            "(add GPS to the images, a geo.txt, or a gcp_list.txt)."
        )
    ransac = pycolmap.RANSACOptions()
    # The inlier band follows the GPS accuracy: a loose band fits all cameras in least squares.
    ransac.max_error = max(1.0, 3.0 * accuracy)
    target = np.array([locations[n] for n in names])
    sim = pycolmap.align_reconstruction_to_locations(rec, names, target, 3, ransac)
    if sim is None:
        raise GeoreferenceError("The camera positions do not fit the GPS positions; check the GPS tags.")
    rec.transform(sim)
    return Alignment("gps", float(sim.scale), residuals(rec, locations))


def residuals(rec: pycolmap.Reconstruction, locations: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Camera centre minus GPS position, per registered image with GPS."""
    return {
        im.name: (im.projection_center() - locations[im.name]).tolist()
        for im in rec.images.values()
        if im.name in locations
    }


def level(rec: pycolmap.Reconstruction, alignment: Alignment, log: Callable[[str], None]) -> None:
    """Fuse the GPS fit's tilt with the nadir prior of a nadir survey.

    Vertical GPS noise tilts a Sim3 fit by about sigma_z / (camera spread), which moves the
    ground sideways by height x tilt. On a nadir survey the mean viewing direction is a
    second, independent estimate of the vertical. Each is weighted by its variance: the GPS
    fit's from its vertical residuals, the nadir prior's from the spread of camera tilts,
    with a floor for gimbal bias. With RTK-grade GPS the fit wins and nothing moves.
    """
    images = list(rec.images.values())
    views = np.array([im.cam_from_world().rotation.matrix()[2] for im in images])
    if len(images) < 3 or (views[:, 2] > -np.cos(np.radians(NADIR_MAX_DEG))).any():
        return
    centres = np.array([im.projection_center() for im in images])
    mean = views.mean(axis=0)
    mean /= np.linalg.norm(mean)
    # Tilt of the mean view from nadir, as rotations about x (row) and y (column).
    nadir_tilt = np.array([-mean[1], mean[0]])
    spread = np.degrees(np.linalg.norm(views[:, :2] - mean[:2], axis=1).std())
    sigma_nadir = np.radians(max(spread / np.sqrt(len(images)), GIMBAL_BIAS_DEG))
    r = np.array(list(alignment.residuals.values()))
    n = len(r)
    sigma_z = float(np.sqrt((r[:, 2] ** 2).sum() / max(n - 3, 1))) + 1e-3
    offsets = centres[:, :2] - centres[:, :2].mean(axis=0)
    # A tilt about x shows as a slope along y and vice versa.
    sigma_gps = sigma_z / np.sqrt((offsets[:, ::-1] ** 2).sum(axis=0) + 1e-9)
    weight = sigma_gps**2 / (sigma_gps**2 + sigma_nadir**2)
    correction = weight * nadir_tilt
    rot = cv2.Rodrigues(np.array([correction[0], correction[1], 0.0]))[0]
    centre = centres.mean(axis=0)
    rec.transform(pycolmap.Sim3d(1.0, pycolmap.Rotation3d(rot), centre - rot @ centre))
    log(
        f"Levelled with the nadir prior: {np.degrees(np.linalg.norm(correction)):.3f} deg "
        f"(GPS tilt sigma {np.degrees(sigma_gps.max()):.3f} deg, nadir {np.degrees(sigma_nadir):.3f} deg)"
    )


def align_gcps(rec: pycolmap.Reconstruction, path: Path, frame: Frame) -> Alignment | None:
    """Fit to GCPs when at least three can be triangulated; None otherwise."""
    src, dst, labels = [], [], []
    for point in read_gcps(path, frame):
        xyz = triangulate(rec, point)
        if xyz is not None:
            src.append(xyz)
            dst.append(point.world)
            labels.append(point.name)
    if len(src) < 3:
        return None
    scale, r, t = umeyama(np.array(src), np.array(dst))
    sim = pycolmap.Sim3d(scale, pycolmap.Rotation3d(r), t)
    rec.transform(sim)
    moved = scale * (np.array(src) @ r.T) + t
    residuals = {n: (m - d).tolist() for n, m, d in zip(labels, moved, dst, strict=True)}
    return Alignment("gcp", scale, residuals)


def ground_and_gsd(rec: pycolmap.Reconstruction) -> tuple[float, float]:
    """Median ground height and ground sampling distance (m/px) after alignment."""
    z = np.array([p.xyz[2] for p in rec.points3D.values()])
    ground = float(np.median(z)) if len(z) else 0.0
    gsds = [(img.projection_center()[2] - ground) / img.camera.mean_focal_length() for img in rec.images.values()]
    return ground, float(np.median(np.abs(gsds))) if gsds else 0.0
