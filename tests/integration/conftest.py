"""Fixtures the integration modules share: the stack with the worked example, or with the units alone."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.integration.test_tasks_loop import UNITS, jsonl


@pytest.fixture
def example(stack: Stack, example_ledger: bytes) -> Stack:
    """The stack with the worked example's ledger (tests/data/ledger.jsonl) imported."""
    stack.import_ledger(example_ledger)
    return stack


@pytest.fixture
def units(stack: Stack) -> Stack:
    """The stack with the units of the closed-loop tests (test_tasks_loop.UNITS) and nothing else."""
    stack.import_ledger(jsonl(UNITS))
    return stack


@pytest.fixture(scope="module")
def units_once(module_stack: Stack) -> Stack:
    """units, once for a module's tests that each touch only tasks of their own."""
    module_stack.import_ledger(jsonl(UNITS))
    return module_stack
