"""ODM's output layout: what goes into all.zip, and where each single asset lives."""

from __future__ import annotations

import os
import posixpath
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

#: NodeODM's default all.zip contents (project-relative; directories are taken whole).
ALL_PATHS: tuple[str, ...] = (
    "odm_orthophoto/odm_orthophoto.tif",
    "odm_orthophoto/odm_orthophoto.tfw",
    "odm_orthophoto/odm_orthophoto.png",
    "odm_orthophoto/odm_orthophoto.wld",
    "odm_orthophoto/odm_orthophoto.mbtiles",
    "odm_orthophoto/odm_orthophoto.kmz",
    "odm_orthophoto/odm_orthophoto_extent.dxf",
    "odm_orthophoto/cutline.gpkg",
    "odm_georeferencing",
    "odm_texturing",
    "odm_dem/dsm.tif",
    "odm_dem/dtm.tif",
    "odm_dem/dsm.euclideand.tif",
    "odm_dem/dtm.euclideand.tif",
    "dsm_tiles",
    "dtm_tiles",
    "orthophoto_tiles",
    "potree_pointcloud",
    "entwine_pointcloud",
    "3d_tiles",
    "odm_report",
    "images.json",
    "cameras.json",
    "task_output.txt",
    "log.json",
)

#: WebODM's single asset names and the ODM path each one is read from.
ASSETS: dict[str, str] = {
    "orthophoto.tif": "odm_orthophoto/odm_orthophoto.tif",
    "orthophoto.png": "odm_orthophoto/odm_orthophoto.png",
    "orthophoto.mbtiles": "odm_orthophoto/odm_orthophoto.mbtiles",
    "orthophoto.kmz": "odm_orthophoto/odm_orthophoto.kmz",
    "cutline.gpkg": "odm_orthophoto/cutline.gpkg",
    "georeferenced_model.las": "odm_georeferencing/odm_georeferenced_model.las",
    "georeferenced_model.laz": "odm_georeferencing/odm_georeferenced_model.laz",
    "georeferenced_model.ply": "odm_georeferencing/odm_georeferenced_model.ply",
    "georeferenced_model.csv": "odm_georeferencing/odm_georeferenced_model.csv",
    "textured_model.glb": "odm_texturing/odm_textured_model_geo.glb",
    "dsm.tif": "odm_dem/dsm.tif",
    "dtm.tif": "odm_dem/dtm.tif",
    "cameras.json": "cameras.json",
    "shots.geojson": "odm_report/shots.geojson",
    "report.pdf": "odm_report/report.pdf",
    "report.html": "odm_report/report.html",
    "ground_control_points.geojson": "odm_georeferencing/ground_control_points.geojson",
    "images.json": "images.json",
    "task_output.txt": "task_output.txt",
}

#: Asset names that WebODM serves as a zip of a folder.
FOLDER_ASSETS: dict[str, str] = {
    "textured_model.zip": "odm_texturing",
    "dsm_tiles.zip": "dsm_tiles",
    "dtm_tiles.zip": "dtm_tiles",
    "orthophoto_tiles.zip": "orthophoto_tiles",
    "3d_tiles_model.zip": "3d_tiles/model",
    "3d_tiles_pointcloud.zip": "3d_tiles/pointcloud",
}

ALL_ZIP = "all.zip"


def normalise(path: str) -> str:
    """NodeODM's treatment of an `outputs` entry: normalised, leading `../` stripped."""
    norm = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    while norm.startswith("../") or norm == "..":
        norm = norm[3:]
    return norm


def available_assets(project: Path) -> list[str]:
    """Asset names (WebODM's vocabulary) present in a project folder."""
    names = [ALL_ZIP] if (project / ALL_ZIP).is_file() else []
    names += [name for name, rel in ASSETS.items() if (project / rel).is_file()]
    names += [name for name, rel in FOLDER_ASSETS.items() if (project / rel).is_dir()]
    return names


def _walk(project: Path, rel: str) -> Iterator[tuple[Path, str]]:
    path = project / rel
    if path.is_file():
        yield path, rel
    elif path.is_dir():
        yield path, rel.rstrip("/") + "/"
        for root, dirs, files in os.walk(path):
            dirs.sort()
            base = Path(root)
            for d in dirs:
                yield base / d, (base / d).relative_to(project).as_posix() + "/"
            for f in sorted(files):
                yield base / f, (base / f).relative_to(project).as_posix()


def zip_entries(project: Path, paths: Iterable[str] | None = None) -> list[tuple[Path, str]]:
    """The (file, arcname) pairs of all.zip; directories appear as their own entries."""
    wanted = [normalise(p) for p in paths] if paths is not None else list(ALL_PATHS)
    seen: set[str] = set()
    entries: list[tuple[Path, str]] = []
    root = project.resolve()
    for rel in wanted:
        if not rel or rel == ".":
            continue
        target = (project / rel).resolve()
        if root not in target.parents:
            continue  # a symlink or odd name pointing out of the task folder
        for item in _walk(project, rel):
            if item[1] not in seen:
                seen.add(item[1])
                entries.append(item)
    return entries


def build_zip(project: Path, paths: Iterable[str] | None = None, name: str = ALL_ZIP) -> Path:
    """Write all.zip (stored, not deflated: rasters and LAZ are compressed already)."""
    dest = project / name
    tmp = project / f".{name}.tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path, arcname in zip_entries(project, paths):
            if arcname.endswith("/"):
                zf.writestr(zipfile.ZipInfo(arcname), b"")
            else:
                zf.write(path, arcname)
    os.replace(tmp, dest)
    return dest
