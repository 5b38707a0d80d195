"""A supervisor's stop: its workers' folder goes with it, however the stop went."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.cli import serve
from services.common import workers
from tests.e2e.ports import free_ports

# A supervisor of two workers that listen on the port; its /metrics stop fails.
SUPERVISOR = """
import sys
from services.common import workers

def metrics(folder):
    def stop():
        raise RuntimeError("the metrics server would not stop")
    return stop

worker = [sys.executable, "-c", "import socket, time\\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\\n"
          "s.bind(('127.0.0.1', %d)); s.listen()\\n"
          "time.sleep(600)"]
sys.exit(workers.supervise("probe", 2, worker, address=("127.0.0.1", %d), metrics=metrics))
"""


def test_the_folder_goes_even_when_the_metrics_stop_fails(tmp_path: Path) -> None:
    port = free_ports()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR % (port, port)],
        env=env,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        for _ in range(400):
            folders = list(tmp_path.glob("kaohe-probe-workers-*"))
            found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
            if folders and len(found.stdout.split()) == 2:
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.05)
        else:
            raise AssertionError("the two workers did not start")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.stderr is not None and "would not stop" in process.stderr.read().decode()
    assert list(tmp_path.glob("kaohe-probe-workers-*")) == []


def test_serve_waits_longer_than_a_supervisor_does_for_its_workers() -> None:
    # Else serve kills a supervisor in the middle of its stop, and the workers' folder is left behind.
    assert serve.STOP_SECONDS >= workers.STOP_SECONDS + 3
