"""odmflow: drone images to orthophotos, point clouds and elevation models, on Prefect."""

from __future__ import annotations

from .settings import Settings

__version__ = "0.1.0"
__all__ = ["Settings", "__version__"]
