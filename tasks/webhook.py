"""Webhooks: POST a task's info when it ends, retrying as NodeODM does."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

log = logging.getLogger(__name__)


def send(url: str, payload: dict[str, Any], attempts: int = 6, step: float = 5.0) -> bool:
    """POST `payload` as JSON; retry network errors and non-200 answers with a growing delay.

    NodeODM waits `attempt * 5 s` between its 6 attempts; `step` scales that delay.
    Returns whether the hook accepted the call.
    """
    if not url or len(url) <= 3:
        return False
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.post(url, json=payload, timeout=30.0)
            if response.status_code == 200:
                return True
            reason = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
        log.warning("Webhook %s failed (%s), attempt %d of %d", url, reason, attempt, attempts)
        if attempt < attempts:
            time.sleep(attempt * step)
    return False
