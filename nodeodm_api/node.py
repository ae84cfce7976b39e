"""The node: NodeODM's task operations over the task store and Prefect runs.

Routes parse HTTP and call these methods; these raise `NodeError` with NodeODM's
exact message, which the routes turn into NodeODM's `{"error": ...}` answers.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks import remote
from tasks.engines import Engine
from tasks.info import build, processing_ms, status_of
from tasks.nodeodm.models import StatusCode, TaskInfo
from tasks.outputs import ALL_ZIP, ASSETS, FOLDER_ASSETS, build_zip
from tasks.record import TaskRecord, now_ms

from . import options as opts
from .runs import Runs
from .store import Store

_SET_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)
_NOT_IMAGES = (".txt", ".zip")


class NodeError(Exception):
    """An answer NodeODM gives as HTTP 200 `{"error": ...}` (plus `extra` keys)."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


@dataclass
class Limits:
    max_images: int | None = None
    max_concurrency: int | None = None
    cleanup_tasks_after: float = 2880
    cleanup_uploads_after: float = 2880


def js_int(value: Any, default: int) -> int:
    """JavaScript's parseInt on a form field, with a fallback for NaN."""
    match = re.match(r"^\s*([+-]?\d+)", str(value)) if value is not None else None
    return int(match.group(1)) if match else default


def output_slice(lines: list[str], line: str | None) -> list[str]:
    """NodeODM's `line`/`with_output`: a slice start; negative counts from the end."""
    start = js_int(line, 0) if line not in (None, "") else 0
    return lines[start:]


def count_images(files: list[Path]) -> int:
    return sum(1 for f in files if not f.name.lower().endswith(_NOT_IMAGES) and not f.name.startswith("align."))


class Node:
    def __init__(self, store: Store, runs: Runs, engine: Engine, engine_name: str, limits: Limits) -> None:
        self.store = store
        self.runs = runs
        self.engine = engine
        self.engine_name = engine_name
        self.limits = limits
        self.schema = engine.options()

    # Creating tasks ---------------------------------------------------------------------
    def new_uuid(self, set_uuid: str | None) -> str:
        if set_uuid is None:
            return str(uuidlib.uuid4())
        if not _SET_UUID.match(set_uuid) or self.store.exists(set_uuid.lower()):
            raise NodeError(f"Invalid set-uuid: {set_uuid}")
        return set_uuid.lower()

    def check_options(self, raw: Any) -> None:
        """Validate at init (only when sent, as NodeODM does); raises NodeError."""
        if opts.supplied(raw):
            try:
                opts.parse_options(raw, self.schema)
            except opts.OptionsError as exc:
                raise NodeError(str(exc)) from None

    def check_count(self, uuid: str) -> None:
        limit = self.limits.max_images
        staged = self.store.upload_dir(uuid) / "images"
        files = [p for p in staged.iterdir() if p.is_file()] if staged.is_dir() else []
        if limit and count_images(files) > limit:
            raise NodeError(
                f"{count_images(files)} images uploaded, but this node can only process up to {limit}.", noRetry=True
            )

    async def commit(self, uuid: str, fields: dict[str, Any]) -> str:
        """Turn an upload into a task: record it, move its files, start its flow run."""
        if self.store.exists(uuid) and self.store.pending(uuid) is None:
            return uuid  # a retried commit of a committed task: same answer, nothing new
        staged = self.store.upload_dir(uuid) / "images"
        has_files = staged.is_dir() and any(p.is_file() for p in staged.iterdir())
        input_url = fields.get("inputUrl") or fields.get("readS3Path") or None
        if not has_files and not fields.get("zipurl") and not input_url:
            self.store.discard(uuid)
            raise NodeError("Need at least 1 file.")
        skip = str(fields.get("skipPostProcessing", "")) == "true"
        try:
            options = opts.parse_options(fields.get("options"), self.schema)
            outputs = json.loads(fields["outputs"]) if fields.get("outputs") else None
        except (opts.OptionsError, ValueError) as exc:
            self.store.discard(uuid)
            raise NodeError(str(exc)) from None
        self.check_count(uuid)
        options = opts.apply_max_concurrency(options, self.limits.max_concurrency, self.schema)
        options = opts.add_post_processing_options(options, self.schema, skip)
        record = TaskRecord(
            uuid=uuid, name=_name(fields), dateCreated=js_int(fields.get("dateCreated"), now_ms()),
            options=options, webhook=fields.get("webhook") or None, skipPostProcessing=skip,
            outputs=[str(o) for o in outputs] if isinstance(outputs, list) else None,
            zipurl=fields.get("zipurl") or None, inputUrl=input_url,
            outputUrl=fields.get("outputUrl") or fields.get("writeS3Path") or None,
        )
        self.store.commit(record)
        await self.start_run(record)
        self.store.discard(uuid)
        return uuid

    async def start_run(self, record: TaskRecord) -> None:
        project = self.store.folder(record.uuid)
        params = {"uuid": record.uuid, "project": str(project), "engine": self.engine_name, "options": record.options}
        run_id = await self.runs.create(record.uuid, len(record.runs), params, record.name)
        if run_id not in record.runs:
            record.runs.append(run_id)
        record.save(project)

    # Reading tasks ----------------------------------------------------------------------
    def record(self, uuid: str) -> TaskRecord:
        record = self.store.record(uuid)
        if record is None:
            raise NodeError(f"{uuid} not found")
        return record

    async def info(self, uuid: str, with_output: str | None = None) -> TaskInfo:
        record = self.record(uuid)
        view = await self.runs.view(record.run_id) if record.run_id else None
        code = status_of(view.state if view else None)
        started = view is not None and code != StatusCode.QUEUED  # a re-queued run starts over
        info = build(
            record, code,
            processing_time=processing_ms(view.start, view.end) if view and started else -1,
            progress=100 if code == StatusCode.COMPLETED else (view.progress if view and started else 0),
            message=view.message if view else None,
        )
        if with_output is not None:
            info.output = output_slice(await self.output_lines(record), with_output)
        return info

    async def output_lines(self, record: TaskRecord) -> list[str]:
        return await self.runs.console(record.run_id) if record.run_id else []

    async def task_list(self) -> list[str]:
        return [u for u in await self.runs.task_uuids() if self.store.exists(u)]

    async def asset(self, uuid: str, asset: str) -> Path:
        record = self.record(uuid)
        project = self.store.folder(uuid)
        if asset != ALL_ZIP and asset not in ASSETS and asset not in FOLDER_ASSETS:
            raise NodeError("Invalid asset")
        info = await self.info(record.uuid)
        if info.status != StatusCode.COMPLETED:
            raise NodeError("Asset not ready")
        if asset in FOLDER_ASSETS:
            if not (project / FOLDER_ASSETS[asset]).is_dir():
                raise NodeError("Asset not ready")
            cached = project / ".odmflow" / asset
            if not cached.is_file():
                cached.parent.mkdir(exist_ok=True)
                built = await asyncio.to_thread(build_zip, project, [FOLDER_ASSETS[asset]], f".odmflow/{asset}")
                return built
            return cached
        path = project / (ALL_ZIP if asset == ALL_ZIP else ASSETS[asset])
        if not path.is_file():
            raise NodeError("Asset not ready")
        return path

    def signed_asset(self, uuid: str, asset: str) -> str | None:
        """A pre-signed URL of a published asset, when the task writes to object storage."""
        record = self.record(uuid)
        if not record.outputUrl or asset in FOLDER_ASSETS:
            return None
        return remote.signed_url(record.outputUrl, ALL_ZIP if asset == ALL_ZIP else ASSETS[asset])

    # Changing tasks ---------------------------------------------------------------------
    async def cancel(self, uuid: str) -> None:
        record = self.record(uuid)
        if record.run_id:
            await self.runs.cancel(record.run_id)

    async def remove(self, uuid: str) -> None:
        record = self.record(uuid)
        if record.run_id:
            await self.runs.cancel(record.run_id)
            await self.runs.wait_stopped(record.run_id)
        await self.runs.delete(record.runs)
        self.store.remove(uuid)

    async def restart(self, uuid: str, raw_options: Any = None) -> None:
        record = self.record(uuid)
        view = await self.runs.view(record.run_id) if record.run_id else None
        self.runs.forget(record.run_id)
        if view is None or view.state in ("SCHEDULED", "PENDING", "RUNNING", "PAUSED"):
            raise NodeError("Task cannot be restarted", success=False)
        if opts.supplied(raw_options):
            try:
                options = opts.parse_options(raw_options, self.schema)
            except opts.OptionsError as exc:
                raise NodeError(str(exc)) from None
            options = opts.apply_max_concurrency(options, self.limits.max_concurrency, self.schema)
            record.options = opts.add_post_processing_options(options, self.schema, record.skipPostProcessing)
        if view.state == "CANCELLING" and record.run_id:
            await self.runs.wait_stopped(record.run_id)
        record.dateCreated = now_ms()
        (self.store.folder(uuid) / ALL_ZIP).unlink(missing_ok=True)
        await self.start_run(record)

    # Housekeeping -----------------------------------------------------------------------
    async def recover(self) -> None:
        """After a restart of the node: re-queue runs whose process died with it, drop
        runs whose task folder is gone, and start runs for tasks that never got one."""
        await self.runs.recover()
        for run in await self.runs.runs():
            if not self.store.exists(str((run.parameters or {}).get("uuid", ""))):
                await self.runs.delete([str(run.id)])
        for uuid in self.store.uuids():
            record = self.store.record(uuid)
            if record is not None and not record.runs:
                await self.start_run(record)

    async def cleanup(self) -> list[str]:
        """Remove finished tasks older than `cleanup_tasks_after` and stale uploads."""
        removed = []
        horizon = now_ms() - self.limits.cleanup_tasks_after * 60_000
        for uuid in self.store.uuids():
            try:
                info = await self.info(uuid)
            except NodeError:
                continue
            ended = info.dateCreated + max(info.processingTime, 0)
            if info.status.finished and ended < horizon:
                await self.remove(uuid)
                removed.append(uuid)
        for uuid in self.store.stale_uploads(self.limits.cleanup_uploads_after):
            shutil.rmtree(self.store.upload_dir(uuid), ignore_errors=True)
        return removed


def _name(fields: dict[str, Any]) -> str:
    # NodeODM leaves `name` out of TaskInfo when none was sent, and PyODM's TaskInfo then
    # fails with KeyError; an unnamed task gets the name NodeODM gives an empty one.
    if not fields.get("name"):
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return f"Task of {stamp}"
    return str(fields["name"])
