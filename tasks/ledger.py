"""Where each batch's remote task is remembered between runs: a small JSON object beside its output.

The node runs the task; the ingest run only follows it. So that a crashed or killed run
resumes instead of submitting again, the entry is written as soon as the node has given
the task a uuid (before any upload), and again whenever the task moves to another
attempt or node. A re-run reads it and asks the node what became of that uuid.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass, field
from typing import Any

from fsspec import AbstractFileSystem

from tasks.storage import join, read_json, write_json

__all__ = ["Entry", "WORK", "entry_path", "load", "save", "clear", "open_entries", "staging_path"]

#: The output prefix's own corner: ledger entries and staged results, never a batch's name.
WORK = ".odmflow"


@dataclass
class Entry:
    """One batch's remote task: which node, which uuid, which rung of the ladder."""

    batch: str
    node: str
    uuid: str
    attempt: int = 0
    committed: bool = False
    #: Nodes given up on for this batch (died mid-task), never chosen for it again.
    lost: list[str] = field(default_factory=list)
    #: Where the node writes the results itself, when it reads and writes storage URLs.
    output_url: str | None = None
    #: Options to restart the task with before following it again: a rerun asked for from
    #: outside the run (WebODM's restart), carried out by the run that resumes the entry.
    restart: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def entry_path(fs: AbstractFileSystem, output: str, batch: str) -> str:
    return join(fs, output, WORK, batch, "task.json")


def staging_path(fs: AbstractFileSystem, output: str, batch: str, uuid: str) -> str:
    return join(fs, output, WORK, batch, "staging", uuid)


def load(fs: AbstractFileSystem, output: str, batch: str) -> Entry | None:
    path = entry_path(fs, output, batch)
    return Entry.from_dict(read_json(fs, path)) if fs.exists(path) else None


def save(fs: AbstractFileSystem, output: str, entry: Entry) -> None:
    write_json(fs, entry_path(fs, output, entry.batch), entry.to_dict())


def clear(fs: AbstractFileSystem, output: str, batch: str) -> None:
    """Forget the batch's task and its staged files, once its result is published."""
    folder = join(fs, output, WORK, batch)
    if fs.exists(folder):
        fs.rm(folder, recursive=True)


def open_entries(fs: AbstractFileSystem, output: str) -> list[Entry]:
    """Every remembered task under `output`: the tasks a cancelled run must cancel on their nodes."""
    root = join(fs, output, WORK)
    if not fs.exists(root):
        return []
    paths = [p for p in fs.find(root) if posixpath.basename(p) == "task.json" and "/staging/" not in p]
    return [Entry.from_dict(read_json(fs, p)) for p in sorted(paths)]
