"""process-images run in this process against a real Prefect server, with no Runner to stop it."""

from __future__ import annotations

import contextvars
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterState
from prefect.client.schemas.filters import FlowRunFilterStateType as StateTypes
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Cancelling

from flows.process import process_images
from tasks.record import TaskRecord
from tests.conftest import make_images
from tests.ingest.conftest import prefect  # noqa: F401  (the Prefect server fixture)


def _running_run() -> Any:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["process-images"])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=StateTypes(any_=[StateType.RUNNING]))),
            sort=FlowRunSort.START_TIME_DESC, limit=1,
        )
    return runs[0] if runs else None


@pytest.mark.usefixtures("prefect")
def test_a_run_cancelled_between_stages_stops_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a run does when the Runner's SIGTERM is lost: it still sees its Cancelling state.
    monkeypatch.setenv("ODMFLOW_TEST_SECONDS", "3")
    project = tmp_path / "task"
    make_images(project / "images", 3)
    TaskRecord(uuid="cancelled", imagesCount=3).save(project)
    result: dict[str, Any] = {}
    context = contextvars.copy_context()  # the Prefect settings of the fixture, in the thread too
    thread = threading.Thread(target=lambda: context.run(lambda: result.update(state=process_images(
        uuid="cancelled", project=str(project), engine="test", return_state=True))))
    thread.start()
    deadline = time.monotonic() + 60
    console = project / "task_output.txt"
    while not (console.is_file() and "Running opensfm stage" in console.read_text()):
        assert time.monotonic() < deadline and thread.is_alive(), result
        time.sleep(0.1)
    run = _running_run()
    assert run is not None
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Cancelling(), force=True)
    thread.join(60)
    assert result["state"].is_cancelled(), result["state"]
    assert "Running odm_georeferencing stage" not in console.read_text()  # no stage after the cancel
    assert not (project / "all.zip").exists()
