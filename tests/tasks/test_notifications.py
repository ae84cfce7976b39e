from __future__ import annotations

import json

import pytest

from tasks.notifications import BadNotification, Batcher, ObjectEvent, parse


def records(*keys: str, bucket: str = "drone") -> bytes:
    return json.dumps({"Records": [
        {"eventName": "s3:ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": k}}} for k in keys
    ]}).encode()


def test_s3_records_with_url_encoded_keys() -> None:
    events = parse(records("site+a/flight%201/IMG_0001.JPG")).events
    assert events == [ObjectEvent("drone", "site a/flight 1/IMG_0001.JPG", "s3:ObjectCreated:Put")]
    assert events[0].batch == "site a/flight 1"


def test_sns_envelope_and_subscription() -> None:
    inner = records("a/b.jpg").decode()
    assert parse(json.dumps({"Type": "Notification", "Message": inner}).encode()).events[0].key == "a/b.jpg"
    confirm = parse(json.dumps({"Type": "SubscriptionConfirmation", "SubscribeURL": "https://sns/x"}).encode())
    assert confirm.confirm_url == "https://sns/x" and confirm.events == []


def test_eventbridge_event() -> None:
    body = {"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "x/batch.json"}}}
    assert parse(json.dumps(body).encode()).events == [ObjectEvent("b", "x/batch.json", "Object Created")]


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"hello": 1}', b'{"Records": [{"s3": {}}]}',
                                  b'{"Type": "Notification", "Message": 5}'])
def test_malformed_bodies_say_what_was_expected(body: bytes) -> None:
    with pytest.raises(BadNotification):
        parse(body)


def test_a_marker_makes_a_batch_ready_once() -> None:
    batcher = Batcher(quiet=60)
    ready = [b for i in range(100) for b in batcher.add(ObjectEvent("b", f"f/IMG_{i}.JPG"), now=i)]
    assert ready == []
    assert batcher.add(ObjectEvent("b", "f/_READY"), now=100) == [("b", "f")]
    assert batcher.add(ObjectEvent("b", "f/late.JPG"), now=101) == []
    assert batcher.due(now=1000) == []


def test_a_quiet_batch_becomes_ready_once() -> None:
    batcher = Batcher(quiet=10)
    for i in range(5):
        batcher.add(ObjectEvent("b", f"g/{i}.jpg"), now=i)
    assert batcher.due(now=12) == []  # the last image came at t=4
    assert batcher.due(now=14) == [("b", "g")]
    assert batcher.due(now=100) == []
    assert batcher.add(ObjectEvent("b", "g/batch.json"), now=101) == []
    assert batcher.add(ObjectEvent("b", "g/x.jpg", "ObjectRemoved:Delete"), now=1) == []
