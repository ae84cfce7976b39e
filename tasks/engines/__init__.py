"""Engines behind the processing flow, chosen by name.

    test      NodeODM's --test mode: small real outputs, no photogrammetry
    odm       a local OpenDroneMap (run.sh) or its Docker image
    odmflow   the embedded photogrammetry engine (pycolmap, OpenCV, rasterio)
    nodeodm   forward to an upstream NodeODM-compatible node (real ODM, ClusterODM)
"""

from __future__ import annotations

import os

from .base import Context, Engine, EngineError, Options, Step, fingerprint, run_steps, stage_slice

NAMES = ("odmflow", "odm", "nodeodm", "test")

__all__ = [
    "NAMES", "Context", "Engine", "EngineError", "Options", "Step",
    "fingerprint", "get_engine", "run_steps", "stage_slice",
]


def get_engine(name: str) -> Engine:
    """Build the named engine from its `ODMFLOW_*` settings in the environment.

    Settings travel by environment because the engine runs in the flow run's own
    process, which a Runner or a worker starts, possibly on another machine.
    """
    env = os.environ
    if name == "test":
        from .test import TestEngine

        return TestEngine(
            seconds=float(env.get("ODMFLOW_TEST_SECONDS", "0") or 0),
            fail=env.get("ODMFLOW_TEST_FAIL", "").lower() in ("1", "true", "yes"),
            fail_unless=env.get("ODMFLOW_TEST_FAIL_UNLESS") or None,
        )
    if name == "odm":
        from .odm import OdmEngine

        return OdmEngine(env.get("ODMFLOW_ODM_PATH") or None, env.get("ODMFLOW_ODM_DOCKER") or None)
    if name == "nodeodm":
        from .nodeodm import NodeOdmEngine

        return NodeOdmEngine(env.get("ODMFLOW_UPSTREAM_URL") or None)
    if name == "odmflow":
        from .embedded import EmbeddedEngine

        return EmbeddedEngine()
    raise EngineError(f"Unknown engine {name!r}: choose one of {', '.join(NAMES)}.")
