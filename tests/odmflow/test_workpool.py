"""With PREFECT_API_URL and --work-pool, tasks run in that pool's workers, not in the node."""

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


def test_tasks_run_in_a_process_work_pool(tmp_path: Path, images: list[str]) -> None:
    server = PrefectServer(Settings(data_dir=tmp_path / "prefect-server", prefect_port=0, prefect_ui=False))
    url = server.start()
    env = {"PREFECT_API_URL": url, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    prefect = str(Path(sys.executable).with_name("prefect"))
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}, **env}
    worker = None
    node = None
    try:
        subprocess.run([prefect, "work-pool", "create", "odm", "--type", "process"], env=full_env, check=True,
                       capture_output=True)
        log = open(tmp_path / "worker.log", "wb")
        worker = subprocess.Popen([prefect, "worker", "start", "--pool", "odm", "--limit", "1"], env=full_env,
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        node = start_node(tmp_path / "data", "--test", "--work-pool", "odm", env=env)
        assert not (tmp_path / "data" / "runner.log").exists()  # no local Runner in this mode

        task = Node("127.0.0.1", node.port).create_task(images, {"dsm": True})
        task.wait_for_completion(interval=0.5)
        assert task.info().status == TaskStatus.COMPLETED
        assert (tmp_path / "data" / "tasks" / task.uuid / "odm_dem" / "dsm.tif").is_file()
        runs = httpx.post(f"{url}/flow_runs/filter", json={}).json()
        assert [r["work_pool_name"] for r in runs] == ["odm"]
    finally:
        if node is not None:
            node.stop()
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:  # a busy machine can keep Prefect's worker in its shutdown
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(30)
        server.stop()
