"""Pure geometry and raster pieces: pairs, similarity fits, TIN, ground filter, GeoTIFFs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from tasks.photogrammetry import dem
from tasks.photogrammetry.accuracy import phase_shift
from tasks.photogrammetry.gcp import parse_crs, umeyama
from tasks.photogrammetry.geo import Frame
from tasks.photogrammetry.matching import spatial_pairs
from tasks.photogrammetry.raster import Grid, write_tif


def test_spatial_pairs_link_nearest_neighbours() -> None:
    xy = np.array([[0, 0], [1, 0], [2, 0], [10, 0], [11, 0]], float)
    pairs = spatial_pairs(list("abcde"), xy, neighbors=1)
    assert ("a", "b") in pairs and ("d", "e") in pairs
    assert ("a", "e") not in pairs


def test_umeyama_recovers_a_similarity() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(size=(10, 3))
    rot = cv2.Rodrigues(np.array([0.1, -0.2, 0.7]))[0]
    dst = 2.5 * src @ rot.T + np.array([5.0, -3.0, 1.0])
    scale, r, t = umeyama(src, dst)
    assert scale == pytest.approx(2.5)
    assert np.allclose(r, rot) and np.allclose(t, [5.0, -3.0, 1.0])


def test_gcp_crs_lines() -> None:
    assert parse_crs("WGS84 UTM 32N").to_epsg() == 32632
    assert parse_crs("EPSG:32756").to_epsg() == 32756


def test_tin_reproduces_a_plane_and_the_ground_filter_drops_objects() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 50, (2000, 2))
    z = 100 + 0.1 * xy[:, 0]
    grid = Grid.covering(0, 0, 50, 50, 1.0)
    surface = dem.tin(np.column_stack([xy, z]), grid, max_gap=5)
    x, _ = grid.centers()
    inside = np.isfinite(surface)
    assert inside.mean() > 0.9
    assert np.abs(surface[inside] - (100 + 0.1 * x[inside])).max() < 1e-3
    building = (np.abs(xy[:, 0] - 25) < 4) & (np.abs(xy[:, 1] - 25) < 4)
    z[building] += 8
    ground = dem.ground_points(np.column_stack([xy, z]), grid)
    assert not ground[building].any()
    assert ground[~building].mean() > 0.95


def test_phase_shift_finds_a_known_offset() -> None:
    rng = np.random.default_rng(2)
    img = cv2.GaussianBlur(rng.random((256, 256)).astype(np.float32), (0, 0), 2)
    moved = np.roll(img, (3, -5), axis=(0, 1))
    mask = np.zeros(img.shape, bool)
    mask[20:-20, 20:-20] = True
    assert phase_shift(img, moved, mask) == pytest.approx([5, -3], abs=0.1)


@pytest.mark.parametrize("cog", [False, True])
def test_geotiffs_are_tiled_with_crs(tmp_path: Path, cog: bool) -> None:
    frame = Frame(32615, 576200, 5188100)
    grid = Grid.covering(-50, -40, 50, 40, 0.25)
    data = np.zeros((grid.rows, grid.cols, 4), np.uint8)
    path = tmp_path / "ortho.tif"
    write_tif(path, data, grid, frame, cog=cog, alpha=True)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32615
        assert src.transform.c == pytest.approx(576150.0)
        assert src.profile["tiled"] and src.count == 4
    if cog:
        assert cog_validate(str(path))[0]
