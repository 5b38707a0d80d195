"""The `kaohe` subcommands, one module per group; each registers its own on the parser."""

from __future__ import annotations

import argparse

from services.cli.commands import (
    accounts,
    appeals,
    assess,
    bulletin,
    calendar,
    extensions,
    ledger,
    ledger_book,
    records,
    serving,
    tasks,
    units,
    views,
)
from services.cli.options import Commands

MODULES = (
    serving,
    ledger,
    units,
    assess,
    tasks,
    records,
    appeals,
    views,
    bulletin,
    accounts,
    extensions,
    calendar,
    ledger_book,
)


def register_all(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Every group's subcommands, in the order `kaohe --help` lists them."""
    for module in MODULES:
        module.register(commands, common)
