"""The Starlette application: NodeODM's routes over a Node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from tasks.engines import get_engine

from . import routes as r
from .node import Limits, Node
from .runs import Runs
from .store import Store
from .webodm import WebODM, webodm_routes
from .webodm.directory import Directory
from .webodm.processing import Processing

log = logging.getLogger("odmflow.api")


@dataclass
class Config:
    """What the app needs to know; `odmflow.Settings` provides it in production."""

    data_dir: Path
    prefect_api_url: str
    engine: str = "odmflow"
    token: str | None = None
    max_images: int | None = None
    max_concurrency: int | None = None
    parallel_tasks: int = 1
    cleanup_tasks_after: float = 2880
    cleanup_uploads_after: float = 2880
    deployment: str = "process-images/process-images"
    cleanup_every: float = 3600
    #: The WebODM records' database; None: ODMFLOW_DATABASE_URL, else SQLite in data_dir.
    database_url: str | None = None
    #: This node's NodeODM API as the flow runs reach it; without it WebODM tasks are not processed.
    node_url: str | None = None
    #: More NodeODM nodes WebODM tasks may run on.
    nodes: list[str] = field(default_factory=list)
    webodm_deployment: str = "ingest-batch/webodm"


ROUTES = [
    Route("/auth/info", r.auth_info),
    Route("/auth/login", r.auth_unavailable, methods=["POST"]),
    Route("/auth/register", r.auth_unavailable, methods=["POST"]),
    Route("/info", r.info),
    Route("/options", r.options),
    Route("/swagger.json", r.swagger),
    Route("/task/new/init", r.task_new_init, methods=["POST"]),
    Route("/task/new/upload/{uuid}", r.task_new_upload, methods=["POST"]),
    Route("/task/new/commit/{uuid}", r.task_new_commit, methods=["POST"]),
    Route("/task/new", r.task_new, methods=["POST"]),
    Route("/task/cancel", r.task_cancel, methods=["POST"]),
    Route("/task/remove", r.task_remove, methods=["POST"]),
    Route("/task/restart", r.task_restart, methods=["POST"]),
    Route("/task/list", r.task_list),
    Route("/task/{uuid}/info", r.task_info),
    Route("/task/{uuid}/output", r.task_output),
    Route("/task/{uuid:str}/download/{asset:path}", r.task_download),
]


async def not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code not in (404, 405):
        return Response(exc.detail, status_code=exc.status_code)
    return HTMLResponse(f"Cannot {request.method} {request.url.path}", status_code=404)


async def crashed(request: Request, exc: Exception) -> Response:
    # NodeODM's last-resort handler answers 200 with the message, and so do we.
    log.exception("Unhandled error on %s", request.url.path)
    return r.error(str(exc) or type(exc).__name__)


def build_node(config: Config) -> Node:
    limits = Limits(config.max_images, config.max_concurrency, config.cleanup_tasks_after, config.cleanup_uploads_after)
    runs = Runs(config.prefect_api_url, config.deployment)
    return Node(Store(config.data_dir), runs, get_engine(config.engine), config.engine, limits)


def create_app(config: Config, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The node's app; `extra_routes` lets the front door add its own (e.g. event receivers)."""
    node = build_node(config)
    webodm = WebODM(config.data_dir, config.database_url)
    webodm.directory = Directory(config.node_url, config.nodes, node=node, parallel_tasks=config.parallel_tasks)
    if config.node_url:
        runs = Runs(config.prefect_api_url, config.webodm_deployment)
        webodm.processor = Processing(webodm, runs, webodm.directory)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.runs.open()
        await _clean(node)  # as NodeODM does, expired tasks go before the node takes requests
        sweeper = asyncio.create_task(_sweep(node, config.cleanup_every))
        await webodm.open()
        try:
            yield
        finally:
            sweeper.cancel()
            await webodm.close()
            await node.runs.close()

    app = Starlette(
        routes=[*(extra_routes or []), *ROUTES, *webodm_routes()],
        middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])],
        exception_handlers={HTTPException: not_found, Exception: crashed},
        lifespan=lifespan,
    )
    app.state.node = node
    app.state.webodm = webodm
    app.state.token = config.token
    app.state.parallel_tasks = config.parallel_tasks
    return app


async def _clean(node: Node) -> None:
    try:
        removed = await node.cleanup()
        if removed:
            log.info("Removed %d expired tasks", len(removed))
    except Exception:
        log.exception("Cleanup failed")


async def _sweep(node: Node, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await _clean(node)
