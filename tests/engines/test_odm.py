"""The odm engine against a stand-in `run.sh` that records its arguments and writes outputs."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from pyodm import Node

from tasks.engines import Context, EngineError, get_engine, run_steps
from tasks.engines.odm import OdmEngine, command_args
from tests.conftest import start_node

STANDIN = """#!{python}
import json, os, sys, time
args = sys.argv[1:]
root = args[args.index("--project-path") + 1]
project = os.path.join(root, args[args.index("--project-path") + 2])
json.dump(args, open(os.path.join(project, "odm_args.json"), "w"))
for stage in ("dataset", "opensfm", "odm_orthophoto"):
    print("\\x1b[39m[INFO]    Running %s stage\\x1b[0m" % stage, flush=True)
os.makedirs(os.path.join(project, "odm_orthophoto"), exist_ok=True)
open(os.path.join(project, "odm_orthophoto", "odm_orthophoto.tif"), "wb").write(b"II*\\x00fake")
sys.exit(int(os.environ.get("STANDIN_EXIT", "0")))
"""


@pytest.fixture
def odm_path(tmp_path: Path) -> Path:
    folder = tmp_path / "odm"
    folder.mkdir()
    script = folder / "run.sh"
    script.write_text(STANDIN.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    (folder / "VERSION").write_text("3.5.6\n")
    return folder


def project(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks" / "3f2a"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "a.jpg").write_bytes(b"x")
    (folder / "gcp").mkdir()
    (folder / "gcp" / "gcp_list.txt").write_text("EPSG:4326\n")
    (folder / "gcp" / "geo.txt").write_text("EPSG:4326\n")
    return folder


def test_command_line_follows_odm(tmp_path: Path) -> None:
    folder = project(tmp_path)
    args = command_args(folder, {"dsm": True, "fast-orthophoto": False, "orthophoto-resolution": 2.5})
    assert args[:4] == ["3f2a", "--dsm", "--orthophoto-resolution", "2.5"]
    assert ["--gcp", str(folder / "gcp" / "gcp_list.txt")] == args[args.index("--gcp"):args.index("--gcp") + 2]
    assert "--geo" in args and "--fast-orthophoto" not in args


def test_runs_odm_and_reports_its_stages(tmp_path: Path, odm_path: Path) -> None:
    folder = project(tmp_path)
    lines: list[str] = []
    progress: list[float] = []
    engine = OdmEngine(str(odm_path))
    assert engine.version() == "3.5.6" and engine.stages()[0] == "dataset"
    run_steps(engine, Context(folder, {"dsm": True, "rerun-from": "opensfm"}, lines.append, progress.append))
    args = json.loads((folder / "odm_args.json").read_text())
    assert args[:3] == ["--project-path", str(folder.parent), "3f2a"]
    assert "--dsm" in args and args[args.index("--rerun-from") + 1] == "opensfm"
    assert "[INFO]    Running opensfm stage" in lines  # colour codes stripped
    assert progress == sorted(progress) and 0 < progress[-1] < 1
    assert (folder / "odm_orthophoto" / "odm_orthophoto.tif").is_file()


def test_exit_codes_become_nodeodm_messages(tmp_path: Path, odm_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_EXIT", "137")
    with pytest.raises(EngineError, match="Not enough memory"):
        run_steps(OdmEngine(str(odm_path)), Context(project(tmp_path), {}, lambda line: None))


def test_needs_a_configured_odm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ODMFLOW_ODM_PATH", raising=False)
    monkeypatch.delenv("ODMFLOW_ODM_DOCKER", raising=False)
    with pytest.raises(EngineError, match="ODMFLOW_ODM_PATH"):
        get_engine("odm")
    docker = OdmEngine(docker_image="opendronemap/odm").command(Path("/data/tasks/u1"), {"dsm": True})
    assert docker[:6] == ["docker", "run", "--rm", "-v", "/data/tasks:/datasets", "opendronemap/odm"]


def test_a_node_with_the_odm_engine(tmp_path: Path, odm_path: Path, images: list[str]) -> None:
    node = start_node(tmp_path / "data", "--engine", "odm", env={"ODMFLOW_ODM_PATH": str(odm_path)})
    try:
        api = Node("127.0.0.1", node.port)
        assert api.info().engine_version == "3.5.6"
        assert any(o.name == "rerun-from" for o in api.options())
        task = api.create_task(images, {"orthophoto-resolution": 4})
        task.wait_for_completion(interval=0.3)
        assert "[INFO]    Running odm_orthophoto stage" in task.output()
        args = json.loads((node.data_dir / "tasks" / task.uuid / "odm_args.json").read_text())
        assert args[args.index("--orthophoto-resolution") + 1] == "4"
        task.download_assets(str(tmp_path / "out"))
        assert (tmp_path / "out" / "odm_orthophoto" / "odm_orthophoto.tif").read_bytes().startswith(b"II*")
    finally:
        node.stop()
