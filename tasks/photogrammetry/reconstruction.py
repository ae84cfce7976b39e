"""Structure from motion with the focal length held at its EXIF/sensor prior.

On small nadir surveys the focal length and the flying height are nearly
interchangeable, so self-calibration drifts (Brighton Beach: 10.6 m too low). The focal
stays fixed during mapping and is refined afterwards only when the scene's depth varies
enough to tell the two apart.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from tasks.photogrammetry.exif import Shot

# Depth spread (robust std / median depth) above which the focal length is observable.
FOCAL_OBSERVABLE_SPREAD = 0.15
FOCAL_MAX_CHANGE = 0.15


@dataclass
class Result:
    reconstruction: pycolmap.Reconstruction
    registered: int
    focal_refined: bool
    depth_spread: float


def _incremental(threads: int, use_gps: bool) -> pycolmap.IncrementalPipelineOptions:
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = threads
    options.min_model_size = 3
    options.ba_refine_focal_length = False
    options.ba_refine_principal_point = False
    options.ba_refine_extra_params = True
    options.mapper.abs_pose_refine_focal_length = False
    options.use_prior_position = use_gps
    options.random_seed = 1
    options.mapper.random_seed = 1
    return options


def map_images(
    database: Path,
    images: Path,
    output: Path,
    algorithm: str,
    threads: int,
    progress: Callable[[float], None] = lambda f: None,
) -> dict[int, pycolmap.Reconstruction]:
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    if algorithm in ("global", "planar"):
        options = pycolmap.GlobalPipelineOptions()
        options.num_threads = threads
        options.min_model_size = 3
        options.mapper.bundle_adjustment.refine_focal_length = False
        options.mapper.bundle_adjustment.refine_principal_point = False
        return pycolmap.global_mapping(database, images, output, options)
    if algorithm == "hierarchical":
        options_h = pycolmap.HierarchicalPipelineOptions()
        options_h.num_threads = threads
        options_h.incremental_options = _incremental(threads, False)
        return pycolmap.hierarchical_mapping(database, images, output, options_h)
    db = pycolmap.Database.open(database)
    total = max(db.num_images(), 1)
    db.close()
    registered = [0]

    def next_image() -> None:
        registered[0] += 1
        progress(min(0.95, registered[0] / total))

    # "triangulation" is ODM's GPS-constrained mode: pose priors enter the bundle adjustment.
    options_i = _incremental(threads, algorithm == "triangulation")
    return pycolmap.incremental_mapping(database, images, output, options_i, next_image_callback=next_image)


def depth_spread(rec: pycolmap.Reconstruction) -> float:
    """Median over images of the robust spread of point depths relative to the depth."""
    spreads = []
    for image in rec.images.values():
        ids = [p.point3D_id for p in image.points2D if p.has_point3D()]
        if len(ids) < 20:
            continue
        xyz = np.array([rec.points3D[i].xyz for i in ids])
        depth = (xyz @ image.cam_from_world().rotation.matrix().T + image.cam_from_world().translation)[:, 2]
        q25, q50, q75 = np.percentile(depth, [25, 50, 75])
        spreads.append((q75 - q25) / 1.349 / max(q50, 1e-9))
    return float(np.median(spreads)) if spreads else 0.0


def refine_focal(rec: pycolmap.Reconstruction, log: Callable[[str], None]) -> pycolmap.Reconstruction | None:
    """Bundle-adjust a copy with free focal lengths; None if the result is implausible."""
    before = {cid: cam.mean_focal_length() for cid, cam in rec.cameras.items()}
    trial = pycolmap.Reconstruction(rec)
    options = pycolmap.BundleAdjustmentOptions()
    options.refine_focal_length = True
    options.refine_extra_params = True
    options.print_summary = False
    pycolmap.bundle_adjustment(trial, options)
    for cid, cam in trial.cameras.items():
        change = abs(cam.mean_focal_length() / before[cid] - 1)
        if change > FOCAL_MAX_CHANGE:
            log(f"Focal refinement moved camera {cid} by {change:.0%}; keeping the EXIF focal")
            return None
    for cid, cam in trial.cameras.items():
        log(f"Focal of camera {cid} refined {before[cid]:.1f} -> {cam.mean_focal_length():.1f} px")
    return trial


def reconstruct(
    database: Path,
    images: Path,
    output: Path,
    algorithm: str = "incremental",
    threads: int = -1,
    log: Callable[[str], None] = print,
    progress: Callable[[float], None] = lambda f: None,
) -> Result:
    models = map_images(database, images, output / "models", algorithm, threads, progress)
    if not models:
        return Result(pycolmap.Reconstruction(), 0, False, 0.0)
    rec = max(models.values(), key=lambda r: r.num_reg_images())
    spread = depth_spread(rec)
    refined = False
    if spread > FOCAL_OBSERVABLE_SPREAD:
        log(f"Depth spread {spread:.2f} makes the focal observable: refining it")
        trial = refine_focal(rec, log)
        refined = trial is not None
        if trial is not None:
            rec = trial
    else:
        log(f"Depth spread {spread:.2f}: focal length kept at its prior")
    output.mkdir(parents=True, exist_ok=True)
    rec.write(output)
    return Result(rec, rec.num_reg_images(), refined, spread)


def write_cameras_json(rec: pycolmap.Reconstruction, shots: list[Shot], path: Path) -> None:
    """OpenSfM-style cameras.json: normalised focal and Brown distortion per camera."""
    key_of = {s.filename: s.camera_key for s in shots}
    out: dict[str, dict[str, float | int | str]] = {}
    for image in rec.images.values():
        cam = image.camera
        key = key_of.get(image.name, f"camera {cam.camera_id}")
        if key in out:
            continue
        size = max(cam.width, cam.height)
        params = dict(zip(cam.params_info.split(", "), cam.params, strict=False))
        out[key] = {
            "projection_type": "brown",
            "width": cam.width,
            "height": cam.height,
            "focal_x": cam.focal_length_x / size,
            "focal_y": cam.focal_length_y / size,
            "c_x": (cam.principal_point_x - cam.width / 2) / size,
            "c_y": (cam.principal_point_y - cam.height / 2) / size,
            "k1": float(params.get("k1", params.get("k", 0.0))),
            "k2": float(params.get("k2", 0.0)),
            "p1": float(params.get("p1", 0.0)),
            "p2": float(params.get("p2", 0.0)),
            "k3": 0.0,
        }
    path.write_text(json.dumps(out, indent=2))
