from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.info import build, error_message, processing_ms, status_of
from tasks.nodeodm.models import StatusCode, TaskInfo
from tasks.record import TaskRecord


def test_prefect_states_map_to_nodeodm_codes() -> None:
    assert status_of("SCHEDULED") == status_of("PENDING") == StatusCode.QUEUED
    assert status_of("RUNNING") == StatusCode.RUNNING
    assert status_of("FAILED") == status_of("CRASHED") == StatusCode.FAILED
    assert status_of("COMPLETED") == StatusCode.COMPLETED
    assert status_of("CANCELLED") == status_of("CANCELLING") == StatusCode.CANCELED
    assert status_of(None) == StatusCode.RUNNING  # committed, run not created yet: initialising


def test_processing_time() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert processing_ms(None, None) == -1
    assert processing_ms(start, start + timedelta(seconds=2.5)) == 2500
    assert processing_ms(start, None, now=start + timedelta(seconds=1)) == 1000


def test_error_message_only_for_failures() -> None:
    assert error_message(StatusCode.FAILED, "Flow run encountered an exception: Boom") == "Boom"
    assert error_message(StatusCode.COMPLETED, "All good") is None


def test_task_info_round_trips_and_keeps_unknown_keys() -> None:
    record = TaskRecord(uuid="u", dateCreated=1500000000000, options=[{"name": "dsm", "value": True}], imagesCount=3)
    info = build(record, StatusCode.FAILED, message="Not enough memory", processing_time=10)
    data = info.to_dict()
    assert list(data) == ["uuid", "dateCreated", "processingTime", "status", "options", "imagesCount", "progress"]
    assert data["status"] == {"code": 30, "errorMessage": "Not enough memory"}
    data["name"], data["newField"] = "n", {"x": 1}
    again = TaskInfo.from_dict(data)
    assert again.extra_fields == {"newField": {"x": 1}} and again.to_dict()["newField"] == {"x": 1}
    assert TaskRecord.from_dict({**record.to_dict(), "future": 1}).to_dict()["future"] == 1
