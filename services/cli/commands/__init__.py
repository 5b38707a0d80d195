"""The `kaohe` subcommands, one module per group; each registers its own on the parser."""

from __future__ import annotations

import argparse
from types import ModuleType

from services.cli.commands import (
    accounts,
    appeals,
    assess,
    attachments,
    bulletin,
    calendar,
    extensions,
    ledger,
    ledger_book,
    persons,
    records,
    results,
    serving,
    tasks,
    units,
    views,
)
from services.cli.options import Commands

MODULES: tuple[ModuleType, ...] = (
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
# Appended rather than placed: other groups are being added to the tuple above at the same time.
MODULES += (persons, results)
MODULES += (attachments,)


def register_all(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Every group's subcommands, in the order `kaohe --help` lists them."""
    for module in MODULES:
        module.register(commands, common)
