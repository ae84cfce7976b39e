"""Coordinate reference: the UTM zone of a survey and the local offset used for computing.

Reconstruction, DEM and orthophoto work in *local* UTM coordinates (UTM minus a rounded
offset) so that float32 rasters and float64 solvers keep millimetre precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer


def utm_epsg(lat: float, lon: float) -> int:
    """The EPSG code of the WGS84 UTM zone containing a point."""
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class Frame:
    """A projected CRS plus the offset subtracted from its coordinates."""

    epsg: int
    east: float
    north: float

    @classmethod
    def around(cls, lat: np.ndarray, lon: np.ndarray) -> Frame:
        epsg = utm_epsg(float(np.mean(lat)), float(np.mean(lon)))
        e, n = Transformer.from_crs(4326, epsg, always_xy=True).transform(np.mean(lon), np.mean(lat))
        # Round to 100 m so offsets read well in coords.txt and in logs.
        return cls(epsg, float(np.round(e, -2)), float(np.round(n, -2)))

    @property
    def crs(self) -> CRS:
        return CRS.from_epsg(self.epsg)

    @property
    def offset(self) -> np.ndarray:
        return np.array([self.east, self.north, 0.0])

    def to_local(self, lat: np.ndarray, lon: np.ndarray, alt: np.ndarray) -> np.ndarray:
        """WGS84 degrees and metres to local UTM (N, 3)."""
        e, n = Transformer.from_crs(4326, self.epsg, always_xy=True).transform(lon, lat)
        return np.column_stack([np.asarray(e) - self.east, np.asarray(n) - self.north, alt])

    def to_wgs84(self, local: np.ndarray) -> np.ndarray:
        """Local UTM (N, 3) to (lon, lat, alt) columns."""
        lon, lat = Transformer.from_crs(self.epsg, 4326, always_xy=True).transform(
            local[:, 0] + self.east, local[:, 1] + self.north
        )
        return np.column_stack([lon, lat, local[:, 2]])

    def from_crs(self, crs: CRS, xyz: np.ndarray) -> np.ndarray:
        """Coordinates in another CRS (x, y, z columns) to local UTM."""
        x, y = Transformer.from_crs(crs, self.epsg, always_xy=True).transform(xyz[:, 0], xyz[:, 1])
        return np.column_stack([np.asarray(x) - self.east, np.asarray(y) - self.north, xyz[:, 2]])

    def write(self, path: Path) -> None:
        """ODM's coords.txt: the CRS name, then the offset."""
        zone, south = (self.epsg - 32600, False) if self.epsg < 32700 else (self.epsg - 32700, True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"WGS84 UTM {zone}{'S' if south else 'N'}\n{self.east:.0f} {self.north:.0f}\n")

    @classmethod
    def read(cls, path: Path) -> Frame:
        head, offset = path.read_text().splitlines()[:2]
        zone = head.split()[-1]
        epsg = (32700 if zone.endswith("S") else 32600) + int(zone[:-1])
        east, north = (float(v) for v in offset.split())
        return cls(epsg, east, north)
