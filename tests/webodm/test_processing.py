"""WebODM tasks processed end to end: a real `odmflow serve` driven over HTTP the way a
WebODM API script drives WebODM. Each task's work is an ingest-batch flow run that
submits the images to this node's NodeODM API and follows the task there.

The test engine takes a few seconds per task, so that a task can be caught running.
"""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import morecantile
import pytest
import requests
from PIL import Image

from tests.conftest import make_images

from .conftest import Api, Server, serving

SECONDS = "3"
OFFLINE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A second configured node that is down: listed as offline, and never assigned a task.
    env = {"ODMFLOW_TEST_SECONDS": SECONDS, "ODMFLOW_NODES": f'["{OFFLINE}"]'}
    with serving(tmp_path_factory, "processing", ["alice"], env) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(node: Server) -> Api:
    return Api(node.url).login("alice")


@pytest.fixture(scope="module")
def project(api: Api) -> int:
    res = api.post("/api/projects/", data={"name": "Processing"})
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [Path(p) for p in make_images(tmp_path_factory.mktemp("images"), 3)]


def create(api: Api, project: int, images: list[Path], name: str, options: str = "[]",
           **fields: str) -> dict[str, Any]:
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in images]
    res = api.post(f"/api/projects/{project}/tasks/", files=files, data={"name": name, "options": options, **fields})
    assert res.status_code == 201, res.text
    return dict(res.json())


def wait_for(api: Api, project: int, task: str, check: Any, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = api.get(f"/api/projects/{project}/tasks/{task}/").json()
        if check(body):
            return body
        assert time.monotonic() < deadline, f"timed out: {body}"
        time.sleep(0.2)


def running(body: dict[str, Any]) -> bool:
    return body["status"] == 20 and bool(body["uuid"])


def node_task(node: Server, uuid: str) -> dict[str, Any]:
    return dict(requests.get(f"{node.url}/task/{uuid}/info", timeout=30).json())


@pytest.fixture(scope="module")
def finished(node: Server, api: Api, project: int, images: list[Path]) -> dict[str, Any]:
    """A task created in one request, polled to the end; what was seen on the way is kept."""
    task = create(api, project, images, "Field A", '[{"name": "dsm", "value": true}]')
    assert (task["status"], task["uuid"], task["processing_node"]) == (None, "", None)
    base = f"/api/projects/{project}/tasks/{task['id']}"
    statuses, progress, lines = [], [], []
    deadline = time.monotonic() + 90
    while True:
        body = api.get(f"{base}/").json()
        statuses.append(body["status"])
        progress.append(body["running_progress"])
        if body["status"] in (30, 40, 50):
            break
        # A WebODM script reads the console incrementally: only the lines after those it has.
        text = api.get(f"{base}/output/", params={"line": len(lines)}).json()
        lines += text.split("\n") if text else []
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    return {"task": body, "statuses": statuses, "progress": progress, "lines": lines, "base": base}


def test_task_runs_through_the_node_to_completion(node: Server, finished: dict[str, Any]) -> None:
    task = finished["task"]
    assert task["status"] == 40, task["last_error"]
    assert (task["pending_action"], task["last_error"], task["running_progress"]) == (None, None, 1.0)
    assert task["processing_node"] == 1 and task["processing_node_name"]
    assert task["processing_time"] > 0 and task["upload_progress"] == 1.0
    assert {"all.zip", "orthophoto.tif", "dsm.tif", "georeferenced_model.laz"} <= set(task["available_assets"])
    assert task["can_rerun_from"][:2] == ["", "dataset"] and task["extent"] is not None
    # WebODM's sequence: no status while the node takes the task, then the node's, then 40.
    seen = [s for i, s in enumerate(finished["statuses"]) if i == 0 or s != finished["statuses"][i - 1]]
    assert seen[0] is None and 20 in seen and seen[-1] == 40
    assert finished["progress"] == sorted(finished["progress"])
    assert any(0 < p < 1 for p in finished["progress"])
    # The node's own record of the task agrees.
    info = node_task(node, task["uuid"])
    assert info["status"]["code"] == 40 and {"name": "dsm", "value": True} in info["options"]


def test_processing_nodes_are_this_node_then_the_configured_ones(api: Api, finished: dict[str, Any]) -> None:
    nodes = api.get("/api/processingnodes/").json()
    assert [(n["id"], n["online"]) for n in nodes] == [(1, True), (2, False)]
    assert nodes[1]["label"] == "127.0.0.1:9" and nodes[1]["available_options"] == []
    assert api.get("/api/processingnodes/2/").json()["online"] is False
    assert api.get("/api/processingnodes/3/").status_code == 404
    assert any(o["name"] == "rerun-from" for o in api.get("/api/processingnodes/options/").json())
    bad = api.patch(f"{finished['base']}/", json={"processing_node": 3})
    assert (bad.status_code, bad.json()) == (400, {"processing_node": ['Invalid pk "3" - object does not exist.']})


def test_console_is_read_incrementally(api: Api, finished: dict[str, Any]) -> None:
    base = finished["base"]
    full = api.get(f"{base}/output/").json().split("\n")
    assert any("Running odm_orthophoto stage" in line for line in full)
    streamed = finished["lines"]
    assert streamed, "no console line arrived while the task ran"
    # Read in pieces, it is the same console. At the end, as in WebODM, the task's
    # task_output.txt replaces it: the node writes that file before its last line ("all.zip ready").
    shared = min(len(full), len(streamed))
    assert shared >= 3 and full[:shared] == streamed[:shared]
    tail = api.get(f"{base}/output/", params={"line": len(full) - 2}).json()
    assert tail.split("\n") == full[-2:]
    assert api.get(f"{base}/output/", params={"line": len(full) + 5}).json() == ""


def test_downloads_and_tiles_of_a_processed_task(api: Api, finished: dict[str, Any]) -> None:
    base = finished["base"]
    zipped = api.get(f"{base}/download/all.zip")
    assert zipped.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert "odm_orthophoto/odm_orthophoto.tif" in names and "odm_dem/dsm.tif" in names
    assert not [n for n in names if n.endswith(("_SUCCESS.json", "item.json"))]  # no ingestion bookkeeping
    tif = api.get(f"{base}/download/orthophoto.tif")
    assert tif.status_code == 200 and tif.content[:4] in (b"II*\x00", b"MM\x00*")

    tj = api.get(f"{base}/orthophoto/tiles.json").json()
    west, south, east, north = tj["bounds"]
    z = tj["maxzoom"] - 3
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, z)
    png = api.get(f"{base}/orthophoto/tiles/{z}/{tile.x}/{tile.y}.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert max(Image.open(io.BytesIO(png.content)).convert("L").tobytes()) > 0


def test_partial_upload_in_chunks_then_commit(api: Api, project: int, images: list[Path]) -> None:
    url = f"/api/projects/{project}/tasks/"
    task = api.post(url, json={"partial": True, "name": "Field B (chunked)"}).json()
    base = f"{url}{task['id']}"
    for image in images:
        data, key = image.read_bytes(), str(uuid.uuid4())  # Dropzone names each file's chunks
        half = len(data) // 2
        for index, chunk in enumerate((data[:half], data[half:])):
            dz = {"dzuuid": key, "dzchunkindex": index, "dztotalchunkcount": 2,
                  "dzchunkbyteoffset": index * half}
            up = api.post(f"{base}/upload/", files=[("images", (image.name, chunk))], data=dz)
            assert up.status_code == 200 and up.json()["success"] is True
    time.sleep(1)
    assert api.get(f"{base}/").json()["status"] is None  # nothing starts before the commit
    assert api.post(f"{base}/commit/").json()["images_count"] == 3
    done = wait_for(api, project, task["id"], lambda b: b["status"] in (30, 40, 50))
    assert done["status"] == 40, done["last_error"]
    assert "orthophoto.tif" in done["available_assets"] and done["images_count"] == 3


def test_patch_options_and_restart_from_a_stage(node: Server, api: Api, project: int,
                                                finished: dict[str, Any]) -> None:
    task, base = finished["task"], finished["base"]
    options = [{"name": "dsm", "value": True}, {"name": "rerun-from", "value": "odm_orthophoto"}]
    patched = api.patch(f"{base}/", json={"options": options})
    assert patched.status_code == 200 and patched.json()["options"] == options
    assert api.post(f"{base}/restart/").json() == {"success": True}
    after = api.get(f"{base}/").json()
    assert after["pending_action"] == 3 or after["status"] != 40  # never a stale COMPLETED
    # The restart resets the record (pending action and status cleared) before the new run starts.
    done = wait_for(api, project, task["id"], lambda b: b["status"] in (30, 40, 50) and b["pending_action"] is None)
    assert done["status"] == 40, done["last_error"]
    assert done["uuid"] == task["uuid"]  # the node's task was restarted, not submitted again
    info = node_task(node, task["uuid"])
    assert {"name": "rerun-from", "value": "odm_orthophoto"} in info["options"]
    console = api.get(f"{base}/output/").json()
    assert "Running odm_orthophoto stage" in console and "Running odm_georeferencing stage" not in console


def test_cancel_a_running_task(node: Server, api: Api, project: int, images: list[Path]) -> None:
    task = create(api, project, images, "Field C (cancelled)")
    busy = wait_for(api, project, task["id"], running)
    assert api.post(f"/api/projects/{project}/tasks/{task['id']}/cancel/").json() == {"success": True}
    done = wait_for(api, project, task["id"], lambda b: b["pending_action"] is None and b["status"] != 20)
    assert done["status"] == 50 and done["available_assets"] == []
    deadline = time.monotonic() + 30
    while node_task(node, busy["uuid"])["status"]["code"] != 50:  # cancelled on the node too
        assert time.monotonic() < deadline, node_task(node, busy["uuid"])
        time.sleep(0.2)


def test_remove_a_running_task(node: Server, api: Api, project: int, images: list[Path]) -> None:
    task = create(api, project, images, "Field D (removed)")
    busy = wait_for(api, project, task["id"], running)
    base = f"/api/projects/{project}/tasks/{task['id']}/"
    assert api.post(f"{base}remove/").json() == {"success": True}
    api.wait_gone(project, task["id"])
    assert not (node.data_dir / "webodm" / "tasks" / task["id"]).exists()
    assert "error" in node_task(node, busy["uuid"])  # gone from the node as well
    assert task["id"] not in [t["id"] for t in api.get(f"/api/projects/{project}/tasks/").json()]


def test_deleting_a_project_stops_its_running_tasks(node: Server, api: Api, images: list[Path]) -> None:
    project = api.post("/api/projects/", data={"name": "Short-lived"}).json()["id"]
    task = create(api, project, images, "Field H (project deleted)")
    busy = wait_for(api, project, task["id"], running)
    assert api.delete(f"/api/projects/{project}/").status_code == 204
    assert api.get(f"/api/projects/{project}/tasks/{task['id']}/").status_code == 404
    deadline = time.monotonic() + 60
    while "error" not in node_task(node, busy["uuid"]) or (node.data_dir / "webodm" / "tasks" / task["id"]).exists():
        assert time.monotonic() < deadline, node_task(node, busy["uuid"])  # removed from the node, folder gone
        time.sleep(0.2)


def test_a_task_the_node_refuses_fails_with_its_reason(api: Api, project: int, images: list[Path]) -> None:
    task = create(api, project, images, "Field F (bad options)",
                  '[{"name": "orthophoto-resolution", "value": "fine"}]')
    done = wait_for(api, project, task["id"], lambda b: b["status"] in (30, 40, 50))
    assert done["status"] == 30 and done["pending_action"] is None
    assert "orthophoto-resolution" in done["last_error"], done["last_error"]
    assert done["available_assets"] == [] and done["uuid"] == ""
    # The images stay: the options can be fixed and the task restarted.
    assert api.get(f"/api/projects/{project}/tasks/").status_code == 200


def test_a_task_waits_for_its_node(api: Api, project: int, images: list[Path]) -> None:
    task = create(api, project, images, "Field G (waits)", auto_processing_node="false")
    base = f"/api/projects/{project}/tasks/{task['id']}/"
    time.sleep(2)  # no node and no auto-assignment: it never starts
    body = api.get(base).json()
    assert (body["status"], body["uuid"], body["processing_node"]) == (None, "", None)
    assert api.patch(base, json={"processing_node": 2}).json()["processing_node"] == 2
    time.sleep(6)  # its node is offline: it waits, and is tried again every 5 s
    body = api.get(base).json()
    assert (body["status"], body["uuid"], body["processing_node"]) == (None, "", 2)
    assert api.patch(base, json={"processing_node": 1}).status_code == 200
    done = wait_for(api, project, task["id"], lambda b: b["status"] in (30, 40, 50))
    assert (done["status"], done["processing_node"]) == (40, 1)


def test_zz_server_killed_during_a_run_resumes_it(node: Server, api: Api, project: int, images: list[Path]) -> None:
    task = create(api, project, images, "Field E (survives a crash)")
    busy = wait_for(api, project, task["id"], running)
    node.node.kill()
    node.node = node.node.restart()
    api = Api(node.url, api.token)
    done = wait_for(api, project, task["id"], lambda b: b["status"] in (30, 40, 50), timeout=150)
    assert done["status"] == 40, done["last_error"]
    assert done["uuid"] == busy["uuid"]  # followed again, not submitted again
    assert "orthophoto.tif" in done["available_assets"]
