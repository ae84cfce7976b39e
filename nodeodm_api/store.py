"""Task folders on disk: uncommitted uploads under `tmp/`, tasks under `tasks/`.

Only canonical UUIDs ever become paths, so no request can name a folder outside these.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from tasks.inputs import sort_special_files
from tasks.record import TaskRecord, write_json

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)
BODY = "body.json"


def is_uuid(value: str) -> bool:
    return bool(UUID.match(value))


class Store:
    def __init__(self, root: Path) -> None:
        self.tasks = root / "tasks"
        self.uploads = root / "tmp"
        self.tasks.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    # Uncommitted uploads -------------------------------------------------------------
    def upload_dir(self, uuid: str) -> Path:
        return self.uploads / uuid

    def begin(self, uuid: str, fields: dict[str, Any]) -> None:
        folder = self.upload_dir(uuid)
        (folder / "images").mkdir(parents=True, exist_ok=True)
        write_json(folder / BODY, fields)

    def pending(self, uuid: str) -> dict[str, Any] | None:
        """The fields stored at init, or None when `uuid` is not an open upload."""
        if not is_uuid(uuid):
            return None
        body = self.upload_dir(uuid) / BODY
        if not body.is_file():
            return None
        data: dict[str, Any] = json.loads(body.read_text())
        return data

    def discard(self, uuid: str) -> None:
        if is_uuid(uuid):
            shutil.rmtree(self.upload_dir(uuid), ignore_errors=True)

    def stale_uploads(self, minutes: float) -> list[str]:
        limit = time.time() - minutes * 60
        return [p.name for p in self.uploads.iterdir() if is_uuid(p.name) and p.stat().st_ctime < limit]

    # Tasks ----------------------------------------------------------------------------
    def folder(self, uuid: str) -> Path:
        return self.tasks / uuid

    def exists(self, uuid: str) -> bool:
        return is_uuid(uuid) and (self.folder(uuid) / "task.json").is_file()

    def record(self, uuid: str) -> TaskRecord | None:
        if not self.exists(uuid):
            return None
        try:
            return TaskRecord.load(self.folder(uuid))
        except (OSError, ValueError):
            return None

    def uuids(self) -> list[str]:
        return [p.name for p in self.tasks.iterdir() if is_uuid(p.name) and (p / "task.json").is_file()]

    def commit(self, record: TaskRecord) -> Path:
        """Move an upload into its task folder and sort NodeODM's special files."""
        project = self.folder(record.uuid)
        staged = self.upload_dir(record.uuid) / "images"
        if staged.is_dir():
            if project.exists():
                shutil.rmtree(project)  # a reused set-uuid starts clean
            project.mkdir(parents=True)
            staged.replace(project / "images")
        images = project / "images"
        images.mkdir(parents=True, exist_ok=True)
        sort_special_files(project)
        record.imagesCount = sum(1 for p in images.iterdir() if p.is_file())
        record.save(project)
        return project

    def remove(self, uuid: str) -> None:
        if is_uuid(uuid):
            shutil.rmtree(self.folder(uuid), ignore_errors=True)
