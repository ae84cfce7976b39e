"""NodeODM API speed over loopback, against a real `odmflow serve --test`.

    python bench/api.py [--files 50] [--mib 5] [--requests 2000] [--tasks 10]

Prints, each beside a reference measured in the same run:
  * upload MB/s of N x M MiB through /task/new, and raw disk write MB/s of the same bytes;
  * p50/p90/p99 of GET /info and GET /task/{uuid}/info;
  * p50/max from /task/new to RUNNING and to COMPLETED (test engine).
The machines are noisy: compare ratios and medians, and run it twice.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from odmflow.launcher import start_node  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def multipart(files: int, size: int) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    payload = os.urandom(size)
    parts = []
    for i in range(files):
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="img{i:03d}.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n".encode() + payload + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def disk_write(folder: Path, files: int, size: int) -> float:
    """MB/s writing the same bytes as plain files, as the upload does (no fsync either)."""
    payload = os.urandom(size)
    target = folder / "rawdisk"
    target.mkdir(exist_ok=True)
    start = time.perf_counter()
    for i in range(files):
        with open(target / f"{i}.bin", "wb") as fh:
            for offset in range(0, size, 1 << 16):
                fh.write(payload[offset : offset + (1 << 16)])
    elapsed = time.perf_counter() - start
    for p in target.iterdir():
        p.unlink()
    return files * size / elapsed / 1e6


def latencies(session: requests.Session, url: str, count: int) -> list[float]:
    for _ in range(20):
        session.get(url)
    out = []
    for _ in range(count):
        start = time.perf_counter()
        session.get(url).raise_for_status()
        out.append((time.perf_counter() - start) * 1000)
    return out


def lifecycle(session: requests.Session, base: str, image: Path) -> tuple[float, float]:
    start = time.perf_counter()
    with open(image, "rb") as fh:
        task = session.post(f"{base}/task/new", files=[("images", ("a.jpg", fh))]).json()["uuid"]
    running = None
    while True:
        code = session.get(f"{base}/task/{task}/info").json()["status"]["code"]
        now = time.perf_counter() - start
        if code >= 20 and running is None:
            running = now
        if code >= 30:
            return running or now, now
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--mib", type=float, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    size = int(args.mib * 1024 * 1024)

    with tempfile.TemporaryDirectory(prefix="odmflow-bench-") as tmp:
        root = Path(tmp)
        node = start_node(root / "data", "--test")
        try:
            session = requests.Session()
            body, content_type = multipart(args.files, size)
            rates = []
            for _ in range(3):
                start = time.perf_counter()
                answer = session.post(f"{node.url}/task/new", data=body, headers={"Content-Type": content_type})
                rates.append(len(body) / (time.perf_counter() - start) / 1e6)
                task = answer.json()["uuid"]
            disk = statistics.median(disk_write(root / "data", args.files, size) for _ in range(3))
            upload = statistics.median(rates)
            print(f"upload   {args.files} x {args.mib:g} MiB via /task/new: {upload:7.1f} MB/s (median of 3)")
            print(f"disk     raw write of the same bytes:        {disk:7.1f} MB/s  -> upload/disk {upload / disk:.2f}")

            for name, path in (("/info", "/info"), ("/task/{uuid}/info", f"/task/{task}/info")):
                ms = latencies(session, node.url + path, args.requests)
                print(f"GET {name:18s} p50 {pct(ms, 50):6.2f} ms  p90 {pct(ms, 90):6.2f}  p99 {pct(ms, 99):6.2f}"
                      f"  (n={len(ms)})")

            image = root / "a.jpg"
            image.write_bytes(os.urandom(1024))
            runs = [lifecycle(session, node.url, image) for _ in range(args.tasks)]
            to_run = [r[0] for r in runs]
            to_done = [r[1] for r in runs]
            print(f"/task/new -> RUNNING   p50 {statistics.median(to_run):5.2f} s  max {max(to_run):5.2f} s"
                  f"  (n={len(runs)}, one task at a time)")
            print(f"/task/new -> COMPLETED p50 {statistics.median(to_done):5.2f} s  max {max(to_done):5.2f} s")
        finally:
            node.stop()


if __name__ == "__main__":
    main()
