"""How commands declare themselves: Chinese summaries and help, choices given as a code or its label."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from services.common.settings import DEFAULT_GATEWAY
from services.common.vocabulary import Terms, code_of

Commands = argparse._SubParsersAction  # type: ignore[type-arg]
HELP = "显示本帮助并退出"


def common_options() -> argparse.ArgumentParser:
    """The options of every command that talks to the gateway."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--gateway",
        metavar="HOST:PORT",
        help=f"网关地址（环境变量 KAOHE_GATEWAY，默认 {DEFAULT_GATEWAY}）",
    )
    common.add_argument(
        "--token", help="访问令牌（环境变量 KAOHE_TOKEN；不给时用数据目录的密钥自签考核办令牌）"
    )
    common.add_argument("--data-dir", help="服务的数据目录，自签令牌时读取其中的密钥（默认 ./var）")
    common.add_argument("--json", action="store_true", help="输出一个 JSON 文档")
    common.add_argument("--plaintext", action="store_true", help="不用 TLS 连接网关（仅限本机回环地址）")
    return common


def command(
    commands: Commands, name: str, summary: str, *, common: argparse.ArgumentParser | None = None
) -> argparse.ArgumentParser:
    """A subcommand with its Chinese summary (in the list of commands and atop its own help)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=summary,
        parents=[common] if common is not None else [],
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="help", help=HELP)
    return parser


def group(commands: Commands, name: str, summary: str) -> Commands:
    """A command with subcommands of its own (kaohe tasks list, kaohe tasks show …)."""
    parser = command(commands, name, summary)
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION", title="子命令")


def listed(terms: Terms) -> str:
    """The codes of a table with their labels, for a help text: blue（蓝）｜yellow（黄）…"""
    return "｜".join(f"{code}（{label}）" for code, label in terms.items())


def term(terms: Terms, *, what: str, open_ended: bool = False) -> Callable[[str], str]:
    """An argument type taking a code or its Chinese label and giving the code.

    open_ended passes any other text on unchanged (for filters the services check themselves).
    """

    def parse(text: str) -> str:
        code = code_of(terms, text)
        if code is not None:
            return code
        if open_ended:
            return text
        raise argparse.ArgumentTypeError(f"{text!r} 不是{what}；可选 {listed(terms)}")

    parse.__name__ = what
    return parse
