"""Prometheus configs, alert rules and their promtool unit tests, Alertmanager routing, dashboard PromQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import EXPORTED, metric_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "rules" / "kaohe.rules.yml"
RULE_TESTS = PROMETHEUS / "tests" / "kaohe.rules.test.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "kaohe-dashboard.json"
JOBS = {"kaohe-gateway", "kaohe-tasks", "kaohe-scoring"}
SEVERITIES = {"critical", "warning", "info"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def tool(name: str) -> str:
    """The binary's path; skips the test without it unless KAOHE_REQUIRE_PROMETHEUS=1."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install prometheus prometheus-alertmanager)"
        if os.environ.get("KAOHE_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def rule_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = load_yaml(RULE_TESTS)["tests"]
    return tests


# ---------------------------------------------------------------- promtool


def test_single_server_config_is_valid() -> None:
    assert_ok(run(tool("promtool"), "check", "config", PROMETHEUS / "prometheus.yml"))


def test_kubernetes_config_is_valid() -> None:
    result = run(tool("promtool"), "check", "config", PROMETHEUS / "prometheus-k8s.yml")
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        pytest.skip("this promtool build has no Kubernetes service discovery (Debian leaves it out)")
    assert_ok(result)


def test_rules_are_valid() -> None:
    result = run(tool("promtool"), "check", "rules", RULES)
    assert_ok(result)
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_rule_unit_tests_pass() -> None:
    result = run(tool("promtool"), "test", "rules", RULE_TESTS)
    assert_ok(result)
    assert "SUCCESS" in result.stdout


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each Grafana query, with its variables filled in, passes promtool as a recording rule."""
    substitutions = {
        "$__rate_interval": "5m",
        "$__range": "1d",
        "$__interval": "1m",
        "$unit": "fgj",
        "$metric": "court_appearance_rate",
    }
    exprs = []
    for expr in dashboard_exprs():
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr}"
        exprs.append(expr)
    rule_file = tmp_path / "dashboard.rules.yml"
    rule_file.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "dashboard",
                        "rules": [
                            {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)
                        ],
                    }
                ]
            }
        )
    )
    assert_ok(run(tool("promtool"), "check", "rules", rule_file))


# ---------------------------------------------------------------- the rules themselves


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in rule_tests():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown staying silent"
    assert firing | silent <= names, "tests name alerts that do not exist"


def test_every_recording_rule_has_a_unit_test() -> None:
    tested = " ".join(check["expr"] for case in rule_tests() for check in case.get("promql_expr_test", []))
    untested = {rule["record"] for rule in rules() if "record" in rule and rule["record"] not in tested}
    assert untested == set()


def test_the_required_alerts_exist() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert {
        "IndicatorBelowTarget",
        "IndicatorAboveTarget",
        "TasksOverdue",
        "EmergencyReportLate",
        "ServiceDown",
        "GrpcErrorRatioHigh",
        "LatencySLOBurn",
    } <= names


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_alert_has_severity_and_chinese_annotations(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    summary, description = rule["annotations"]["summary"], rule["annotations"]["description"]
    assert CJK.search(summary) and CJK.search(description)
    assert "$labels." in summary
    assert "$value" in description or "$labels." in description


def test_one_generic_rule_per_indicator_direction() -> None:
    """New indicators need no new rule: the target series, not metric ids, drive the comparison; each unit
    is compared with the target it is held to (its own target record's, or the scheme's)."""
    for name, direction in (("IndicatorBelowTarget", "min"), ("IndicatorAboveTarget", "max")):
        (rule,) = [r for r in alert_rules() if r["alert"] == name]
        expr = rule["expr"]
        assert f'kaohe_indicator_unit_target{{direction="{direction}"}}' in expr
        assert "on (unit, metric)" in expr
        assert "group_left" in expr and "metric=" not in expr


def test_database_gauges_are_deduplicated_with_max() -> None:
    """Every replica reports the same gauge: sum would multiply a unit's overdue tasks."""
    gauges = {
        "kaohe_tasks_open",
        "kaohe_tasks_overdue",
        "kaohe_tasks_progress_overdue",
        "kaohe_tasks_reported_late",
        "kaohe_emergency_tasks_late",
        "kaohe_indicator_value",
        "kaohe_indicator_target",
        "kaohe_indicator_unit_target",
    }
    for rule in rules():
        for gauge in gauges & metric_names(rule["expr"]):
            assert re.search(rf"max by \([^)]*\) \({gauge}\b", rule["expr"]), (rule.get("alert"), gauge)


def test_rules_read_only_exported_metrics_and_their_own_recordings() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        assert metric_names(rule["expr"]) <= EXPORTED | recorded, rule.get("alert") or rule.get("record")


def test_assessment_alerts_fire_within_a_minute() -> None:
    for rule in alert_rules():
        if rule["alert"] in {
            "IndicatorBelowTarget",
            "IndicatorAboveTarget",
            "TasksOverdue",
            "TasksProgressOverdue",
            "EmergencyReportLate",
        }:
            assert rule.get("for", "0s") in {"0s", "15s", "30s"}, rule["alert"]


def test_error_ratio_ignores_client_errors() -> None:
    (rule,) = [r for r in alert_rules() if r["alert"] == "GrpcErrorRatioHigh"]
    excluded = re.search(r'code!~"([^"]+)"', rule["expr"])
    assert excluded is not None
    codes = set(excluded.group(1).split("|"))
    assert {
        "OK",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "ALREADY_EXISTS",
    } <= codes
    assert not codes & {"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "DATA_LOSS"}


def test_service_down_covers_every_job_when_absent() -> None:
    (rule,) = [r for r in alert_rules() if r["alert"] == "ServiceDown"]
    for job in JOBS:
        assert f'absent(up{{job="{job}"}})' in rule["expr"]


# ---------------------------------------------------------------- Alertmanager


def test_alertmanager_config_is_valid() -> None:
    assert_ok(run(tool("amtool"), "check-config", ALERTMANAGER))


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=EmergencyReportLate", "severity=critical", "unit=yjj"], "office-webhook-and-email"),
        (["alertname=TasksOverdue", "severity=warning", "unit=fgj"], "office-webhook"),
        (["alertname=Anything", "severity=info"], "office-webhook"),
    ],
)
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = run(
        tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert_ok(result)


def test_alertmanager_groups_by_alert_and_unit_and_sends_to_the_office() -> None:
    config = load_yaml(ALERTMANAGER)
    assert config["route"]["group_by"] == ["alertname", "unit"]
    urls = {hook["url"] for receiver in config["receivers"] for hook in receiver.get("webhook_configs", [])}
    assert urls == {"http://127.0.0.1:9095/alerts"}
    assert any(receiver.get("email_configs") for receiver in config["receivers"])


def test_service_down_inhibits_the_symptoms_of_its_job() -> None:
    """The inhibition matches on job, so every alert it targets must carry one (checked on the
    labels the promtool unit tests expect, i.e. what the rules really produce)."""
    (inhibit,) = [
        rule
        for rule in load_yaml(ALERTMANAGER)["inhibit_rules"]
        if rule["source_matchers"] == ['alertname="ServiceDown"']
    ]
    assert inhibit["equal"] == ["job"]
    (target,) = inhibit["target_matchers"]
    targeted = set(re.fullmatch(r'alertname=~"([^"]+)"', target).group(1).split("|"))  # type: ignore[union-attr]
    assert {
        "IndicatorBelowTarget",
        "IndicatorAboveTarget",
        "TasksOverdue",
        "EmergencyReportLate",
        "GrpcErrorRatioHigh",
        "LatencySLOBurn",
    } <= targeted
    assert targeted <= {rule["alert"] for rule in alert_rules()}
    for case in rule_tests():
        for check in case.get("alert_rule_test", []):
            if check["alertname"] in targeted:
                for alert in check.get("exp_alerts") or []:
                    assert alert["exp_labels"].get("job") in JOBS, (case["name"], check["alertname"])


# ---------------------------------------------------------------- dashboard


def dashboard_exprs() -> list[str]:
    def panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for item in items for p in [item, *panels(item.get("panels", []))]]

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in panels(dashboard["panels"]) for t in p.get("targets", [])]
