"""Accuracy of the embedded engine, measured against truth.

    python bench/accuracy.py                       # synthetic 20 images, GPS noise 0 and 1 m
    python bench/accuracy.py --images 40 --noise 0 1 2 --seeds 0 1 2
    python bench/accuracy.py --brighton /path/to/brighton_beach   # real images vs ODM's cloud

Synthetic: registered images, mean reprojection error, camera position RMSE against the
true poses, the orthophoto's shift against the true texture (phase correlation, in
metres and in GSD) and the DSM's RMSE against the true terrain. Brighton Beach: the
height offset and horizontal shift against ODM's own point cloud.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.engines.base import Context, run_steps  # noqa: E402
from tasks.engines.embedded import EmbeddedEngine  # noqa: E402
from tasks.photogrammetry import accuracy  # noqa: E402
from tasks.photogrammetry.layout import Layout  # noqa: E402
from tasks.photogrammetry.synthetic import make_survey  # noqa: E402

DEFAULT_BRIGHTON = Path(__file__).resolve().parents[2] / "shared" / "data" / "brighton_beach"


def _process(images: Path, project: Path, options: dict[str, object]) -> float:
    project.mkdir(parents=True, exist_ok=True)
    link = project / "images"
    if not link.exists():
        link.symlink_to(images.resolve(), target_is_directory=True)
    t = time.perf_counter()
    run_steps(EmbeddedEngine(), Context(project, options, log=lambda line: None))
    return time.perf_counter() - t


def synthetic(workdir: Path, n: int, noises: list[float], seeds: list[int], width: int) -> None:
    head = (
        f"{'GPS noise':>9} {'seed':>4} {'reg':>7} {'reproj px':>9} {'cam h m':>8} {'cam v m':>8} "
        f"{'shift m':>8} {'shift GSD':>9} {'DSM RMSE':>9} {'DSM bias':>9} {'time s':>7}"
    )
    print(f"\nSynthetic surveys: {n} images of {width} px\n\n{head}\n{'-' * len(head)}")
    for noise in noises:
        for seed in seeds:
            root = workdir / f"syn{n}_{noise}_{seed}"
            survey = make_survey(root / "survey", n_images=n, gps_noise_m=noise, seed=seed, width=width)
            seconds = _process(survey.images, root / "project", {})
            s = accuracy.score(root / "project", survey)
            print(
                f"{noise:>9.1f} {seed:>4} {s.registered:>3}/{s.images:<3} {s.reprojection_px:>9.3f} "
                f"{s.camera_rmse_h:>8.3f} {s.camera_rmse_v:>8.3f} {s.ortho_shift_m:>8.3f} "
                f"{s.ortho_shift_gsd:>9.2f} {s.dsm_rmse:>9.3f} {s.dsm_bias:>9.3f} {seconds:>7.1f}"
            )
    print(f"(GSD {survey.gsd * 100:.1f} cm; GPS noise is sigma per horizontal axis, 1.5x vertically)")


def brighton(folder: Path, workdir: Path, quality: str) -> None:
    project = workdir / f"brighton_{quality}"
    seconds = _process(folder / "images", project, {"feature-quality": quality})
    stats = json.loads(Layout(project).stats.read_text())
    geo = stats["georeferencing"]
    ref = accuracy.against_reference(project, folder / "odm_reference_model.laz")
    print(
        f"\nBrighton Beach (feature-quality {quality}): {stats['images']['registered']}/"
        f"{stats['images']['count']} registered, reprojection "
        f"{stats['reconstruction']['mean_reprojection_error_px']:.3f} px, GPS residual "
        f"{geo['rmse_horizontal_m']:.2f} m h / {geo['rmse_vertical_m']:.2f} m v, {seconds:.1f} s"
    )
    print(
        f"  vs ODM's point cloud: median height offset {ref['median_height_offset_m']:+.3f} m "
        f"(MAD {ref['height_mad_m']:.3f} m over {ref['points_compared']} points), "
        f"horizontal shift {ref['horizontal_shift_m']:.3f} m"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--brighton", type=Path, default=DEFAULT_BRIGHTON)
    parser.add_argument("--quality", default="high", help="feature-quality for Brighton Beach")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="odmflow-accuracy-"))
    synthetic(workdir, args.images, args.noise, args.seeds, args.width)
    if (args.brighton / "images").is_dir():
        brighton(args.brighton, workdir, args.quality)
    else:
        print(f"\nBrighton Beach images not found at {args.brighton}; skipped.")


if __name__ == "__main__":
    main()
