"""`crosshedge risk` with perp accounts in the book: the Perps table (market, chain, size, entry, mark, margin,
liquidation price, distance, funding), ``report.perps`` in ``--json``, and the stress grid's liquidations. The chain
reads are replaced by a small book and fixed marks (as in test_cli_risk.py); aggregate, stress and output run for
real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from adapters import PerpPosition, SpotPosition
from crosshedge.cli import app
from crosshedge.cli import risk as risk_cli
from tests.unit.orchestrator.stage_helpers import ROUTER, USDC, WALLET, WETH

#: 10 ETH of spot hedged by a 10 ETH short on Curie with $6,000 of collateral: liquidated near +13 %.
HEDGE = PerpPosition(underlying="ETH", size=-10.0, open_notional=30_000.0, collateral_usd=6_000.0,
                     daily_funding_rate=0.0004, chain="optimism", market="vETH", block_number=7)
SPOT = SpotPosition(chain="ethereum", symbol="WETH", address=WETH, underlying="ETH", amount=10.0, raw=10 * 10**18,
                    wallet=WALLET, block_number=9)


class _Snap:
    def venue_states(self) -> list[Any]:
        return []


def _config(tmp_path: Path) -> Path:
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
    return path


def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, book: list[Any]) -> Path:
    monkeypatch.setattr(risk_cli, "connect_all", lambda cfg, timeout: ({}, []))
    monkeypatch.setattr(risk_cli, "take_snapshot", lambda cfg, connections, registry: _Snap())
    monkeypatch.setattr(risk_cli, "read_positions", lambda cfg, snap, connections, registry, now: (book, []))
    monkeypatch.setattr(risk_cli, "marks_from_venues", lambda states: {"ETH": 3000.0})
    monkeypatch.setattr(risk_cli, "venue_costs", lambda snap: {})
    return _config(tmp_path)


def _invoke(config: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["risk", "--config", str(config), *args], env={"COLUMNS": "250"})


@pytest.fixture
def hedged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return _offline(monkeypatch, tmp_path, [SPOT, HEDGE])


def test_the_risk_table_shows_a_perps_table(hedged: Path) -> None:
    out = _invoke(hedged)
    assert out.exit_code == 0, out.output
    assert "perps: margin at the book's mark" in out.stdout
    for header in ("market", "liq. price", "distance", "funding $/day", "survives ±40%"):
        assert header in out.stdout
    row = next(line for line in out.stdout.splitlines() if "vETH" in line and "optimism" in line)
    # size, entry, mark, margin 6,000/30,000, liquidation price 36,000/10.625, distance, funding −10·3,000·0.0004
    for cell in ("-10.00", "3,000.00", "20.0%", "3,388.24", "+12.9%", "-12.00", "no"):
        assert cell in row, row
    assert "perp_curie" in out.stdout  # its own source line in the Greeks table


def test_json_carries_the_perp_lines(hedged: Path) -> None:
    out = _invoke(hedged, "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)["report"]
    (line,) = report["perps"]
    assert line["id"] == "optimism:vETH" and line["liquidation_price"] == pytest.approx(36_000.0 / 10.625)
    assert line["survives_stress"] is False and line["funding_day_usd"] == pytest.approx(-12.0)
    assert report["cash_usd"] == pytest.approx(6_000.0)
    eth = next(u for u in report["underlyings"] if u["underlying"] == "ETH")
    assert eth["delta"] == pytest.approx(0.0)


def test_the_stress_grid_marks_the_cells_that_liquidate_the_hedge(hedged: Path) -> None:
    out = _invoke(hedged, "--stress", "--json")
    assert out.exit_code == 0, out.output
    cells = json.loads(out.stdout)["stress"]["cells"]
    gone = {c["price_shock"] for c in cells if c["liquidated"]}
    assert gone == {0.2, 0.4}
    assert all(c["liquidated"] == ["optimism:vETH"] for c in cells if c["price_shock"] in gone)
    table = _invoke(hedged, "--stress")
    assert table.exit_code == 0, table.output
    assert "liq at +20%: optimism:vETH" in table.stdout
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if line.count("│") > 2}
    assert rows["+40%"].count("liq") == 5 and rows["+20%"].count("liq") == 5 and "liq" not in rows["+10%"]


def test_no_perps_table_without_perps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = _invoke(_offline(monkeypatch, tmp_path, [SPOT]))
    assert out.exit_code == 0, out.output
    assert "perps:" not in out.stdout
