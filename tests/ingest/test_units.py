"""The plain functions under the ingest flow: node choice, batch discovery, the ledger, STAC."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pytest

from tasks import ledger
from tasks.engines.base import Context
from tasks.engines.test import TestEngine
from tasks.nodeodm import NodeInfo
from tasks.nodes import NodeStatus, NoNodeAvailable, accepts_urls, best_node
from tasks.outputs import build_zip
from tasks.publish import publish, stac_item, stage_archive
from tasks.storage import MARKER, discover_batches, filesystem, upload_sources
from tests.conftest import make_images


def status(url: str, max_images: int | None, queue: int = 0, slots: int = 1, **extra: object) -> NodeStatus:
    return NodeStatus(url, NodeInfo("2.2.4", taskQueueCount=queue, maxImages=max_images, maxParallelTasks=slots,
                                    extra_fields=dict(extra)))


def test_best_fit_then_free_slots_then_queue() -> None:
    nodes = [status("big", None), status("small", 10, queue=3), status("medium", 50), status("down", 5)]
    nodes[3] = NodeStatus("down", None)
    assert best_node(nodes, 8).url == "small"  # smallest maxImages that takes the batch
    assert best_node(nodes, 20).url == "medium"
    assert best_node(nodes, 500).url == "big"  # no limit fits everything
    assert best_node(nodes, 8, exclude=["small"]).url == "medium"
    same = [status("a", 10, queue=2, slots=2), status("b", 10, queue=0, slots=2), status("c", 10, queue=1, slots=2)]
    assert best_node(same, 5).url == "b"
    assert best_node(same, 5, assigned={"b": 2}).url == "c"  # tasks handed out in this run count
    with pytest.raises(NoNodeAvailable, match="takes 6 images") as refused:
        best_node([NodeStatus("http://x?token=secret", None)], 6)
    assert "secret" not in str(refused.value)


def test_url_extension_is_detected() -> None:
    assert accepts_urls(status("ours", None, odmflow={"inputUrls": True}))
    assert not accepts_urls(status("nodeodm", None))
    assert not accepts_urls(NodeStatus("down", None))


def test_discovery_finds_nested_batches_and_skips_published_ones(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    for name, count in (("site/a", 2), ("site/b/flight", 3), ("site/empty", 0)):
        for i in range(count):
            fs.pipe(f"/src/{name}/IMG_{i}.JPG", b"x" * (i + 1))
    fs.pipe("/src/site/empty/notes.md", b"no images here")
    fs.pipe("/src/site/a/geo.txt", b"EPSG:4326\n")
    fs.pipe("/src/site/a/batch.json", json.dumps({"name": "field-a", "options": {"dsm": True}, "node": "http://n"}).encode())

    batches = discover_batches("memory://src", "memory://out")
    assert [(b.name, b.size, b.extras) for b in batches] == [("field-a", 2, ("geo.txt",)), ("site/b/flight", 3, ())]
    first = batches[0]
    assert first.options == {"dsm": True} and first.node == "http://n" and first.bytes == 1 + 2 + 10
    names = [f.name for f in upload_sources(first)]
    assert names == ["IMG_0.JPG", "IMG_1.JPG", "geo.txt"]
    with upload_sources(first)[1].open() as fh:
        assert fh.read() == b"xx"

    fs.pipe(f"/out/field-a/{MARKER}", b"{}")
    assert [b.name for b in discover_batches("memory://src", "memory://out")] == ["site/b/flight"]
    # Results published inside the source, and hidden folders, are not batches.
    fs.pipe("/src/results/site/b/flight/odm_orthophoto/odm_orthophoto.tif", b"tif")
    fs.pipe("/src/site/.cache/IMG_0.JPG", b"x")
    assert [b.name for b in discover_batches("memory://src", "memory://src/results")] == ["field-a", "site/b/flight"]
    # One batch of the tree, named as a run over the whole tree names it.
    [one] = discover_batches("memory://src/site/b/flight", "memory://out", names_from="memory://src")
    assert one.name == "site/b/flight"
    # A folder of images is a batch by itself, named after the folder.
    make_images(tmp_path / "flight-9", 2)
    assert [b.name for b in discover_batches(str(tmp_path / "flight-9"), str(tmp_path / "out"))] == ["flight-9"]


def test_ledger_round_trip(tmp_path: Path) -> None:
    fs, out = filesystem(str(tmp_path / "out"))
    entry = ledger.Entry("day/flight", "http://node", "uuid-1", attempt=1, committed=True, lost=["http://gone"])
    ledger.save(fs, out, entry)
    assert ledger.load(fs, out, "day/flight") == entry
    assert ledger.open_entries(fs, out) == [entry]
    ledger.clear(fs, out, "day/flight")
    assert ledger.load(fs, out, "day/flight") is None and ledger.open_entries(fs, out) == []


def test_results_are_staged_described_and_published_marker_last(tmp_path: Path) -> None:
    project = tmp_path / "task"
    make_images(project / "images", 2)
    engine = TestEngine()
    for step in engine.steps({"dsm": True}):
        step.run(Context(project, {"dsm": True}, lambda line: None))
    archive = build_zip(project)

    fs, out = filesystem(str(tmp_path / "out"))
    staging = ledger.staging_path(fs, out, "b1", "uuid-1")
    members = stage_archive(archive, fs, staging, parallel=2)
    assert "odm_orthophoto/odm_orthophoto.tif" in members and "odm_dem/dsm.tif" in members
    assert not (tmp_path / "out" / "b1").exists()  # nothing under the batch's own prefix yet

    item = stac_item("b1", fs, staging, members, {"odmflow:task": "uuid-1"})
    data = item.to_dict(include_self_link=False, transform_hrefs=False)
    assert set(data["assets"]) == {"orthophoto", "dsm", "pointcloud"}
    assert data["assets"]["pointcloud"]["proj:code"] == "EPSG:32615"
    assert data["assets"]["orthophoto"]["proj:shape"] == [64, 64]
    assert data["properties"]["odmflow:task"] == "uuid-1"
    west, south, east, north = data["bbox"]
    assert west < east and south < north and -94 < west < -92

    prefix = publish(fs, out, "b1", staging, members, item, {"batch": "b1"})
    done = json.loads((Path(prefix) / MARKER).read_text())
    assert done["assets"] == members and done["item"] == "item.json"
    assert all((Path(prefix) / m).is_file() for m in members)
    assert not fs.exists(staging) or not fs.find(staging)
