"""The WebODM face's state: its database, signing key, task folders and background jobs."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Protocol

from .auth import secret_key
from .db import Database, Task, database_url
from .directory import Directory
from .records import Records

log = logging.getLogger("odmflow.webodm")


class Processor(Protocol):
    """Where task processing plugs in: told whenever a task's record asks for work
    (a new task, a PATCH, a pending cancel/restart/remove); it does the rest in the background."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def kick(self, task_id: str) -> None: ...

    async def discard(self, task: Task) -> None: ...


class WebODM:
    """Opened and closed by the node app's lifespan; endpoints reach it as `app.state.webodm`."""

    def __init__(self, data_dir: Path, database: str | None = None) -> None:
        self.root = data_dir / "webodm"
        self.db = Database(database_url(data_dir, database))
        self.records = Records(self.db)
        self.secret = ""
        self.processor: Processor | None = None
        #: The processing nodes; this node is among them when the server knows its own URL.
        self.directory = Directory(None)
        #: Recent tile access checks: (credentials, task, kind) -> (when, raster path).
        self.tile_grants: dict[tuple[str, str, str, str], tuple[float, Path]] = {}
        self._jobs: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.secret = secret_key(self.root)
        await self.db.open()
        from .imports import resume_imports

        await resume_imports(self)
        if self.processor is not None:
            await self.processor.open()

    async def close(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)
        if self.processor is not None:
            await self.processor.close()
        await self.db.close()

    # Task folders -----------------------------------------------------------------------
    def task_dir(self, task_id: str) -> Path:
        return self.root / "tasks" / task_id

    def assets_dir(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "assets"

    def remove_task_dir(self, task_id: str) -> None:
        shutil.rmtree(self.task_dir(task_id), ignore_errors=True)

    # Background jobs --------------------------------------------------------------------
    def spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        """Run `job` beside the requests; kept referenced so it is not collected mid-way."""
        task = asyncio.create_task(job, name=name)
        self._jobs.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._jobs.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())
