"""Where each stage reads and writes inside a task folder: ODM's layout plus a work area."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    # Stage work areas (kept so `rerun-from` can restart from any stage).
    @property
    def work(self) -> Path:
        return self.root / "colmap"

    @property
    def database(self) -> Path:
        return self.work / "database.db"

    @property
    def pairs(self) -> Path:
        return self.work / "pairs.txt"

    @property
    def sparse(self) -> Path:
        return self.work / "sparse"

    @property
    def georef(self) -> Path:
        return self.work / "georeferenced"

    @property
    def alignment(self) -> Path:
        return self.root / "odm_georeferencing" / "alignment.json"

    @property
    def surface(self) -> Path:
        """The 2.5D surface the orthophoto is draped on (ODM's 2.5D mesh plays this role)."""
        return self.root / "odm_meshing" / "surface.tif"

    # ODM's published outputs.
    @property
    def images_json(self) -> Path:
        return self.root / "images.json"

    @property
    def cameras_json(self) -> Path:
        return self.root / "cameras.json"

    @property
    def coords(self) -> Path:
        return self.root / "odm_georeferencing" / "coords.txt"

    @property
    def cloud(self) -> Path:
        return self.root / "odm_georeferencing" / "odm_georeferenced_model.laz"

    @property
    def dsm(self) -> Path:
        return self.root / "odm_dem" / "dsm.tif"

    @property
    def dtm(self) -> Path:
        return self.root / "odm_dem" / "dtm.tif"

    @property
    def orthophoto(self) -> Path:
        return self.root / "odm_orthophoto" / "odm_orthophoto.tif"

    @property
    def report_dir(self) -> Path:
        return self.root / "odm_report"

    @property
    def shots(self) -> Path:
        return self.report_dir / "shots.geojson"

    @property
    def stats(self) -> Path:
        return self.report_dir / "stats.json"
