"""odmflow's extension: a node that reads a batch from a bucket and writes results back."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import boto3
import requests
from pyodm import Node
from pyodm.types import TaskStatus

from tests.conftest import make_images, start_node


def test_a_batch_in_a_bucket_is_read_and_published(s3: dict[str, str], tmp_path: Path) -> None:
    client = boto3.client("s3", endpoint_url=s3["AWS_ENDPOINT_URL"])
    client.create_bucket(Bucket="surveys")
    for path in make_images(tmp_path / "batch"):
        client.upload_file(path, "surveys", f"site-a/flight-1/{Path(path).name}")
    client.put_object(Bucket="surveys", Key="site-a/flight-1/geo.txt", Body=b"EPSG:4326\n")

    node = start_node(tmp_path / "data", "--test", env=s3)
    try:
        info = requests.get(f"{node.url}/info").json()
        assert info["odmflow"]["inputUrls"] is True
        fields = {"inputUrl": (None, "s3://surveys/site-a/flight-1/"),
                  "outputUrl": (None, "s3://surveys/results/flight-1"), "name": (None, "flight 1")}
        uuid = requests.post(f"{node.url}/task/new", files=fields).json()["uuid"]
        task = Node("127.0.0.1", node.port).get_task(uuid)
        task.wait_for_completion(interval=0.3)
        assert task.info().status == TaskStatus.COMPLETED and task.info().images_count == 3
        assert (node.data_dir / "tasks" / uuid / "gcp" / "geo.txt").is_file()

        keys = {o["Key"] for o in client.list_objects_v2(Bucket="surveys", Prefix="results/")["Contents"]}
        assert {"results/flight-1/all.zip", "results/flight-1/odm_orthophoto/odm_orthophoto.tif",
                "results/flight-1/odm_georeferencing/odm_georeferenced_model.laz"} <= keys

        # Downloads are redirected to the bucket, and PyODM follows the redirect.
        raw = requests.get(f"{node.url}/task/{uuid}/download/all.zip", allow_redirects=False)
        assert raw.status_code == 302 and "Signature" in raw.headers["location"]
        stored = client.get_object(Bucket="surveys", Key="results/flight-1/all.zip")["Body"].read()
        zip_path = task.download_zip(str(tmp_path / "dl"))
        assert Path(zip_path).read_bytes() == stored
        assert "odm_orthophoto/odm_orthophoto.tif" in zipfile.ZipFile(io.BytesIO(stored)).namelist()
    finally:
        node.stop()


def test_a_missing_input_folder_fails_the_task_with_a_clear_message(s3: dict[str, str], tmp_path: Path) -> None:
    boto3.client("s3", endpoint_url=s3["AWS_ENDPOINT_URL"]).create_bucket(Bucket="empty")
    node = start_node(tmp_path / "data", "--test", env=s3)
    try:
        uuid = requests.post(f"{node.url}/task/new", files={"readS3Path": (None, "s3://empty/nothing/")}).json()["uuid"]
        task = Node("127.0.0.1", node.port).get_task(uuid)
        for _ in range(200):
            status = task.info().status
            if status in (TaskStatus.FAILED, TaskStatus.COMPLETED):
                break
            time.sleep(0.3)
        assert status == TaskStatus.FAILED
        assert "No folder at s3://empty/nothing/" in task.info().last_error
    finally:
        node.stop()
