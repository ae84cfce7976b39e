"""From a batch landing in a bucket to its assets under the output prefix, with real Prefect.

A Prefect server (SQLite) runs as a process; `odmflow deploy` serves the deployments;
our node runs the tasks; moto plays S3. The trigger is either a bucket notification posted
to the node's receiver, or the polling sensor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from odmflow.embedded import PrefectServer
from odmflow.launcher import ROOT, NodeProcess, start_node
from odmflow.settings import Settings
from tests.conftest import make_images

SECRET = "bucket-secret"


@dataclass
class Stack:
    api: str
    node: NodeProcess
    env: dict[str, str]
    tmp: Path

    def deploy(self, *args: str) -> subprocess.Popen[bytes]:
        odmflow = str(Path(sys.executable).with_name("odmflow"))
        full = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}, **self.env}
        log = open(self.tmp / "deploy.log", "ab")
        return subprocess.Popen([odmflow, "deploy", *args], env=full, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def deployments(self) -> dict[str, dict[str, object]]:
        return {d["name"]: d for d in httpx.post(f"{self.api}/deployments/filter", json={}).json()}

    def runs(self, deployment: str) -> list[dict[str, object]]:
        ids = [self.deployments()[deployment]["id"]]
        return httpx.post(f"{self.api}/flow_runs/filter", json={"deployments": {"id": {"any_": ids}}}).json()


@pytest.fixture
def stack(tmp_path: Path, s3: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "2")  # interval runs come sooner
    server = PrefectServer(Settings(data_dir=tmp_path / "prefect", prefect_port=0, prefect_ui=False))
    api = server.start()
    env = {**s3, "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "PREFECT_HOME": str(tmp_path / "prefect-home")}
    node = start_node(tmp_path / "node", "--test", env={**env, "ODMFLOW_EVENTS_SECRET": SECRET})
    boto3.client("s3", endpoint_url=s3["AWS_ENDPOINT_URL"]).create_bucket(Bucket="drone")
    try:
        yield Stack(api, node, env, tmp_path)
    finally:
        node.stop()
        server.stop()


def upload_batch(tmp: Path, env: dict[str, str], prefix: str, marker: bool = True) -> list[str]:
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    keys = []
    for path in make_images(tmp / prefix.replace("/", "_")):
        key = f"{prefix}/{Path(path).name}"
        client.upload_file(path, "drone", key)
        keys.append(key)
    if marker:
        client.put_object(Bucket="drone", Key=f"{prefix}/_READY", Body=b"")
        keys.append(f"{prefix}/_READY")
    return keys


def wait_for_object(env: dict[str, str], key: str, timeout: float = 180) -> None:
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.list_objects_v2(Bucket="drone", Prefix=key).get("KeyCount"):
            return
        time.sleep(1)
    raise AssertionError(f"s3://drone/{key} never appeared")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def wait_deployments(stack: Stack, names: set[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not names <= set(stack.deployments()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert names <= set(stack.deployments()), (stack.tmp / "deploy.log").read_text()[-2000:]


def test_a_bucket_notification_starts_one_ingestion(stack: Stack) -> None:
    deploy = stack.deploy("s3://drone/incoming", "--output", "s3://drone/results", "--node", stack.node.url,
                          "--sensor-seconds", "3600", "--quiet-seconds", "3600")
    try:
        wait_deployments(stack, {"on-bucket-upload", "ingest-survey", "bucket-sensor"})
        time.sleep(2)  # the Runner has registered its trigger with the server
        keys = upload_batch(stack.tmp, stack.env, "incoming/flight-1")
        images, marker = keys[:-1], keys[-1]
        notified = [images[i % len(images)] for i in range(99)] + [marker]  # 100 notifications, one batch
        for key in notified:  # one notification per object, as S3 sends them
            body = {"Records": [{"eventName": "s3:ObjectCreated:Put",
                                 "s3": {"bucket": {"name": "drone"}, "object": {"key": key}}}]}
            answer = httpx.post(f"{stack.node.url}/events/s3", params={"secret": SECRET}, json=body)
            assert answer.status_code == 200
        wait_for_object(stack.env, "results/flight-1/_SUCCESS.json")
        wait_for_object(stack.env, "results/flight-1/odm_orthophoto/odm_orthophoto.tif", timeout=5)
        runs = stack.runs("on-bucket-upload")
        assert len(runs) == 1 and runs[0]["parameters"]["source"] == "s3://drone/incoming/flight-1"
    finally:
        stop(deploy)


def test_the_polling_sensor_starts_ingestion(stack: Stack) -> None:
    upload_batch(stack.tmp, stack.env, "incoming/flight-2", marker=False)
    deploy = stack.deploy("s3://drone/incoming", "--output", "s3://drone/results", "--node", stack.node.url,
                          "--sensor-seconds", "10", "--quiet-seconds", "0")
    try:
        wait_for_object(stack.env, "results/flight-2/_SUCCESS.json")
        time.sleep(25)  # more sensor rounds: the batch is not announced again
        assert len(stack.runs("on-bucket-upload")) == 1
    finally:
        stop(deploy)


def test_the_cron_deployment_is_registered_with_its_schedule(stack: Stack) -> None:
    subprocess.run([str(Path(sys.executable).with_name("prefect")), "work-pool", "create", "odm", "--type", "process"],
                   env={**os.environ, **stack.env}, check=True, capture_output=True)
    deploy = stack.deploy("s3://drone/incoming", "--output", "s3://drone/results", "--node", stack.node.url,
                          "--cron", "30 2 * * *", "--work-pool", "odm")
    assert deploy.wait(120) == 0, (stack.tmp / "deploy.log").read_text()[-2000:]
    found = stack.deployments()
    schedules = [s["schedule"] for s in found["ingest-survey"]["schedules"]]
    assert schedules == [{"cron": "30 2 * * *", "timezone": "UTC", "day_or": True}] or \
        [s.get("cron") for s in schedules] == ["30 2 * * *"]
    assert found["ingest-survey"]["work_pool_name"] == "odm"
    assert found["process-images"]["work_pool_name"] == found["webodm"]["work_pool_name"] == "odm"
    assert found["ingest-survey"]["parameters"]["nodes"] == [stack.node.url]
