"""WebODM API speed against a real `odmflow serve --test`, beside plain rio-tiler.

    python bench/webodm_api.py [--tasks 1000] [--requests 200] [--tiles 64] [--runs 5]

Prints p50/p99 of GET /api/projects/{id}/tasks/ with N tasks in the project, and of
256 px orthophoto tiles, cold (first request of each tile) and warm (the same tiles
again), next to rio-tiler's own `Reader.tile` on the same COG in this process. Then the
time from creating a task to COMPLETED through WebODM's API (an ingest-batch run that
submits to the node and follows it) next to the same images sent straight to the
node's NodeODM API, one task at a time: the cost of the extra flow run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import morecantile
import numpy as np
import rasterio
import requests
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles
from rio_tiler.io import Reader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from odmflow.launcher import start_node  # noqa: E402
from odmflow.users import add_user  # noqa: E402

USER, PASSWORD = "bench", "bench-password"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def line(name: str, ms: list[float]) -> str:
    return f"{name:42s} p50 {pct(ms, 50):7.2f} ms  p99 {pct(ms, 99):7.2f} ms  (n={len(ms)})"


def make_cog(path: Path, size: int = 4096) -> None:
    """A 4096 px RGB orthophoto at 5 cm in UTM 15N, as a COG."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (3, size // 32, size // 32), dtype=np.uint8)
    data = np.repeat(np.repeat(small, 32, axis=1), 32, axis=2)
    raw = path.with_suffix(".raw.tif")
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32615", "transform": from_origin(576000, 4458000, 0.05, 0.05)}
    with rasterio.open(raw, "w", **profile) as dst:
        dst.write(data)
    cog_translate(raw, path, cog_profiles.get("deflate"), quiet=True)
    raw.unlink()


def all_zip(cog: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.write(cog, "odm_orthophoto/odm_orthophoto.tif")
    return buffer.getvalue()


def timed(session: requests.Session, url: str) -> float:
    start = time.perf_counter()
    answer = session.get(url)
    answer.raise_for_status()
    return (time.perf_counter() - start) * 1000


async def seed(data: Path, tasks: int) -> int:
    from nodeodm_api.webodm.db import Database, database_url
    from nodeodm_api.webodm.records import Records

    await add_user(data, USER, PASSWORD)
    db = Database(database_url(data))
    await db.open()
    try:
        records = Records(db)
        owner = await records.user_by_name(USER)
        assert owner is not None
        project = await records.add_project(owner, {"name": "bench"})
        for i in range(tasks):
            await records.add_task(project, {"name": f"task {i}", "status": 40, "images_count": 12})
        return int(project.id)
    finally:
        await db.close()


def jpegs(count: int = 3) -> list[tuple[str, bytes]]:
    from PIL import Image

    out = []
    for i in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (i * 40, 120, 200)).save(buffer, "JPEG")
        out.append((f"IMG_{i:04d}.JPG", buffer.getvalue()))
    return out


def until(check: object, timeout: float = 120) -> float:
    """Seconds until `check()` is true, polled every 50 ms."""
    start = time.perf_counter()
    while not check():  # type: ignore[operator]
        if time.perf_counter() - start > timeout:
            raise TimeoutError("task did not finish")
        time.sleep(0.05)
    return time.perf_counter() - start


def end_to_end(session: requests.Session, url: str, project: int, runs: int) -> None:
    images = jpegs()
    api, direct = [], []
    for i in range(runs):
        files = [("images", (name, data, "image/jpeg")) for name, data in images]
        start = time.perf_counter()
        task = session.post(f"{url}/api/projects/{project}/tasks/", files=files, data={"name": f"run {i}"}).json()
        status = f"{url}/api/projects/{project}/tasks/{task['id']}/"
        api.append(time.perf_counter() - start + until(lambda: session.get(status).json()["status"] in (30, 40)))  # noqa: B023
        start = time.perf_counter()
        uuid = requests.post(f"{url}/task/new", files=files, data={"name": f"direct {i}"}).json()["uuid"]
        info = f"{url}/task/{uuid}/info"
        direct.append(time.perf_counter() - start
                      + until(lambda: requests.get(info).json()["status"]["code"] in (30, 40)))  # noqa: B023
    print(f"{'task to COMPLETED, WebODM API':42s} p50 {pct(api, 50):7.2f} s   (n={runs})")
    print(f"{'task to COMPLETED, NodeODM API directly':42s} p50 {pct(direct, 50):7.2f} s   (n={runs})")
    print(f"the ingest-batch run adds {pct(api, 50) - pct(direct, 50):.2f} s at p50 "
          f"({pct(api, 50) / pct(direct, 50):.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tiles", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5, help="tasks timed end to end each way (0: skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="odmflow-bench-") as tmp:
        root = Path(tmp)
        project = asyncio.run(seed(root / "data", args.tasks))
        cog = root / "ortho.tif"
        make_cog(cog)
        node = start_node(root / "data", "--test")
        try:
            session = requests.Session()
            token = session.post(f"{node.url}/api/token-auth/", data={"username": USER, "password": PASSWORD})
            session.headers["Authorization"] = f"JWT {token.json()['token']}"
            listing = f"{node.url}/api/projects/{project}/tasks/"
            assert len(session.get(listing).json()) == args.tasks
            ms = [timed(session, listing) for _ in range(args.requests)]
            print(line(f"GET /api/projects/{{id}}/tasks/ ({args.tasks} tasks)", ms))

            imported = session.post(f"{node.url}/api/projects/{project}/tasks/import",
                                    files={"file": ("all.zip", all_zip(cog), "application/zip")}).json()
            task = f"{node.url}/api/projects/{project}/tasks/{imported['id']}"
            deadline = time.monotonic() + 120
            while session.get(f"{task}/").json()["status"] != 40 and time.monotonic() < deadline:
                time.sleep(0.5)
            tilejson = session.get(f"{task}/orthophoto/tiles.json").json()
            zoom = min(tilejson["maxzoom"], 21)  # about the COG's 5 cm
            w, s, e, n = tilejson["bounds"]
            inner = (w + (e - w) * 0.2, s + (n - s) * 0.2, e - (e - w) * 0.2, n - (n - s) * 0.2)
            tiles = list(morecantile.tms.get("WebMercatorQuad").tiles(*inner, zooms=[zoom]))[: args.tiles]
            cold = [timed(session, f"{task}/orthophoto/tiles/{t.z}/{t.x}/{t.y}.png") for t in tiles]
            warm = [timed(session, f"{task}/orthophoto/tiles/{t.z}/{t.x}/{t.y}.png") for t in tiles]
            plain = []
            for t in tiles:  # the plain call: open the COG, read the tile, encode it
                start = time.perf_counter()
                with Reader(str(cog)) as reader:
                    reader.tile(t.x, t.y, t.z, tilesize=256).render(img_format="PNG")
                plain.append((time.perf_counter() - start) * 1000)
            print(line(f"orthophoto tile z{zoom}, cold", cold))
            print(line(f"orthophoto tile z{zoom}, warm", warm))
            print(line("rio-tiler Reader(cog).tile + PNG, same tiles", plain))
            print(f"warm/plain p50 ratio {pct(warm, 50) / pct(plain, 50):.2f}   "
                  f"cold/plain {pct(cold, 50) / pct(plain, 50):.2f}")
            if args.runs:
                end_to_end(session, node.url, project, args.runs)
        finally:
            node.stop()


if __name__ == "__main__":
    main()
