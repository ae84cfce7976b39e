"""A failing task climbs the options ladder; a node that drops connections or answers 5xx is waited out."""

from __future__ import annotations

from pathlib import Path

from flows.ingest import ingest_survey
from tasks.storage import MARKER
from tests.conftest import NodeProcess

from .conftest import keys, new_bucket, read_json, url_of
from .proxy import FaultyProxy


def test_a_failed_task_is_restarted_with_the_next_options(
    prefect: dict[str, str], s3: dict[str, str], picky_node: NodeProcess, tmp_path: Path
) -> None:
    source = new_bucket(tmp_path, {"flight": 3})
    output = source.rsplit("/", 1)[0] + "/results"
    ladder = [{}, {"fast-orthophoto": True}]

    [result] = ingest_survey(source, output, [url_of(picky_node)], options={"dsm": True}, ladder=ladder,
                             transfer="upload", poll_seconds=0.3)

    assert result["attempts"] == 2
    info = picky_node.get(f"/task/{result['uuid']}/info").json()
    assert {o["name"]: o["value"] for o in info["options"]}.items() >= {"dsm": True, "fast-orthophoto": True}.items()
    marker = read_json(f"{output}/flight/{MARKER}")
    assert {o["name"] for o in marker["odmflow:options"]} >= {"dsm", "fast-orthophoto"}
    assert "flight/odm_dem/dsm.tif" in keys(output)


def test_connection_drops_and_5xx_are_retried(
    prefect: dict[str, str], s3: dict[str, str], node: NodeProcess, tmp_path: Path
) -> None:
    source = new_bucket(tmp_path, {"flight": 3})
    output = source.rsplit("/", 1)[0] + "/results"
    with FaultyProxy(node.url).running() as proxy:
        faults = [
            proxy.fail(r"^GET /info", "503", 2),
            proxy.fail(r"^POST /task/new/init", "drop", 1),
            proxy.fail(r"^POST /task/new/upload/", "503", 2),
            proxy.fail(r"^POST /task/new/upload/", "drop", 1),
            proxy.fail(r"^GET /task/[^/]+/info", "drop", 2),
            proxy.fail(r"^GET /task/[^/]+/info", "503", 3),
            proxy.fail(r"^GET /task/[^/]+/download/", "503", 1),
            proxy.fail(r"^GET /task/[^/]+/download/", "drop", 1),
        ]
        [result] = ingest_survey(source, output, [f"{proxy.url}?token={node.token}"], transfer="upload",
                                 poll_seconds=0.2, retries=6, backoff=0.2)

    assert all(f.times == 0 for f in faults), [(f.pattern, f.kind, f.times) for f in faults]
    assert f"flight/{MARKER}" in keys(output)
    # Only one task was created on the node despite the dropped init.
    inits = [r for r in proxy.requests if r.startswith("POST /task/new/init")]
    assert len(inits) == 2
    assert read_json(f"{output}/flight/{MARKER}")["odmflow:task"] == result["uuid"]
