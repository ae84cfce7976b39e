"""process-images: one NodeODM task, run by an engine, stage by stage.

The flow reads like the process: fetch the inputs (zipurl), run each engine step as a
task, write the console to task_output.txt, zip the outputs, and tell the webhook.
Progress is a Prefect progress artifact; the console is the run's logs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.context import FlowRunContext
from prefect.logging.handlers import APILogWorker
from prefect.states import Cancelled, Failed

from tasks import inputs, remote, summary, webhook
from tasks.archive import UnsafeArchive
from tasks.engines import Context, EngineError, Step, fingerprint, get_engine
from tasks.info import task_payload
from tasks.outputs import ALL_ZIP, build_zip
from tasks.progress import Progress
from tasks.record import TaskRecord, write_json

ENGINE_SHARE = 90.0  # engine steps fill 0-90 %; NodeODM's own milestones are 93, 97 and 100
STEPS_FILE = ".odmflow/steps.json"
CONSOLE = "prefect.flow_runs.console"  # the logger whose records make up NodeODM's console output


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry network trouble, not a URL that points at nothing."""
    try:
        state.result()
    except (FileNotFoundError, PermissionError):
        return False
    except Exception:
        return True
    return True


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=transient, cache_policy=NO_CACHE)
def fetch_zipurl(url: str, project: Path) -> int:
    """Download a zip of images and unpack it, flattened, into images/."""
    return inputs.fetch_zip(url, project)


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=transient, cache_policy=NO_CACHE)
def fetch_inputs(url: str, project: Path) -> int:
    """Copy a batch's images from object storage into images/."""
    return inputs.fetch_url(url, project, get_run_logger().info)


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
def publish(project: Path, url: str, outputs: list[str] | None) -> int:
    """Write all.zip and every asset under the task's output URL."""
    return len(remote.publish_outputs(project, url, outputs))


@task(cache_policy=NO_CACHE)
def run_step(step: Step, ctx: Context) -> None:
    step.run(ctx)


@task(cache_policy=NO_CACHE)
def zip_outputs(project: Path, outputs: list[str] | None) -> int:
    return build_zip(project, outputs).stat().st_size


class RunCancelled(Exception):
    """The run was cancelled, but is still running."""


def stop_if_cancelled() -> None:
    """Raise `RunCancelled` if this run is being cancelled.

    The Runner stops a cancelled run with SIGTERM, and Prefect raises on that signal wherever
    the run happens to be. When it lands in a weakref callback, Python ignores the exception
    and the run goes on to the end. So the run also reads its own state between stages."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(context.flow_run.id).state
    if state is not None and state.type in (StateType.CANCELLING, StateType.CANCELLED):
        raise RunCancelled()


def run_engine(steps: list[Step], ctx: Context, progress: Progress) -> list[dict[str, Any]]:
    """Run the steps in order, reusing a step whose inputs and options have not changed.

    Returns what happened to each step (ODM's log.json records the same)."""
    done_file = ctx.project / STEPS_FILE
    done: dict[str, str] = json.loads(done_file.read_text()) if done_file.is_file() else {}
    forced = bool(ctx.option("rerun-from"))
    total = sum(s.weight for s in steps) or 1.0
    finished, upstream = 0.0, ""
    history: list[dict[str, Any]] = []
    for step in steps:
        stop_if_cancelled()
        key = fingerprint(step, ctx.options, upstream)
        began = time.time()
        reused = not forced and done.get(step.name) == key
        if reused:
            ctx.log(f"Reusing the outputs of {step.name} (options unchanged)")
        else:
            start = finished

            def report(fraction: float, start: float = start, weight: float = step.weight) -> None:
                progress.set(ENGINE_SHARE * (start + weight * max(0.0, min(1.0, fraction))) / total)

            ctx.log(f"Running {step.name} stage")
            run_step.with_options(name=step.name, task_run_name=step.name)(
                step, Context(ctx.project, ctx.options, ctx.log, report)
            )
            done[step.name] = key
            done_file.parent.mkdir(exist_ok=True)
            write_json(done_file, done)
        finished += step.weight
        upstream = key
        progress.set(ENGINE_SHARE * finished / total, flush=True)
        history.append({"stage": step.name, "start": began, "end": time.time(), "reused": reused})
    return history


def write_log(project: Path, engine: str, options: dict[str, Any], history: list[dict[str, Any]], since: float) -> None:
    """log.json in ODM's spirit (stages and their times), unless the engine wrote its own."""
    path = project / "log.json"
    if path.is_file() and path.stat().st_mtime >= since:
        return
    write_json(path, {"engine": engine, "options": options, "stages": history, "end": time.time()})


def download_prefix(uuid: str) -> str | None:
    """Where the node serves this task's assets, for links in the Prefect UI."""
    host, port = os.environ.get("ODMFLOW_HOST"), os.environ.get("ODMFLOW_PORT")
    if not port:
        return None
    host = "localhost" if host in (None, "0.0.0.0", "127.0.0.1") else host
    return f"http://{host}:{port}/task/{uuid}/download/"


def _notify(code: int) -> Any:
    def hook(flow: Any, flow_run: Any, state: Any) -> None:
        project = Path(flow_run.parameters["project"])
        if not (project / "task.json").is_file():
            return  # the task was removed
        record = TaskRecord.load(project)
        urls = [u for u in (record.webhook, os.environ.get("ODMFLOW_WEBHOOK")) if u]
        if urls:
            payload = task_payload(record, project, code, flow_run, state)
            delay = float(os.environ.get("ODMFLOW_WEBHOOK_DELAY", "5"))
            for url in urls:
                webhook.send(url, payload, step=delay)

    return hook


@flow(
    name="process-images",
    persist_result=False,
    on_completion=[_notify(40)],
    on_failure=[_notify(30)],
    on_cancellation=[_notify(50)],
)
def process_images(uuid: str, project: str, engine: str = "test", options: list[dict[str, Any]] | None = None):
    """Process one NodeODM task's images in `project` with `engine`."""
    folder = Path(project)
    record = TaskRecord.load(folder)
    logger = get_run_logger().getChild(CONSOLE.rsplit(".", 1)[1])
    (folder / ALL_ZIP).unlink(missing_ok=True)  # never serve a stale result while re-running
    console = open(folder / "task_output.txt", "w")

    def log(line: str) -> None:
        logger.info(line)
        if not console.closed:
            console.write(line + "\n")
            console.flush()

    progress = Progress(f"NodeODM task {uuid}")
    try:
        if record.zipurl and not inputs.image_count(folder):
            log(f"Downloading {record.zipurl}")
            record.imagesCount = fetch_zipurl(record.zipurl, folder)
            record.save(folder)
        if record.inputUrl and not inputs.image_count(folder):
            log(f"Reading the images from {record.inputUrl}")
            record.imagesCount = fetch_inputs(record.inputUrl, folder)
            record.save(folder)
        limit = int(os.environ.get("ODMFLOW_MAX_IMAGES") or 0)
        if limit and record.imagesCount > limit:
            raise EngineError(f"{record.imagesCount} images uploaded, but this node can only process up to {limit}.")
        opts = {o["name"]: o["value"] for o in options or []}
        eng = get_engine(engine)
        began = time.time()
        history = run_engine(eng.steps(opts), Context(folder, opts, log), progress)
        write_log(folder, eng.name, opts, history, began)
        progress.set(93, flush=True)
        stop_if_cancelled()
        log("Compressing all.zip")
        console.close()
        size = zip_outputs(folder, record.outputs)
        progress.set(97, flush=True)
        logger.info(f"all.zip ready ({size / 1e6:.1f} MB)")
        if record.outputUrl:
            count = publish(folder, record.outputUrl, record.outputs)
            logger.info(f"Wrote {count} files to {record.outputUrl}")
        create_markdown_artifact(
            summary.markdown(folder, record.name or uuid, download_prefix(uuid)), description="Outputs of this task"
        )
        progress.set(100, flush=True)
    except (EngineError, UnsafeArchive, httpx.HTTPError, OSError) as exc:
        log(f"Processing failed: {exc}")
        return Failed(message=str(exc))
    except RunCancelled:
        return Cancelled(message="Flow run was cancelled.")
    finally:
        console.close()
        # The console must be whole in Prefect before the run is seen as finished.
        APILogWorker.drain_all(timeout=5)


if __name__ == "__main__":
    process_images.serve(name="process-images")
