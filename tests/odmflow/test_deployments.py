"""deployments/ and infra/ agree with the code they deploy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from odmflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def load_entrypoint(entrypoint: str) -> object:
    """Load a flow the way `prefect deploy` does, from a path relative to the repository."""
    from prefect.flows import load_flow_from_entrypoint

    path, name = entrypoint.split(":")
    return load_flow_from_entrypoint(f"{ROOT / path}:{name}")


def test_prefect_yaml_points_at_real_flows() -> None:
    config = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    names = {d["name"]: d for d in config["deployments"]}
    flows = {"process-images": "process-images", "webodm": "ingest-batch", "ingest-survey": "ingest-survey",
             "on-bucket-upload": "ingest-survey", "bucket-sensor": "bucket-sensor"}
    for deployment, flow_name in flows.items():
        flow = load_entrypoint(names[deployment]["entrypoint"])
        assert flow.name == flow_name  # type: ignore[attr-defined]
        params = set(flow.parameters.properties)  # type: ignore[attr-defined]
        assert set(names[deployment].get("parameters", {})) <= params
        assert names[deployment]["work_pool"]["name"] == "odm"
    trigger = names["on-bucket-upload"]["triggers"][0]
    assert trigger["expect"] == ["odmflow.batch.ready"]
    ingest = load_entrypoint(names["ingest-survey"]["entrypoint"])
    assert set(trigger["parameters"]) <= set(ingest.parameters.properties)  # type: ignore[attr-defined]
    assert names["ingest-survey"]["schedules"][0]["cron"]


def test_dockerfile_environment_matches_settings() -> None:
    text = (ROOT / "infra" / "Dockerfile").read_text()
    fields = set(Settings.model_fields)
    for key in re.findall(r"ODMFLOW_([A-Z_]+)=", text):
        assert key.lower() in fields or key == "HOME", f"ODMFLOW_{key} is not a setting"
    assert f"EXPOSE {Settings.model_fields['port'].default}" in text
    for folder in ("odmflow", "nodeodm_api", "flows", "tasks"):
        assert f"COPY {folder} " in text


def test_compose_services_agree_with_settings() -> None:
    compose = yaml.safe_load((ROOT / "infra" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "prefect", "s3", "node", "worker"} <= set(services)
    fields = set(Settings.model_fields)
    for name in ("node", "worker"):
        env = services[name]["environment"]
        for key in env:
            if key.startswith("ODMFLOW_"):
                assert key.removeprefix("ODMFLOW_").lower() in fields, f"{key} is not a setting"
        host, port = env["PREFECT_API_URL"].split("//")[1].split("/")[0].split(":")
        assert host in services and f"--port {port}" in services[host]["command"]
    node = services["node"]
    port = node["command"].split("--port ")[1].split()[0]
    assert f"{port}:{port}" in node["ports"]
    pool = node["command"].split("--work-pool ")[1].split()[0]
    assert f"--pool {pool}" in services["worker"]["command"]
    # WebODM runs have a queue and a worker of their own (they wait on the processing runs).
    config = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    webodm = next(d for d in config["deployments"] if d["name"] == "webodm")["work_pool"]
    assert f"--pool {pool} --work-queue {webodm['work_queue_name']}" in services["webodm-worker"]["command"]
    assert "--work-queue default" in services["worker"]["command"]
    assert "postgresql" in services["prefect"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]


def test_kubernetes_manifests_agree() -> None:
    docs = list(yaml.safe_load_all((ROOT / "infra" / "kubernetes" / "node.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert {"PersistentVolumeClaim", "Deployment", "Service"} <= set(kinds)
    claim = kinds["PersistentVolumeClaim"]["metadata"]["name"]
    template = json.loads((ROOT / "infra" / "kubernetes" / "job-template.json").read_text())
    volumes = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == claim
    values = yaml.safe_load((ROOT / "infra" / "kubernetes" / "values-worker.yaml").read_text())
    command = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--work-pool") + 1] == values["worker"]["config"]["workPool"]
    assert values["worker"]["config"]["type"] == "kubernetes"
