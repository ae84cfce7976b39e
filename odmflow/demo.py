"""`odmflow demo`: the main job on embedded defaults, end to end.

It renders a synthetic survey with known ground truth, starts a node (embedded Prefect,
local Runner, NodeODM API), submits the images through the NodeODM API exactly as
WebODM would, follows the task with a progress bar, scores the result against the
truth and prints where the orthophoto is.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .launcher import start_node
from .settings import Settings

console = Console()


def run(settings: Settings, images: int, gps_noise: float, keep: bool) -> Path:
    from tasks.nodeodm import NodeClient, StatusCode
    from tasks.photogrammetry.accuracy import score
    from tasks.photogrammetry.synthetic import make_survey

    data = settings.data_dir.resolve()
    with console.status(f"Rendering a synthetic survey of {images} images…"):
        survey = make_survey(data / "demo-survey", n_images=images, gps_noise_m=gps_noise)
    with console.status("Starting the node (embedded Prefect server, Runner, NodeODM API)…"):
        node = start_node(data, "--engine", settings.engine, prefect_ui=True)
    try:
        client = NodeClient(node.url)
        files = sorted(survey.images.iterdir())
        with _bar() as bar:
            upload = bar.add_task("Uploading", total=1.0)
            uuid = client.create_task(
                files, name="demo survey", options={"dsm": True},
                progress=lambda done, total: bar.update(upload, completed=done / (total or done or 1)),
            )
            bar.update(upload, completed=1.0)
            job = bar.add_task("Processing", total=100)
            lines = 0
            while True:
                info = client.task_info(uuid, with_output=lines)
                lines += len(info.output or [])
                last = (info.output or [""])[-1][:60]
                bar.update(job, completed=info.progress, description=f"Processing  {last}" if last else "Processing")
                if info.status.finished:
                    break
                time.sleep(0.5)
        project = data / "tasks" / uuid
        if info.status != StatusCode.COMPLETED:
            console.print(f"[bold red]The task ended with status {info.status.name}:[/] {info.errorMessage or ''}")
            console.print("\n".join(client.task_output(uuid, line=-20)))
            raise SystemExit(1)
        _report(score(project, survey), info.processingTime)
        ortho = project / "odm_orthophoto" / "odm_orthophoto.tif"
        console.print(f"[bold green]Orthophoto:[/] {ortho}")
        console.print(f"  preview {ortho.with_suffix('.png')}   all outputs {project}")
        if keep:
            console.print(f"Node still serving at {node.url} (Prefect UI: see {data / 'serve.log'}); Ctrl-C to stop.")
            node.proc.wait()
        return ortho
    finally:
        node.stop()


def _bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeElapsedColumn(), console=console)


def _report(result: object, processing_ms: int) -> None:
    table = Table(title="Result against the survey's ground truth", show_header=False)
    for name, value in vars(result).items() if not hasattr(result, "as_dict") else result.as_dict().items():
        table.add_row(name.replace("_", " "), f"{value:.3f}" if isinstance(value, float) else str(value))
    table.add_row("processing time", f"{processing_ms / 1000:.1f} s")
    console.print(table)
