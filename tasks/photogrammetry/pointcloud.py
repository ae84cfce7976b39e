"""The georeferenced point cloud: filtered tie points, exported as LAZ (and LAS/PLY/CSV)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import laspy
import numpy as np
import pycolmap
from scipy.spatial import cKDTree

from tasks.photogrammetry.geo import Frame

MAX_REPROJECTION_PX = 2.0


@dataclass
class Cloud:
    xyz: np.ndarray  # local UTM (N, 3)
    rgb: np.ndarray  # uint8 (N, 3)

    def __len__(self) -> int:
        return len(self.xyz)

    def subset(self, keep: np.ndarray) -> Cloud:
        return Cloud(self.xyz[keep], self.rgb[keep])


def from_reconstruction(rec: pycolmap.Reconstruction) -> Cloud:
    pts = [p for p in rec.points3D.values() if p.error <= MAX_REPROJECTION_PX and p.track.length() >= 2]
    if not pts:
        return Cloud(np.zeros((0, 3)), np.zeros((0, 3), np.uint8))
    return Cloud(np.array([p.xyz for p in pts]), np.array([p.color for p in pts], dtype=np.uint8))


def remove_outliers(cloud: Cloud, k: int = 12, sigma: float = 3.0) -> Cloud:
    """Drop points whose height departs from their neighbours' median by > sigma robust stds."""
    if len(cloud) <= k:
        return cloud
    _, idx = cKDTree(cloud.xyz[:, :2]).query(cloud.xyz[:, :2], k=k + 1)
    z = cloud.xyz[:, 2]
    dev = z - np.median(z[idx[:, 1:]], axis=1)
    mad = 1.4826 * np.median(np.abs(dev - np.median(dev))) + 1e-6
    return cloud.subset(np.abs(dev) <= sigma * mad + 0.05)


def crop(cloud: Cloud, inside: np.ndarray) -> Cloud:
    return cloud.subset(inside)


def write_las(cloud: Cloud, frame: Frame, path: Path) -> None:
    """LAS 1.4 point format 7 (RGB), millimetre scale, CRS in a WKT VLR."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = laspy.LasHeader(point_format=7, version="1.4")
    world = cloud.xyz + frame.offset
    header.offsets = np.floor(world.min(axis=0)) if len(world) else np.zeros(3)
    header.scales = np.array([0.001, 0.001, 0.001])
    header.add_crs(frame.crs)
    las = laspy.LasData(header)
    las.x, las.y, las.z = world[:, 0], world[:, 1], world[:, 2]
    rgb16 = cloud.rgb.astype(np.uint16) * 257
    las.red, las.green, las.blue = rgb16[:, 0], rgb16[:, 1], rgb16[:, 2]
    las.write(str(path))


def write_ply(cloud: Cloud, frame: Frame, path: Path) -> None:
    world = cloud.xyz + frame.offset
    head = (
        "ply\nformat binary_little_endian 1.0\n"
        f"comment crs EPSG:{frame.epsg}\nelement vertex {len(cloud)}\n"
        "property double x\nproperty double y\nproperty double z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    rows = np.zeros(len(cloud), dtype=[("p", "<f8", 3), ("c", "u1", 3)])
    rows["p"], rows["c"] = world, cloud.rgb
    path.write_bytes(head.encode() + rows.tobytes())


def write_csv(cloud: Cloud, frame: Frame, path: Path) -> None:
    world = cloud.xyz + frame.offset
    table = np.column_stack([world, cloud.rgb])
    np.savetxt(path, table, fmt="%.3f,%.3f,%.3f,%d,%d,%d", header="X,Y,Z,Red,Green,Blue", comments="")


def read_las(path: Path, frame: Frame) -> Cloud:
    las = laspy.read(str(path))
    xyz = np.column_stack([las.x, las.y, las.z]) - frame.offset
    rgb = (np.column_stack([las.red, las.green, las.blue]) // 257).astype(np.uint8)
    return Cloud(xyz, rgb)
