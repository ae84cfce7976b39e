"""`POST /events/s3`: bucket notifications in, one Prefect event per ready batch out.

Prefect's own webhooks are a Prefect Cloud feature; this is the bridge for an open-source
server. Point an SNS HTTP subscription, an EventBridge API destination or a MinIO/SeaweedFS
webhook at `http://node:3000/events/s3?secret=…` (or send `Authorization: Bearer …`). A
deployment trigger on `odmflow.batch.ready` then starts the ingestion of that batch, with
the event's `payload.url` as its source.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tasks import notifications
from tasks.notifications import BadNotification, Batcher, parse

BODY_LIMIT = 1 << 20
log = logging.getLogger("odmflow.receiver")

Emit = Callable[[str, str], None]


def emit_s3(bucket: str, prefix: str) -> None:
    url = f"s3://{bucket}/{prefix}"
    notifications.emit_ready(url)
    log.info("Batch ready: %s", url)


def detail(message: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


class Receiver:
    def __init__(self, secret: str | None, quiet: float = 300.0, emit: Emit = emit_s3) -> None:
        self.secret = secret
        self.batcher = Batcher(quiet)
        self.emit = emit
        self._sweeper: asyncio.Task[None] | None = None

    def _authorised(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        given = (
            request.query_params.get("secret")
            or request.headers.get("x-odmflow-secret")
            or (auth[7:] if auth.lower().startswith("bearer ") else "")
        )
        return bool(self.secret) and hmac.compare_digest(given.encode(), str(self.secret).encode())

    async def endpoint(self, request: Request) -> Response:
        if not self.secret:
            return detail("Bucket notifications are off: start the node with ODMFLOW_EVENTS_SECRET set.", 403)
        if not self._authorised(request):
            return detail("Invalid or missing secret (?secret=, X-Odmflow-Secret or Authorization: Bearer).", 401)
        body = await request.body()
        if len(body) > BODY_LIMIT:
            return detail("Notification too large.", 413)
        try:
            envelope = parse(body)
        except BadNotification as exc:
            return detail(str(exc), 400)
        if envelope.confirm_url:
            async with httpx.AsyncClient(timeout=10) as client:
                await client.get(envelope.confirm_url)
            return JSONResponse({"confirmed": True})
        now = time.monotonic()
        ready = [batch for event in envelope.events for batch in self.batcher.add(event, now)]
        ready += self.batcher.due(now)
        for bucket, prefix in ready:
            self.emit(bucket, prefix)
        self._ensure_sweeper()
        return JSONResponse({"received": len(envelope.events), "ready": [f"s3://{b}/{p}" for b, p in ready]})

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Batches without a marker become ready after the quiet period, even if no request comes."""
        while self.batcher.pending():
            await asyncio.sleep(min(5.0, max(0.1, self.batcher.quiet / 4)))
            for bucket, prefix in self.batcher.due(time.monotonic()):
                self.emit(bucket, prefix)
