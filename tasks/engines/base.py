"""The engine interface: what the processing flow needs from a photogrammetry engine.

An engine turns the images in a task folder into ODM's output layout. The flow
(`flows/process.py`) asks it for `steps(options)` and runs each step as a Prefect
task, in order. A step writes under `Context.project` and reports through
`Context.log` (console lines) and `Context.progress` (0..1 within the step).

Engines are plain Python: nothing here imports Prefect, so an engine can be run and
tested without an orchestrator (see `run_steps`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Options = dict[str, Any]


class EngineError(Exception):
    """A step failed in a way the user can act on; the message reaches the task's status."""


@dataclass
class Context:
    """What a step gets: the task's project folder, its typed options and two callbacks."""

    project: Path
    options: Options = field(default_factory=dict)
    log: Callable[[str], None] = print
    progress: Callable[[float], None] = lambda fraction: None

    @property
    def images(self) -> Path:
        return self.project / "images"

    @property
    def gcp(self) -> Path:
        return self.project / "gcp"

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


@dataclass(frozen=True)
class Step:
    """One unit of work shown as one Prefect task.

    `weight` is the step's share of the engine's progress. `depends_on` names the options
    whose values change this step's output: the flow re-runs a step whose options or
    upstream steps changed and may skip one whose outputs are still valid.
    """

    name: str
    run: Callable[[Context], None]
    weight: float = 1.0
    depends_on: tuple[str, ...] = ()


@runtime_checkable
class Engine(Protocol):
    """A processing engine. `name` is what `/info.engine` reports."""

    name: str

    def version(self) -> str:
        """The engine's version string (`/info.engineVersion`)."""
        ...

    def options(self) -> list[dict[str, Any]]:
        """The options the engine honours, in NodeODM's `/options` schema."""
        ...

    def stages(self) -> list[str]:
        """The `rerun-from` domain, in processing order."""
        ...

    def steps(self, options: Options) -> list[Step]:
        """The steps to run for these options, honouring `rerun-from`."""
        ...


def stage_slice(stages: Sequence[str], rerun_from: str | None) -> list[str]:
    """The stages to run: all of them, or from `rerun_from` onwards."""
    if not rerun_from or rerun_from not in stages:
        return list(stages)
    return list(stages[stages.index(rerun_from) :])


def fingerprint(step: Step, options: Options, upstream: str = "") -> str:
    """A digest of what a step's output depends on: its options and its inputs' digest."""
    relevant = {name: options.get(name) for name in step.depends_on}
    blob = json.dumps([step.name, relevant, upstream], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_steps(engine: Engine, ctx: Context, steps: Iterable[Step] | None = None) -> None:
    """Run an engine's steps in this process, without Prefect (for tests and scripts)."""
    for step in steps if steps is not None else engine.steps(ctx.options):
        ctx.log(f"[{step.name}] starting")
        step.run(ctx)
