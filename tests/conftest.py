"""Fixtures every test may use: where the repo and the shared market data live."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# The workers' fixtures (`orch`, `fresh`) are a plugin so that every integration directory shares one session of them.
pytest_plugins = ["tests.integration.orchestra"]

REPO_ROOT = Path(__file__).resolve().parents[1]

# Property tests draw the same examples on every run: a suite that passes must pass again on a fresh clone (a rare
# random seed failing in CI would be a flake, not a finding). Explore new seeds locally with
# `--hypothesis-profile=explore`.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data next to the repo: real Binance/Bitstamp candles, read-only."""
    path = REPO_ROOT.parent / "shared" / "data"
    if not path.exists():
        pytest.skip(f"{path} is missing: the shared market data sits beside the repo in CI and dev machines")
    return path
