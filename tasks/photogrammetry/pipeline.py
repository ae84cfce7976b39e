"""The processing stages as plain functions over a task folder (ODM's layout).

Each stage reads what earlier stages left on disk and writes its own outputs, so any
stage can be re-run on its own. The engine adapter (`tasks.engines.embedded`) maps
NodeODM options onto these arguments.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pycolmap

from tasks.photogrammetry import boundary, dem, exif, features, matching, orthophoto, pointcloud, report
from tasks.photogrammetry.densify import densify
from tasks.photogrammetry.gcp import find_gcp_file, parse_crs
from tasks.photogrammetry.geo import Frame
from tasks.photogrammetry.georeferencing import (
    Alignment,
    GeoreferenceError,
    align_gcps,
    align_gps,
    ground_and_gsd,
    level,
    residuals,
)
from tasks.photogrammetry.layout import Layout
from tasks.photogrammetry.raster import Grid, read_tif, write_tif
from tasks.photogrammetry.reconstruction import reconstruct, write_cameras_json

Log = Callable[[str], None]
Progress = Callable[[float], None]
# Cells farther than this from any point get no height (and no orthophoto).
MAX_GAP_M = 15.0


class ProcessingError(Exception):
    """A failure the user can act on (the message says how)."""


def _shots(layout: Layout) -> list[exif.Shot]:
    return exif.read_images_json(layout.images_json)


def _local_gps(layout: Layout) -> dict[str, np.ndarray]:
    shots = [s for s in _shots(layout) if s.has_gps]
    if not shots:
        return {}
    frame = Frame.read(layout.coords)
    pos = exif.positions(shots)
    local = frame.to_local(pos[:, 0], pos[:, 1], pos[:, 2])
    return {s.filename: local[i] for i, s in enumerate(shots)}


def _frame_of_gcps(path: Path) -> Frame:
    """The UTM frame around the first control point (for surveys without GPS)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    first = np.array([[float(v) for v in lines[1].split()[:3]]])
    epsg = parse_crs(lines[0]).to_epsg() or 4326
    lonlat = first if epsg == 4326 else Frame(epsg, 0, 0).to_wgs84(first)
    return Frame.around(lonlat[:, 1], lonlat[:, 0])


def dataset(layout: Layout, images: Path, gcp: Path, log: Log) -> list[exif.Shot]:
    if not images.is_dir() or not exif.list_images(images):
        raise ProcessingError(f"No images found in {images}; upload JPEG or TIFF images.")
    shots = exif.read_dataset(images, gcp)
    exif.write_images_json(shots, layout.images_json)
    with_gps = [s for s in shots if s.has_gps]
    sources = sorted({s.focal_source for s in shots})
    log(f"{len(shots)} images, {len(with_gps)} with GPS; focal from {', '.join(sources)}")
    gcp_file = find_gcp_file(gcp)
    if with_gps:
        pos = exif.positions(with_gps)
        frame = Frame.around(pos[:, 0], pos[:, 1])
    elif gcp_file:
        frame = _frame_of_gcps(gcp_file)
    else:
        raise ProcessingError(
            "The images carry no GPS and no gcp_list.txt was given: outputs cannot be "
            "georeferenced. Add GPS EXIF tags, a geo.txt or a gcp_list.txt."
        )
    frame.write(layout.coords)
    log(f"Coordinate system EPSG:{frame.epsg}, local offset {frame.east:.0f} {frame.north:.0f}")
    return shots


def extract_features(
    layout: Layout, images: Path, quality: str, max_features: int, threads: int, lens: str, log: Log
) -> None:
    shots = _shots(layout)
    counts = features.extract(layout.database, images, shots, quality, max_features, threads, lens)
    size = features.process_size(shots[0].width, shots[0].height, quality)
    log(f"Extracted features at {size} px: median {int(np.median(list(counts.values())))} per image")
    poor = [n for n, c in counts.items() if c < 100]
    if poor:
        log(f"Few features in {len(poor)} images ({', '.join(poor[:5])}): they may not register")


def match_features(layout: Layout, neighbors: int, threads: int, log: Log) -> None:
    shots = _shots(layout)
    names = [s.filename for s in shots]
    gps = _local_gps(layout)
    xy = np.array([gps[n][:2] for n in names]) if len(gps) == len(names) else None
    strategy, verified = matching.match(layout.database, layout.pairs, names, xy, neighbors, threads)
    log(f"Matching: {strategy}; {verified} verified image pairs")
    if verified == 0:
        raise ProcessingError(
            "No image pairs could be matched: the images need more overlap "
            "(70% forward, 60% side) or try a higher feature-quality."
        )


def reconstruction(
    layout: Layout, images: Path, algorithm: str, threads: int, log: Log, progress: Progress = lambda f: None
) -> None:
    shots = _shots(layout)
    result = reconstruct(layout.database, images, layout.sparse, algorithm, threads, log, progress)
    n = len(shots)
    if result.registered < max(3, n // 2):
        raise ProcessingError(
            f"Only {result.registered} of {n} images could be registered. Increase overlap between "
            "images, raise min-num-features or feature-quality, or remove blurry images."
        )
    rec = result.reconstruction
    log(
        f"Registered {result.registered}/{n} images, {rec.num_points3D()} points, "
        f"mean reprojection error {rec.compute_mean_reprojection_error():.2f} px"
    )
    write_cameras_json(rec, shots, layout.cameras_json)


def georeference(layout: Layout, gcp: Path, use_exif: bool, accuracy: float, log: Log) -> Alignment:
    rec = pycolmap.Reconstruction(layout.sparse)
    frame = Frame.read(layout.coords)
    alignment = None
    gcp_file = find_gcp_file(gcp)
    if gcp_file and not use_exif:
        alignment = align_gcps(rec, gcp_file, frame)
        if alignment is None:
            log("gcp_list.txt has fewer than 3 usable control points; falling back to GPS")
    if alignment is None:
        gps = _local_gps(layout)
        try:
            alignment = align_gps(rec, gps, accuracy)
        except GeoreferenceError as exc:
            raise ProcessingError(str(exc)) from exc
        level(rec, alignment, log)
        alignment.residuals = residuals(rec, gps)
    alignment.ground, alignment.gsd = ground_and_gsd(rec)
    h, v = alignment.rmse
    log(
        f"Georeferenced with {alignment.source.upper()}: scale {alignment.scale:.4f}, "
        f"residual RMSE {h:.2f} m horizontal / {v:.2f} m vertical, GSD {alignment.gsd * 100:.1f} cm"
    )
    layout.georef.mkdir(parents=True, exist_ok=True)
    rec.write(layout.georef)
    alignment.write(layout.alignment)
    report.write_shots(rec, frame, layout.shots)
    return alignment


def point_cloud(
    layout: Layout, images: Path, las: bool, ply: bool, csv: bool, fast: bool, log: Log, progress: Progress
) -> None:
    frame = Frame.read(layout.coords)
    rec = pycolmap.Reconstruction(layout.georef)
    cloud = pointcloud.from_reconstruction(rec)
    dense = None if fast else densify(rec, images, log, progress)
    if dense is not None and len(dense):
        cloud = pointcloud.Cloud(np.vstack([cloud.xyz, dense.xyz]), np.vstack([cloud.rgb, dense.rgb]))
    elif not fast:
        log("No image pair suits dense stereo: the point cloud holds the tie points only")
    cloud = pointcloud.remove_outliers(cloud)
    pointcloud.write_las(cloud, frame, layout.cloud)
    for wanted, suffix, write in (
        (las, ".las", pointcloud.write_las),
        (ply, ".ply", pointcloud.write_ply),
        (csv, ".csv", pointcloud.write_csv),
    ):
        path = layout.cloud.with_suffix(suffix)
        if wanted:
            write(cloud, frame, path)
        else:
            path.unlink(missing_ok=True)  # a re-run without the option leaves no stale copy
    log(f"Point cloud: {len(cloud)} points (EPSG:{frame.epsg})")


def _area(layout: Layout, xyz: np.ndarray, grid: Grid, crop: float, auto_boundary: bool) -> np.ndarray:
    mask = boundary.shrink(boundary.occupancy(xyz[:, :2], grid, MAX_GAP_M), crop, grid.res)
    if auto_boundary:
        rec = pycolmap.Reconstruction(layout.georef)
        centres = np.array([im.projection_center()[:2] for im in rec.images.values()])
        half_footprint = (
            0.5 * Alignment.read(layout.alignment).gsd * max(max(c.width, c.height) for c in rec.cameras.values())
        )
        mask &= boundary.hull_mask(centres, grid, half_footprint)
    return mask


def elevation(
    layout: Layout, resolution_cm: float, dsm: bool, dtm: bool, crop: float, auto_boundary: bool, cog: bool, log: Log
) -> None:
    frame = Frame.read(layout.coords)
    cloud = pointcloud.read_las(layout.cloud, frame)
    if len(cloud) < 3:
        raise ProcessingError("The point cloud is empty; the reconstruction found no usable points.")
    gsd = Alignment.read(layout.alignment).gsd
    res = max(resolution_cm / 100.0, 2 * gsd)
    xmin, ymin = cloud.xyz[:, :2].min(0)
    xmax, ymax = cloud.xyz[:, :2].max(0)
    grid = Grid.covering(xmin, ymin, xmax, ymax, res)
    area = _area(layout, cloud.xyz, grid, crop, auto_boundary)
    surface = dem.fill_small_holes(dem.surface(cloud.xyz, grid, MAX_GAP_M))
    surface[~area] = np.nan
    write_tif(layout.surface, dem.as_raster(surface), grid, frame, nodata=dem.NODATA)
    layout.dsm.unlink(missing_ok=True)
    layout.dtm.unlink(missing_ok=True)
    if dsm:
        write_tif(layout.dsm, dem.as_raster(surface), grid, frame, nodata=dem.NODATA, cog=cog)
        log(f"DSM {grid.cols}x{grid.rows} at {res * 100:.1f} cm/px")
    if dtm:
        ground = cloud.xyz[dem.ground_points(cloud.xyz, grid)]
        terrain = dem.fill_small_holes(dem.surface(ground, grid, MAX_GAP_M))
        terrain[~area] = np.nan
        write_tif(layout.dtm, dem.as_raster(terrain), grid, frame, nodata=dem.NODATA, cog=cog)
        log(f"DTM from {len(ground)}/{len(cloud)} ground points")


def ortho(layout: Layout, images: Path, resolution_cm: float, cog: bool, log: Log, progress: Progress) -> None:
    frame = Frame.read(layout.coords)
    rec = pycolmap.Reconstruction(layout.georef)
    gsd = Alignment.read(layout.alignment).gsd
    res = max(resolution_cm / 100.0, gsd)
    data, nodata = read_tif(layout.surface)
    surf_grid = Grid.of(layout.surface, frame)
    surface = np.where(data == nodata, np.nan, data)
    known = np.argwhere(np.isfinite(surface))
    if not len(known):
        raise ProcessingError("The surface model is empty; nothing to drape the orthophoto on.")
    (r0, c0), (r1, c1) = known.min(0), known.max(0) + 1
    grid = Grid.covering(
        surf_grid.xmin + c0 * surf_grid.res,
        surf_grid.ymax - r1 * surf_grid.res,
        surf_grid.xmin + c1 * surf_grid.res,
        surf_grid.ymax - r0 * surf_grid.res,
        res,
    )
    z = orthophoto.surface_on(grid, surface, surf_grid)
    rgba = orthophoto.render(rec, images, grid, z, np.isfinite(z), progress)
    write_tif(layout.orthophoto, rgba, grid, frame, cog=cog, alpha=True)
    orthophoto.preview(rgba, layout.orthophoto.with_suffix(".png"))
    cover = (rgba[..., 3] > 0).mean()
    log(f"Orthophoto {grid.cols}x{grid.rows} at {res * 100:.1f} cm/px, {cover:.0%} of the extent covered")


def make_report(layout: Layout, skip: bool, log: Log) -> None:
    stats = report.stats(layout)
    layout.stats.write_text(json.dumps(stats, indent=1))
    page = layout.report_dir / "report.html"
    page.unlink(missing_ok=True)
    if not skip:
        report.write_html(layout, stats)
        log(f"Report: {page}")
