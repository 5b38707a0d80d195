"""Free loopback ports for daemons the end-to-end tests start.

Ports are drawn below the kernel's ephemeral range, so they cannot collide with the
ports the in-process test servers (bound to :0) and every outgoing connection take
while another pytest worker runs. A port that was free when probed can still be taken
before the daemon binds it; callers that start daemons retry on that.
"""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20000, 32000  # Linux's ephemeral range starts at 32768.
_drawn: set[int] = set()


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(offsets: tuple[int, ...] = (0,)) -> int:
    """A base N such that N + each offset is free on loopback and not handed out before."""
    chooser = random.Random()
    for _ in range(200):
        base = chooser.randrange(LOW, HIGH - max(offsets))
        ports = {base + offset for offset in offsets}
        if ports & _drawn:
            continue
        if all(_free(port) for port in ports):
            _drawn.update(ports)
            return base
    raise RuntimeError(f"no free ports between {LOW} and {HIGH}")


def free_port() -> int:
    return free_ports()


def free_port_base() -> int:
    """A base N with N..N+2 (gRPC) and N+10..N+12 (/metrics) free, as `kaohe serve --port-base` wants."""
    return free_ports((0, 1, 2, 10, 11, 12))
