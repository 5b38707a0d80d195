"""The trust wiring without servers: the hop's policy, OIDC settings, where the CLI finds its CA."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from services.cli.client import trusted_ca
from services.common.auth import SYSTEM, Identity, make_user_identity
from services.common.errors import PermissionDenied
from services.common.policy import (
    INTERNAL_POLICY,
    POLICY,
    SCORING,
    SCORING_INTERNAL,
    TASKS,
    TASKS_INTERNAL,
    authorize_hop,
)
from services.common.settings import ConfigError
from services.common.tls import record_trust, trust_record
from services.common.tokens import oidc_from_env

OFFICE = make_user_identity(role="office", unit=None)
VIEWER = make_user_identity(role="viewer", unit=None)
TABLE = POLICY | INTERNAL_POLICY
WRITES = [
    m for m in TABLE if m.startswith((TASKS, TASKS_INTERNAL, SCORING)) and "viewer" not in TABLE[m].roles
]


@pytest.mark.parametrize("method", WRITES)
def test_a_viewer_relayed_by_the_gateway_reaches_no_write(method: str) -> None:
    with pytest.raises(PermissionDenied):
        authorize_hop(VIEWER, method, peer="gateway", mutual_tls=True)
    with pytest.raises(PermissionDenied):
        authorize_hop(VIEWER, method, peer=None, mutual_tls=False)


def test_a_persons_identity_counts_only_from_the_gateway_and_system_only_from_scoring() -> None:
    authorize_hop(OFFICE, TASKS + "CreateTask", peer="gateway", mutual_tls=True)
    with pytest.raises(PermissionDenied, match="须经网关"):
        authorize_hop(OFFICE, TASKS + "CreateTask", peer="scoring", mutual_tls=True)
    authorize_hop(SYSTEM, TASKS_INTERNAL + "GetTimelinessFacts", peer="scoring", mutual_tls=True)
    with pytest.raises(PermissionDenied, match="系统身份不能"):
        authorize_hop(SYSTEM, TASKS_INTERNAL + "GetTimelinessFacts", peer="gateway", mutual_tls=True)
    with pytest.raises(PermissionDenied, match="系统身份不能"):
        authorize_hop(SYSTEM, TASKS + "CreateTask", peer="scoring", mutual_tls=True)


def test_the_gateways_own_import_is_relayed_for_the_office_only() -> None:
    for method in (TASKS_INTERNAL + "ImportLedger", SCORING_INTERNAL + "ImportRecords"):
        authorize_hop(OFFICE, method, peer="gateway", mutual_tls=True)
        for role in ("supervisor", "viewer"):
            with pytest.raises(PermissionDenied):
                authorize_hop(
                    make_user_identity(role=role, unit=None), method, peer="gateway", mutual_tls=True
                )


def test_a_department_without_a_unit_and_an_unknown_method_are_refused() -> None:
    with pytest.raises(PermissionDenied, match="未绑定单位"):
        authorize_hop(Identity(role="department"), TASKS + "ListTasks", peer="gateway", mutual_tls=True)
    with pytest.raises(PermissionDenied, match="不对外提供"):
        authorize_hop(OFFICE, TASKS + "DropEverything", peer="gateway", mutual_tls=True)


def test_oidc_settings_none_unless_an_issuer_and_complete_when_one_is_given() -> None:
    assert oidc_from_env({}) is None
    with pytest.raises(ConfigError, match="KAOHE_OIDC_JWKS_URL"):
        oidc_from_env({"KAOHE_OIDC_ISSUER": "https://idp"})
    with pytest.raises(ConfigError, match="KAOHE_OIDC_ROLE_MAP"):
        oidc_from_env(
            {
                "KAOHE_OIDC_ISSUER": "https://idp",
                "KAOHE_OIDC_JWKS_URL": "https://idp/certs",
                "KAOHE_OIDC_AUDIENCE": "kaohe",
                "KAOHE_OIDC_ROLE_MAP": "admins=root",
            }
        )
    verifier = oidc_from_env(
        {
            "KAOHE_OIDC_ISSUER": "https://idp",
            "KAOHE_OIDC_JWKS_URL": "https://idp/certs",
            "KAOHE_OIDC_AUDIENCE": "kaohe",
            "KAOHE_OIDC_ROLE_MAP": "kh-office=office",
            "KAOHE_OIDC_UNIT_CLAIM": "dept",
        }
    )
    assert verifier is not None
    assert (verifier.issuer, verifier.audience, verifier.role_claim, verifier.unit_claim) == (
        "https://idp",
        "kaohe",
        "roles",
        "dept",
    )
    assert verifier.role_map == {"kh-office": "office"}


def test_the_cli_finds_the_ca_as_it_finds_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("KAOHE_TLS_CA", raising=False)
    monkeypatch.delenv("KAOHE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    nothing = argparse.Namespace(data_dir=None)
    assert trusted_ca(nothing, "127.0.0.1:41000") is None
    default = tmp_path / "var" / "tls" / "ca.pem"
    default.parent.mkdir(parents=True)
    default.write_text("default")
    assert trusted_ca(nothing, "127.0.0.1:41000") == default.resolve()
    served = tmp_path / "served-ca.pem"
    served.write_text("served")
    recorded = record_trust("127.0.0.1:41000", served)
    assert recorded is not None and recorded.stat().st_mode & 0o077 == 0
    assert recorded.parent.stat().st_mode & 0o077 == 0
    assert trusted_ca(nothing, "127.0.0.1:41000") == recorded
    assert trusted_ca(nothing, "localhost:41000") == recorded
    assert trusted_ca(nothing, "127.0.0.1:41001") == default.resolve(), "another port, another stack"
    assert trusted_ca(argparse.Namespace(data_dir="elsewhere"), "127.0.0.1:41000") == (
        tmp_path / "elsewhere" / "tls" / "ca.pem"
    )
    monkeypatch.setenv("KAOHE_TLS_CA", "/etc/kaohe/tls/ca.pem")
    assert trusted_ca(nothing, "127.0.0.1:41000") == Path("/etc/kaohe/tls/ca.pem")


def test_no_trust_record_for_a_gateway_off_this_machine() -> None:
    assert trust_record("192.0.2.1:50050") is None
    assert trust_record("kaohe.example.gov.cn:50050") is None
    assert record_trust("192.0.2.1:50050", Path("/nonexistent")) is None
