"""EXIF, geo.txt, image groups, focal priors and coordinate frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.photogrammetry import exif
from tasks.photogrammetry.geo import Frame, utm_epsg
from tasks.photogrammetry.sensors import focal_pixels
from tasks.photogrammetry.synthetic import Survey, make_survey


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Survey:
    return make_survey(tmp_path_factory.mktemp("tiny"), n_images=4, width=320, seed=3)


def test_exif_gps_and_focal_match_the_truth(tiny: Survey) -> None:
    shots = exif.read_dataset(tiny.images)
    assert [s.filename for s in shots] == tiny.names
    pos = exif.positions(shots)
    local = tiny.frame.to_local(pos[:, 0], pos[:, 1], pos[:, 2])
    assert np.abs(local - tiny.gps).max() < 0.01
    assert shots[0].focal_px == pytest.approx(tiny.plan.focal_px, rel=1e-3)
    assert (shots[0].width, shots[0].height) == (320, 240)


def test_geo_txt_and_groups_override_exif(tiny: Survey, tmp_path: Path) -> None:
    gcp = tmp_path / "gcp"
    gcp.mkdir()
    (gcp / "geo.txt").write_text(f"EPSG:4326\n{tiny.names[1]} 10.5 45.25 123.0\n")
    (gcp / "image_groups.txt").write_text(f"{tiny.names[0]} A\n{tiny.names[1]} B\n")
    shots = exif.read_dataset(tiny.images, gcp)
    assert (shots[1].longitude, shots[1].latitude, shots[1].altitude) == (10.5, 45.25, 123.0)
    assert shots[0].latitude != 45.25
    assert [s.group for s in shots[:3]] == ["A", "B", ""]
    path = tmp_path / "images.json"
    exif.write_images_json(shots, path)
    assert exif.read_images_json(path) == shots


def test_focal_prior_prefers_the_35mm_equivalent_then_sensor_table() -> None:
    f35, src = focal_pixels(4000, 2250, "DJI", "FC300S", 3.61, 20.0, None)
    assert (round(f35), src) == (2222, "35 mm equivalent")
    f_sensor, src = focal_pixels(4000, 2250, "DJI", "FC300S", 3.61, None, None)
    assert src == "sensor table" and f_sensor == pytest.approx(3.61 / 6.17 * 4000)
    assert focal_pixels(1000, 750, "x", "y", None, None, None)[1] == "default"


def test_frame_round_trips_through_coords_txt(tmp_path: Path) -> None:
    assert utm_epsg(46.84, -92.0) == 32615
    assert utm_epsg(-33.9, 151.2) == 32756
    frame = Frame.around(np.array([46.84]), np.array([-92.0]))
    frame.write(tmp_path / "coords.txt")
    assert (tmp_path / "coords.txt").read_text().startswith("WGS84 UTM 15N")
    assert Frame.read(tmp_path / "coords.txt") == frame
    local = frame.to_local(np.array([46.84]), np.array([-92.0]), np.array([100.0]))
    back = frame.to_wgs84(local)
    assert back[0] == pytest.approx([-92.0, 46.84, 100.0])
