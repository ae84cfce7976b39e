"""WebODM task processing: every task's work is an `ingest-batch` flow run.

The run is the ingestion code itself (`flows/ingest.py:ingest_batch`): it submits the
task's `images/` folder to its node, follows the node's task, and publishes the results
under the task's `output/`. This module only decides when runs start and stop, and
copies what they report into the task's record:

    record.status            <- null until the node has the task, then the node's (10/20);
                                40 once the results are the task's assets; 30 or 50 when
                                the run fails or is cancelled
    record.running_progress  <- the run's progress artifact (the node's progress × 0.85, then
                                the download and publication)
    record.console           <- the run's console logs (the node's output lines)
    record.uuid              <- the node's task uuid, from the run's ledger entry

A restart writes a ledger entry that asks the next run to restart the node's task
(`rerun-from` included) instead of submitting the images again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows.ingest import Job
from tasks import ledger
from tasks.ledger import Entry
from tasks.nodeodm import NodeClient, NodeError, StatusCode, TaskInfo
from tasks.nodes import NoNodeAvailable, best_node
from tasks.storage import MARKER, filesystem, folder_batch, read_json

from ..runs import Runs, RunView
from .db import Task
from .directory import Directory
from .imports import finish_fields
from .service import WebODM
from .tasks import Pending, Status

log = logging.getLogger("odmflow.webodm")

_QUEUED_STATES = ("SCHEDULED", "PENDING", "PAUSED")
#: How often tasks waiting for a node are tried again (WebODM's tick).
RETRY_SECONDS = 5.0
_PREFIXES = ("Flow run encountered an exception: ", "BatchFailed: ", "NodeLost: ")


def options_dict(options: list[dict[str, Any]] | None) -> dict[str, Any]:
    """WebODM's `[{"name": …, "value": …}]` as the NodeODM client's `{name: value}`."""
    return {str(o["name"]): o["value"] for o in options or [] if isinstance(o, dict) and "name" in o}


def run_error(message: str | None) -> str:
    """The reason a run failed, without Prefect's and the flow's wrapping."""
    text = (message or "").strip()
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix):
                text, changed = text[len(prefix):], True
    return text or "Processing failed"


def publish_assets(task_dir: Path, batch: str) -> Path:
    """Move the run's published results into `assets/` (replacing the old ones); return it."""
    output = task_dir / "output"
    published = output / batch
    marker = read_json(*filesystem(str(published / MARKER)))
    staging = task_dir / "assets.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    for member in marker.get("assets", []):
        source = published / member
        if source.is_file():
            target = staging / member
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
    assets = task_dir / "assets"
    shutil.rmtree(assets, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    staging.replace(assets)
    shutil.rmtree(task_dir / "cache", ignore_errors=True)
    shutil.rmtree(output, ignore_errors=True)
    return assets


class Processing:
    """The processing seam of `WebODM`: `kick()` is told of every change a task asks for;
    a watcher follows the runs of the tasks being processed."""

    def __init__(self, svc: WebODM, runs: Runs, directory: Directory, interval: float = 0.5,
                 poll_seconds: float = 0.5) -> None:
        self.svc = svc
        self.runs = runs
        self.directory = directory
        self.interval = interval
        self.poll_seconds = poll_seconds
        self._locks: dict[str, asyncio.Lock] = {}
        #: Console lines of each task's current run already in its record.
        self._console_lines: dict[str, int] = {}
        self._wake = asyncio.Event()

    # Lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        await self.runs.open()
        records = self.svc.records
        # Actions a stop interrupted, and commits no run took, are carried out now.
        for action in (Pending.CANCEL, Pending.RESTART, Pending.REMOVE):
            for task in await records.tasks_pending(action):
                await self.kick(task.id)
        for task in await records.tasks_waiting():
            if await asyncio.to_thread(self._has_images, task.id):
                await self.kick(task.id)
        self.svc.spawn(self._watch(), "webodm watcher")

    async def close(self) -> None:
        await self.runs.close()

    def _lock(self, task_id: str) -> asyncio.Lock:
        return self._locks.setdefault(task_id, asyncio.Lock())

    def _has_images(self, task_id: str) -> bool:
        folder = self.svc.task_dir(task_id) / "images"
        return folder.is_dir() and any(folder.iterdir())

    # Actions ----------------------------------------------------------------------------
    async def kick(self, task_id: str) -> None:
        """Act on the task's pending action, or start it once committed; in the background."""
        self.svc.spawn(self._act(task_id), f"act on {task_id}")

    async def _act(self, task_id: str) -> None:
        async with self._lock(task_id):
            task = await self.svc.records.task(task_id, console=False)
            if task is None:
                return
            if task.pending_action == Pending.REMOVE:
                await self._remove(task)
            elif task.pending_action == Pending.CANCEL:
                await self._stop(task)
                await self.svc.records.settle_task(task.id, Pending.CANCEL, status=Status.CANCELED, pending_action=None)
            elif task.pending_action == Pending.RESTART:
                await self._stop(task)
                await self._start(task, rerun=bool(task.uuid))
            elif task.pending_action is None and task.status is None and not task.partial and task.run_id is None:
                await self._start(task, rerun=False)
        self._wake.set()

    async def _stop(self, task: Task) -> None:
        """Cancel the task's run if it is not over; its cancellation hook cancels the node's task too."""
        view = await self.runs.view(task.run_id) if task.run_id else None
        if task.run_id and view is not None and view.active:
            await self.runs.cancel(task.run_id)
            await self.runs.wait_stopped(task.run_id, timeout=60)

    async def _start(self, task: Task, rerun: bool) -> None:
        records = self.svc.records
        folder = self.svc.task_dir(task.id)
        node_id, url = await self._node(task)
        if url is None:
            # As in WebODM: the task waits, status null, and is tried again every few seconds;
            # a restart that finds its node offline will submit the images afresh.
            await records.settle_task(task.id, task.pending_action, status=None, pending_action=None, run_id=None,
                                      **({"uuid": "", "upload_progress": 0.0} if rerun else {}))
            return
        job = Job(output=str(folder / "output"), nodes=self.directory.urls(), options=options_dict(task.options),
                  transfer="upload", poll_seconds=self.poll_seconds)
        batch = await asyncio.to_thread(folder_batch, str(folder / "images"), task.id)
        if not batch.images:
            await records.settle_task(task.id, task.pending_action, status=Status.FAILED, pending_action=None,
                                      last_error="The task has no images to process")
            return
        fs, out = filesystem(job.output)
        if rerun:
            entry = Entry(task.id, url, task.uuid, committed=True, restart=job.options)
            await asyncio.to_thread(self._prepare_rerun, folder, fs, out, entry)
        else:
            await asyncio.to_thread(shutil.rmtree, folder / "output", True)
        started = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        run_id = await self.runs.create(task.id, started, {"batch": asdict(batch), "node": url, "job": asdict(job)},
                                        name=task.name or task.id, tags=["webodm"])
        # WebODM's reset: no status until the node has the task, then the node's.
        self._console_lines[task.id] = 0
        await records.settle_task(task.id, task.pending_action, run_id=run_id, processing_node=node_id, status=None,
                                  pending_action=None,
                                  last_error=None, running_progress=0.0, processing_time=-1, console="",
                                  **({} if rerun else {"uuid": "", "upload_progress": 0.0}))

    @staticmethod
    def _prepare_rerun(folder: Path, fs: Any, out: str, entry: Entry) -> None:
        shutil.rmtree(folder / "output" / entry.batch, ignore_errors=True)
        ledger.save(fs, out, entry)

    async def _node(self, task: Task) -> tuple[int | None, str | None]:
        """The task's node: the one it names, or (auto) the best fit, as ingestion picks it;
        no URL while that node is offline, or no node is online."""
        if task.processing_node is not None:
            url = self.directory.url(task.processing_node)
            if url is None or not (await self.directory.status(task.processing_node))[0].online:
                return task.processing_node, None
            return task.processing_node, url
        if not task.auto_processing_node:
            return None, None
        statuses = await self.directory.statuses()
        try:
            chosen = best_node(statuses, task.images_count or 0)
        except NoNodeAvailable:
            return None, None
        return self.directory.node_id(chosen.url), chosen.url

    async def _remove(self, task: Task) -> None:
        await self.discard(task)
        await self.svc.records.delete_task(task.id)

    async def discard(self, task: Task) -> None:
        """Stop the task's run, remove its task from the node, its run and its folder (not its record)."""
        await self._stop(task)
        url = self.directory.url(task.processing_node) if task.processing_node is not None else None
        if url and task.uuid:
            await asyncio.to_thread(_remove_on_node, url, task.uuid)
        if task.run_id:
            await self.runs.delete([task.run_id])
        await asyncio.to_thread(self.svc.remove_task_dir, task.id)
        self._locks.pop(task.id, None)

    # Following runs ---------------------------------------------------------------------
    async def _watch(self) -> None:
        retry = time.monotonic() + RETRY_SECONDS
        while True:
            busy = True
            try:
                running = await self.svc.records.tasks_running([Status.QUEUED, Status.RUNNING])
                busy = bool(running)
                for task in running:
                    async with self._lock(task.id):
                        await self.sync(task.id)
                if time.monotonic() >= retry:
                    retry = time.monotonic() + RETRY_SECONDS
                    for task in await self.svc.records.tasks_waiting():  # for a node to come online
                        if task.processing_node is not None or task.auto_processing_node:
                            await self.kick(task.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Following the WebODM tasks' runs failed")
            self._wake.clear()
            try:
                # Idle, it sleeps until an action wakes it (or the next retry of waiting tasks).
                await asyncio.wait_for(self._wake.wait(), self.interval if busy else max(0.0, retry - time.monotonic()))
            except TimeoutError:
                pass

    async def sync(self, task_id: str) -> None:
        """Copy the state of the task's run, and its node's word on the task, into its record."""
        task = await self.svc.records.task(task_id, console=False)
        if task is None or task.run_id is None or task.pending_action is not None:
            return
        view = await self.runs.view(task.run_id)
        if view is None:
            await self.svc.records.update_task(task.id, status=Status.FAILED, last_error="The task's run is gone")
            return
        fields: dict[str, Any] = {}
        uuid = task.uuid
        if not uuid:
            entry = await asyncio.to_thread(self._entry, task.id)
            if entry is not None and entry.committed:
                uuid = fields["uuid"] = entry.uuid
                fields["upload_progress"] = 1.0
        info = await self.directory.task_info(task.processing_node, uuid) if uuid else None
        await self._console(task)
        if view.progress / 100 > task.running_progress:
            fields["running_progress"] = round(view.progress / 100, 4)
        if info is not None and info.processingTime >= 0:
            fields["processing_time"] = info.processingTime
        fields.update(await self._status(task, view, info))
        if fields:
            await self.svc.records.settle_task(task.id, None, **fields)
        if fields.get("status") in (Status.FAILED, Status.COMPLETED, Status.CANCELED):
            self.runs.release(task.run_id)  # the record has all of it now
            self._console_lines.pop(task.id, None)

    async def _console(self, task: Task) -> None:
        """Append the run's new console lines to the record (a node's console runs to megabytes)."""
        assert task.run_id is not None
        lines = await self.runs.console(task.run_id)
        stored = self._console_lines.get(task.id)
        if stored is None:  # first look since the server started: count what the record holds
            full = await self.svc.records.task(task.id)
            stored = len(full.console.split("\n")) if full is not None and full.console else 0
        if len(lines) > stored:
            await self.svc.records.append_console(task.id, "\n".join(lines[stored:]))
        self._console_lines[task.id] = len(lines)

    async def _status(self, task: Task, view: RunView, info: TaskInfo | None) -> dict[str, Any]:
        state = view.state or "SCHEDULED"
        if state in (*_QUEUED_STATES, "RUNNING", "CANCELLING"):
            # The node's QUEUED or RUNNING; while the results download, the status stays as it was.
            if info is not None and info.status in (StatusCode.QUEUED, StatusCode.RUNNING):
                return {} if task.status == info.status.value else {"status": info.status.value}
            return {}
        if state == "COMPLETED":
            try:
                assets = await asyncio.to_thread(publish_assets, self.svc.task_dir(task.id), task.id)
                return await asyncio.to_thread(finish_fields, assets)
            except Exception as exc:
                log.exception("Results of task %s could not be read", task.id)
                return {"status": Status.FAILED, "last_error": f"Cannot read the task's results: {exc}"}
        if state == "CANCELLED":
            return {"status": Status.CANCELED}
        return {"status": Status.FAILED, "last_error": run_error(view.message)}

    def _entry(self, task_id: str) -> Entry | None:
        fs, out = filesystem(str(self.svc.task_dir(task_id) / "output"))
        return ledger.load(fs, out, task_id)


def _remove_on_node(url: str, uuid: str) -> None:
    try:
        with NodeClient.from_url(url, timeout=30.0) as client:
            client.remove(uuid)
    except NodeError as e:
        log.warning("Could not remove task %s from its node: %s", uuid, e)
