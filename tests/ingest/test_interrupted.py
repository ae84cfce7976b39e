"""Runs that end early: killed and run again, cancelled, or left by a node that dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from flows.ingest import ingest_survey
from odmflow.launcher import ROOT
from tasks.storage import MARKER
from tests.conftest import NodeProcess, start_node

from .conftest import keys, new_bucket, read_json, task_uuids, url_of

FAST = [{"fast-orthophoto": True}]


def ledger(output: str) -> list[dict[str, Any]]:
    """The remote tasks the ingest remembers under its output prefix."""
    return [read_json(f"{output}/{k}") for k in keys(output) if k.startswith(".odmflow/") and k.endswith("/task.json")]


def wait_for(what: Callable[[], Any], timeout: float = 60, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"Timed out waiting for {what}")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def test_a_killed_run_resumes_and_neither_loses_nor_duplicates(
    prefect: dict[str, str], s3: dict[str, str], picky_node: NodeProcess, tmp_path: Path
) -> None:
    source = new_bucket(tmp_path, {"a": 2, "b": 2, "c": 2})
    output = source.rsplit("/", 1)[0] + "/results"
    before = task_uuids(picky_node)
    proc = spawn(["-m", "flows.ingest", source, output, url_of(picky_node), "--ladder", json.dumps(FAST),
                  "--transfer", "upload", "--poll-seconds", "0.3"], prefect, tmp_path / "killed.log")
    try:
        committed = wait_for(lambda: [e["uuid"] for e in ledger(output) if e["committed"]], timeout=90)
    finally:
        end(proc)

    results = ingest_survey(source, output, [url_of(picky_node)], ladder=FAST, transfer="upload", poll_seconds=0.3)

    markers = {n: read_json(f"{output}/{n}/{MARKER}") for n in ("a", "b", "c")}
    published = {m["odmflow:task"] for m in markers.values()}
    assert len(published) == 3
    assert set(committed) <= published  # followed again, not submitted again
    assert task_uuids(picky_node) - before == published  # no task was processed twice
    assert {r["uuid"] for r in results} <= published
    assert ledger(output) == []


@pytest.fixture(scope="module")
def long_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """Runs take half a minute; its small image limit makes it the best fit for small batches."""
    proc = start_node(tmp_path_factory.mktemp("long"), "--test", "--test-seconds", "30", "--max-images", "5")
    yield proc
    proc.stop()


def status_of(node: NodeProcess, uuid: str) -> int:
    return int(node.get(f"/task/{uuid}/info").json()["status"]["code"])


def test_cancelling_the_run_cancels_the_remote_task(
    prefect: dict[str, str], s3: dict[str, str], long_node: NodeProcess, tmp_path: Path
) -> None:
    source = new_bucket(tmp_path, {"flight": 2})
    output = source.rsplit("/", 1)[0] + "/results"
    runner = spawn(["-m", "flows.ingest", "serve", "cancel-test"], prefect, tmp_path / "runner.log")
    try:
        run = wait_for(lambda: _try_run(source, output, long_node), timeout=90, step=1)
        [entry] = wait_for(lambda: [e for e in ledger(output) if e["committed"]], timeout=90)
        wait_for(lambda: status_of(long_node, entry["uuid"]) == 20, timeout=60)

        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run.id, Cancelling(), force=True)
            wait_for(lambda: status_of(long_node, entry["uuid"]) == 50, timeout=60)
            wait_for(lambda: client.read_flow_run(run.id).state.is_cancelled(), timeout=60)
    finally:
        end(runner)
    assert f"flight/{MARKER}" not in keys(output)


def _try_run(source: str, output: str, node: NodeProcess) -> Any:
    try:
        return run_deployment("ingest-survey/cancel-test", timeout=0, parameters={
            "source": source, "output": output, "nodes": [url_of(node)], "transfer": "upload", "poll_seconds": 0.3})
    except Exception:  # the Runner has not registered the deployment yet
        return None


def test_a_node_that_dies_mid_task_hands_the_batch_to_another(
    prefect: dict[str, str], s3: dict[str, str], long_node: NodeProcess, node: NodeProcess, tmp_path: Path
) -> None:
    source = new_bucket(tmp_path, {"flight": 2})
    output = source.rsplit("/", 1)[0] + "/results"
    survivor = url_of(node)

    def kill_when_running() -> None:
        [entry] = wait_for(lambda: [e for e in ledger(output) if e["committed"]], timeout=90)
        wait_for(lambda: status_of(long_node, entry["uuid"]) == 20, timeout=60)
        long_node.kill()

    killer = threading.Thread(target=kill_when_running, daemon=True)
    killer.start()
    [result] = ingest_survey(source, output, [url_of(long_node), survivor], transfer="upload", poll_seconds=0.3,
                             retries=3, backoff=0.2)
    killer.join(5)

    assert result["node"] == node.url
    marker = read_json(f"{output}/flight/{MARKER}")
    assert marker["odmflow:node"] == node.url and marker["odmflow:task"] in task_uuids(node)
    runs = httpx.post(f"{prefect['PREFECT_API_URL']}/flow_runs/filter",
                      json={"flow_runs": {"name": {"any_": ["flight"]}}}).json()
    [tags] = [r["tags"] for r in runs if r["parameters"]["batch"]["url"].startswith(source)]
    assert "batch:flight" in tags and f"node:{node.url}" in tags and f"node:{long_node.url}" not in tags
