"""`kaohe` commands as processes forked from one that imported the command line once (no import per call)."""

from __future__ import annotations

import atexit
import json
import locale
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# The forking process: it imports the command line, then for each request forks a child that takes the
# request's arguments, environment, directory and standard streams and exits as `kaohe` would. It never
# opens a channel or starts a thread itself, so each child starts gRPC afresh, as a new process does.
_FORKER = r"""
import json, os, sys
import services.cli.main as cli

replies = os.fdopen(int(sys.argv[1]), "w")
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        replies.close()
        for fd, path, flags in ((0, request["stdin"], os.O_RDONLY), (1, request["out"], os.O_WRONLY),
                                (2, request["err"], os.O_WRONLY)):
            opened = os.open(path, flags)
            os.dup2(opened, fd)
            os.close(opened)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = request["argv"]
        # As the `kaohe` script ends: the exit code, or a traceback and 1, at the interpreter's exit.
        sys.exit(cli.main())
    replies.write(json.dumps(pid) + "\n")
    replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps(os.waitstatus_to_exitcode(status)) + "\n")
    replies.flush()
"""


class ForkedCli:
    """One forking process for this pytest worker; calls are taken one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._replies = -1
        self._buffer = b""

    def _start(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        read, write = os.pipe()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAOHE_")}
        self._process = subprocess.Popen(
            [sys.executable, "-c", _FORKER, str(write)],
            stdin=subprocess.PIPE,
            text=True,
            env=env,
            pass_fds=(write,),
        )
        os.close(write)
        if self._replies >= 0:
            os.close(self._replies)
        else:
            atexit.register(self.close)
        self._replies, self._buffer = read, b""
        return self._process

    def _read_line(self, deadline: float) -> str | None:
        """A line the forking process wrote; None when none came by the deadline (or it is gone)."""
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                return None
            chunk = os.read(self._replies, 4096)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=30)

    def run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        input: str | None = None,
        cwd: Path | str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """As subprocess.run(argv, env=env, cwd=cwd, input=input, capture_output=True, text=True,
        timeout=timeout)."""
        with self._lock, tempfile.TemporaryDirectory(prefix="kaohe-cli-") as tmp:
            folder = Path(tmp)
            stdin = folder / "stdin"
            stdin.write_bytes(_encode(input or ""))
            out, err = folder / "out", folder / "err"
            out.touch()
            err.touch()
            process = self._start()
            assert process.stdin is not None
            request = {
                "argv": list(argv),
                "env": dict(env),
                "cwd": str(cwd or os.getcwd()),
                "stdin": str(stdin) if input is not None else os.devnull,
                "out": str(out),
                "err": str(err),
            }
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            deadline = time.monotonic() + timeout
            pid = int(json.loads(self._read_line(deadline) or "0"))
            reply = self._read_line(deadline) if pid else None
            if reply is None:
                assert process.poll() is None, f"the forking process exited {process.returncode}"
                if pid:
                    os.kill(pid, signal.SIGKILL)
                process.kill()
                process.wait()
                raise subprocess.TimeoutExpired(list(argv), timeout)
            code = int(json.loads(reply))
            return subprocess.CompletedProcess(
                list(argv), code, _decode(out.read_bytes()), _decode(err.read_bytes())
            )


def _encode(text: str) -> bytes:
    return text.encode(locale.getpreferredencoding(False))


def _decode(data: bytes) -> str:
    # As subprocess.run(text=True) reads a child's output: the locale's encoding, universal newlines.
    return data.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


FORKED = ForkedCli()
