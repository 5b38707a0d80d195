"""Loopback addresses, and the record that tells `kaohe serve`'s own user which CA its stack has."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from services.common.files import replace_private

__all__ = ["is_loopback", "record_trust", "trust_record"]


def is_loopback(address: str) -> bool:
    """Whether a listen or dial address stays on this machine (`--plaintext` is allowed only there).

    Names other than localhost are not resolved: what they resolve to can change after the check.
    """
    host = _host_of(address)
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _host_of(address: str) -> str | None:
    """The host of `host:port`, `[v6]:port`, a bare host or `dns:///host:port`; None when there is none."""
    text = address.strip()
    for scheme in ("dns:///", "ipv4:", "ipv6:"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
    if text.startswith("["):
        end = text.find("]")
        return (text[1:end] or None) if end > 0 else None
    if text.count(":") == 1:
        text = text.rsplit(":", 1)[0]
    return text or None


def trust_record(address: str) -> Path | None:
    """Where `kaohe serve` leaves, for this user, the CA of the stack it runs on a loopback port.

    The command line reads it when nothing else names a CA, so a stack started with any --data-dir
    is trusted by its own user's commands; a stack another user started on that port fails the check.
    """
    host = _host_of(address)
    port = address.strip().rsplit(":", 1)[-1]
    if host is None or not is_loopback(address) or not port.isdigit():
        return None
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kaohe" / f"ca-loopback-{int(port)}.pem"


def record_trust(address: str, ca: Path) -> Path | None:
    """Leaves a copy of ca where `trust_record` finds it (0600 in a 0700 directory); None if not loopback."""
    path = trust_record(address)
    if path is None:
        return None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    replace_private(path, ca.read_bytes())
    return path
