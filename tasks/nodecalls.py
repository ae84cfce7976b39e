"""The node calls of an ingest, as Prefect tasks that retry what is worth retrying.

Each task makes one NodeODM call (or one upload or download) against a node URL. A
dropped connection, a timeout or a 5xx is retried with exponential back-off and jitter;
anything the node refuses on purpose fails at once, for the flow to decide. Retry
counts and delays come from a `Patience`, so a flow can be told how long a node may be
away before it is given up on.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fsspec import AbstractFileSystem
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from tasks.nodeodm import NodeClient, NodeConnectionError, NodeServerError, ProgressCallback, TaskInfo
from tasks.publish import stage_download
from tasks.storage import Batch, StorageOptions, upload_sources

__all__ = ["Patience", "call", "transient", "node_info", "open_task", "upload", "commit", "poll", "restart",
           "download", "display"]

R = TypeVar("R")


@dataclass(frozen=True)
class Patience:
    """How a flow waits out a flaky node: `retries` tries after the first, `backoff` seconds doubling."""

    retries: int = 5
    backoff: float = 2.0
    jitter: float = 0.5

    def apply(self, t: Task[..., R]) -> Task[..., R]:
        # No Prefect timeout: batches run in worker threads, where it cannot interrupt a call;
        # the client's own HTTP timeouts bound every call instead.
        if self.retries < 1:
            return t.with_options(retries=0)  # exponential_backoff cannot make an empty list
        return t.with_options(
            retries=self.retries,
            retry_delay_seconds=exponential_backoff(backoff_factor=self.backoff),
            retry_jitter_factor=self.jitter,
        )


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a node call only after a connection failure, a timeout or a 5xx."""
    try:
        state.result(raise_on_failure=True)
    except (NodeConnectionError, NodeServerError):
        return True
    except BaseException:
        return False
    return False


def display(url: str) -> str:
    """A node URL fit for logs and tags: without its `?token=`."""
    return url.split("?", 1)[0]


_common: dict[str, Any] = {"cache_policy": NO_CACHE, "retry_condition_fn": transient, "persist_result": False}


@task(name="node-info", **_common)
def node_info(node: str) -> dict[str, Any]:
    with NodeClient.from_url(node) as client:
        return client.info().to_dict()


@task(name="open-task", **_common)
def open_task(node: str, batch: Batch, options: Mapping[str, Any], fields: Mapping[str, str] | None = None) -> str:
    """`/task/new/init`: the node names the task before any byte is sent."""
    with NodeClient.from_url(node) as client:
        if not client.supports_chunked_upload():
            raise NodeServerError(f"{display(node)} is older than NodeODM 1.4 and cannot take chunked uploads.")
        return client.init_task(options=dict(options), name=batch.name, fields=fields)


@task(name="upload", **_common)
def upload(
    node: str, uuid: str, batch: Batch, storage_options: StorageOptions | None = None, parallel: int = 8,
    progress: ProgressCallback | None = None,
) -> int:
    """Stream the batch's files from storage to the node, `parallel` at a time; return the bytes sent.

    Called without Prefect retries: the client retries each file on its own, and sending a
    whole batch again would store every file twice on a NodeODM.
    """
    files = upload_sources(batch, storage_options)
    with NodeClient.from_url(node, timeout=300.0) as client:
        client.upload_files(uuid, files, parallel_uploads=parallel, progress=progress)
    return batch.bytes


@task(name="commit", **_common)
def commit(node: str, uuid: str) -> str:
    with NodeClient.from_url(node) as client:
        return client.commit_task(uuid)


@task(name="poll", **_common)
def poll(node: str, uuid: str, line: int = 0) -> TaskInfo:
    """`/task/{uuid}/info` with the console lines from `line` on."""
    with NodeClient.from_url(node) as client:
        return client.task_info(uuid, with_output=line)


@task(name="restart", **_common)
def restart(node: str, uuid: str, options: Mapping[str, Any]) -> None:
    with NodeClient.from_url(node) as client:
        client.restart(uuid, dict(options))


@task(name="download", **_common)
def download(node: str, uuid: str, fs: AbstractFileSystem, staging: str, folder: str, parallel: int = 8,
             progress: ProgressCallback | None = None) -> list[str]:
    """all.zip, `parallel` ranges at a time, unpacked under `staging` as it arrives; return its members."""
    archive = Path(tempfile.mkdtemp(prefix=f"{uuid}.", dir=folder)) / "all.zip"
    with NodeClient.from_url(node, timeout=300.0) as client:
        return stage_download(lambda out: client.download(uuid, out, parallel=parallel, progress=progress),
                              archive, fs, staging, parallel)


def call(t: Task[..., R], patience: Patience, *args: Any, name: str | None = None, **kwargs: Any) -> R:
    """Run a node task with the flow's patience, under a readable run name."""
    configured = patience.apply(t)
    if name is not None:
        configured = configured.with_options(task_run_name=name)
    return configured(*args, **kwargs)



