"""`odmflow ingest` from a local folder to a local folder, with its progress display."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from odmflow.cli import app
from tasks.storage import MARKER
from tests.conftest import NodeProcess, make_images

from .conftest import url_of


def test_ingest_command_between_local_folders(prefect: dict[str, str], node: NodeProcess, tmp_path: Path) -> None:
    make_images(tmp_path / "survey" / "day-1" / "flight-1", 3)
    (tmp_path / "survey" / "day-1" / "flight-1" / "gcp_list.txt").write_text("EPSG:32615\n")
    out = tmp_path / "out"
    args = ["ingest", str(tmp_path / "survey"), "--output", str(out), "--node", url_of(node),
            "--options", '{"dsm": true}', "--poll-seconds", "0.3"]

    first = CliRunner().invoke(app, args)

    assert first.exit_code == 0, first.output
    assert "day-1/flight-1" in first.output and "published" in first.output
    folder = out / "day-1" / "flight-1"
    assert (folder / "odm_dem" / "dsm.tif").is_file() and (folder / "item.json").is_file()
    assert json.loads((folder / MARKER).read_text())["batch"] == "day-1/flight-1"

    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "Nothing to do" in again.output


def test_bad_json_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path), "--output", str(tmp_path / "o"), "--ladder", "[{"])
    assert result.exit_code != 0 and "--ladder must be JSON" in result.output
