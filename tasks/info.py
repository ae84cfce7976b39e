"""A task's NodeODM view: its record plus the state of its current flow run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.nodeodm.models import StatusCode, TaskInfo
from tasks.record import TaskRecord

# Prefect state types → NodeODM status codes. Cancelling already reads as canceled,
# as NodeODM answers 50 the moment a cancel is accepted.
STATUS: dict[str, StatusCode] = {
    "SCHEDULED": StatusCode.QUEUED,
    "PENDING": StatusCode.QUEUED,
    "PAUSED": StatusCode.QUEUED,
    "RUNNING": StatusCode.RUNNING,
    "FAILED": StatusCode.FAILED,
    "CRASHED": StatusCode.FAILED,
    "COMPLETED": StatusCode.COMPLETED,
    "CANCELLING": StatusCode.CANCELED,
    "CANCELLED": StatusCode.CANCELED,
}
_PREFIXES = ("Flow run encountered an exception: ",)


def status_of(state_type: str | None) -> StatusCode:
    """NodeODM's code for a Prefect state type; no run yet means still initialising (20)."""
    if state_type is None:
        return StatusCode.RUNNING
    return STATUS.get(state_type.upper(), StatusCode.QUEUED)


def error_message(code: StatusCode, message: str | None) -> str | None:
    if code != StatusCode.FAILED or not message:
        return None
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def processing_ms(start: datetime | None, end: datetime | None, now: datetime | None = None) -> int:
    """Milliseconds since the run started (to its end when finished); -1 before it starts."""
    if start is None:
        return -1
    stop = end or now or datetime.now(UTC)
    return max(0, int((stop - start).total_seconds() * 1000))


def build(
    record: TaskRecord, code: StatusCode, *, processing_time: int = -1, progress: float = 0,
    message: str | None = None, output: list[str] | None = None,
) -> TaskInfo:
    return TaskInfo(
        uuid=record.uuid, name=record.name, dateCreated=record.dateCreated,
        processingTime=processing_time, status=code, errorMessage=error_message(code, message),
        options=record.options, imagesCount=record.imagesCount, progress=progress, output=output,
    )


def task_payload(record: TaskRecord, project: Path, code: int, flow_run: Any, state: Any) -> dict[str, Any]:
    """The webhook body: TaskInfo plus `images` from images.json, as NodeODM sends it."""
    status = StatusCode(code)
    info = build(
        record, status,
        processing_time=processing_ms(getattr(flow_run, "start_time", None), None),
        progress=100 if status == StatusCode.COMPLETED else 0,
        message=getattr(state, "message", None),
    )
    payload = info.to_dict()
    images = project / "images.json"
    payload["images"] = json.loads(images.read_text()) if images.is_file() else []
    return payload
