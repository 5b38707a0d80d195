"""The deployments put /metrics behind KAOHE_METRICS_TOKEN off loopback, and Prometheus presents it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "tasks", "scoring")


def _container_env(service: str) -> dict[str, Any]:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / f"{service}.yaml").read_text()))
    [deployment] = [d for d in documents if d and d.get("kind") == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_off_loopback_in_the_cluster_carry_the_token(service: str) -> None:
    variables = _container_env(service)
    assert variables["KAOHE_METRICS_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert variables["KAOHE_METRICS_TOKEN"] == {
        "secretKeyRef": {"name": "kaohe-secrets", "key": "KAOHE_METRICS_TOKEN"}
    }


def test_prometheus_in_the_cluster_presents_the_token() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus-k8s.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "kaohe"]
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]


def test_the_single_server_prometheus_scrapes_loopback() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [t for j in config["scrape_configs"] for c in j["static_configs"] for t in c["targets"]]
    assert all(t.startswith("127.0.0.1:") for t in targets)
