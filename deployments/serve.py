"""Serve odmflow's flows from this process, with no work pool: the embedded mode.

    python deployments/serve.py        # needs PREFECT_API_URL, or starts Prefect's ephemeral server

`odmflow serve` runs the same Runner for its own node; this entry serves the flow alone,
for a node whose API runs elsewhere against the same Prefect server.
"""

from __future__ import annotations

import asyncio

from odmflow.settings import Settings
from odmflow.worker import serve

if __name__ == "__main__":
    asyncio.run(serve(Settings()))
