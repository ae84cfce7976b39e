"""Ingest throughput: S3 → node and node → S3, beside a plain boto3 copy of the same bytes.

    python bench/ingest.py [--files 50] [--mib 5] [--parallel 8] [--flow]

Starts moto's S3 (`moto_server`) and a real `odmflow serve --test` on loopback, puts N x M
MiB of images in a bucket, then measures in one run:
  * reference: a plain boto3 copy of the N objects (get, then put, `parallel` at a time),
    and each half alone;
  * S3 → node: the ingest's upload (`upload_sources` streamed by `NodeClient.upload_files`);
  * node → S3: the ingest's download of all.zip (range-parallel), unpacked to S3 as it
    arrives (`stage_download`); the task lists `images` in its outputs, so all.zip holds
    the same bytes back;
  * with --flow, `ingest_survey` end to end on the batch (Prefect overhead included).
The machines are noisy: compare the ratios, and run it twice.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from odmflow.launcher import free_port, start_node  # noqa: E402
from tasks.nodeodm import NodeClient, StatusCode  # noqa: E402
from tasks.publish import stage_download  # noqa: E402
from tasks.storage import discover_batches, filesystem, upload_sources  # noqa: E402

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def wait_http(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e6:8.1f} MB/s  ({seconds:6.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--mib", type=float, default=5)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--flow", action="store_true", help="also time ingest_survey end to end")
    args = parser.parse_args()
    size = int(args.mib * 1024 * 1024)
    total = size * args.files

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
    moto = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="odmflow-bench-ingest-"))
    node = None
    try:
        wait_http(endpoint)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench")
        payload = os.urandom(size)
        keys = [f"survey/flight/IMG_{i:04d}.JPG" for i in range(args.files)]
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket="bench", Key=k, Body=payload), keys))
        node = start_node(work / "node", "--test")
        print(f"{args.files} x {args.mib:g} MiB = {total / 1e6:.0f} MB, {args.parallel} at a time, moto on loopback")

        # Reference: the same bytes through plain boto3: a copy (get, then put), and each half alone.
        def copy(key: str) -> None:
            body = s3.get_object(Bucket="bench", Key=key)["Body"].read()
            s3.put_object(Bucket="bench", Key="plain-copy/" + key, Body=body)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(copy, keys))
        boto_copy = time.perf_counter() - start
        start = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            blobs = list(pool.map(lambda k: s3.get_object(Bucket="bench", Key=k)["Body"].read(), keys))
        boto_read = time.perf_counter() - start
        start = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda kb: s3.put_object(Bucket="bench", Key="copy/" + kb[0], Body=kb[1]),
                          zip(keys, blobs, strict=True)))
        boto_write = time.perf_counter() - start
        del blobs

        [batch] = discover_batches("s3://bench/survey", "s3://bench/results")
        with NodeClient.from_url(node.url, timeout=300) as client:
            uuid = client.init_task(name="bench", outputs=["images"])
            start = time.perf_counter()
            client.upload_files(uuid, upload_sources(batch), parallel_uploads=args.parallel)
            up = time.perf_counter() - start
            client.commit_task(uuid)
            while not client.task_info(uuid).status.finished:
                time.sleep(0.5)
            assert client.task_info(uuid).status == StatusCode.COMPLETED
            fs, out = filesystem("s3://bench/results")
            start = time.perf_counter()
            client.download(uuid, work / "alone.zip", parallel=args.parallel)
            fetched = time.perf_counter() - start
            start = time.perf_counter()
            members = stage_download(lambda f: client.download(uuid, f, parallel=args.parallel), work / "all.zip",
                                     fs, f"{out}/staging", args.parallel)
            down = time.perf_counter() - start
        assert sum(1 for m in members if m.startswith("images/")) == args.files

        print(f"boto3 copy S3 -> S3 (reference) {rate(total, boto_copy)}   get + put per object")
        print(f"  boto3 get alone               {rate(total, boto_read)}")
        print(f"  boto3 put alone               {rate(total, boto_write)}")
        print(f"ingest S3 -> node (upload)      {rate(total, up)}   {boto_copy / up:5.0%} of the copy")
        print(f"ingest node -> S3 (all.zip)     {rate(total, down)}   {boto_copy / down:5.0%} of the copy")
        print(f"  all.zip download alone        {rate(total, fetched)}")
        if args.flow:
            flow_seconds = run_flow(work, node.url, args.parallel)
            print(f"ingest_survey end to end        {flow_seconds:6.2f} s for the batch (upload, processing, "
                  "download, publish, Prefect)")
    finally:
        if node is not None:
            node.stop()
        moto.terminate()
        moto.wait(10)


def run_flow(work: Path, node: str, parallel: int) -> float:
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from odmflow.embedded import PrefectServer
    from odmflow.settings import Settings

    server = PrefectServer(Settings(data_dir=work / "prefect", prefect_port=0, prefect_ui=False))
    url = server.start()
    try:
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_HOME: work / "prefect-home"}):
            from flows.ingest import ingest_survey

            start = time.perf_counter()
            ingest_survey("s3://bench/survey", "s3://bench/flow-results", [node], transfer="upload",
                          poll_seconds=0.5, parallel=parallel)
            seconds = time.perf_counter() - start
            APILogWorker.drain_all(timeout=5)
            return seconds
    finally:
        server.stop()


if __name__ == "__main__":
    main()
