"""POST /events/s3 on a real node: secrets, bad bodies, and one event per ready batch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from odmflow.receiver import Receiver
from tests.conftest import NodeProcess, start_node

SECRET = "hush"


def notification(*keys: str) -> dict[str, object]:
    return {"Records": [{"eventName": "s3:ObjectCreated:Put",
                         "s3": {"bucket": {"name": "drone"}, "object": {"key": k}}} for k in keys]}


@pytest.fixture
def app() -> Iterator[tuple[TestClient, list[tuple[str, str]]]]:
    emitted: list[tuple[str, str]] = []
    receiver = Receiver(SECRET, quiet=0.3, emit=lambda b, p: emitted.append((b, p)))
    with TestClient(Starlette(routes=[Route("/events/s3", receiver.endpoint, methods=["POST"])])) as client:
        yield client, emitted


def test_rejects_without_the_secret(app: tuple[TestClient, list[tuple[str, str]]]) -> None:
    client, emitted = app
    assert client.post("/events/s3", json=notification("a/_READY")).status_code == 401
    assert client.post("/events/s3?secret=wrong", json=notification("a/_READY")).status_code == 401
    assert emitted == []
    off = TestClient(Starlette(routes=[Route("/e", Receiver(None).endpoint, methods=["POST"])]))
    assert off.post("/e", json=notification("a/_READY")).status_code == 403


def test_malformed_body_gets_a_clear_4xx(app: tuple[TestClient, list[tuple[str, str]]]) -> None:
    client, _ = app
    answer = client.post(f"/events/s3?secret={SECRET}", content=b"{oops")
    assert answer.status_code == 400 and "not JSON" in answer.json()["detail"]
    answer = client.post("/events/s3", json={"what": 1}, headers={"Authorization": f"Bearer {SECRET}"})
    assert answer.status_code == 400 and "Records" in answer.json()["detail"]


def test_hundred_notifications_make_one_event(app: tuple[TestClient, list[tuple[str, str]]]) -> None:
    client, emitted = app
    for i in range(100):
        client.post("/events/s3", json=notification(f"site/f1/IMG_{i:04d}.JPG"), headers={"X-Odmflow-Secret": SECRET})
    assert emitted == []
    answer = client.post(f"/events/s3?secret={SECRET}", json=notification("site/f1/batch.json"))
    assert answer.json()["ready"] == ["s3://drone/site/f1"]
    client.post(f"/events/s3?secret={SECRET}", json=notification("site/f1/IMG_0100.JPG"))
    for i in range(3):  # a second batch without a marker: ready after the quiet period
        client.post(f"/events/s3?secret={SECRET}", json=notification(f"site/f2/IMG_{i}.JPG"))
    time.sleep(1.0)
    assert emitted == [("drone", "site/f1"), ("drone", "site/f2")]


def test_a_node_emits_prefect_events(tmp_path: Path) -> None:
    node: NodeProcess = start_node(tmp_path / "data", "--test", env={"ODMFLOW_EVENTS_SECRET": SECRET})
    try:
        answer = httpx.post(f"{node.url}/events/s3?secret={SECRET}", json=notification("s/f/_READY"))
        assert answer.status_code == 200 and answer.json()["ready"] == ["s3://drone/s/f"]
        assert httpx.post(f"{node.url}/events/s3", json=notification("s/g/_READY")).status_code == 401
        api = next(line.split()[1] for line in (node.data_dir / "serve.log").read_text().splitlines()
                   if line.startswith("Prefect ")) + "/api"
        deadline = time.monotonic() + 20
        events: list[dict[str, object]] = []
        while not events and time.monotonic() < deadline:
            page = httpx.post(f"{api}/events/filter", json={"filter": {"event": {"name": ["odmflow.batch.ready"]}}})
            events = page.json().get("events", [])
            time.sleep(0.5)
        assert len(events) == 1
        assert events[0]["payload"] == {"url": "s3://drone/s/f"}
    finally:
        node.stop()
