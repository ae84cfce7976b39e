"""The task view over Prefect: every NodeODM task is a flow run of `process-images`.

Status, timing and progress are read from the task's current flow run (its state and
its progress artifact); the console is the run's logs. Reads are cached for a moment,
because NodeODM clients poll, and our own writes drop the cache at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort, LogSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling, Scheduled

CONSOLE = "prefect.flow_runs.console"  # set by flows/process.py: the engine's lines, not Prefect's own
ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
PAGE = 200


@dataclass
class RunView:
    state: str | None = None
    message: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    progress: float = 0.0
    at: float = field(default_factory=time.monotonic)

    @property
    def active(self) -> bool:
        return self.state in (None, "SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")


@dataclass
class _Console:
    lines: list[str] = field(default_factory=list)
    records: int = 0


class Runs:
    def __init__(self, api_url: str, deployment: str, ttl: float = 0.25) -> None:
        self.client = PrefectClient(api_url)
        self.deployment = deployment
        self.deployment_id: UUID | None = None
        self.ttl = ttl
        self._views: dict[str, RunView] = {}
        self._consoles: dict[str, _Console] = {}
        self._console_locks: dict[str, asyncio.Lock] = {}
        self._queue: tuple[float, int] = (0.0, 0)

    async def open(self, wait: float = 120.0) -> None:
        await self.client.__aenter__()
        deadline = time.monotonic() + wait
        while True:  # the Runner registers the deployment as it starts
            try:
                self.deployment_id = (await self.client.read_deployment_by_name(self.deployment)).id
                return
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Deployment {self.deployment!r} not found in Prefect") from None
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self.client.__aexit__(None, None, None)

    # Runs -------------------------------------------------------------------------
    async def create(self, uuid: str, attempt: int | str, parameters: dict[str, Any], name: str | None,
                     tags: list[str] | None = None) -> str:
        assert self.deployment_id is not None
        self.forget(None)
        run = await self.client.create_flow_run_from_deployment(
            self.deployment_id, parameters=parameters, name=name or uuid,
            tags=["odmflow", f"task:{uuid}", *(tags or [])], idempotency_key=f"{uuid}:{attempt}",
        )
        return str(run.id)

    async def view(self, run_id: str) -> RunView | None:
        cached = self._views.get(run_id)
        if cached and time.monotonic() - cached.at < (self.ttl if cached.active else self.ttl * 4):
            return cached
        try:
            run, progress = await asyncio.gather(self.client.read_flow_run(UUID(run_id)), self._progress(run_id))
        except ObjectNotFound:
            return None
        view = RunView(
            state=run.state.type.value if run.state else None,
            message=run.state.message if run.state else None,
            start=run.start_time, end=run.end_time, progress=progress,
        )
        self._views[run_id] = view
        return view

    async def _progress(self, run_id: str) -> float:
        # Raw filter: the client always sends a task-run filter, which leaves out the
        # flow-level artifacts this flow writes.
        body = {
            "flow_runs": FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)])).model_dump(mode="json"),
            "artifacts": {"type": {"any_": ["progress"]}},
            "sort": "UPDATED_DESC",
            "limit": 1,
        }
        response = await self.client._client.post("/artifacts/filter", json=body)
        found = response.json()
        return float(found[0]["data"] or 0) if found else 0.0

    def release(self, run_id: str) -> None:
        """Drop what is kept of a run that will not be read again (its console lines, its view)."""
        self._consoles.pop(run_id, None)
        self._console_locks.pop(run_id, None)
        self._views.pop(run_id, None)

    def forget(self, run_id: str | None) -> None:
        self._queue = (0.0, 0)
        if run_id:
            self._views.pop(run_id, None)

    async def console(self, run_id: str) -> list[str]:
        """The run's console lines so far; only log records not seen before are fetched.

        Prefect's own lifecycle records are left out: they arrive after the final state,
        and NodeODM's output is complete once a task has ended."""
        lock = self._console_locks.setdefault(run_id, asyncio.Lock())
        async with lock:
            console = self._consoles.setdefault(run_id, _Console())
            while True:
                logs = await self.client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(run_id)])),
                    limit=PAGE, offset=console.records, sort=LogSort.TIMESTAMP_ASC,
                )
                for log in logs:
                    if log.name == CONSOLE:
                        console.lines.extend(log.message.splitlines() or [""])
                console.records += len(logs)
                if len(logs) < PAGE:
                    return console.lines

    async def cancel(self, run_id: str) -> None:
        self.forget(run_id)
        try:
            run = await self.client.read_flow_run(UUID(run_id))
        except ObjectNotFound:
            return
        kind = run.state.type if run.state else None
        if kind in (StateType.CANCELLED, StateType.CANCELLING):
            return
        if kind in (StateType.RUNNING, StateType.PENDING):
            # The Runner (or worker) sees Cancelling, stops the process and sets Cancelled.
            await self.client.set_flow_run_state(run.id, Cancelling(), force=True)
        else:
            await self.client.set_flow_run_state(run.id, Cancelled(), force=True)

    async def wait_stopped(self, run_id: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                run = await self.client.read_flow_run(UUID(run_id))
            except ObjectNotFound:
                return
            if run.state is None or run.state.type not in (StateType.RUNNING, StateType.CANCELLING, StateType.PENDING):
                return
            await asyncio.sleep(0.2)

    async def delete(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            self.forget(run_id)
            self.release(run_id)
            try:
                await self.client.delete_flow_run(UUID(run_id))
            except ObjectNotFound:
                pass

    async def requeue(self, run_id: str) -> None:
        self.forget(run_id)
        await self.client.set_flow_run_state(UUID(run_id), Scheduled(name="Requeued"), force=True)

    async def recover(self) -> None:
        """After a stop of the Runner: runs it was executing go back to the queue, and runs
        it was cancelling are cancelled."""
        for run in await self.runs([StateType.RUNNING, StateType.PENDING]):
            await self.requeue(str(run.id))
        for run in await self.runs([StateType.CANCELLING]):
            await self.cancel(str(run.id))

    # Listings ---------------------------------------------------------------------
    def _filter(self, states: list[StateType] | None = None) -> dict[str, Any]:
        assert self.deployment_id is not None
        run_filter = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)) if states else None
        )
        return {
            "deployment_filter": DeploymentFilter(id=DeploymentFilterId(any_=[self.deployment_id])),
            "flow_run_filter": run_filter,
        }

    async def runs(self, states: list[StateType] | None = None) -> list[Any]:
        """Every run of the deployment, oldest first."""
        found: list[Any] = []
        while True:
            page = await self.client.read_flow_runs(
                **self._filter(states), sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=PAGE, offset=len(found)
            )
            found += page
            if len(page) < PAGE:
                return found

    async def task_uuids(self) -> list[str]:
        seen: dict[str, None] = {}
        for run in await self.runs():
            uuid = (run.parameters or {}).get("uuid")
            if uuid:
                seen.setdefault(uuid, None)
        return list(seen)

    async def queue_count(self) -> int:
        at, count = self._queue
        if time.monotonic() - at > self.ttl:
            count = int(await self.client.count_flow_runs(**self._filter(ACTIVE)))
            self._queue = (time.monotonic(), count)
        return count


def utcnow() -> datetime:
    return datetime.now(UTC)
