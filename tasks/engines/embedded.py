"""The `odmflow` engine: embedded photogrammetry (pycolmap, OpenCV, rasterio), no ODM needed.

Stages follow ODM's pipeline and write ODM's layout; each reads its inputs from the
stages before it on disk, so `rerun-from` and option changes re-run only what they
affect. The work itself lives in `tasks.photogrammetry.pipeline`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from tasks.photogrammetry import pipeline
from tasks.photogrammetry.layout import Layout

from .base import Context, EngineError, Options, Step, stage_slice
from .odm import odm_options

STAGES: tuple[str, ...] = (
    "dataset",
    "features",
    "matching",
    "reconstruction",
    "georeferencing",
    "pointcloud",
    "dem",
    "orthophoto",
    "report",
)
SFM_ALGORITHMS = ["incremental", "triangulation", "planar", "global", "hierarchical"]
LENSES = ["auto", "perspective", "brown", "fisheye"]

# ODM options this engine honours, with the changes to their schema entries it needs.
HONOURED: dict[str, dict[str, Any]] = {
    "feature-quality": {},
    "min-num-features": {},
    "matcher-neighbors": {},
    "sfm-algorithm": {
        "domain": SFM_ALGORITHMS,
        "help": "Choose the structure from motion algorithm. incremental registers images one by one; "
        "triangulation also constrains the cameras to their GPS positions; global (and planar) "
        "solve all cameras at once; hierarchical splits large surveys into clusters. "
        "Can be one of: %(choices)s. Default: %(default)s",
    },
    "orthophoto-resolution": {},
    "dem-resolution": {},
    "dsm": {"value": "true", "help": "Build a DSM (Digital Surface Model, ground + objects). Default: %(default)s"},
    "dtm": {},
    "fast-orthophoto": {},
    "pc-las": {},
    # Not an ODM option (ODM writes PLY only inside its work folders); modelled on pc-las.
    "pc-ply": {
        "name": "pc-ply",
        "type": "bool",
        "value": "false",
        "domain": "",
        "help": "Export the georeferenced point cloud in PLY format. Default: %(default)s",
    },
    "pc-csv": {},
    "cog": {},
    "skip-report": {},
    "rerun-from": {"domain": ["", *STAGES]},
    "max-concurrency": {},
    "camera-lens": {"domain": LENSES},
    "use-exif": {},
    "gps-accuracy": {},
    "crop": {},
    "auto-boundary": {},
}


def _version() -> str:
    try:
        return package_version("odmflow")
    except PackageNotFoundError:
        return "0.1.0"


def _guard(work: Callable[[Context], None]) -> Callable[[Context], None]:
    """Turn user-fixable processing failures into EngineError for the task's status."""

    def run(ctx: Context) -> None:
        try:
            work(ctx)
        except pipeline.ProcessingError as exc:
            raise EngineError(str(exc)) from exc
        ctx.progress(1.0)

    run.__name__ = work.__name__
    run.__doc__ = work.__doc__
    return run


def _threads(ctx: Context) -> int:
    return int(ctx.option("max-concurrency", 4)) or -1


def _dataset(ctx: Context) -> None:
    pipeline.dataset(Layout(ctx.project), ctx.images, ctx.gcp, ctx.log)


def _features(ctx: Context) -> None:
    pipeline.extract_features(
        Layout(ctx.project),
        ctx.images,
        str(ctx.option("feature-quality", "high")),
        int(ctx.option("min-num-features", 10000)),
        _threads(ctx),
        str(ctx.option("camera-lens", "auto")),
        ctx.log,
    )


def _matching(ctx: Context) -> None:
    pipeline.match_features(Layout(ctx.project), int(ctx.option("matcher-neighbors", 0)), _threads(ctx), ctx.log)


def _reconstruction(ctx: Context) -> None:
    pipeline.reconstruction(
        Layout(ctx.project),
        ctx.images,
        str(ctx.option("sfm-algorithm", "incremental")),
        _threads(ctx),
        ctx.log,
        ctx.progress,
    )


def _georeferencing(ctx: Context) -> None:
    pipeline.georeference(
        Layout(ctx.project),
        ctx.gcp,
        bool(ctx.option("use-exif", False)),
        float(ctx.option("gps-accuracy", 10.0)),
        ctx.log,
    )


def _pointcloud(ctx: Context) -> None:
    pipeline.point_cloud(
        Layout(ctx.project),
        ctx.images,
        bool(ctx.option("pc-las", False)),
        bool(ctx.option("pc-ply", False)),
        bool(ctx.option("pc-csv", False)),
        bool(ctx.option("fast-orthophoto", False)),
        ctx.log,
        ctx.progress,
    )


def _dem(ctx: Context) -> None:
    pipeline.elevation(
        Layout(ctx.project),
        float(ctx.option("dem-resolution", 5.0)),
        bool(ctx.option("dsm", True)),
        bool(ctx.option("dtm", False)),
        float(ctx.option("crop", 3.0)),
        bool(ctx.option("auto-boundary", False)),
        bool(ctx.option("cog", False)),
        ctx.log,
    )


def _orthophoto(ctx: Context) -> None:
    pipeline.ortho(
        Layout(ctx.project),
        ctx.images,
        float(ctx.option("orthophoto-resolution", 5.0)),
        bool(ctx.option("cog", False)),
        ctx.log,
        ctx.progress,
    )


def _report(ctx: Context) -> None:
    pipeline.make_report(Layout(ctx.project), bool(ctx.option("skip-report", False)), ctx.log)


# stage -> (work, share of the run's time, options its output depends on)
WORK: dict[str, tuple[Callable[[Context], None], float, tuple[str, ...]]] = {
    "dataset": (_dataset, 0.02, ()),
    "features": (_features, 0.15, ("feature-quality", "min-num-features", "camera-lens")),
    "matching": (_matching, 0.2, ("matcher-neighbors",)),
    "reconstruction": (_reconstruction, 0.35, ("sfm-algorithm",)),
    "georeferencing": (_georeferencing, 0.02, ("use-exif", "gps-accuracy")),
    "pointcloud": (_pointcloud, 0.03, ("pc-las", "pc-ply", "pc-csv", "fast-orthophoto")),
    "dem": (_dem, 0.05, ("dem-resolution", "dsm", "dtm", "crop", "auto-boundary", "cog")),
    "orthophoto": (_orthophoto, 0.15, ("orthophoto-resolution", "cog")),
    "report": (_report, 0.03, ("skip-report",)),
}


class EmbeddedEngine:
    name = "odmflow"

    def version(self) -> str:
        return _version()

    def options(self) -> list[dict[str, Any]]:
        schema = {o["name"]: o for o in odm_options()}
        out = []
        for name, changes in HONOURED.items():
            entry = copy.deepcopy(schema.get(name, {}))
            entry.update(changes)
            out.append(entry)
        return out

    def stages(self) -> list[str]:
        return list(STAGES)

    def steps(self, options: Options) -> list[Step]:
        return [
            Step(name, _guard(WORK[name][0]), WORK[name][1], WORK[name][2])
            for name in stage_slice(STAGES, options.get("rerun-from"))
        ]
