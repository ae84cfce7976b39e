"""A node that crashes mid-run loses nothing, shows no ghosts, and cleans up old tasks."""

from __future__ import annotations

from pathlib import Path

from pyodm import Node
from pyodm.types import TaskStatus

from tests.conftest import start_node
from tests.nodeodm_api.test_pyodm import wait_status


def test_killed_node_resumes_its_tasks(tmp_path: Path, images: list[str]) -> None:
    node = start_node(tmp_path / "data", "--test", "--test-seconds", "6")
    try:
        api = Node("127.0.0.1", node.port)
        running = api.create_task(images, {"dsm": True}, name="interrupted")
        wait_status(running, {TaskStatus.RUNNING})
        queued = api.create_task(images, name="waiting")  # maxParallelTasks is 1: this one waits
        assert queued.info().status == TaskStatus.QUEUED
        pending = node.post("/task/new/init", files={"name": (None, "half uploaded")}).json()["uuid"]
        node.post(f"/task/new/upload/{pending}", files=[("images", ("a.jpg", b"first half"))])

        node.kill()  # API, Prefect server, Runner and the flow run, all at once
        node = node.restart()
        api = Node("127.0.0.1", node.port)

        listed = [t["uuid"] for t in api.get("/task/list")]
        assert listed == [running.uuid, queued.uuid]  # both still there, in order, and nothing else
        node.post(f"/task/new/upload/{pending}", files=[("images", ("b.jpg", b"second half"))])
        assert node.post(f"/task/new/commit/{pending}").json() == {"uuid": pending}

        for uuid in (running.uuid, queued.uuid, pending):
            task = api.get_task(uuid)
            task.wait_for_completion(interval=0.5)
            assert task.info().status == TaskStatus.COMPLETED
            assert (node.data_dir / "tasks" / uuid / "all.zip").is_file()
        assert api.get_task(running.uuid).info().options[0] == {"name": "dsm", "value": True}
        assert api.get_task(pending).info().images_count == 2
    finally:
        node.stop()

    # Restarted with a zero retention time, the node removes its finished tasks.
    node = start_node(node.data_dir, "--test", "--cleanup-tasks-after", "0")
    try:
        assert node.get("/task/list").json() == []
        assert not any((node.data_dir / "tasks").iterdir())
    finally:
        node.stop()
