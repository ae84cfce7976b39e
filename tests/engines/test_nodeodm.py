"""The nodeodm engine: our node in front of another NodeODM node."""

from __future__ import annotations

import time
from pathlib import Path

from pyodm import Node
from pyodm.types import TaskStatus

from tests.conftest import NodeProcess, start_node


def test_forwards_tasks_and_their_cancels(tmp_path: Path, slow_node: NodeProcess, images: list[str]) -> None:
    front = start_node(tmp_path / "front", "--upstream", slow_node.url)
    try:
        api = Node("127.0.0.1", front.port)
        assert api.info().engine == "odm"  # what the upstream runs
        assert any(o.name == "rerun-from" for o in api.options())

        task = api.create_task(images, {"dsm": True})
        task.wait_for_completion(interval=0.5)
        assert task.info().status == TaskStatus.COMPLETED
        output = task.output()
        assert any(line.startswith("Forwarded to") for line in output)
        assert "Reconstruction done (test engine)" in output  # the upstream's console, relayed
        assert (front.data_dir / "tasks" / task.uuid / "odm_dem" / "dsm.tif").is_file()
        assert (front.data_dir / "tasks" / task.uuid / "all.zip").is_file()

        upstream_api = Node("127.0.0.1", slow_node.port)
        before = {t["uuid"] for t in upstream_api.get("/task/list")}
        second = api.create_task(images)
        deadline = time.monotonic() + 30
        upstream_uuid = None
        while upstream_uuid is None and time.monotonic() < deadline:
            now = {t["uuid"] for t in upstream_api.get("/task/list")}
            new = now - before
            upstream_uuid = next(iter(new)) if new else None
            time.sleep(0.2)
        assert upstream_uuid, "the task never reached the upstream node"
        upstream = upstream_api.get_task(upstream_uuid)
        while upstream.info().status != TaskStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.2)
        second.cancel()
        deadline = time.monotonic() + 30
        while upstream.info().status != TaskStatus.CANCELED and time.monotonic() < deadline:
            time.sleep(0.3)
        assert upstream.info().status == TaskStatus.CANCELED
    finally:
        front.stop()
