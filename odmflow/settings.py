"""Settings: CLI flags and `ODMFLOW_*` environment variables, one model for both."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEPLOYMENT = "process-images/process-images"
WEBODM_DEPLOYMENT = "ingest-batch/webodm"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ODMFLOW_", extra="ignore")

    data_dir: Path = Field(Path("odmflow-data"), description="Task folders, uploads and the embedded Prefect database.")
    host: str = "127.0.0.1"
    port: int = 3000
    token: str | None = None
    max_images: int | None = None
    parallel_tasks: int = Field(1, ge=1, description="NodeODM's maxParallelTasks: runs at once.")
    engine: str = "odmflow"
    max_concurrency: int | None = None
    webhook: str | None = None
    cleanup_tasks_after: int = Field(2880, description="Minutes a finished task is kept (NodeODM's default, 48 h).")
    cleanup_uploads_after: int = Field(2880, description="Minutes an uncommitted upload is kept.")
    prefect_port: int = Field(4200, description="Port of the embedded Prefect server (0 picks a free one).")
    prefect_ui: bool = True
    work_pool: str | None = Field(None, description="Run tasks in this Prefect work pool instead of a local Runner.")
    poll_seconds: float = Field(0.25, description="How often the local Runner looks for new runs.")
    nodes: list[str] = Field(default_factory=list, description="More NodeODM nodes for WebODM tasks, after this one.")
    events_secret: str | None = Field(None, description="Shared secret of POST /events/s3 (off when unset).")
    events_quiet: float = Field(300.0, description="Seconds without new objects after which a batch is ready.")
    # Engine settings, read again by the flow run's own process.
    odm_path: str | None = None
    odm_docker: str | None = None
    upstream_url: str | None = Field(None, description="The node the nodeodm engine forwards tasks to.")
    test_seconds: float = 0.0
    test_fail: bool = False
    webhook_delay: float = 5.0

    @property
    def tasks_dir(self) -> Path:
        return self.data_dir / "tasks"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def prefect_home(self) -> Path:
        return self.data_dir / "prefect"

    def export(self) -> None:
        """Put every set value in the environment, for the Runner and the flow runs it starts."""
        self.data_dir = self.data_dir.resolve()
        for name, value in self.model_dump().items():
            key = f"ODMFLOW_{name.upper()}"
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = _env_value(value)


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)  # pydantic-settings reads complex values as JSON
    return str(value)
