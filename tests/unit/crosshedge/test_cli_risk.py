"""`crosshedge risk`: the expiry buckets, the lines' vega shares and the largest vega line, in the table and in
``--json``. The chain reads are replaced by the example book and fixed marks (the command's chain path is covered
against a real devnet in tests/integration); everything after them (aggregate, policy, output) runs for real."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from adapters.option_book import load_book
from crosshedge.cli import app
from crosshedge.cli import risk as risk_cli
from tests.unit.orchestrator.stage_helpers import ROUTER, USDC, WALLET, WETH

REPO = Path(__file__).resolve().parents[3]


class _Snap:
    def venue_states(self) -> list[Any]:
        return []


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A one-chain config (never connected to) and chain reads that return the example book."""
    data = {
        "chains": {"ethereum": {
            "chain_id": 1, "rpc_url": "http://127.0.0.1:9", "block_time_s": 12, "wallet": "ops",
            "tokens": {"WETH": {"address": WETH, "decimals": 18, "underlying": "ETH"},
                       "USDC": {"address": USDC, "decimals": 6, "underlying": "USD"}},
            "venues": {"v3": {"adapter": "uniswap_v3", "pool": "0x" + "c3" * 20, "router": ROUTER}},
        }},
        "wallets": {"ops": {"address": WALLET, "key_env": "UNIT_TEST_KEY"}},
    }
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(data))
    book = load_book(REPO / "examples" / "book.yaml", datetime.now(UTC))
    monkeypatch.setattr(risk_cli, "connect_all", lambda cfg, timeout: ({}, []))
    monkeypatch.setattr(risk_cli, "take_snapshot", lambda cfg, connections, registry: _Snap())
    monkeypatch.setattr(risk_cli, "read_positions", lambda cfg, snap, connections, registry, now: (book, []))
    monkeypatch.setattr(risk_cli, "marks_from_venues", lambda states: {"ETH": 3000.0, "BTC": 60000.0})
    monkeypatch.setattr(risk_cli, "venue_costs", lambda snap: {})
    return path


def _invoke(config: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["risk", "--config", str(config), *args], env={"COLUMNS": "250"})


def test_risk_json_carries_buckets_line_shares_and_the_top_vega_line(offline: Path) -> None:
    out = _invoke(offline, "--json")
    assert out.exit_code == 0, out.output
    eth = next(u for u in json.loads(out.stdout)["report"]["underlyings"] if u["underlying"] == "ETH")
    assert [b["bucket"] for b in eth["buckets"]] == ["0-7d", "7-30d", "30-90d", "90-180d"]
    assert sum(b["vega"] for b in eth["buckets"]) == pytest.approx(eth["vega"])
    assert sum(ln["delta"] for ln in eth["lines"]) == pytest.approx(eth["delta"])
    assert all("vega_share" in ln for ln in eth["lines"]) and eth["smile_dynamics"] == "sticky_delta"
    assert eth["top_vega"][0]["id"] == "eth-c-3000-60d" and eth["top_vega"][0]["vega_share"] > 0.7


def test_risk_table_shows_the_buckets_and_the_concentration(offline: Path) -> None:
    out = _invoke(offline)
    assert out.exit_code == 0, out.output
    assert "risk by expiry bucket" in out.stdout and "30-90d" in out.stdout
    assert "of net vega" in out.stdout and "eth-c-3000-60d" in out.stdout
