"""`odmflow serve`: the NodeODM node with its Prefect, wired together.

Embedded mode (no `PREFECT_API_URL`): start a Prefect server on SQLite in the data
folder, re-queue the runs a previous crash interrupted, start a local Runner, then
serve the API. With `PREFECT_API_URL`, use that server; with a work pool, leave the
runs to that pool's workers.
"""

from __future__ import annotations

import asyncio
import gc
import os
from dataclasses import dataclass

from rich.console import Console

from .embedded import PrefectServer, start_runner, stop
from .settings import DEPLOYMENT, WEBODM_DEPLOYMENT, Settings

console = Console(stderr=True)


def app_config(settings: Settings, api_url: str):  # type: ignore[no-untyped-def]
    from nodeodm_api.app import Config

    return Config(
        data_dir=settings.data_dir, prefect_api_url=api_url, engine=settings.engine, token=settings.token,
        max_images=settings.max_images, max_concurrency=settings.max_concurrency,
        parallel_tasks=settings.parallel_tasks, cleanup_tasks_after=settings.cleanup_tasks_after,
        cleanup_uploads_after=settings.cleanup_uploads_after, deployment=DEPLOYMENT,
        node_url=own_url(settings), nodes=list(settings.nodes), webodm_deployment=WEBODM_DEPLOYMENT,
    )


def own_url(settings: Settings) -> str:
    """How the flow runs reach this node's NodeODM API."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{host}:{settings.port}"
    return f"{url}?token={settings.token}" if settings.token else url


async def prepare(settings: Settings, api_url: str, recover: bool) -> None:
    """Register the deployment, then (embedded only) recover from an unclean stop."""
    from nodeodm_api.app import build_node
    from nodeodm_api.runs import Runs

    from .worker import deployment, webodm_deployment

    await (await deployment(settings, settings.work_pool)).aapply(work_pool_name=settings.work_pool)
    await (await webodm_deployment(settings, settings.work_pool)).aapply(work_pool_name=settings.work_pool)
    if not recover:
        return
    node = build_node(app_config(settings, api_url))
    webodm = Runs(api_url, WEBODM_DEPLOYMENT)
    await node.runs.open(wait=10)
    await webodm.open(wait=10)
    try:
        await node.recover()
        await webodm.recover()
    finally:
        await node.runs.close()
        await webodm.close()


@dataclass
class Services:
    server: PrefectServer | None = None
    runner: object | None = None

    def stop(self) -> None:
        stop(self.runner)  # type: ignore[arg-type]
        if self.server is not None:
            self.server.stop()


def serve(settings: Settings) -> None:
    import uvicorn

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.export()
    services = Services()
    api_url = os.environ.get("PREFECT_API_URL")
    try:
        if not api_url:
            os.environ["PREFECT_HOME"] = str(settings.prefect_home.resolve())
            with console.status("Starting the embedded Prefect server…"):
                services.server = PrefectServer(settings)
                api_url = services.server.start()
            os.environ["PREFECT_API_URL"] = api_url
        asyncio.run(prepare(settings, api_url, recover=services.server is not None))
        if not settings.work_pool:
            services.runner = start_runner(settings, api_url)

        from starlette.routing import Route

        from nodeodm_api.app import create_app

        from .receiver import Receiver

        receiver = Receiver(settings.events_secret, settings.events_quiet)
        app = create_app(app_config(settings, api_url), [Route("/events/s3", receiver.endpoint, methods=["POST"])])
        ui = api_url.removesuffix("/api")
        console.print(f"[bold green]NodeODM API[/] http://{settings.host}:{settings.port}  "
                      f"engine [bold]{settings.engine}[/]  data {settings.data_dir}")
        console.print(f"[bold blue]Prefect[/] {ui}  runs execute in "
                      + (f"work pool [bold]{settings.work_pool}[/]" if settings.work_pool else "a local Runner"))
        # Everything imported so far lives as long as the server: keep it out of the garbage
        # collector's full passes, which otherwise stall large answers (1,000 tasks) by 100 ms.
        gc.freeze()
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    finally:
        services.stop()
