"""deployments/ and infra/ agree with the code they deploy."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from odmflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def load_entrypoint(entrypoint: str) -> object:
    path, name = entrypoint.split(":")
    spec = importlib.util.spec_from_file_location("entry", ROOT / path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_prefect_yaml_points_at_real_flows() -> None:
    config = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    names = {d["name"]: d for d in config["deployments"]}
    flow = load_entrypoint(names["process-images"]["entrypoint"])
    assert flow.name == "process-images"  # type: ignore[attr-defined]
    assert names["process-images"]["work_pool"]["name"]


def test_dockerfile_environment_matches_settings() -> None:
    text = (ROOT / "infra" / "Dockerfile").read_text()
    fields = set(Settings.model_fields)
    for key in re.findall(r"ODMFLOW_([A-Z_]+)=", text):
        assert key.lower() in fields or key == "HOME", f"ODMFLOW_{key} is not a setting"
    assert f"EXPOSE {Settings.model_fields['port'].default}" in text
    for folder in ("odmflow", "nodeodm_api", "flows", "tasks"):
        assert f"COPY {folder} " in text
