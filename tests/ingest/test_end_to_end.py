"""A bucket of three batches, ingested end to end through a real node; a second run submits nothing."""

from __future__ import annotations

from pathlib import Path

from rio_cogeo.cogeo import cog_validate

from flows.ingest import ingest_survey
from tasks.storage import MARKER
from tests.conftest import NodeProcess

from .conftest import keys, new_bucket, read, read_json, task_uuids, url_of


def test_three_batches_are_ingested_then_skipped(
    prefect: dict[str, str], s3: dict[str, str], node: NodeProcess, tmp_path: Path
) -> None:
    source = new_bucket(tmp_path, {"flight-1": 3, "flight-2": 2, "flight-3": 4}, extras={
        "flight-1": {"geo.txt": b"EPSG:4326\n"},
        "flight-2": {"batch.json": b'{"name": "north field", "options": {"dsm": true}}'},
    })
    output = source.rsplit("/", 1)[0] + "/results"
    before = task_uuids(node)

    results = ingest_survey(source, output, [url_of(node)], transfer="upload", poll_seconds=0.3)

    assert sorted(r["batch"] for r in results) == ["flight-1", "flight-3", "north field"]
    made = task_uuids(node) - before
    assert made == {r["uuid"] for r in results}
    published = keys(output)
    for name in ("flight-1", "flight-3", "north field"):
        assert {f"{name}/odm_orthophoto/odm_orthophoto.tif", f"{name}/odm_georeferencing/odm_georeferenced_model.laz",
                f"{name}/item.json", f"{name}/{MARKER}"} <= published
        marker = read_json(f"{output}/{name}/{MARKER}")
        assert marker["batch"] == name and marker["odmflow:task"] in made
        assert all(f"{name}/{m}" in published for m in marker["assets"])
    assert "north field/odm_dem/dsm.tif" in published
    assert not any(k.startswith(".odmflow/") for k in published)  # no staging or ledger left behind
    ortho = tmp_path / "ortho.tif"
    ortho.write_bytes(read(f"{output}/flight-1/odm_orthophoto/odm_orthophoto.tif"))
    assert cog_validate(str(ortho), quiet=True)[0]

    item = read_json(f"{output}/north field/item.json")
    assert item["type"] == "Feature" and item["id"] == "north field"
    assert item["assets"]["orthophoto"]["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
    assert item["assets"]["orthophoto"]["proj:code"] == "EPSG:32615"
    assert item["assets"]["pointcloud"]["type"] == "application/vnd.laszip"
    assert item["assets"]["dsm"]["href"] == "./odm_dem/dsm.tif"
    lon, lat = item["geometry"]["coordinates"][0][0]
    assert -94 < lon < -92 and 40 < lat < 41  # UTM 15N near the test engine's origin, in WGS84

    assert ingest_survey(source, output, [url_of(node)], transfer="upload", poll_seconds=0.3) == []
    assert task_uuids(node) - before == made
