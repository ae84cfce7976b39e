"""`odmflow deploy`: register (or serve) the deployments a survey team runs.

    ingest-survey     ingest_survey on a cron schedule
    on-bucket-upload  ingest_survey for one batch, started by an `odmflow.batch.ready` event
    bucket-sensor     polls the source for ready batches, for buckets without notifications
    process-images    the node's per-task flow (only with a work pool; a node serves its own)

With a work pool the deployments are registered for that pool's workers; without one,
this process serves them itself (a Runner), which is the embedded mode.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tasks.notifications import EVENT


@dataclass
class Plan:
    source: str
    output: str
    nodes: list[str]
    cron: str | None = "0 * * * *"
    ladder: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    options: dict[str, Any] = field(default_factory=dict)
    sensor_seconds: float = 60.0
    quiet_seconds: float = 300.0
    work_pool: str | None = None


async def build(plan: Plan) -> list[Any]:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType
    from prefect.events import DeploymentEventTrigger

    from flows.ingest import ingest_batch, ingest_survey
    from flows.process import process_images
    from flows.sensor import bucket_sensor

    common = {"output": plan.output, "nodes": plan.nodes, "ladder": plan.ladder, "options": plan.options}
    kw: dict[str, Any] = {"work_pool_name": plan.work_pool, "entrypoint_type": EntrypointType.MODULE_PATH,
                          "tags": ["odmflow"]}
    found = [
        await ingest_survey.ato_deployment(
            name="ingest-survey", cron=plan.cron, parameters={"source": plan.source, **common},
            description="Ingest every new batch under the source, on a schedule.", **kw),
        await ingest_survey.ato_deployment(
            name="on-bucket-upload", parameters={"source": plan.source, **common},
            description="Ingest one batch when the bucket says it is ready.",
            triggers=[DeploymentEventTrigger(
                name="batch ready", expect={EVENT}, match={"prefect.resource.id": "odmflow.batch.*"},
                # Named relative to the whole source, as the cron run names it, so a batch is
                # never published under two names.
                parameters={"source": "{{ event.payload.url }}", "names_from": plan.source, **common},
            )], **kw),
        await bucket_sensor.ato_deployment(
            name="bucket-sensor", interval=plan.sensor_seconds,
            # One poll at a time: a slow poll makes the next one skip, not pile up and double-announce.
            concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
            parameters={"source": plan.source, "output": plan.output, "quiet_seconds": plan.quiet_seconds},
            description="Announce ready batches of a bucket that sends no notifications.", **kw),
    ]
    if plan.work_pool:
        # The node's own runs (NodeODM tasks, WebODM tasks), for the pool's workers to take.
        found.append(await process_images.ato_deployment(name="process-images", **kw))
        found.append(await ingest_batch.ato_deployment(name="webodm", work_queue_name="webodm",
                                                       **{**kw, "tags": ["odmflow", "webodm"]}))
    return found


async def register(plan: Plan) -> list[str]:
    ids = []
    for deployment in await build(plan):
        ids.append(str(await deployment.aapply(work_pool_name=plan.work_pool)))
    return ids


def serve(plan: Plan) -> None:
    from prefect import serve as prefect_serve

    prefect_serve(*asyncio.run(build(plan)))  # type: ignore[arg-type]
