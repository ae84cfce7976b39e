"""A real `odmflow serve`, driven by PyODM the way WebODM drives a node."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import laspy
import pytest
import rasterio
import requests
from pyodm import Node
from pyodm.exceptions import NodeResponseError, TaskFailedError
from pyodm.types import TaskStatus

from tests.conftest import TOKEN, NodeProcess


def client(node: NodeProcess) -> Node:
    return Node("127.0.0.1", node.port, token=node.token or "")


def wait_status(task: Any, wanted: set[TaskStatus], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = task.info()
        if info.status in wanted:
            return info
        time.sleep(0.2)
    raise AssertionError(f"task never reached {wanted}; last {info.status}")


def test_info_reports_a_2_2_node(node: NodeProcess) -> None:
    info = client(node).info()
    assert info.version.startswith("2.2.")
    assert info.max_images == 20
    assert info.max_parallel_tasks == 1
    assert client(node).version_greater_or_equal_than("1.4.0")  # PyODM then uploads in chunks


def test_create_wait_download(node: NodeProcess, images: list[str], tmp_path: Path) -> None:
    api = client(node)
    task = api.create_task(images, {"dsm": True, "orthophoto-resolution": 2.5}, name="survey A")
    task.wait_for_completion(interval=0.3)
    info = task.info(with_output=0)
    assert info.status == TaskStatus.COMPLETED
    assert info.images_count == 3
    assert info.progress == 100
    assert info.processing_time > 0
    assert {"name": "orthophoto-resolution", "value": 2.5} in info.options
    assert {"name": "dsm", "value": True} in info.options
    assert {"name": "cog", "value": True} in info.options  # added as NodeODM does
    assert any("Compressing all.zip" in line for line in info.output)
    assert any(t["uuid"] == task.uuid for t in api.get("/task/list"))

    out = tmp_path / "assets"
    task.download_assets(str(out))
    with rasterio.open(out / "odm_orthophoto" / "odm_orthophoto.tif") as ortho:
        assert ortho.crs.to_epsg() == 32615 and ortho.count == 4
    with rasterio.open(out / "odm_dem" / "dsm.tif") as dsm:
        assert dsm.read(1).min() > 200
    cloud = laspy.read(out / "odm_georeferencing" / "odm_georeferenced_model.laz")
    assert len(cloud.points) == 1000 and cloud.header.parse_crs().to_epsg() == 32615
    assert json.loads((out / "images.json").read_text())[0]["width"] == 64
    assert "Compressing all.zip" in (out / "task_output.txt").read_text()


def test_restart_with_changed_options(node: NodeProcess, images: list[str], tmp_path: Path) -> None:
    task = client(node).create_task(images, {"dsm": True})
    task.wait_for_completion(interval=0.3)
    created = task.info().date_created
    time.sleep(0.01)
    task.restart({"dsm": False, "dtm": True, "pc-las": True})
    task.wait_for_completion(interval=0.3)
    info = task.info()
    assert info.status == TaskStatus.COMPLETED
    assert {"name": "dtm", "value": True} in info.options and {"name": "dsm", "value": False} in info.options
    assert info.date_created >= created
    task.download_assets(str(tmp_path))
    assert (tmp_path / "odm_dem" / "dtm.tif").is_file()
    assert (tmp_path / "odm_georeferencing" / "odm_georeferenced_model.las").is_file()


def test_cancel_a_running_task_stops_it(slow_node: NodeProcess, images: list[str]) -> None:
    task = client(slow_node).create_task(images)
    wait_status(task, {TaskStatus.RUNNING})
    task.cancel()
    assert task.info().status == TaskStatus.CANCELED
    with pytest.raises(TaskFailedError):
        task.wait_for_completion(interval=0.3)
    time.sleep(8)  # longer than the run would have taken
    assert task.info().status == TaskStatus.CANCELED
    folder = slow_node.data_dir / "tasks" / task.uuid
    assert not (folder / "all.zip").exists()
    assert "all.zip ready" not in "\n".join(task.output())


def test_restart_a_canceled_task_completes(slow_node: NodeProcess, images: list[str]) -> None:
    task = client(slow_node).create_task(images)
    task.cancel()
    task.restart()
    assert task.info().status in (TaskStatus.QUEUED, TaskStatus.RUNNING)
    with pytest.raises(NodeResponseError, match="Task cannot be restarted"):
        task.restart()
    task.wait_for_completion(interval=0.5)
    assert task.info().status == TaskStatus.COMPLETED


def test_remove_deletes_task_and_files(node: NodeProcess, images: list[str]) -> None:
    api = client(node)
    task = api.create_task(images)
    task.wait_for_completion(interval=0.3)
    folder = node.data_dir / "tasks" / task.uuid
    assert (folder / "all.zip").is_file()
    assert task.remove()
    assert not folder.exists()
    assert all(t["uuid"] != task.uuid for t in api.get("/task/list"))
    with pytest.raises(NodeResponseError, match="not found"):
        task.info()


def test_output_lines_follow_nodeodm_slicing(node: NodeProcess, images: list[str]) -> None:
    task = client(node).create_task(images)
    task.wait_for_completion(interval=0.3)
    lines = task.output()
    assert len(lines) > 10
    assert task.output(line=5) == lines[5:]
    assert node.get(f"/task/{task.uuid}/output", line="-3").json() == lines[-3:]
    assert node.get(f"/task/{task.uuid}/output", line="abc").json() == lines
    assert node.get(f"/task/{task.uuid}/output", line="2.7").json() == lines[2:]
    assert node.get(f"/task/{task.uuid}/output", line="99999").json() == []
    assert task.info(with_output=-2).output == lines[-2:]
    assert "output" not in node.get(f"/task/{task.uuid}/info").json()


def test_downloads_single_assets_and_ranges(node: NodeProcess, images: list[str]) -> None:
    task = client(node).create_task(images, {"dsm": True})
    task.wait_for_completion(interval=0.3)
    whole = node.get(f"/task/{task.uuid}/download/all.zip")
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/zip"
    assert int(whole.headers["content-length"]) == len(whole.content)
    assert whole.headers["accept-ranges"] == "bytes"
    part = requests.get(
        f"{node.url}/task/{task.uuid}/download/all.zip", params={"token": TOKEN}, headers={"Range": "bytes=10-99"}
    )
    assert part.status_code == 206 and part.content == whole.content[10:100]
    tif = node.get(f"/task/{task.uuid}/download/orthophoto.tif")
    assert tif.status_code == 200 and tif.content[:2] in (b"II", b"MM")
    assert node.get(f"/task/{task.uuid}/download/dsm.tif").status_code == 200
    assert node.get(f"/task/{task.uuid}/download/dtm.tif").json() == {"error": "Asset not ready"}
    assert node.get(f"/task/{task.uuid}/download/nope.bin").json() == {"error": "Invalid asset"}


def test_outputs_field_limits_all_zip(node: NodeProcess, images: list[str], tmp_path: Path) -> None:
    task = client(node).create_task(images, outputs=["odm_orthophoto/odm_orthophoto.tif", "../../pyproject.toml",
                                                     "images.json"])
    task.wait_for_completion(interval=0.3)
    path = Path(task.download_zip(str(tmp_path)))
    assert sorted(zipfile.ZipFile(path).namelist()) == ["images.json", "odm_orthophoto/odm_orthophoto.tif"]


def test_skip_post_processing_and_set_uuid(node: NodeProcess, images: list[str]) -> None:
    uuid = "0b7dbd4e-4a3b-4f1c-9d6e-2f2c5d9e8a11"
    task = client(node).create_task(images, skip_post_processing=True, task_uuid=uuid)
    assert task.uuid == uuid
    names = [o["name"] for o in task.info().options]
    assert "cog" not in names and "pc-ept" not in names


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 1

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(500)
        else:
            _Hook.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_posts_task_info_with_retries(node: NodeProcess, images: list[str]) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        task = client(node).create_task(images, webhook=url)
        task.wait_for_completion(interval=0.3)
        deadline = time.monotonic() + 30  # the first call fails; the retry comes after the back-off
        while not _Hook.received and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.shutdown()
    assert _Hook.received, "webhook never accepted"
    payload = _Hook.received[0]
    assert payload["uuid"] == task.uuid and payload["status"]["code"] == 40
    assert [i["filename"] for i in payload["images"]] == ["IMG_0000.JPG", "IMG_0001.JPG", "IMG_0002.JPG"]


def test_failure_reaches_status_and_webhook(node: NodeProcess) -> None:
    """A task without images fails in its first stage; the message and the webhook say so."""
    _Hook.received, _Hook.fail_first = [], 0
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = f"http://127.0.0.1:{server.server_port}/hook"
        files = [("images", ("geo.txt", b"EPSG:4326\n")), ("webhook", (None, hook))]
        uuid = node.post("/task/new", files=files).json()["uuid"]
        task = client(node).get_task(uuid)
        with pytest.raises(TaskFailedError):
            task.wait_for_completion(interval=0.3)
        deadline = time.monotonic() + 20
        while not _Hook.received and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.shutdown()
    status = node.get(f"/task/{uuid}/info").json()["status"]
    assert status == {"code": 30, "errorMessage": "No images found in the task: upload at least one image."}
    assert _Hook.received and _Hook.received[0]["status"]["code"] == 30
    assert node.get(f"/task/{uuid}/download/all.zip").json() == {"error": "Asset not ready"}


def test_progress_never_goes_down(slow_node: NodeProcess, images: list[str]) -> None:
    task = client(slow_node).create_task(images)
    seen = []
    while True:
        info = task.info()
        seen.append(info.progress)
        if info.status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED):
            break
        time.sleep(0.1)
    assert seen == sorted(seen)
    assert seen[-1] == 100 and len(set(seen)) > 3  # it moved during the run, not just at the end


def test_restart_reuses_stage_outputs(node: NodeProcess, images: list[str]) -> None:
    task = client(node).create_task(images, {"dsm": True})
    task.wait_for_completion(interval=0.3)
    task.restart()  # nothing changed: every stage's outputs are reused
    task.wait_for_completion(interval=0.3)
    output = task.output()
    assert "Reusing the outputs of odm_orthophoto (options unchanged)" in output
    assert not any(line.startswith("Running odm_") for line in output)
    task.restart({"dsm": True, "dtm": True})  # only the DEM stage depends on dtm
    task.wait_for_completion(interval=0.3)
    output = task.output()
    assert "Running odm_dem stage" in output and "Running dataset stage" not in output
    task.restart({"dsm": True, "dtm": True, "rerun-from": "odm_orthophoto"})
    task.wait_for_completion(interval=0.3)
    output = task.output()
    assert "Running odm_orthophoto stage" in output and "Running odm_report stage" in output
    assert not any("odm_dem" in line for line in output)  # before rerun-from: not even looked at
