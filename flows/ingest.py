"""ingest-survey: batches from storage, processed on NodeODM nodes, published back to storage.

The flow reads like the process: discover the batches not yet published; for each, pick
a node, submit the batch (streamed from storage in parallel chunks), follow the task
until it finishes, restart it with the next options of the ladder when it fails, then
download all.zip and publish every asset with a STAC Item, the marker last.

Each batch is its own flow run, named after the batch and tagged with it and its node.
The remote task's uuid is remembered beside the output (`tasks.ledger`) from the moment
the node names it, so a run that crashed or was killed resumes following that task
instead of submitting the batch again, and a cancelled run can cancel it on its node.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from prefect import flow, get_run_logger, tags, task
from prefect import serve as prefect_serve
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.futures import wait
from prefect.logging.loggers import flow_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from tasks import ledger
from tasks.ledger import Entry
from tasks.nodecalls import (
    Patience,
    call,
    commit,
    display,
    download,
    node_info,
    open_task,
    poll,
    restart,
    upload,
)
from tasks.nodeodm import (
    NodeClient,
    NodeConnectionError,
    NodeError,
    NodeInfo,
    NodeServerError,
    StatusCode,
    TaskInfo,
    TaskNotFound,
)
from tasks.nodes import NodeStatus, NoNodeAvailable, accepts_urls, best_node
from tasks.progress import Progress
from tasks.publish import publish, stac_item, stage_written
from tasks.storage import Batch, StorageOptions, discover_batches, filesystem

#: The node's share of a batch's progress; the download and publication fill the rest, as in WebODM.
NODE_SHARE = 85.0
#: The logger of the node's console lines: a run's logs under it are the task's console.
CONSOLE = "console"

#: Told of every step: `(batch, stage, fraction done or None, message)`; for progress displays.
Observer = Callable[[str, str, float | None, str], None]
_observers: list[Observer] = []


@contextmanager
def watch(observer: Observer) -> Iterator[None]:
    """Call `observer` for every step of the ingests run inside this block (in this process)."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


def _tell(batch: str, stage: str, fraction: float | None = None, message: str = "") -> None:
    for observer in list(_observers):
        observer(batch, stage, fraction, message)


class NodeLost(Exception):
    """The node stopped answering, or forgot the task: the batch must go elsewhere."""


class BatchFailed(Exception):
    """Every rung of the options ladder failed, or no node can take the batch."""


@dataclass(frozen=True)
class Job:
    """What every batch of one ingest shares."""

    output: str
    nodes: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    ladder: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    storage_options: dict[str, Any] | None = None
    transfer: str = "auto"  # or "upload", to upload even to a node that reads storage URLs
    poll_seconds: float = 5.0
    parallel: int = 8
    patience: Patience = field(default_factory=Patience)

    def rungs(self, batch: Batch) -> list[dict[str, Any]]:
        """The options of each attempt: the run's, then the batch's own, then the rung's overrides."""
        return [{**self.options, **batch.options, **rung} for rung in (self.ladder or [{}])]


@task(name="discover", retries=3, retry_delay_seconds=[2, 10, 30], cache_policy=NO_CACHE, persist_result=False)
def discover(source: str, output: str, storage_options: StorageOptions | None = None,
             names_from: str | None = None) -> list[Batch]:
    return discover_batches(source, output, storage_options, names_from=names_from)


@task(name="stage", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE, persist_result=False)
def stage(job: Job, entry: Entry, folder: str) -> list[str]:
    """The task's results under the batch's staging prefix; return their relative paths."""
    fs, out = filesystem(job.output, job.storage_options)
    staging = ledger.staging_path(fs, out, entry.batch, entry.uuid)
    if entry.output_url:
        return stage_written(fs, ledger.staging_path(fs, out, entry.batch, "node"))
    return call(download, job.patience, entry.node, entry.uuid, fs, staging, folder, job.parallel,
                progress=_fraction(entry.batch, "download"), name=f"download {entry.batch}")


@task(name="publish", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE, persist_result=False)
def publish_batch(job: Job, entry: Entry, members: list[str], info: TaskInfo) -> str:
    """STAC Item, assets moved in place, marker last; then forget the remote task."""
    fs, out = filesystem(job.output, job.storage_options)
    staging = ledger.staging_path(fs, out, entry.batch, "node" if entry.output_url else entry.uuid)
    about = {"odmflow:node": display(entry.node), "odmflow:task": entry.uuid, "odmflow:options": info.options}
    item = stac_item(entry.batch, fs, staging, members, about)
    prefix = publish(fs, out, entry.batch, staging, members, item, {"batch": entry.batch, **about})
    ledger.clear(fs, out, entry.batch)
    return fs.unstrip_protocol(prefix)


def _fraction(batch: str, stage: str) -> Callable[[int, int | None], None]:
    def report(done: int, total: int | None) -> None:
        _tell(batch, stage, done / total if total else None)

    return report


def _statuses(urls: list[str], patience: Patience) -> list[NodeStatus]:
    """Every node's /info; a node still failing after a couple of quick retries counts as offline."""
    quick = Patience(retries=min(patience.retries, 2), backoff=patience.backoff, jitter=patience.jitter)
    statuses = []
    for url in urls:
        try:
            info = NodeInfo.from_dict(call(node_info, quick, url, name=f"info {display(url)}"))
        except NodeError:
            info = None
        statuses.append(NodeStatus(url, info))
    return statuses


def submit(batch: Batch, node: str, job: Job, attempt: int, lost: list[str]) -> Entry:
    """Create the remote task, remember it, then send the files (or let the node read them)."""
    try:
        return _submit(batch, node, job, attempt, lost)
    except (NodeConnectionError, NodeServerError) as e:
        raise NodeLost(f"{display(node)} failed while taking the batch: {e}") from e


def _submit(batch: Batch, node: str, job: Job, attempt: int, lost: list[str]) -> Entry:
    logger = get_run_logger()
    fs, out = filesystem(job.output, job.storage_options)
    status = NodeStatus(node, NodeInfo.from_dict(call(node_info, job.patience, node, name=f"info {display(node)}")))
    options = job.rungs(batch)[attempt]
    fields: dict[str, str] | None = None
    output_url: str | None = None
    if job.transfer == "auto" and accepts_urls(status) and not batch.url.startswith(("file://", "/")):
        # The node reads the batch and writes the results itself: no bytes pass through here.
        output_url = fs.unstrip_protocol(ledger.staging_path(fs, out, batch.name, "node"))
        fields = {"inputUrl": batch.url.rstrip("/") + "/", "outputUrl": output_url}
    uuid = call(open_task, job.patience, node, batch, options, fields, name=f"open {batch.name}")
    entry = Entry(batch.name, node, uuid, attempt=attempt, lost=lost, output_url=output_url)
    ledger.save(fs, out, entry)
    logger.info(f"Batch {batch.name}: task {uuid} opened on {display(node)} with options {options}")
    if fields is None:
        _tell(batch.name, "upload", 0.0, display(node))
        sent = upload(node, uuid, batch, job.storage_options, job.parallel, progress=_fraction(batch.name, "upload"))
        logger.info(f"Batch {batch.name}: {batch.size} images ({sent / 1e6:.1f} MB) sent to {display(node)}")
    try:
        call(commit, job.patience, node, uuid, name=f"commit {batch.name}")
    except TaskNotFound:
        pass  # NodeODM forgets a commit whose answer was lost; following the task tells what happened
    entry.committed = True
    ledger.save(fs, out, entry)
    return entry


def follow(entry: Entry, job: Job, progress: Progress | None = None) -> tuple[TaskInfo, bool]:
    """Poll the task until it finishes, logging its console and every change of status.

    Also says whether the task was seen unfinished, which tells a task cancelled while
    this run followed it (by someone, on purpose) from one a cancelled run left behind.
    """
    logger = get_run_logger()
    console = logger.getChild(CONSOLE)
    line, last, active = 0, None, False
    while True:
        try:
            info = call(poll, job.patience, entry.node, entry.uuid, line, name=f"poll {entry.batch}")
        except (NodeConnectionError, NodeServerError) as e:
            raise NodeLost(f"{display(entry.node)} stopped answering: {e}") from e
        except TaskNotFound as e:
            raise NodeLost(f"{display(entry.node)} no longer knows task {entry.uuid}") from e
        for text in info.output or []:
            console.info(text)
        line += len(info.output or [])
        if info.status != last:
            logger.info(f"Batch {entry.batch}: task {entry.uuid} is {info.status.name} on {display(entry.node)}")
            last = info.status
        _tell(entry.batch, info.status.name.lower(), info.progress / 100, display(entry.node))
        if progress is not None and info.status != StatusCode.CANCELED:
            progress.set(info.progress * NODE_SHARE / 100, flush=info.status.finished)
        if info.status.finished:
            return info, active
        active = True
        time.sleep(job.poll_seconds)


def _next_node(batch: Batch, job: Job, lost: list[str]) -> str:
    try:
        node = best_node(_statuses(job.nodes, job.patience), batch.size, exclude=lost).url
    except NoNodeAvailable as e:
        raise BatchFailed(f"Batch {batch.name}: no node left to take it ({e})") from e
    # The run's tags name the node it runs on, for filtering in the UI: follow the batch there.
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is not None:
        kept = [t for t in run.tags if not t.startswith("node:")]
        with get_client(sync_client=True) as client:
            client.update_flow_run(run.id, tags=[*kept, f"node:{display(node)}"])
    return node


def rerun(entry: Entry, job: Job) -> None:
    """Restart the entry's task with the options a rerun asked for, then forget the request."""
    if entry.restart is None:
        return
    logger = get_run_logger()
    logger.info(f"Batch {entry.batch}: restarting task {entry.uuid} with {entry.restart}")
    try:
        call(restart, job.patience, entry.node, entry.uuid, entry.restart, name=f"restart {entry.batch}")
    except NodeError as e:
        # Refused because it runs again already (this run was stopped after asking), or
        # forgotten by the node: following the task tells which, and what to do.
        logger.warning(f"Batch {entry.batch}: {e}; following the task as it is")
    entry.restart = None


def cancel_batch(flow: Any, flow_run: Any, state: Any) -> None:
    """A cancelled batch run cancels its task on the node, which Prefect cannot reach."""
    params = flow_run.parameters
    job, batch = params["job"], params["batch"]
    output, options = (job.output, job.storage_options) if isinstance(job, Job) else (job["output"],
                                                                                       job.get("storage_options"))
    fs, out = filesystem(output, options)
    entry = ledger.load(fs, out, batch.name if isinstance(batch, Batch) else batch["name"])
    _cancel_entries(flow_run_logger(flow_run, flow), [entry] if entry else [])


def _cancel_entries(logger: Any, entries: list[Entry]) -> None:
    for entry in entries:
        try:
            with NodeClient.from_url(entry.node, timeout=30.0) as client:
                client.cancel(entry.uuid)
            logger.info(f"Batch {entry.batch}: cancelled task {entry.uuid} on {display(entry.node)}")
        except NodeError as e:
            logger.warning(f"Batch {entry.batch}: could not cancel task {entry.uuid}: {e}")


@flow(name="ingest-batch", on_cancellation=[cancel_batch], persist_result=False, log_prints=False)
def ingest_batch(batch: Batch, node: str, job: Job) -> dict[str, Any]:
    """One batch: submit (or resume), follow, climb the ladder on failure, publish."""
    logger = get_run_logger()
    fs, out = filesystem(job.output, job.storage_options)
    rungs = job.rungs(batch)
    progress = Progress(f"Batch {batch.name}")
    entry = ledger.load(fs, out, batch.name)
    if entry is not None:
        logger.info(f"Batch {batch.name}: resuming task {entry.uuid} on {display(entry.node)}")
        if entry.restart is not None:
            rerun(entry, job)
            ledger.save(fs, out, entry)
    attempt, lost = (entry.attempt, list(entry.lost)) if entry else (0, [])
    while True:
        try:
            if entry is None:
                entry = submit(batch, node, job, attempt, lost)
            info, active = follow(entry, job, progress)
        except NodeLost as e:
            logger.warning(f"Batch {batch.name}: {e}; submitting it elsewhere")
            where = entry.node if entry is not None else node
            # A node that forgot the task is still up; one that stopped answering is not chosen again.
            lost = lost if isinstance(e.__cause__, TaskNotFound) else [*lost, where]
            node, entry = _next_node(batch, job, lost), None
            continue
        if info.status == StatusCode.COMPLETED:
            break
        if info.status == StatusCode.CANCELED and active:
            _tell(batch.name, "canceled", None, "on the node")
            raise BatchFailed(f"Batch {batch.name}: task {entry.uuid} was cancelled on {display(entry.node)}.")
        # A failure climbs the ladder; a task a cancelled run left behind restarts where it was.
        attempt = entry.attempt + 1 if info.status == StatusCode.FAILED else entry.attempt
        if attempt >= len(rungs):
            _tell(batch.name, "failed", None, info.errorMessage or "")
            raise BatchFailed(f"Batch {batch.name} failed with every option set of the ladder: {info.errorMessage}")
        logger.info(f"Batch {batch.name}: restarting task {entry.uuid} with {rungs[attempt]} (attempt {attempt + 1})")
        call(restart, job.patience, entry.node, entry.uuid, rungs[attempt], name=f"restart {batch.name}")
        entry.attempt = attempt
        ledger.save(fs, out, entry)
    with tempfile.TemporaryDirectory(prefix="odmflow-ingest-") as folder:
        members = stage(job, entry, folder)
    progress.set(95.0, flush=True)
    prefix = publish_batch(job, entry, members, info)
    progress.set(100.0, flush=True)
    logger.info(f"Batch {batch.name}: published {len(members)} files under {prefix}")
    _tell(batch.name, "published", 1.0, prefix)
    return {"batch": batch.name, "node": display(entry.node), "uuid": entry.uuid, "attempts": entry.attempt + 1,
            "output": prefix}


@task(name="batch", cache_policy=NO_CACHE, persist_result=False)
def run_batch(batch: Batch, node: str, job: Job) -> dict[str, Any]:
    # A task around the batch's flow run lets batches run side by side in the task runner.
    return ingest_batch.with_options(flow_run_name=batch.name)(batch, node, job)


def cancel_remote(flow: Any, flow_run: Any, state: Any) -> None:
    """Cancel every task this ingest left running on its nodes: Prefect cannot reach them."""
    logger = flow_run_logger(flow_run, flow)
    params = flow_run.parameters
    fs, out = filesystem(params["output"], params.get("storage_options"))
    _cancel_entries(logger, ledger.open_entries(fs, out))


# Four batches at a time: each mostly waits on its node, and several nodes may work at once.
@flow(name="ingest-survey", task_runner=ThreadPoolTaskRunner(max_workers=4),  # type: ignore[arg-type]
      on_cancellation=[cancel_remote], persist_result=False, log_prints=False)
def ingest_survey(
    source: str,
    output: str,
    nodes: list[str],
    options: dict[str, Any] | None = None,
    ladder: list[dict[str, Any]] | None = None,
    storage_options: dict[str, Any] | None = None,
    transfer: str = "auto",
    poll_seconds: float = 5.0,
    retries: int = 5,
    backoff: float = 2.0,
    parallel: int = 8,
    names_from: str | None = None,
) -> list[dict[str, Any]]:
    """Process every unpublished batch under `source` on `nodes`; publish results under `output`.

    `ladder` lists option overrides tried in turn when a task fails (the first is usually
    `{}`); `retries` and `backoff` say how long a node may fail to answer before its task
    is submitted elsewhere; `transfer="upload"` always uploads, even to a node that could
    read the batch from storage itself. `names_from` (default: `source`) is the prefix
    batch names are relative to: give the survey's root when `source` is one of its batches,
    so that the batch is published where a run over the whole survey would publish it.
    """
    logger = get_run_logger()
    if not nodes:
        raise ValueError("Give at least one node URL.")
    if transfer not in ("auto", "upload"):
        raise ValueError(f"transfer must be 'auto' or 'upload', not {transfer!r}.")
    job = Job(output=output, nodes=list(nodes), options=dict(options or {}), ladder=list(ladder or [{}]),
              storage_options=storage_options, transfer=transfer, poll_seconds=poll_seconds, parallel=parallel,
              patience=Patience(retries=retries, backoff=backoff))
    batches = discover(source, output, storage_options, names_from)
    logger.info(f"{len(batches)} batch(es) to ingest from {source}: {', '.join(b.name for b in batches) or 'none'}")
    for batch in batches:
        _tell(batch.name, "found", 0.0, f"{batch.size} images")
    if not batches:
        return []
    fs, out = filesystem(output, storage_options)
    statuses = _statuses(job.nodes, job.patience)
    for s in statuses:
        logger.info(f"Node {display(s.url)}: " + (f"online, {s.info.taskQueueCount} queued, maxImages "
                                                   f"{s.info.maxImages}" if s.info else "offline"))
    assigned: Counter[str] = Counter()
    runs = []
    for batch in batches:
        entry = ledger.load(fs, out, batch.name)
        try:
            node = entry.node if entry else batch.node or best_node(statuses, batch.size, assigned).url
        except NoNodeAvailable as e:
            logger.error(f"Batch {batch.name}: {e}")
            _tell(batch.name, "failed", None, str(e))
            continue
        assigned[node] += 1
        with tags(f"batch:{batch.name}", f"node:{display(node)}"):
            runs.append((batch, run_batch.with_options(task_run_name=batch.name).submit(batch, node, job)))
    wait([run for _, run in runs])
    results, failed = [], len(batches) - len(runs)
    for batch, run in runs:
        try:
            results.append(run.result())
        except Exception as e:
            failed += 1
            logger.error(f"Batch {batch.name}: {e}")
            _tell(batch.name, "failed", None, str(e))
    if failed:
        raise BatchFailed(f"{failed} of {len(batches)} batch(es) failed; see the log above. Run again to retry them.")
    return results


def serve(name: str = "ingest-survey") -> None:
    """Serve `ingest_survey` as a deployment in a local Runner (which also honours cancellation)."""
    # Loaded by module path: a flow file exec'd on its own cannot resolve the postponed
    # annotations (Batch, Job) that Prefect validates the batch runs' parameters against.
    deployment = ingest_survey.to_deployment(name, entrypoint_type=EntrypointType.MODULE_PATH)
    prefect_serve(cast(RunnerDeployment, deployment))


if __name__ == "__main__":
    import argparse
    import json
    import sys

    # Imported again by its name: a Runner must find the flow under `flows.ingest`, not `__main__`.
    from flows import ingest

    if sys.argv[1:2] == ["serve"]:
        ingest.serve(*sys.argv[2:3])
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description="Ingest a survey once: batches from SOURCE through NODES to OUTPUT "
                                     "(or `serve [NAME]` to serve the flow as a deployment).")
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("nodes", nargs="+")
    parser.add_argument("--options", type=json.loads, default=None)
    parser.add_argument("--ladder", type=json.loads, default=None)
    parser.add_argument("--transfer", choices=["auto", "upload"], default="auto")
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    parser.add_argument("--names-from", default=None, help="prefix batch names are relative to (default: SOURCE)")
    args = parser.parse_args()
    print(json.dumps(ingest.ingest_survey(args.source, args.output, args.nodes, args.options, args.ladder,
                                          transfer=args.transfer, poll_seconds=args.poll_seconds,
                                          names_from=args.names_from), indent=2))
