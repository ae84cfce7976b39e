"""Screenshots of the Prefect UI for the docs: a finished task's run and its outputs artifact.

    python examples/screenshots.py IMAGES_FOLDER      # needs chromium on PATH

Starts a node with the embedded engine and the Prefect UI, processes the images, and saves
docs/prefect-ui-run.png and docs/prefect-ui-artifacts.png.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from pyodm import Node

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from odmflow.launcher import start_node  # noqa: E402

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            "--virtual-time-budget=15000", "--window-size=1440,900"]


def main(images: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = start_node(Path(tmp) / "data", "--engine", "odmflow", prefect_ui=True)
        try:
            files = sorted(str(p) for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".tif"))
            task = Node("127.0.0.1", node.port).create_task(files, {"dsm": True}, name=images.name)
            task.wait_for_completion(interval=1)
            log = (Path(tmp) / "data" / "serve.log").read_text().splitlines()
            ui = next(line.split()[1] for line in log if line.startswith("Prefect "))
            run = httpx.post(f"{ui}/api/flow_runs/filter", json={}).json()[0]["id"]
            body = {"artifacts": {"type": {"any_": ["markdown"]}}}
            artifact = httpx.post(f"{ui}/api/artifacts/filter", json=body).json()[0]["id"]
            for path, name in ((f"/runs/flow-run/{run}", "prefect-ui-run.png"),
                               (f"/artifacts/artifact/{artifact}", "prefect-ui-artifacts.png")):
                shot = ROOT / "docs" / name
                subprocess.run([*CHROMIUM, f"--user-data-dir={tmp}/chromium", f"--screenshot={shot}", ui + path],
                               check=True, capture_output=True, timeout=120)
                print(shot)
        finally:
            node.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
