"""The `odmflow` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .ingest import command as ingest_command
from .settings import Settings
from .users import app as users_app

app = typer.Typer(
    help="Drone images in; orthophoto, point cloud and elevation models out. "
    "A NodeODM-compatible node whose tasks are Prefect flow runs.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(users_app, name="user")


def _settings(**flags: Any) -> Settings:
    """Flags given on the command line override ODMFLOW_* variables, which override defaults."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port of the NodeODM API.  [default: 3000]")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind; 0.0.0.0 to reach it from other machines.")] = None,
    token: Annotated[str | None, typer.Option(help="Require ?token=TOKEN on every task call.")] = None,
    max_images: Annotated[int | None, typer.Option(help="Refuse tasks with more images.")] = None,
    parallel_tasks: Annotated[int | None, typer.Option(help="Tasks processed at once.  [default: 1]")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Task folders and the embedded Prefect database.")] = None,
    engine: Annotated[str | None, typer.Option(help="odmflow (embedded), odm (local ODM), nodeodm or test.")] = None,
    test: Annotated[bool, typer.Option("--test", help="Short for --engine test.")] = False,
    upstream: Annotated[str | None, typer.Option(help="Forward tasks to this node (implies --engine nodeodm).")] = None,
    test_seconds: Annotated[float | None, typer.Option(help="Test-engine run time.", hidden=True)] = None,
    test_fail: Annotated[bool | None, typer.Option(help="Make test-engine runs fail.", hidden=True)] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="Cap the max-concurrency option of tasks.")] = None,
    webhook: Annotated[str | None, typer.Option(help="URL to POST every finished task's info to.")] = None,
    cleanup_tasks_after: Annotated[int | None, typer.Option(help="Minutes to keep finished tasks (2880).")] = None,
    prefect_port: Annotated[int | None, typer.Option(help="Embedded Prefect server port (0: any).")] = None,
    prefect_ui: Annotated[bool | None, typer.Option(help="Serve the Prefect UI from the embedded server.")] = None,
    work_pool: Annotated[str | None, typer.Option(help="Leave runs to this Prefect work pool's workers.")] = None,
    node: Annotated[list[str] | None, typer.Option(
        help="Another NodeODM node (URL, with ?token= if it needs one) WebODM tasks may run on; repeatable.")] = None,
) -> None:
    """Run a NodeODM-compatible processing node (WebODM, PyODM and ClusterODM can use it),
    with WebODM's Task API under /api/ and a map page at /.

    With no [bold]PREFECT_API_URL[/] set, a Prefect server on SQLite starts inside the data
    folder and a local Runner executes the tasks: nothing else to install. With
    [bold]PREFECT_API_URL[/] set, the node uses that server instead.
    """
    from .node import serve as run

    run(_settings(
        port=port, host=host, token=token, max_images=max_images, parallel_tasks=parallel_tasks,
        data_dir=data_dir, engine="test" if test else ("nodeodm" if upstream else engine), upstream_url=upstream,
        test_seconds=test_seconds, test_fail=test_fail,
        max_concurrency=max_concurrency, webhook=webhook, cleanup_tasks_after=cleanup_tasks_after,
        prefect_port=prefect_port, prefect_ui=prefect_ui, work_pool=work_pool, nodes=node or None,
    ))


@app.command()
def demo(
    images: Annotated[int, typer.Option(help="Images in the synthetic survey.")] = 16,
    gps_noise: Annotated[float, typer.Option(help="GPS error to simulate, metres (1 sigma).")] = 0.0,
    data_dir: Annotated[Path | None, typer.Option(help="Where the survey, the task and Prefect's database go.")] = None,
    engine: Annotated[str | None, typer.Option(help="Engine to process with.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the node serving after the demo.")] = False,
) -> None:
    """Process a synthetic drone survey end to end and print where the orthophoto is.

    Renders nadir images of a textured terrain (with EXIF GPS), submits them to a local
    node through the NodeODM API, follows the Prefect flow run, and scores the
    orthophoto and DSM against the survey's ground truth.
    """
    from .demo import run

    run(_settings(data_dir=data_dir, engine=engine), images, gps_noise, keep)


app.command("ingest")(ingest_command)


@app.command()
def deploy(
    source: Annotated[str, typer.Argument(help="Where batches land: s3://bucket/prefix or a folder.")],
    output: Annotated[str, typer.Option(help="Where results are published.")],
    node: Annotated[list[str], typer.Option(help="NodeODM node URL (repeat for several).")],
    cron: Annotated[str, typer.Option(help="Schedule of ingest-survey.")] = "0 * * * *",
    ladder: Annotated[str, typer.Option(help="Option overrides tried in turn on failure (JSON list).")] = "[{}]",
    options: Annotated[str, typer.Option(help="Processing options for every batch, JSON object.")] = "{}",
    sensor_seconds: Annotated[float, typer.Option(help="How often bucket-sensor polls.")] = 60.0,
    quiet_seconds: Annotated[float, typer.Option(help="Quiet time after which a batch is ready.")] = 300.0,
    work_pool: Annotated[str | None, typer.Option(help="Register for this pool, do not serve.")] = None,
) -> None:
    """Deploy ingest-survey (cron), on-bucket-upload (event-triggered) and bucket-sensor.

    With [bold]--work-pool[/], registers them with the Prefect server at PREFECT_API_URL and
    exits; workers of the pool run them. Without it, serves them from this process.
    """
    import asyncio
    import json

    from .deploy import Plan, register
    from .deploy import serve as serve_here

    plan = Plan(source, output, list(node), cron, json.loads(ladder), json.loads(options), sensor_seconds,
                quiet_seconds, work_pool)
    if work_pool:
        for deployment_id in asyncio.run(register(plan)):
            typer.echo(f"registered {deployment_id}")
    else:
        serve_here(plan)


@app.command()
def version() -> None:
    """Print odmflow's version."""
    from . import __version__

    typer.echo(__version__)


def main() -> None:
    app()
