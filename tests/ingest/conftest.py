"""Real servers for the ingest tests: a Prefect server, moto's S3 and test-engine nodes."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

from odmflow.embedded import PrefectServer
from odmflow.settings import Settings
from tests.conftest import NodeProcess, free_port, make_images, start_node

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="package")
def prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Our own Prefect server; flows run in this process (or children given `prefect` as env) report to it."""
    data = tmp_path_factory.mktemp("prefect")
    server = PrefectServer(Settings(data_dir=data / "server", prefect_port=0, prefect_ui=False))
    url = server.start()
    env = {"PREFECT_API_URL": url, "PREFECT_HOME": str(data / "home"), "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    try:
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_HOME: data / "home"}):
            yield env
            APILogWorker.drain_all(timeout=5)  # the last runs' logs, before the server goes
    finally:
        server.stop()


@pytest.fixture(scope="package")
def s3() -> Iterator[dict[str, str]]:
    """moto in server mode; the endpoint reaches s3fs and boto3 through `AWS_ENDPOINT_URL`."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        try:
            yield env
        finally:
            server.stop()


@pytest.fixture(scope="package")
def picky_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """Runs take two seconds and fail unless fast-orthophoto is set: for ladders and interrupted runs."""
    proc = start_node(tmp_path_factory.mktemp("picky"), "--test", "--test-seconds", "2",
                      env={"ODMFLOW_TEST_FAIL_UNLESS": "fast-orthophoto"})
    yield proc
    proc.stop()


_bucket_count = 0


def new_bucket(tmp_path: Path, batches: dict[str, int], extras: dict[str, dict[str, bytes]] | None = None) -> str:
    """A fresh bucket with a `survey/<batch>/` prefix of small images per batch; return the source URL."""
    global _bucket_count
    _bucket_count += 1
    bucket = f"survey-{_bucket_count}"
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    client.create_bucket(Bucket=bucket)
    for name, count in batches.items():
        for path in make_images(tmp_path / bucket / name, count):
            client.upload_file(path, bucket, f"survey/{name}/{Path(path).name}")
        for extra, body in (extras or {}).get(name, {}).items():
            client.put_object(Bucket=bucket, Key=f"survey/{name}/{extra}", Body=body)
    return f"s3://{bucket}/survey"


def keys(url: str) -> set[str]:
    """Every key under an s3:// prefix, relative to it."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    return {o["Key"][len(prefix.rstrip("/")) + 1:] for page in pages for o in page.get("Contents", [])}


def read(url: str) -> bytes:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_json(url: str) -> dict:
    return json.loads(read(url))


def url_of(node: NodeProcess) -> str:
    """The node URL an ingest is given, with its token."""
    return f"{node.url}?token={node.token}" if node.token else node.url


def task_uuids(node: NodeProcess) -> set[str]:
    return {t["uuid"] for t in node.get("/task/list").json()}
