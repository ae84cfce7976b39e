"""The local Runners: one executes process-images runs on this machine, at most
`parallel_tasks` at once, each in its own process (so a cancel can stop it); the other
executes the WebODM tasks' ingest-batch runs, which mostly wait on a node.

Two Runners, because a WebODM task's run waits for a process-images run: sharing one
limit of `parallel_tasks` would let the waiting runs take every slot."""

from __future__ import annotations

import asyncio
import socket

from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.runner import Runner

from flows.ingest import ingest_batch
from flows.process import process_images

from .settings import Settings

DESCRIPTION = "One NodeODM task: the engine's stages, then all.zip."
WEBODM_DESCRIPTION = "One WebODM task: its images submitted to a node, followed, and its results published."
#: WebODM tasks followed at once; each run mostly waits on its node.
WEBODM_RUNS = 8
WEBODM_POLL_SECONDS = 1.0
#: The work queue of the WebODM runs in a work pool: their own workers take them, so that
#: they never hold the slots of the process-images runs they wait for.
WEBODM_QUEUE = "webodm"


async def deployment(settings: Settings, work_pool: str | None = None) -> RunnerDeployment:
    return await process_images.ato_deployment(
        name="process-images",
        tags=["odmflow"],
        description=DESCRIPTION,
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


async def webodm_deployment(settings: Settings, work_pool: str | None = None) -> RunnerDeployment:
    return await ingest_batch.ato_deployment(
        name="webodm",
        tags=["odmflow", "webodm"],
        description=WEBODM_DESCRIPTION,
        work_pool_name=work_pool,
        work_queue_name=WEBODM_QUEUE if work_pool else None,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


async def serve(settings: Settings) -> None:
    host = socket.gethostname()
    # A fresh `python -m prefect.engine` per run starts faster than a spawned copy of
    # this process, and loads the flow by module path, whatever the working directory.
    nodeodm = Runner(name=f"odmflow-{host}", query_seconds=settings.poll_seconds, limit=settings.parallel_tasks,
                     pause_on_shutdown=False)
    await nodeodm.aadd_deployment(await deployment(settings))
    # Polled less often: a WebODM task's start can wait a second, and each poll costs the
    # Prefect server (on this machine) a query.
    webodm = Runner(name=f"odmflow-webodm-{host}", query_seconds=max(settings.poll_seconds, WEBODM_POLL_SECONDS),
                    limit=WEBODM_RUNS, pause_on_shutdown=False)
    await webodm.aadd_deployment(await webodm_deployment(settings))
    await asyncio.gather(nodeodm.start(), webodm.start())


if __name__ == "__main__":
    asyncio.run(serve(Settings()))
