"""`odmflow ingest`: run the ingest-survey flow once, with a live progress line per batch."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

DEFAULT_NODE = "http://127.0.0.1:3000"

#: How each step of a batch reads on its progress line.
STAGES = {
    "found": "waiting", "upload": "uploading", "queued": "queued", "running": "processing",
    "failed": "[red]failed[/]", "canceled": "[yellow]canceled[/]", "completed": "completed",
    "download": "downloading", "published": "[green]published[/]",
}


def _json(value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as e:
        raise typer.BadParameter(f"{what} must be JSON: {e}") from e


class Display:
    """One progress bar per batch, fed by the flow's observer from its worker threads."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.rows: dict[str, TaskID] = {}

    def __call__(self, batch: str, stage: str, fraction: float | None, message: str) -> None:
        row = self.rows.get(batch)
        if row is None:
            row = self.rows[batch] = self.progress.add_task(batch, total=1.0, stage="")
        label = STAGES.get(stage, stage)
        text = f"{label} {message}".strip() if stage in ("found", "failed", "published") else label
        done = 1.0 if stage == "published" else fraction
        if done is None:
            self.progress.update(row, stage=text)
        else:
            self.progress.update(row, stage=text, completed=done)


def command(
    source: Annotated[str, typer.Argument(help="Batches: s3://bucket/prefix, a folder, or any fsspec URL.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Where results go: <output>/<batch>/.")],
    node: Annotated[list[str] | None, typer.Option("--node", help="NodeODM URL (repeat for several); "
                                                   "?token=... if it needs one.  [default: local node]")] = None,
    options: Annotated[str | None, typer.Option(help='Processing options as JSON, e.g. \'{"dsm": true}\'.')] = None,
    ladder: Annotated[str | None, typer.Option(help="Option overrides tried in turn when a task fails, as a JSON "
                                               'list, e.g. \'[{}, {"fast-orthophoto": true}]\'.')] = None,
    storage_options: Annotated[str | None, typer.Option(help='fsspec storage options as JSON, e.g. '
                                                        '\'{"endpoint_url": "http://minio:9000"}\'.')] = None,
    upload: Annotated[bool, typer.Option("--upload", help="Upload even to nodes that read storage URLs.")] = False,
    poll_seconds: Annotated[float, typer.Option(help="Seconds between status polls.")] = 5.0,
) -> None:
    """Process every batch under SOURCE on NodeODM nodes and publish the results under --output.

    A batch is a folder of images, with optional geo.txt, gcp_list.txt, image_groups.txt, batch.json.

    Published batches are skipped; an interrupted run picks up the tasks it had started.

    Flow runs go to the Prefect server at [bold]PREFECT_API_URL[/], or to a temporary local one.
    """
    from flows.ingest import BatchFailed, ingest_survey, watch

    console = Console()
    columns = (TextColumn("{task.description}", style="bold"), BarColumn(), TextColumn("{task.fields[stage]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress, watch(Display(progress)):
        try:
            results = ingest_survey(
                source, output, node or [DEFAULT_NODE], _json(options, "--options"), _json(ladder, "--ladder"),
                _json(storage_options, "--storage-options"), transfer="upload" if upload else "auto",
                poll_seconds=poll_seconds,
            )
        except BatchFailed as e:
            console.print(f"[red]{e}[/]")
            raise typer.Exit(1) from e
    if not results:
        console.print("Nothing to do: every batch under the source is already published.")
    for result in results:
        console.print(f"{result['batch']}: {result['output']}  (task {result['uuid']} on {result['node']})")
