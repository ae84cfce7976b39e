"""With PREFECT_API_URL and --work-pool, tasks (NodeODM's and WebODM's) run in that pool's workers,
not in the node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from pyodm import Node
from pyodm.types import TaskStatus

from odmflow.embedded import PrefectServer
from odmflow.launcher import ROOT, start_node
from odmflow.settings import Settings
from tests.webodm.conftest import USERS, Api, add_user


def test_tasks_run_in_a_process_work_pool(tmp_path: Path, images: list[str]) -> None:
    server = PrefectServer(Settings(data_dir=tmp_path / "prefect-server", prefect_port=0, prefect_ui=False))
    url = server.start()
    env = {"PREFECT_API_URL": url, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    prefect = str(Path(sys.executable).with_name("prefect"))
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}, **env}
    workers: list[subprocess.Popen[bytes]] = []
    node = None
    try:
        subprocess.run([prefect, "work-pool", "create", "odm", "--type", "process"], env=full_env, check=True,
                       capture_output=True)
        # One processing slot, and a worker of its own for the WebODM runs that wait on it.
        for queue, limit in (("default", "1"), ("webodm", "4")):
            log = open(tmp_path / f"worker-{queue}.log", "wb")
            workers.append(subprocess.Popen(
                [prefect, "worker", "start", "--pool", "odm", "--work-queue", queue, "--limit", limit],
                env=full_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        assert add_user(tmp_path / "data", "alice", USERS["alice"]).returncode == 0
        node = start_node(tmp_path / "data", "--test", "--work-pool", "odm", env=env)
        assert not (tmp_path / "data" / "runner.log").exists()  # no local Runner in this mode

        task = Node("127.0.0.1", node.port).create_task(images, {"dsm": True})
        task.wait_for_completion(interval=0.5)
        assert task.info().status == TaskStatus.COMPLETED
        assert (tmp_path / "data" / "tasks" / task.uuid / "odm_dem" / "dsm.tif").is_file()
        runs = httpx.post(f"{url}/flow_runs/filter", json={}).json()
        assert [r["work_pool_name"] for r in runs] == ["odm"]

        # A WebODM API task: its ingest-batch run and the process-images run it submits both
        # run in the pool, each from its own queue.
        api = Api(node.url).login("alice")
        project = api.post("/api/projects/", data={"name": "Pool"}).json()["id"]
        files = [("images", (Path(p).name, Path(p).read_bytes(), "image/jpeg")) for p in images]
        created = api.post(f"/api/projects/{project}/tasks/", files=files, data={"name": "In the pool"}).json()
        done = api.wait_task(project, created["id"], timeout=120)
        assert done["status"] == 40 and "orthophoto.tif" in done["available_assets"], done
        runs = httpx.post(f"{url}/flow_runs/filter", json={}).json()
        assert sorted(r["work_queue_name"] for r in runs) == ["default", "default", "webodm"]
    finally:
        if node is not None:
            node.stop()
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:  # a busy machine can keep Prefect's worker in its shutdown
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(30)
        server.stop()
