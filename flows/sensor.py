"""bucket-sensor: for buckets that send no notifications, poll them and emit the same events.

A batch is ready when its `_READY` or `batch.json` marker exists, or when nothing in it has
changed for `quiet_seconds`. Each ready batch is announced once (remembered in a Prefect
Variable), as `odmflow.batch.ready`, which starts the `on-bucket-upload` deployment.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.variables import Variable

from tasks.notifications import MARKERS, emit_ready
from tasks.storage import Batch, discover_batches, filesystem, join


def is_ready(batch: Batch, quiet_seconds: float, now: float, storage_options: dict[str, Any] | None = None) -> bool:
    fs, root = filesystem(batch.url, storage_options)
    if any(fs.exists(join(fs, root, marker)) for marker in MARKERS):
        return True
    newest = max(fs.modified(join(fs, root, name)).timestamp() for name in (*batch.images, *batch.extras))
    return now - newest >= quiet_seconds


@task(retries=3, retry_delay_seconds=[5, 15, 60], cache_policy=NO_CACHE)
def ready_batches(source: str, output: str, quiet_seconds: float, storage_options: dict[str, Any] | None) -> list[str]:
    now = time.time()
    return [b.url for b in discover_batches(source, output, storage_options)
            if is_ready(b, quiet_seconds, now, storage_options)]


@flow(name="bucket-sensor", persist_result=False)
def bucket_sensor(
    source: str, output: str, quiet_seconds: float = 300.0, storage_options: dict[str, Any] | None = None
) -> list[str]:
    """Announce every batch under `source` that is ready and not yet published under `output`."""
    logger = get_run_logger()
    key = "odmflow-sensor-" + hashlib.sha1(source.encode()).hexdigest()[:12]
    seen = set(Variable.get(key, default=[]) or [])
    fresh = [url for url in ready_batches(source, output, quiet_seconds, storage_options) if url not in seen]
    for url in fresh:
        emit_ready(url)
        logger.info(f"Batch ready: {url}")
    if fresh:
        Variable.set(key, sorted(seen | set(fresh)), overwrite=True)
    return fresh


if __name__ == "__main__":
    import sys

    bucket_sensor(sys.argv[1], sys.argv[2], quiet_seconds=0)
