"""A flow run's progress artifact, the bar Prefect's UI shows on the run's page.

Both flows that follow work for a client keep one: process-images for a NodeODM task,
ingest-batch for a batch on its node. Readers (the NodeODM and WebODM APIs) take the
latest value as the run's progress.
"""

from __future__ import annotations

import time

from prefect.artifacts import create_progress_artifact, update_progress_artifact

__all__ = ["Progress"]


class Progress:
    """A run's progress artifact (0-100): it only ever goes up, and is written at most twice a second."""

    def __init__(self, description: str) -> None:
        self.value = 0.0
        self._sent = 0.0
        self._last = 0.0
        self.id = create_progress_artifact(progress=0.0, description=description)

    def set(self, value: float, flush: bool = False) -> None:
        self.value = max(self.value, min(100.0, round(value, 2)))
        now = time.monotonic()
        if self.value != self._sent and (flush or now - self._last >= 0.5):
            update_progress_artifact(self.id, self.value)
            self._sent, self._last = self.value, now
