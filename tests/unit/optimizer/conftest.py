"""Fixtures for the optimizer's unit tests."""

from __future__ import annotations

import pytest

from optimizer import HedgeProblem
from tests.unit.optimizer.helpers import make_problem


@pytest.fixture
def problem() -> HedgeProblem:
    return make_problem()
