"""A task's record: what a NodeODM task *is*, kept in its folder as `task.json`.

The record holds inputs and identity (name, options, dates, the flow runs made for it),
never status: status lives in Prefect, in the state of the task's latest flow run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

RECORD = "task.json"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TaskRecord:
    uuid: str
    dateCreated: int = field(default_factory=now_ms)
    name: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    webhook: str | None = None
    skipPostProcessing: bool = False
    outputs: list[str] | None = None
    zipurl: str | None = None
    #: odmflow's extension: read the images from, and write the results to, object storage.
    inputUrl: str | None = None
    outputUrl: str | None = None
    imagesCount: int = -1
    #: Flow run ids, oldest first; the last one is the task's current run.
    runs: list[str] = field(default_factory=list)
    extra_fields: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        return self.runs[-1] if self.runs else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra_fields")
        return {**data, **extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRecord:
        names = {f.name for f in fields(cls)} - {"extra_fields"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**known, extra_fields=extra)

    def save(self, folder: Path) -> None:
        write_json(folder / RECORD, self.to_dict())

    @classmethod
    def load(cls, folder: Path) -> TaskRecord:
        return cls.from_dict(json.loads((folder / RECORD).read_text()))


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically, so a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
