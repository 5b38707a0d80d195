"""Kubernetes manifests (schema, probes, exposure, network policy) and the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.promql import EXPORTED, metric_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"
SERVICES = {"gateway": 50050, "tasks": 50051, "scoring": 50052}
OPTIONAL = {"ingress-gateway.yaml"}


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found.append((path.name, doc))
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _name, doc in manifests() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return doc


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment).get("env", [])}


def port_of(deployment: dict[str, Any], name: str) -> int:
    (port,) = [p["containerPort"] for p in container(deployment)["ports"] if p["name"] == name]
    return int(port)


# ---------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("filename", "doc"), manifests(), ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in manifests()]
)
def test_manifest_validates_strictly(filename: str, doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{filename}: {exc.message} at {'.'.join(map(str, exc.path))}")


def test_validation_rejects_a_broken_manifest() -> None:
    """Guards the test above: strict validation must catch an unknown field."""
    deployment = json.loads(json.dumps(named("Deployment", "kaohe-tasks")))
    container(deployment)["readinesProbe"] = container(deployment)["readinessProbe"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_optional_ones() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - OPTIONAL


def test_everything_lives_in_the_kaohe_namespace() -> None:
    for filename, doc in manifests():
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "kaohe", (filename, doc["metadata"]["name"])


# ---------------------------------------------------------------- deployments


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_deployment_runs_the_service_on_its_ports(service: str) -> None:
    deployment = named("Deployment", f"kaohe-{service}")
    c = container(deployment)
    grpc_port, metrics_port = SERVICES[service], SERVICES[service] + 10
    assert deployment["spec"]["replicas"] == 2
    assert c["image"] == "kaohe:latest"
    args = c["args"]
    assert args[:2] == ["serve-one", service]
    assert args[args.index("--port") + 1] == str(grpc_port)
    assert args[args.index("--metrics-port") + 1] == str(metrics_port)
    assert port_of(deployment, "grpc") == grpc_port
    assert port_of(deployment, "metrics") == metrics_port
    # 127.0.0.1 (the default) is unreachable for probes, Services and Prometheus; 0.0.0.0 is wider
    # than needed: the pod's own address.
    assert env(deployment)["KAOHE_BIND_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_deployment_takes_its_certificate_from_a_secret(service: str) -> None:
    deployment = named("Deployment", f"kaohe-{service}")
    variables = env(deployment)
    mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == f"kaohe-tls-{service}"
    assert volumes["tls"]["secret"]["defaultMode"] & 0o007 == 0, "not readable by others"
    for name, key in (
        ("KAOHE_TLS_CA", "ca.crt"),
        ("KAOHE_TLS_CERT", "tls.crt"),
        ("KAOHE_TLS_KEY", "tls.key"),
    ):
        assert variables[name] == f"{mounts['tls']}/{key}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_deployment_has_readiness_and_liveness_probes(service: str) -> None:
    deployment = named("Deployment", f"kaohe-{service}")
    c = container(deployment)
    for probe in ("readinessProbe", "livenessProbe"):
        # TCP: the kubelet's gRPC probe speaks no TLS.
        assert c[probe]["tcpSocket"]["port"] == SERVICES[service], probe


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_deployment_is_locked_down(service: str) -> None:
    deployment = named("Deployment", f"kaohe-{service}")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert "memory" in c["resources"]["limits"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_secrets_come_from_the_secret_not_the_manifest(service: str) -> None:
    variables = env(named("Deployment", f"kaohe-{service}"))
    secret_keys = set(named("Secret", "kaohe-secrets")["stringData"])
    for name, value in variables.items():
        if name in secret_keys:
            assert value == {"secretKeyRef": {"name": "kaohe-secrets", "key": name}}
    assert "KAOHE_SECRET" in variables
    # Each its own database; the gateway's (accounts, login throttle) shared by its replicas.
    own_db = {
        "tasks": "KAOHE_TASKS_DB_URL",
        "scoring": "KAOHE_SCORING_DB_URL",
        "gateway": "KAOHE_GATEWAY_DB_URL",
    }
    assert {k for k in variables if k.endswith("_DB_URL")} == {own_db[service]}


def test_callers_reach_backends_through_dns_targets_of_their_services() -> None:
    gateway = env(named("Deployment", "kaohe-gateway"))
    scoring = env(named("Deployment", "kaohe-scoring"))
    assert gateway["KAOHE_TASKS_ADDR"] == scoring["KAOHE_TASKS_ADDR"] == "dns:///kaohe-tasks:50051"
    assert gateway["KAOHE_SCORING_ADDR"] == "dns:///kaohe-scoring:50052"
    for backend in ("tasks", "scoring"):
        service = named("Service", f"kaohe-{backend}")
        assert [p["port"] for p in service["spec"]["ports"]] == [SERVICES[backend]]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_deployment_autoscales_and_has_a_disruption_budget(service: str) -> None:
    name = f"kaohe-{service}"
    labels = named("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    hpa = named("HorizontalPodAutoscaler", name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = named("PodDisruptionBudget", name)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_pods_carry_the_labels_prometheus_discovers_them_by() -> None:
    """prometheus-k8s.yml keeps part-of=kaohe pods' "metrics" ports and names the job after the component."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-k8s.yml").read_text())
    (job,) = config["scrape_configs"]
    relabel = {tuple(r["source_labels"]): r for r in job["relabel_configs"]}
    assert relabel[("__meta_kubernetes_pod_label_app_kubernetes_io_part_of",)]["regex"] == "kaohe"
    assert relabel[("__meta_kubernetes_pod_container_port_name",)]["regex"] == "metrics"
    assert relabel[("__meta_kubernetes_pod_label_app_kubernetes_io_component",)]["replacement"] == "kaohe-$1"
    for service in SERVICES:
        labels = named("Deployment", f"kaohe-{service}")["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "kaohe"
        assert labels["app.kubernetes.io/component"] == service


def test_scheme_config_map_holds_a_scheme() -> None:
    scheme = tomllib.loads(named("ConfigMap", "kaohe-scheme")["data"]["default.toml"])
    assert {"id", "name", "year"} <= set(scheme["scheme"])
    for service in SERVICES:
        deployment = named("Deployment", f"kaohe-{service}")
        args = container(deployment)["args"]
        mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
        assert args[args.index("--scheme") + 1] == f"{mounts['scheme']}/default.toml"


# ---------------------------------------------------------------- exposure


def test_only_the_gateway_is_reachable_from_outside() -> None:
    for service in of_kind("Service"):
        name, spec = service["metadata"]["name"], service["spec"]
        if name != "kaohe-gateway":
            assert spec.get("type", "ClusterIP") == "ClusterIP", name
            assert not spec.get("externalIPs"), name
    for ingress in of_kind("Ingress"):
        backends = {
            path["backend"]["service"]["name"]
            for rule in ingress["spec"]["rules"]
            for path in rule["http"]["paths"]
        }
        assert backends == {"kaohe-gateway"}
    assert not of_kind("Route") and not of_kind("Gateway")


@pytest.mark.parametrize("backend", ["tasks", "scoring"])
def test_backends_have_headless_services(backend: str) -> None:
    """So that dns:/// + round_robin sees every pod instead of one virtual IP."""
    assert named("Service", f"kaohe-{backend}")["spec"]["clusterIP"] == "None"


def test_namespace_denies_ingress_by_default() -> None:
    defaults = [p for p in of_kind("NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert any(p["spec"]["policyTypes"] == ["Ingress"] and not p["spec"].get("ingress") for p in defaults)


@pytest.mark.parametrize(
    ("backend", "callers"), [("tasks", {"kaohe-gateway", "kaohe-scoring"}), ("scoring", {"kaohe-gateway"})]
)
def test_backends_admit_only_their_callers_and_prometheus(backend: str, callers: set[str]) -> None:
    (policy,) = [
        p
        for p in of_kind("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": f"kaohe-{backend}"}
    ]
    assert "Ingress" in policy["spec"]["policyTypes"]
    admitted_pods: set[str] = set()
    for rule in policy["spec"]["ingress"]:
        assert rule.get("from"), "an ingress rule without `from` admits every source"
        ports = {p["port"] for p in rule["ports"]}
        for peer in rule["from"]:
            assert "ipBlock" not in peer
            pod = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            if "namespaceSelector" in peer:
                assert pod == "prometheus"
                assert ports == {SERVICES[backend] + 10}
            else:
                admitted_pods.add(pod)
                assert ports == {SERVICES[backend]}
    assert admitted_pods == callers


# ---------------------------------------------------------------- Grafana


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "kaohe-dashboard.json").read_text(encoding="utf-8")
    )
    return data


def all_panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for item in items for p in [item, *all_panels(item.get("panels", []))]]


def test_dashboard_queries_read_only_exported_metrics() -> None:
    exprs = [t["expr"] for p in all_panels(dashboard()["panels"]) for t in p.get("targets", [])]
    variables = [v["definition"] for v in dashboard()["templating"]["list"] if v["type"] == "query"]
    assert exprs and variables
    read: set[str] = set()
    for expr in [*exprs, *(v.replace("label_values(", "(") for v in variables)]:
        names = metric_names(expr) - {"unit", "metric"}
        assert names, f"no metric in {expr}"
        assert names <= EXPORTED, f"{expr} reads {names - EXPORTED}"
        read |= names
    # what the office needs on it
    assert {
        "kaohe_tasks_open",
        "kaohe_tasks_overdue",
        "kaohe_indicator_value",
        "kaohe_indicator_target",
        "kaohe_grpc_server_requests_total",
        "kaohe_grpc_server_request_duration_seconds_bucket",
    } <= read


def test_metric_name_extraction_sees_through_promql_syntax() -> None:
    """Guards the test above against reading nothing."""
    assert metric_names(
        'sum by (job) (rate(foo_total{code!~"OK|X"}[$__rate_interval])) '
        "/ on (job) group_left (d) max by (job) (bar) - 1e-9 > bool 0"
    ) == {"foo_total", "bar"}


def test_dashboard_panels_use_the_datasource_variable_and_fit_the_grid() -> None:
    data = dashboard()
    assert data["uid"] and data["title"]
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "kaohe.yaml").read_text()
    )
    (source,) = provisioned["datasources"]
    (variable,) = [v for v in data["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == source["uid"]
    for panel in all_panels(data["panels"]):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]


# ---------------------------------------------------------------- sizing (docs/scale.md)

SCALE_DOC = DEPLOY.parent / "docs" / "scale.md"
PROVINCE = DEPLOY / "overlays" / "province"
QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Mi|Gi)?$")


def quantity(value: str | int) -> float:
    """A CPU or memory quantity in cores or MiB."""
    match = QUANTITY.match(str(value))
    assert match, f"unexpected quantity {value!r}"
    number, suffix = float(match.group(1)), match.group(2)
    return number * {None: 1.0, "m": 0.001, "Mi": 1.0, "Gi": 1024.0}[suffix]


def scaling_table(heading: str) -> dict[str, dict[str, str]]:
    """The rows of docs/scale.md's table under heading: Deployment → its cells by column."""
    text = SCALE_DOC.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        if not cells[0].startswith("kaohe-"):
            break
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def province() -> list[dict[str, Any]]:
    """The province overlay as kubectl builds it (skipped without kubectl)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (kubectl kustomize builds the overlay)")
    built = subprocess.run([kubectl, "kustomize", str(PROVINCE)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def check_sizing(docs: list[dict[str, Any]], table: dict[str, dict[str, str]]) -> None:
    """Every container sized (requests ≤ limits), and the table's autoscalers exactly as written."""
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    hpas = {d["metadata"]["name"]: d for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        for c in [*pod.get("initContainers", []), *pod["containers"]]:
            resources = c.get("resources", {})
            for kind in ("cpu", "memory"):
                request, limit = resources["requests"][kind], resources["limits"][kind]
                assert quantity(request) <= quantity(limit), (name, c["name"], kind)
    assert set(table) == set(deployments), "docs/scale.md's table names every Deployment"
    for name, row in table.items():
        resources = container(deployments[name])["resources"]
        for kind in ("requests", "limits"):
            assert row[kind] == f"{resources[kind]['cpu']} / {resources[kind]['memory']}", (name, kind)
        if row["HPA"] == "—":
            assert name not in hpas, f"{name}: docs/scale.md says it does not scale"
            continue
        hpa = hpas[name]["spec"]
        low, high = (int(n) for n in row["HPA"].split("–"))
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (low, high), name
        assert 1 <= hpa["minReplicas"] <= deployments[name]["spec"]["replicas"] <= hpa["maxReplicas"], name
        (cpu,) = [m["resource"] for m in hpa["metrics"] if m["type"] == "Resource"]
        assert cpu["name"] == "cpu" and cpu["target"]["type"] == "Utilization"
        assert f"{cpu['target']['averageUtilization']}%" == row["CPU 目标"], name


def test_every_container_is_sized_and_scales_as_docs_scale_md_says() -> None:
    check_sizing([doc for _name, doc in manifests()], scaling_table("<!-- sizing: county -->"))


def test_the_province_overlay_builds_validates_and_matches_docs_scale_md() -> None:
    docs = province()
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    check_sizing(docs, scaling_table("<!-- sizing: province -->"))
    base = {d["metadata"]["name"]: d for _name, d in manifests() if d["kind"] == "Deployment"}
    for doc in docs:
        if doc["kind"] == "Deployment":
            # Bigger than the county's, never smaller.
            mine, theirs = container(doc)["resources"], container(base[doc["metadata"]["name"]])["resources"]
            for kind in ("cpu", "memory"):
                assert quantity(mine["limits"][kind]) >= quantity(theirs["limits"][kind])
