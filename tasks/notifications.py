"""Bucket notifications → ready batches.

Parses S3 event notifications in the shapes that reach an HTTP endpoint (S3/MinIO/SeaweedFS
`Records`, SNS envelopes, EventBridge events) and decides when a batch (the folder holding the
objects) is ready: at once when its `batch.json` or `_READY` marker lands, else after a quiet
period with no new object. One batch gives one ready signal, however many images it holds.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

MARKERS = ("batch.json", "_READY")
EVENT = "odmflow.batch.ready"


class BadNotification(ValueError):
    """A body that is not an S3 event notification; the message says what was expected."""


@dataclass(frozen=True)
class ObjectEvent:
    bucket: str
    key: str
    name: str = "ObjectCreated:Put"

    @property
    def batch(self) -> str:
        return posixpath.dirname(self.key)

    @property
    def created(self) -> bool:
        return "ObjectCreated" in self.name or self.name == "Object Created"


@dataclass
class Envelope:
    """What a body held: object events, or an SNS subscription to confirm."""

    events: list[ObjectEvent] = field(default_factory=list)
    confirm_url: str | None = None


def parse(body: bytes) -> Envelope:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadNotification(f"The body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadNotification("Expected a JSON object: S3 Records, an SNS message or an EventBridge event.")
    kind = data.get("Type")
    if kind == "SubscriptionConfirmation":
        return Envelope(confirm_url=str(data.get("SubscribeURL") or "") or None)
    if kind == "Notification":  # SNS: the S3 event is a JSON string inside
        message = data.get("Message")
        if not isinstance(message, str):
            raise BadNotification("SNS notification without a Message string.")
        return parse(message.encode())
    if data.get("source") == "aws.s3" or "detail-type" in data:
        detail = data.get("detail") or {}
        try:
            event = ObjectEvent(detail["bucket"]["name"], detail["object"]["key"], str(data.get("detail-type")))
        except (KeyError, TypeError):
            raise BadNotification("EventBridge event without detail.bucket.name and detail.object.key.") from None
        return Envelope([event])
    if "Records" in data:
        return Envelope([_record(r) for r in data.get("Records") or []])
    if data.get("Event") == "s3:TestEvent":
        return Envelope()
    raise BadNotification("Unknown notification: expected Records, an SNS Type or an EventBridge detail-type.")


def _record(record: Any) -> ObjectEvent:
    try:
        s3 = record["s3"]
        # S3, MinIO and SeaweedFS URL-encode keys in Records (spaces as '+').
        return ObjectEvent(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), str(record.get("eventName", "")))
    except (KeyError, TypeError):
        raise BadNotification("A record lacks s3.bucket.name or s3.object.key.") from None


@dataclass
class Batcher:
    """Tracks batches between notifications; `quiet` seconds without news makes one ready."""

    quiet: float = 300.0
    _last: dict[tuple[str, str], float] = field(default_factory=dict)
    _done: set[tuple[str, str]] = field(default_factory=set)

    def add(self, event: ObjectEvent, now: float) -> list[tuple[str, str]]:
        """Record an event; returns the batches it makes ready (at most one)."""
        batch = (event.bucket, event.batch)
        if not event.created or batch in self._done:
            return []
        if posixpath.basename(event.key) in MARKERS:
            self._last.pop(batch, None)
            self._done.add(batch)
            return [batch]
        self._last[batch] = now
        return []

    def due(self, now: float) -> list[tuple[str, str]]:
        """Batches that have been quiet long enough, each returned once."""
        ready = [b for b, seen in self._last.items() if now - seen >= self.quiet]
        for batch in ready:
            del self._last[batch]
            self._done.add(batch)
        return ready

    def pending(self) -> int:
        return len(self._last)


def emit_ready(url: str) -> None:
    """Tell Prefect a batch is ready; deployment triggers on EVENT take it from here."""
    from prefect.events import emit_event

    url = url.rstrip("/")
    emit_event(event=EVENT, resource={"prefect.resource.id": f"odmflow.batch.{url}", "odmflow.url": url},
               payload={"url": url})
