"""NodeODM's wire models, shared by our server and our client.

Each model round-trips through `to_dict`/`from_dict` and keeps keys it does not know in
`extra_fields`, because NodeODM's answers have grown fields over the years and other
nodes (ClusterODM, webodm.net) add their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class StatusCode(IntEnum):
    QUEUED = 10
    RUNNING = 20
    FAILED = 30
    COMPLETED = 40
    CANCELED = 50

    @property
    def finished(self) -> bool:
        return self in (StatusCode.FAILED, StatusCode.COMPLETED, StatusCode.CANCELED)


@dataclass
class TaskInfo:
    """`GET /task/{uuid}/info`. Key order follows NodeODM's."""

    uuid: str
    dateCreated: int
    processingTime: int = -1
    status: StatusCode = StatusCode.QUEUED
    errorMessage: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    imagesCount: int = 0
    progress: float = 0
    name: str | None = None
    output: list[str] | None = None
    extra_fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status: dict[str, Any] = {"code": int(self.status)}
        if self.errorMessage:
            status["errorMessage"] = self.errorMessage
        out: dict[str, Any] = {"uuid": self.uuid}
        if self.name is not None:
            out["name"] = self.name
        out.update(
            dateCreated=self.dateCreated,
            processingTime=self.processingTime,
            status=status,
            options=self.options,
            imagesCount=self.imagesCount,
            progress=self.progress,
        )
        if self.output is not None:
            out["output"] = self.output
        out.update(self.extra_fields)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskInfo:
        d = dict(data)
        status = d.pop("status", {}) or {}
        known = {
            "uuid": d.pop("uuid"),
            "name": d.pop("name", None),
            "dateCreated": int(d.pop("dateCreated", 0) or 0),
            "processingTime": int(d.pop("processingTime", -1)),
            "status": StatusCode(int(status.get("code", StatusCode.QUEUED))),
            "errorMessage": status.get("errorMessage"),
            "options": d.pop("options", []) or [],
            "imagesCount": int(d.pop("imagesCount", 0) or 0),
            "progress": d.pop("progress", 0) or 0,
            "output": d.pop("output", None),
        }
        return cls(**known, extra_fields=d)


@dataclass
class NodeInfo:
    """`GET /info`. Key order follows NodeODM's."""

    version: str
    taskQueueCount: int = 0
    totalMemory: int | None = None
    availableMemory: int | None = None
    cpuCores: int | None = None
    maxImages: int | None = None
    maxParallelTasks: int | None = None
    engineVersion: str = "?"
    engine: str = "odm"
    extra_fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "taskQueueCount": self.taskQueueCount,
            "totalMemory": self.totalMemory,
            "availableMemory": self.availableMemory,
            "cpuCores": self.cpuCores,
            "maxImages": self.maxImages,
            "maxParallelTasks": self.maxParallelTasks,
            "engineVersion": self.engineVersion,
            "engine": self.engine,
        }
        out.update(self.extra_fields)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeInfo:
        d = dict(data)
        names = ("taskQueueCount", "totalMemory", "availableMemory", "cpuCores", "maxImages",
                 "maxParallelTasks", "engineVersion", "engine")
        known = {k: d.pop(k) for k in names if k in d}
        return cls(version=str(d.pop("version", "0.0.0")), **known, extra_fields=d)


@dataclass
class Option:
    """One entry of `GET /options`: `value` is always a string, `domain` a string or a list."""

    name: str
    type: str
    value: str
    domain: str | list[str]
    help: str = ""
    extra_fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "type": self.type, "value": self.value,
            "domain": self.domain, "help": self.help,
        }
        out.update(self.extra_fields)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Option:
        d = dict(data)
        known = {k: d.pop(k) for k in ("name", "type", "value", "domain", "help") if k in d}
        return cls(**known, extra_fields=d)
