"""The local Runner: executes process-images runs on this machine, at most
`parallel_tasks` at once, each in its own process (so a cancel can stop it)."""

from __future__ import annotations

import asyncio
import socket

from prefect.deployments.runner import EntrypointType
from prefect.runner import Runner

from flows.process import process_images

from .settings import Settings

DESCRIPTION = "One NodeODM task: the engine's stages, then all.zip."


async def deployment(settings: Settings, work_pool: str | None = None):  # type: ignore[no-untyped-def]
    return await process_images.ato_deployment(
        name="process-images",
        tags=["odmflow"],
        description=DESCRIPTION,
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


async def serve(settings: Settings) -> None:
    runner = Runner(
        name=f"odmflow-{socket.gethostname()}",
        query_seconds=settings.poll_seconds,
        limit=settings.parallel_tasks,
        pause_on_shutdown=False,
    )
    # A fresh `python -m prefect.engine` per run starts faster than a spawned copy of
    # this process, and loads the flow by module path, whatever the working directory.
    await runner.aadd_deployment(await deployment(settings))
    await runner.start()


if __name__ == "__main__":
    asyncio.run(serve(Settings()))
