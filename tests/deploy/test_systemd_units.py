"""systemd units of the single-server county install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = {"gateway": 50050, "tasks": 50051, "scoring": 50052}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictNamespaces": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
}


def directives(path: Path) -> dict[str, str]:
    """key → value of a unit file (the last one wins, as systemd does for scalar settings)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip()
    return found


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_unit_runs_the_service_unprivileged_on_its_ports(service: str) -> None:
    unit = directives(SYSTEMD / f"kaohe-{service}.service")
    port = SERVICES[service]
    assert unit["User"] == "kaohe"
    assert unit["EnvironmentFile"] == "/etc/kaohe/kaohe.env"
    assert unit["ExecStart"].split()[1:] == [
        "serve-one",
        service,
        "--port",
        str(port),
        "--metrics-port",
        str(port + 10),
        "--data-dir",
        "/var/lib/kaohe",
    ]
    assert unit["PartOf"] == "kaohe.target"
    assert unit["WantedBy"] == "kaohe.target"
    assert {k: unit.get(k) for k in HARDENING} == HARDENING


def test_target_starts_all_three() -> None:
    target = directives(SYSTEMD / "kaohe.target")
    assert set(target["Wants"].split()) == {f"kaohe-{s}.service" for s in SERVICES}


def test_environment_example_names_what_the_units_need() -> None:
    env = directives(SYSTEMD / "kaohe.env.example")
    assert {"KAOHE_SECRET", "KAOHE_SCHEME", "KAOHE_TASKS_ADDR", "KAOHE_SCORING_ADDR"} <= set(env)
    assert env["KAOHE_TASKS_ADDR"] == f"127.0.0.1:{SERVICES['tasks']}"
    assert env["KAOHE_SCORING_ADDR"] == f"127.0.0.1:{SERVICES['scoring']}"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify insists that ExecStart exists; the venv is not installed at /opt/kaohe here.
    for unit in [*SYSTEMD.glob("*.service"), SYSTEMD / "kaohe.target"]:
        text = unit.read_text(encoding="utf-8").replace(
            "/opt/kaohe/.venv/bin/kaohe", shutil.which("true") or "/bin/true"
        )
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stdout + result.stderr
