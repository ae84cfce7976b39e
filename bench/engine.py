"""Per-stage wall time and peak memory of the embedded engine on synthetic surveys.

    python bench/engine.py                  # 20, 40 and 80 images at default settings
    python bench/engine.py --sizes 20 --width 800

Each survey is generated in one child process and processed in another, so the figures
are the engine's own. Peak memory is the process's peak resident set size, sampled
during each stage (it includes about 200 MB of loaded libraries).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402


def _generate(folder: str, n: int, width: int, seed: int) -> None:
    from tasks.photogrammetry.synthetic import make_survey

    make_survey(folder, n_images=n, width=width, seed=seed)


class Peak:
    """Samples this process's RSS in a thread; `take()` returns and resets the peak."""

    def __init__(self, interval: float = 0.02) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.interval = interval
        self.running = True
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def take(self) -> int:
        peak = max(self.peak, self.proc.memory_info().rss)
        self.peak = self.proc.memory_info().rss
        return peak


def _process(survey: str, project: str, options: dict[str, Any], out: Any) -> None:
    from tasks.engines.base import Context
    from tasks.engines.embedded import EmbeddedEngine

    Path(project, "images").symlink_to(Path(survey, "images").resolve())
    ctx = Context(Path(project), options, log=lambda line: None)
    peak = Peak()
    rows = []
    for step in EmbeddedEngine().steps(options):
        peak.take()
        t = time.perf_counter()
        step.run(ctx)
        rows.append((step.name, time.perf_counter() - t, peak.take() / 2**20))
    peak.running = False
    out.put(rows)


def measure(n: int, width: int, workdir: Path, options: dict[str, Any]) -> list[tuple[str, float, float]]:
    spawn = mp.get_context("spawn")
    survey, project = workdir / f"survey{n}", workdir / f"project{n}"
    if not (survey / "survey.json").is_file():
        gen = spawn.Process(target=_generate, args=(str(survey), n, width, 0))
        gen.start()
        gen.join()
    project.mkdir(parents=True, exist_ok=True)
    for child in project.iterdir():
        if child.is_symlink():
            child.unlink()
    queue = spawn.Queue()
    proc = spawn.Process(target=_process, args=(str(survey), str(project), options, queue))
    proc.start()
    rows = queue.get()
    proc.join()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument("--width", type=int, default=1000, help="image width in pixels")
    parser.add_argument("--workdir", type=Path, default=None, help="keep surveys and outputs here")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="odmflow-bench-"))
    results = {n: measure(n, args.width, workdir, {}) for n in args.sizes}
    stages = [name for name, _, _ in results[args.sizes[0]]]
    head = f"{'stage':<16}" + "".join(f"{f'{n} img: s':>12}{'peak MB':>9}" for n in args.sizes)
    print(
        f"\nEmbedded engine, synthetic surveys of {args.width}x{args.width * 3 // 4} px images, "
        f"{psutil.cpu_count()} CPUs\n"
    )
    print(head)
    print("-" * len(head))
    for i, stage in enumerate(stages):
        cells = "".join(f"{results[n][i][1]:>12.1f}{results[n][i][2]:>9.0f}" for n in args.sizes)
        print(f"{stage:<16}{cells}")
    print("-" * len(head))
    totals = "".join(f"{sum(r[1] for r in results[n]):>12.1f}{max(r[2] for r in results[n]):>9.0f}" for n in args.sizes)
    print(f"{'total':<16}{totals}")
    per_image = "".join(
        f"{sum(r[1] for r in results[n]) / n:>12.2f}{max(r[2] for r in results[n]) / n:>9.1f}" for n in args.sizes
    )
    print(f"{'per image':<16}{per_image}")
    print(f"\nOutputs in {workdir}")


if __name__ == "__main__":
    main()
