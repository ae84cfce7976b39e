"""The `odm` engine: runs a local OpenDroneMap (`run.sh`) or its Docker image.

ODM runs its own pipeline, so the engine is one step; ODM's stage banners
("Running opensfm stage") drive the progress, and `rerun-from` is handed to ODM.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from .base import Context, EngineError, Options, Step

STAGES: tuple[str, ...] = (
    "dataset", "split", "merge", "opensfm", "openmvs", "odm_filterpoints", "odm_meshing",
    "mvs_texturing", "odm_georeferencing", "odm_dem", "odm_orthophoto", "odm_report", "odm_postprocess",
)
_STAGE = re.compile(r"Running (\w+) stage")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# ODM's exit codes as NodeODM reports them.
_EXIT_MESSAGES = {
    1: "Cannot process dataset", 134: "Cannot process dataset", 139: "Cannot process dataset",
    137: "Not enough memory", 132: "Unsupported CPU", 3: "Installation issue",
}


@cache
def odm_options() -> list[dict[str, Any]]:
    """ODM's options as NodeODM lists them (hidden flags already removed)."""
    return json.loads((Path(__file__).with_name("odm_options.json")).read_text())


def command_args(project: Path, options: Options) -> list[str]:
    """ODM's command line after `--project-path X`: the project name, then the options."""
    args = [project.name]
    for name, value in options.items():
        if isinstance(value, bool):
            if value:
                args.append(f"--{name}")
        elif value is not None and value != "":
            args += [f"--{name}", str(value)]
    gcp = project / "gcp"
    if gcp.is_dir():
        for path in sorted(gcp.iterdir()):
            lower = path.name.lower()
            if lower == "geo.txt":
                args += ["--geo", str(path)]
            elif lower == "image_groups.txt":
                args += ["--split-image-groups", str(path)]
            elif lower.startswith("align."):
                args += ["--align", str(path)]
            elif lower.endswith(".txt") and "--gcp" not in args:
                args += ["--gcp", str(path)]
    return args


class OdmEngine:
    def __init__(self, odm_path: str | None = None, docker_image: str | None = None) -> None:
        if not odm_path and not docker_image:
            raise EngineError("The odm engine needs ODMFLOW_ODM_PATH (folder with run.sh) or ODMFLOW_ODM_DOCKER.")
        self.odm_path = Path(odm_path) if odm_path else None
        self.docker_image = docker_image
        self.name = self._first_line("ENGINE") or "odm"

    def _first_line(self, name: str) -> str | None:
        if self.odm_path and (self.odm_path / name).is_file():
            lines = (self.odm_path / name).read_text().splitlines()
            return lines[0].strip() if lines else None
        return None

    def version(self) -> str:
        return self._first_line("VERSION") or "?"

    def options(self) -> list[dict[str, Any]]:
        return odm_options()

    def stages(self) -> list[str]:
        return list(STAGES)

    def steps(self, options: Options) -> list[Step]:
        return [Step("odm", self.run, depends_on=tuple(options))]

    def command(self, project: Path, options: Options) -> list[str]:
        if self.odm_path:
            return [str(self.odm_path / "run.sh"), "--project-path", str(project.parent),
                    *command_args(project, options)]
        mount = f"{project.parent}:/datasets"
        args = [a.replace(str(project.parent), "/datasets") for a in command_args(project, options)]
        return ["docker", "run", "--rm", "-v", mount, str(self.docker_image), "--project-path", "/datasets", *args]

    def run(self, ctx: Context) -> None:
        cmd = self.command(ctx.project, ctx.options)
        ctx.log("Running " + shlex.join(cmd))
        # Own process group, so a cancel stops ODM's whole tree, not just run.sh.
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True, cwd=self.odm_path or ctx.project,
        )
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = _ANSI.sub("", raw).rstrip()
                ctx.log(line)
                match = _STAGE.search(line)
                if match and match.group(1) in STAGES:
                    ctx.progress(STAGES.index(match.group(1)) / len(STAGES))
            code = proc.wait()
        except BaseException:
            _kill(proc)
            raise
        if code != 0:
            raise EngineError(_EXIT_MESSAGES.get(code, f"Processing failed ({code})"))


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
