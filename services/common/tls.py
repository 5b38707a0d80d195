"""A private CA and certificates for mutual TLS between the services, and gRPC credentials on them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.common.files import replace_private
from services.common.loopback import is_loopback as is_loopback
from services.common.loopback import record_trust as record_trust
from services.common.loopback import trust_record as trust_record
from services.common.settings import ConfigError

SERVICES = ("gateway", "tasks", "scoring")
CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=730)
# Reissued this long before expiry, so a stack restarted now and then never meets an expired certificate.
CA_RENEW_BEFORE = dt.timedelta(days=180)
LEAF_RENEW_BEFORE = dt.timedelta(days=30)
# Backdated so that a peer whose clock is a little behind accepts a certificate issued a moment ago.
CLOCK_SKEW = dt.timedelta(minutes=5)
ENV_CA = "KAOHE_TLS_CA"
ENV_CERT = "KAOHE_TLS_CERT"
ENV_KEY = "KAOHE_TLS_KEY"
_ORGANIZATION = "Kaohe"


@dataclass(frozen=True)
class TlsConfig:
    """The PEM files one process needs: the CA it trusts, and its own certificate and key (if any)."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ConfigError("TLS 证书和私钥须成对给出")


@dataclass(frozen=True)
class TlsFiles:
    """The certificates `ensure_tls` keeps in DIR/tls/: the CA and one certificate per service."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    def cert(self, service: str) -> Path:
        return self.directory / f"{_known(service)}.pem"

    def key(self, service: str) -> Path:
        return self.directory / f"{_known(service)}-key.pem"

    def config(self, service: str | None) -> TlsConfig:
        """A service's files (it serves and presents its certificate), or the CA alone (people's clients)."""
        if service is None:
            return TlsConfig(ca=self.ca)
        return TlsConfig(ca=self.ca, cert=self.cert(service), key=self.key(service))


def _known(service: str) -> str:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    return service


def ensure_tls(directory: Path, *, hosts: Sequence[str] = ()) -> TlsFiles:
    """DIR/tls/ with a CA and a certificate per service, created once and reissued when stale."""
    files = TlsFiles(directory / "tls")
    files.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(files.directory, 0o700)
    now = dt.datetime.now(dt.UTC)
    ca = _load_ca(files, now)
    fresh_ca = ca is None
    if ca is None:
        ca = _issue_ca(now)
        replace_private(files.ca_key, _key_pem(ca[1]))
        replace_private(files.ca, ca[0].public_bytes(serialization.Encoding.PEM))
    ca_cert, ca_key = ca
    names = _subject_names(hosts)
    for service in SERVICES:
        if not fresh_ca and _leaf_usable(files, service, ca_cert, names, now):
            continue
        cert, key = _issue_leaf(service, names=[service, *names], ca_cert=ca_cert, ca_key=ca_key, now=now)
        replace_private(files.key(service), _key_pem(key))
        replace_private(files.cert(service), cert.public_bytes(serialization.Encoding.PEM))
    for path in (files.ca, files.ca_key, *(p for s in SERVICES for p in (files.cert(s), files.key(s)))):
        os.chmod(path, 0o600)
    return files


def _subject_names(hosts: Sequence[str]) -> list[str]:
    """localhost and the given hosts, each once, in a stable order (so an unchanged list reissues nothing)."""
    names: list[str] = []
    for host in ("localhost", *hosts):
        name = host.strip().strip("[]")
        if name and name not in names:
            names.append(name)
    return names


def _load_ca(files: TlsFiles, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The CA on disk when it is whole, matches its key and is far from expiry."""
    try:
        cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    if cert.not_valid_after_utc - now < CA_RENEW_BEFORE:
        return None
    return cert, key


def _leaf_usable(
    files: TlsFiles, service: str, ca_cert: x509.Certificate, names: list[str], now: dt.datetime
) -> bool:
    """Whether a service's certificate on disk can stay: whole, issued by this CA, current, same names."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert(service).read_bytes())
        key = serialization.load_pem_private_key(files.key(service).read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm, InvalidSignature, x509.ExtensionNotFound):
        return False
    present = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    present |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    wanted = {str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in [service, *names]}
    common_names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return (
        key.public_key() == cert.public_key()
        and common_names == [service]
        and cert.not_valid_after_utc - now >= LEAF_RENEW_BEFORE
        and present == wanted
    )


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _issue_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, "Kaohe private CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue_leaf(
    service: str,
    *,
    names: list[str],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """One certificate a service both serves with and presents as a client: its name is the CN."""
    key = ec.generate_private_key(ec.SECP256R1())
    alternatives: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        if _is_ip(name):
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        else:
            alternatives.append(x509.DNSName(name))
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, service),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_tls_config(
    *, ca: str | Path, cert: str | Path | None = None, key: str | Path | None = None
) -> TlsConfig:
    """A TlsConfig from explicit PEM paths, checked now: readable, parseable, the key fits the certificate."""
    config = TlsConfig(
        ca=Path(ca), cert=Path(cert) if cert is not None else None, key=Path(key) if key is not None else None
    )
    try:
        ca_cert = x509.load_pem_x509_certificate(config.ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"TLS CA {config.ca}：{_reason(exc)}") from None
    if config.cert is None or config.key is None:
        return config
    try:
        own = x509.load_pem_x509_certificate(config.cert.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"TLS 证书 {config.cert}：{_reason(exc)}") from None
    try:
        private = serialization.load_pem_private_key(config.key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"TLS 私钥 {config.key}：{_reason(exc)}") from None
    if private.public_key() != own.public_key():
        raise ConfigError(f"TLS 私钥 {config.key} 与证书 {config.cert} 不配对")
    try:
        own.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise ConfigError(f"TLS 证书 {config.cert} 不是由 CA {config.ca} 签发的") from None
    return config


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or "无法读取"
    return "不是所需类型的 PEM 文件"


def tls_config_from_env(environ: dict[str, str] | None = None) -> TlsConfig | None:
    """KAOHE_TLS_CA (+ KAOHE_TLS_CERT and KAOHE_TLS_KEY for a service), or None when none is set."""
    env = dict(os.environ) if environ is None else environ
    ca, cert, key = (env.get(name) or None for name in (ENV_CA, ENV_CERT, ENV_KEY))
    if ca is None:
        if cert is not None or key is not None:
            raise ConfigError(f"{ENV_CERT} 和 {ENV_KEY} 还须有签发它们的 CA：{ENV_CA}")
        return None
    if (cert is None) != (key is None):
        raise ConfigError(f"{ENV_CERT} 和 {ENV_KEY} 须同时设置，或都不设")
    return load_tls_config(ca=ca, cert=cert, key=key)


def server_credentials(tls: TlsConfig, *, require_client_auth: bool) -> grpc.ServerCredentials:
    """What a service listens with: its certificate; with require_client_auth, only clients of this CA."""
    if tls.cert is None or tls.key is None:
        raise ConfigError("服务须有自己的证书和私钥，只有 CA 不够")
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=tls.ca.read_bytes(),
        require_client_auth=require_client_auth,
    )


def channel_credentials(tls: TlsConfig) -> grpc.ChannelCredentials:
    """What a client connects with: the CA it trusts, and its certificate when it has one (mutual TLS)."""
    if tls.cert is None or tls.key is None:
        return grpc.ssl_channel_credentials(root_certificates=tls.ca.read_bytes())
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca.read_bytes(),
        private_key=tls.key.read_bytes(),
        certificate_chain=tls.cert.read_bytes(),
    )


def peer_service(context: grpc.ServicerContext) -> str | None:
    """The calling service named by its verified client certificate, or None without one.

    Only a server started with require_client_auth verifies the certificate a client presents; without
    it gRPC asks for none, so this is None rather than a name anybody could have written.
    """
    # The stubs type the values as bytes; grpc gives a list of bytes per property.
    auth: Mapping[str, Any] = context.auth_context()
    if list(auth.get("transport_security_type") or ()) != [b"ssl"]:
        return None
    names = list(auth.get("x509_common_name") or ())
    if len(names) != 1 or not isinstance(names[0], bytes):
        return None
    name = names[0].decode("utf-8", "replace")
    return name if name in SERVICES else None
