"""A node that reads storage URLs itself gets the batch's URL instead of its bytes."""

from __future__ import annotations

from pathlib import Path

from flows.ingest import ingest_survey
from tasks.storage import MARKER
from tests.conftest import start_node

from .conftest import keys, new_bucket, read_json
from .proxy import FaultyProxy


def test_a_node_with_the_url_extension_reads_the_batch_itself(
    prefect: dict[str, str], s3: dict[str, str], tmp_path: Path
) -> None:
    source = new_bucket(tmp_path, {"flight": 3}, extras={"flight": {"geo.txt": b"EPSG:4326\n"}})
    output = source.rsplit("/", 1)[0] + "/results"
    node = start_node(tmp_path / "node", "--test", env=s3)  # with the bucket's endpoint and keys
    try:
        with FaultyProxy(node.url).running() as proxy:
            [result] = ingest_survey(source, output, [proxy.url], options={"dsm": True}, poll_seconds=0.3)
        assert not [r for r in proxy.requests if r.startswith("POST /task/new/upload/")]
        assert not [r for r in proxy.requests if "/download/" in r]
        task = node.data_dir / "tasks" / result["uuid"]
        assert len(list((task / "images").iterdir())) == 3 and (task / "gcp" / "geo.txt").is_file()
    finally:
        node.stop()
    published = keys(output)
    assert {"flight/odm_dem/dsm.tif", "flight/item.json", f"flight/{MARKER}"} <= published
    assert "flight/all.zip" not in published and not any(k.startswith(".odmflow/") for k in published)
    assert read_json(f"{output}/flight/item.json")["assets"]["dsm"]["proj:code"] == "EPSG:32615"
