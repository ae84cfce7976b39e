"""Real drone images through the NodeODM API, compared with ODM's own point cloud."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from pyodm import Node
from pyodm.types import TaskStatus

from tests.conftest import SHARED, start_node

BRIGHTON = SHARED / "data" / "brighton_beach"
LAYOUT = [
    "odm_orthophoto/odm_orthophoto.tif",
    "odm_orthophoto/odm_orthophoto.png",
    "odm_georeferencing/odm_georeferenced_model.laz",
    "odm_dem/dsm.tif",
    "images.json",
    "cameras.json",
    "odm_report/shots.geojson",
    "odm_report/stats.json",
    "task_output.txt",
    "log.json",
]


@pytest.mark.slow
def test_brighton_beach_matches_odm(tmp_path: Path) -> None:
    if not (BRIGHTON / "images").is_dir():
        pytest.skip(f"{BRIGHTON} is absent: the Brighton Beach images come with ../shared/data")
    from tasks.photogrammetry.accuracy import against_reference

    node = start_node(tmp_path / "data", "--engine", "odmflow")
    try:
        images = sorted(str(p) for p in (BRIGHTON / "images").iterdir() if p.suffix.lower() == ".jpg")
        task = Node("127.0.0.1", node.port).create_task(images, {"dsm": True}, name="Brighton Beach")
        task.wait_for_completion(interval=2)
        assert task.info().status == TaskStatus.COMPLETED
        out = tmp_path / "out"
        task.download_assets(str(out))
    finally:
        node.stop()

    missing = [rel for rel in LAYOUT if not (out / rel).is_file()]
    assert not missing, f"all.zip lacks {missing}"
    assert (out / "odm_report" / "report.pdf").is_file() or (out / "odm_report" / "report.html").is_file()
    stats = json.loads((out / "odm_report" / "stats.json").read_text())
    assert stats["images"]["registered"] == len(images) == 18
    with rasterio.open(out / "odm_orthophoto" / "odm_orthophoto.tif") as ortho:
        assert ortho.crs.to_epsg() == 32615  # UTM 15N, as ODM chose for these images
    result = against_reference(out, BRIGHTON / "odm_reference_model.laz")
    print(result)
    assert result["points_compared"] > 1000
    assert abs(result["median_height_offset_m"]) <= 1.0
