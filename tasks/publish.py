"""Publishing a batch's results: staged first, moved into place, marker last.

A task's all.zip is unpacked under a staging prefix, the rasters made cloud-optimised
where they are not, a STAC Item written beside them, and only then is everything moved
under `<output>/<batch>/`, the marker last. A reader (or the next run's discovery) that
sees no marker treats the batch as not done, whatever else lies there, so a crash at any
point leaves nothing that looks finished.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import laspy
import pystac
import rasterio
from fsspec import AbstractFileSystem
from pystac.extensions.projection import ProjectionExtension
from rasterio.warp import transform_geom
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from tasks.storage import MARKER, join, write_json
from tasks.unzip import Member, ZipTap, read_member

__all__ = ["ITEM", "STAC_ASSETS", "stage_download", "stage_archive", "stage_written", "stac_item", "publish"]

ITEM = "item.json"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
LAZ = "application/vnd.laszip"

#: STAC asset key → (ODM path, media type, title).
STAC_ASSETS: dict[str, tuple[str, str, str]] = {
    "orthophoto": ("odm_orthophoto/odm_orthophoto.tif", COG, "Orthophoto"),
    "dsm": ("odm_dem/dsm.tif", COG, "Digital surface model"),
    "dtm": ("odm_dem/dtm.tif", COG, "Digital terrain model"),
    "pointcloud": ("odm_georeferencing/odm_georeferenced_model.laz", LAZ, "Georeferenced point cloud"),
}


def stage_download(
    fetch: Callable[[IO[bytes]], object], archive: Path, fs: AbstractFileSystem, staging: str, parallel: int = 8,
) -> list[str]:
    """Download an archive with `fetch(file)` into `archive` and unpack it under `staging`.

    Members are copied to storage while the rest still downloads (see `tasks.unzip`);
    rasters wait for the whole archive, as do members of archives that cannot be followed.
    """
    rasters = {path for path, media, _ in STAC_ASSETS.values() if media == COG}
    streamed: list[str] = []
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="stage") as pool:
        copies: list[Future[None]] = []

        def copy(member: Member) -> None:
            target = join(fs, staging, member.name)
            fs.makedirs(posixpath.dirname(target), exist_ok=True)
            with open(archive, "rb") as src, fs.open(target, "wb") as out:
                for data in read_member(src, member):
                    out.write(data)

        def ready(member: Member) -> None:
            if member.name not in rasters:
                streamed.append(member.name)
                copies.append(pool.submit(copy, member))

        try:
            with open(archive, "wb") as local:
                fetch(cast(IO[bytes], ZipTap(local, ready)))
        finally:
            wait(copies)
        for done in copies:
            done.result()
    return stage_archive(archive, fs, staging, parallel, skip=set(streamed))


def stage_archive(
    archive: Path, fs: AbstractFileSystem, staging: str, parallel: int = 8, skip: set[str] | None = None,
) -> list[str]:
    """Unpack `archive` under `staging`, rasters as COGs; return the relative paths of all members.

    Members named in `skip` are taken to be there already.
    """
    with zipfile.ZipFile(archive) as zf:
        members = [m.filename for m in zf.infolist() if not m.is_dir()]
    rasters = {path for path, media, _ in STAC_ASSETS.values() if media == COG}
    fs.makedirs(staging, exist_ok=True)

    def put(member: str) -> None:
        target = join(fs, staging, member)
        fs.makedirs(posixpath.dirname(target), exist_ok=True)
        if member in rasters:
            _put_cog(archive, member, fs, target)
            return
        # One ZipFile per thread: a shared one would interleave the threads' seeks.
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, fs.open(target, "wb") as out:
            shutil.copyfileobj(src, out, 8 * 1024 * 1024)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="publish") as pool:
        list(pool.map(put, [m for m in members if m not in (skip or set())]))
    return sorted(members)


def stage_written(fs: AbstractFileSystem, staging: str) -> list[str]:
    """Results a node wrote under `staging` itself: make its rasters COGs in place; return the paths."""
    members = sorted(posixpath.relpath(p, staging) for p in fs.find(staging))
    rasters = {path for path, media, _ in STAC_ASSETS.values() if media == COG}
    for member in rasters & set(members):
        target = join(fs, staging, member)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / posixpath.basename(member)
            fs.get_file(target, str(local))
            if not cog_validate(str(local), quiet=True)[0]:
                cog = local.with_suffix(".cog.tif")
                cog_translate(str(local), str(cog), cog_profiles.get("deflate"), quiet=True)
                fs.put_file(str(cog), target)
    return [m for m in members if m != "all.zip"]


def _put_cog(archive: Path, member: str, fs: AbstractFileSystem, target: str) -> None:
    source = f"/vsizip/{archive}/{member}"
    valid, _, _ = cog_validate(source, quiet=True)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / posixpath.basename(member)
        if valid:
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(local, "wb") as out:
                shutil.copyfileobj(src, out, 8 * 1024 * 1024)
        else:
            cog_translate(source, str(local), cog_profiles.get("deflate"), quiet=True)
        fs.put_file(str(local), target)


def stac_item(
    batch: str, fs: AbstractFileSystem, staging: str, members: list[str],
    properties: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """A STAC Item of the staged results: COG rasters and the LAZ cloud, CRS and footprint."""
    present = set(members)
    found: dict[str, tuple[pystac.Asset, dict[str, Any]]] = {}
    geometry: dict[str, Any] | None = None
    for key, (path, media, title) in STAC_ASSETS.items():
        if path not in present:
            continue
        with fs.open(join(fs, staging, path), "rb") as fh:
            footprint, proj = _raster_meta(fh) if media == COG else _cloud_meta(fh)
        geometry = geometry or footprint
        found[key] = (pystac.Asset(f"./{path}", media_type=media, title=title, roles=["data"]), proj)
    if geometry is None:
        raise ValueError(f"Batch {batch} produced no georeferenced orthophoto, DEM or point cloud.")
    item = pystac.Item(
        id=batch.replace("/", "-"), geometry=geometry, bbox=_bbox(geometry),
        datetime=datetime.now(UTC), properties=dict(properties or {}),
    )
    for key, (asset, proj) in found.items():
        item.add_asset(key, asset)
        ProjectionExtension.ext(asset, add_if_missing=True).apply(**proj)
    return item


def publish(
    fs: AbstractFileSystem, output: str, batch: str, staging: str, members: list[str],
    item: pystac.Item, marker: Mapping[str, Any],
) -> str:
    """Move staged files under `<output>/<batch>/`, then the Item, then the marker; return the prefix."""
    final = join(fs, output, batch)
    for member in members:
        target = join(fs, final, member)
        fs.makedirs(posixpath.dirname(target), exist_ok=True)
        fs.mv(join(fs, staging, member), target)
    write_json(fs, join(fs, final, ITEM), item.to_dict(include_self_link=False, transform_hrefs=False))
    write_json(fs, join(fs, final, MARKER), {**marker, "item": ITEM, "assets": members})
    return final


def _raster_meta(fh: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    with rasterio.open(fh) as src:
        left, bottom, right, top = src.bounds
        ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
        footprint = transform_geom(src.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
        proj = {"epsg": src.crs.to_epsg(), "shape": [src.height, src.width],
                "transform": list(src.transform)[:6], "bbox": [left, bottom, right, top]}
        if proj["epsg"] is None:
            proj.pop("epsg")
            proj["wkt2"] = src.crs.to_wkt()
    return footprint, proj


def _cloud_meta(fh: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    with laspy.open(fh) as reader:
        header = reader.header
        crs = header.parse_crs()
        (left, bottom, _), (right, top, _) = header.mins, header.maxs
    ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
    polygon = {"type": "Polygon", "coordinates": [ring]}
    proj: dict[str, Any] = {"bbox": [float(left), float(bottom), float(right), float(top)]}
    if crs is None:
        return None, proj  # local coordinates: no footprint to give
    epsg = crs.to_epsg()
    if epsg is not None:
        proj["epsg"] = epsg
    else:
        proj["wkt2"] = crs.to_wkt()
    return transform_geom(crs.to_wkt(), "EPSG:4326", polygon), proj


def _bbox(geometry: Mapping[str, Any]) -> list[float]:
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    return [min(xs), min(ys), max(xs), max(ys)]
