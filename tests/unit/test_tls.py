"""The private CA: what ensure_tls writes and when it reissues; checks on explicit files and addresses."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.common.settings import ConfigError
from services.common.tls import (
    SERVICES,
    TlsConfig,
    TlsFiles,
    channel_credentials,
    ensure_tls,
    is_loopback,
    load_tls_config,
    server_credentials,
    tls_config_from_env,
)

HOSTS = ["127.0.0.1", "::1"]


def _all_files(files: TlsFiles) -> list[Path]:
    return [files.ca, files.ca_key, *(p for s in SERVICES for p in (files.cert(s), files.key(s)))]


def _contents(files: TlsFiles) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in _all_files(files)}


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_tls_creates_a_ca_and_a_certificate_per_service_readable_only_by_the_owner(
    tmp_path: Path,
) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    assert files.directory == tmp_path / "tls"
    assert _mode(files.directory) == 0o700
    assert sorted(p.name for p in files.directory.iterdir()) == sorted(p.name for p in _all_files(files))
    for path in _all_files(files):
        assert _mode(path) == 0o600, path.name
    ca = _cert(files.ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=9 * 365)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_certificate_names_the_service_and_serves_and_authenticates(
    tmp_path: Path, service: str
) -> None:
    files = ensure_tls(tmp_path, hosts=[*HOSTS, "kaohe.example.gov.cn"])
    cert = _cert(files.cert(service))
    cert.verify_directly_issued_by(_cert(files.ca))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == service
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", service, "kaohe.example.gov.cn"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=700) < lifetime < dt.timedelta(days=740)
    key = serialization.load_pem_private_key(files.key(service).read_bytes(), password=None)
    assert key.public_key() == cert.public_key()


def test_ensure_tls_is_idempotent_and_restores_the_modes(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    before = _contents(files)
    files.cert("tasks").chmod(0o644)
    files.directory.chmod(0o755)
    again = ensure_tls(tmp_path, hosts=HOSTS)
    assert again == files
    assert _contents(again) == before
    assert _mode(files.cert("tasks")) == 0o600
    assert _mode(files.directory) == 0o700


def test_other_hosts_reissue_the_service_certificates_under_the_same_ca(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    before = _contents(files)
    ensure_tls(tmp_path, hosts=[*HOSTS, "10.0.0.5"])
    after = _contents(files)
    assert after[files.ca] == before[files.ca]
    for service in SERVICES:
        assert after[files.cert(service)] != before[files.cert(service)]
        san = _cert(files.cert(service)).extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert ipaddress.ip_address("10.0.0.5") in san.value.get_values_for_type(x509.IPAddress)


def _reissue_short_lived(files: TlsFiles, service: str, *, days: int) -> None:
    """Replaces a service's certificate with one from the same CA that expires in `days`."""
    ca_cert = _cert(files.ca)
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    old = _cert(files.cert(service))
    key = serialization.load_pem_private_key(files.key(service).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=700))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    for extension in old.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    files.cert(service).write_bytes(
        builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )


def test_a_certificate_near_expiry_is_reissued_and_the_others_stay(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    _reissue_short_lived(files, "scoring", days=10)
    before = _contents(files)
    ensure_tls(tmp_path, hosts=HOSTS)
    after = _contents(files)
    assert after[files.cert("scoring")] != before[files.cert("scoring")]
    assert _cert(files.cert("scoring")).not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=700)
    assert after[files.cert("tasks")] == before[files.cert("tasks")]
    assert after[files.ca] == before[files.ca]


def test_a_certificate_with_months_left_is_kept(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    _reissue_short_lived(files, "scoring", days=90)
    before = _contents(files)
    ensure_tls(tmp_path, hosts=HOSTS)
    assert _contents(files) == before


def test_a_certificate_of_another_ca_is_reissued(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path / "a", hosts=HOSTS)
    other = ensure_tls(tmp_path / "b", hosts=HOSTS)
    files.cert("gateway").write_bytes(other.cert("gateway").read_bytes())
    files.key("gateway").write_bytes(other.key("gateway").read_bytes())
    ensure_tls(tmp_path / "a", hosts=HOSTS)
    _cert(files.cert("gateway")).verify_directly_issued_by(_cert(files.ca))


def test_a_certificate_under_another_service_name_is_reissued(tmp_path: Path) -> None:
    """Copying the gateway's files over the tasks service's must not let tasks speak as the gateway."""
    files = ensure_tls(tmp_path, hosts=HOSTS)
    files.cert("tasks").write_bytes(files.cert("gateway").read_bytes())
    files.key("tasks").write_bytes(files.key("gateway").read_bytes())
    ensure_tls(tmp_path, hosts=HOSTS)
    cert = _cert(files.cert("tasks"))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "tasks"


def test_a_lost_ca_key_makes_a_new_ca_and_reissues_everything(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    before = _contents(files)
    files.ca_key.unlink()
    ensure_tls(tmp_path, hosts=HOSTS)
    after = _contents(files)
    assert after[files.ca] != before[files.ca]
    for service in SERVICES:
        _cert(files.cert(service)).verify_directly_issued_by(_cert(files.ca))
        assert after[files.key(service)] != before[files.key(service)]


def test_a_damaged_key_is_replaced(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    files.key("tasks").write_bytes(b"not a key")
    ensure_tls(tmp_path, hosts=HOSTS)
    key = serialization.load_pem_private_key(files.key("tasks").read_bytes(), password=None)
    assert key.public_key() == _cert(files.cert("tasks")).public_key()


def test_files_name_only_the_three_services(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown service"):
        TlsFiles(tmp_path).cert("billing")


def test_tls_config_from_env_none_when_unset_ca_alone_for_people_all_three_for_a_service(
    tmp_path: Path,
) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    assert tls_config_from_env({}) is None
    assert tls_config_from_env({"KAOHE_TLS_CA": str(files.ca)}) == TlsConfig(ca=files.ca)
    env = {
        "KAOHE_TLS_CA": str(files.ca),
        "KAOHE_TLS_CERT": str(files.cert("tasks")),
        "KAOHE_TLS_KEY": str(files.key("tasks")),
    }
    assert tls_config_from_env(env) == files.config("tasks")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("KAOHE_TLS_CERT", "KAOHE_TLS_KEY"), "还须有签发它们的 CA：KAOHE_TLS_CA"),
        (("KAOHE_TLS_CA", "KAOHE_TLS_CERT"), "KAOHE_TLS_CERT 和 KAOHE_TLS_KEY 须同时设置"),
        (("KAOHE_TLS_CA", "KAOHE_TLS_KEY"), "KAOHE_TLS_CERT 和 KAOHE_TLS_KEY 须同时设置"),
    ],
)
def test_tls_config_from_env_refuses_an_incomplete_set(
    tmp_path: Path, names: tuple[str, ...], message: str
) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    paths = {
        "KAOHE_TLS_CA": files.ca,
        "KAOHE_TLS_CERT": files.cert("tasks"),
        "KAOHE_TLS_KEY": files.key("tasks"),
    }
    with pytest.raises(ConfigError, match=message):
        tls_config_from_env({name: str(paths[name]) for name in names})


def test_load_tls_config_names_the_file_that_is_wrong(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path / "a", hosts=HOSTS)
    other = ensure_tls(tmp_path / "b", hosts=HOSTS)
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ConfigError, match=r"nowhere\.pem"):
        load_tls_config(ca=missing)
    with pytest.raises(ConfigError, match=r"TLS 私钥 .*不配对"):
        load_tls_config(ca=files.ca, cert=files.cert("tasks"), key=files.key("scoring"))
    with pytest.raises(ConfigError, match=r"不是由 CA .* 签发的"):
        load_tls_config(ca=files.ca, cert=other.cert("tasks"), key=other.key("tasks"))
    with pytest.raises(ConfigError, match=r"TLS 证书 .*不是所需类型的 PEM 文件"):
        load_tls_config(ca=files.ca, cert=files.key("tasks"), key=files.key("tasks"))
    with pytest.raises(ConfigError, match="须成对给出"):
        TlsConfig(ca=files.ca, cert=files.cert("tasks"))


def test_a_server_needs_its_own_certificate_a_client_may_go_without(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, hosts=HOSTS)
    with pytest.raises(ConfigError, match="须有自己的证书和私钥"):
        server_credentials(files.config(None), require_client_auth=True)
    assert channel_credentials(files.config(None)) is not None
    assert server_credentials(files.config("tasks"), require_client_auth=True) is not None


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50050", True),
        ("127.0.0.2:50050", True),
        ("[::1]:50050", True),
        ("localhost:50050", True),
        ("LOCALHOST:1", True),
        ("localhost", True),
        ("::1", True),
        ("[::ffff:127.0.0.1]:50050", True),
        ("dns:///localhost:50050", True),
        ("0.0.0.0:50050", False),
        ("[::]:50050", False),
        (":50050", False),
        ("10.0.0.5:50050", False),
        ("[2001:db8::1]:50050", False),
        ("tasks:50051", False),
        ("localhost.evil.example:50050", False),
        ("", False),
        ("[]:50050", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback
