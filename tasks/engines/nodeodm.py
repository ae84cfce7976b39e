"""The `nodeodm` engine: forward a task to an upstream NodeODM-compatible node.

This puts a Prefect front on a real ODM (or a ClusterODM): our node takes the upload,
the upstream node processes it, and its console, progress and outputs come back here.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from tasks.archive import extract
from tasks.nodeodm import NodeClient, NodeConnectionError, NodeServerError, StatusCode, TaskInfo

from .base import Context, EngineError, Options, Step

POLL = 1.0
PATIENCE = 60.0  # seconds an unreachable upstream is waited for before the task fails


class NodeOdmEngine:
    """Processing by the upstream node at `url` (`ODMFLOW_UPSTREAM_URL`, token as `?token=`)."""

    def __init__(self, url: str | None) -> None:
        if not url:
            raise EngineError("The nodeodm engine needs ODMFLOW_UPSTREAM_URL, e.g. http://odm-node:3000?token=...")
        self.url = url

    @cached_property
    def client(self) -> NodeClient:
        return NodeClient.from_url(self.url)

    @cached_property
    def _info(self) -> Any:
        return self.client.info()

    @property
    def name(self) -> str:  # type: ignore[override]
        return str(self._info.engine)

    def version(self) -> str:
        return str(self._info.engineVersion)

    def options(self) -> list[dict[str, Any]]:
        return [o.to_dict() for o in self.client.options()]

    def stages(self) -> list[str]:
        rerun = next((o for o in self.options() if o["name"] == "rerun-from"), None)
        domain = rerun["domain"] if rerun else []
        return [s for s in domain if s] if isinstance(domain, list) else []

    def steps(self, options: Options) -> list[Step]:
        return [Step("upstream", self.run, depends_on=tuple(options))]

    def run(self, ctx: Context) -> None:
        files = sorted(p for folder in (ctx.images, ctx.gcp) if folder.is_dir() for p in folder.iterdir())
        uuid = self.client.create_task(files, options=ctx.options, name=ctx.project.name)
        ctx.log(f"Forwarded to {self.client.url} as task {uuid}")
        try:
            info = self._follow(uuid, ctx)
            if info.status != StatusCode.COMPLETED:
                raise EngineError(info.errorMessage or f"Upstream task ended with status {info.status.name}")
            archive = ctx.project / ".upstream.zip"
            self.client.download(uuid, archive)
            extract(archive, ctx.project)
            archive.unlink()
            (ctx.project / "all.zip").unlink(missing_ok=True)  # ours is built from what we now hold
        except BaseException:
            self._cancel(uuid, ctx)
            raise

    def _follow(self, uuid: str, ctx: Context) -> TaskInfo:
        """Poll the upstream task, relaying its new console lines and its progress."""
        lines = 0
        unreachable_since: float | None = None
        while True:
            try:
                info = self.client.task_info(uuid, with_output=lines)
                unreachable_since = None
            except (NodeConnectionError, NodeServerError) as exc:
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > PATIENCE:
                    raise EngineError(f"Upstream node unreachable for {PATIENCE:.0f} s: {exc}") from exc
                time.sleep(POLL)
                continue
            for line in info.output or []:
                ctx.log(line)
            lines += len(info.output or [])
            ctx.progress(float(info.progress) / 100)
            if info.status.finished:
                return info
            time.sleep(POLL)

    def _cancel(self, uuid: str, ctx: Context) -> None:
        try:
            self.client.cancel(uuid)
            ctx.log(f"Canceled upstream task {uuid}")
        except Exception as exc:  # the upstream may be gone; our own cancel must still finish
            ctx.log(f"Could not cancel upstream task {uuid}: {exc}")
