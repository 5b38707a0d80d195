"""The `kaohe` command line: serve the stack, and drive it through the gateway."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import grpc

from services.cli.client import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, Refused, Usage
from services.cli.commands import register_all
from services.cli.options import HELP, common_options
from services.common import settings, status
from services.common.errors import DomainError


def parser() -> argparse.ArgumentParser:
    """The whole command line: every group's subcommands on one parser."""
    top = argparse.ArgumentParser(prog="kaohe", description="考核 — 年度目标责任考核系统", add_help=False)
    top.add_argument("-h", "--help", action="help", help=HELP)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND", title="命令")
    register_all(commands, common_options())
    return top


def _fail(code: int, message: str) -> NoReturn:
    print(f"错误：{message}", file=sys.stderr)
    sys.exit(code)


def _explain(exc: grpc.RpcError) -> str:
    """The refusal's message, and its field violations when there are several."""
    parts = [exc.details() or exc.code().name]
    lines = [f"  {v.field}: {v.description}" for v in status.field_violations(exc)]
    if len(lines) > 1:
        parts.append("\n".join(lines))
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except grpc.RpcError as exc:
        code = exc.code()
        if code in status.UNREACHABLE:
            _fail(EXIT_UNREACHABLE, f"服务不可达（{code.name}）：{exc.details()}")
        _fail(EXIT_REFUSED, f"{status.LABELS.get(code.name, code.name)}：{_explain(exc)}")
    except Usage as exc:
        _fail(EXIT_USAGE, f"{exc}（kaohe {args.command} --help）")
    except (Refused, DomainError) as exc:
        _fail(EXIT_REFUSED, str(exc))
    except BrokenPipeError:
        # The reader (head, less) has gone; what it did not read is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except settings.ConfigError as exc:
        _fail(EXIT_REFUSED, str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
