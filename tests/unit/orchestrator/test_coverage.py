"""Risk is never computed from a partial book (orchestrator.coverage, through orchestrator.assess).

Two chains on an in-memory ledger: ``ethereum`` (WETH, WBTC, USDC; the venues that price ETH and BTC) and
``rootstock`` (WBTC and USDC only, gas paid in BTC; no venue), which holds 2 WBTC and a Uniswap V3 LP position in
range. An off-chain option book sells deep in-the-money BTC calls against everything the wallets hold, so the
whole book is BTC-flat: with rootstock's holdings left out, the book would look ~4 BTC short and the policy would
buy (the historic bug). ETH is left unhedged (100 WETH on ethereum) so its decision fires, and must stay exactly
as it is whatever happens to rootstock.

Nothing is mocked but the chains: the snapshot is built by hand, the positions are read through the real
``assess`` with a small chain-scoped position source (``HeldLp``), the real option book adapter and the real policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

import fakeredis
import pytest
import yaml
from pydantic import BaseModel, ConfigDict
from web3 import Web3

from adapters import (
    ENTRY_POINT_GROUP,
    AdapterRegistry,
    ChainContext,
    LpPosition,
    PositionScope,
    SpotPosition,
)
from crosshedge import AdapterError
from crosshedge.config import Config, parse_config
from optimizer import cp_state
from orchestrator import ChainSnapshot, Ledger, Snapshot
from orchestrator.assess import Assessment, assess
from orchestrator.coverage import Book, KnownPositions, PositionMemory, apply_coverage
from risk import Decision

NOW = 1_700_000_000.0
YEAR_S = 365.0 * 86_400.0
WALLET = "0x" + "e5" * 20
ETH_WETH, ETH_WBTC, ETH_USDC = "0x" + "a1" * 20, "0x" + "a2" * 20, "0x" + "a3" * 20
RSK_WBTC, RSK_USDC = "0x" + "b1" * 20, "0x" + "b2" * 20
ROUTER = "0x" + "d4" * 20
BOOK_VOL = 0.8  # the BTC option line's flat vol: the book's implied vol for BTC, which the widening uses

# rootstock's LP position: WBTC (8 decimals) / USDC (6), WBTC token0, ticks around 60,000 USD.
LP_LIQUIDITY, LP_TICKS = 3 * 10**10, (60_000, 68_000)
RSK_WBTC_HELD, ETH_WBTC_HELD, ETH_WETH_HELD = 2.0, 3.0, 100.0
DOWN = "chain rootstock: RPC ConnectionError while reading the snapshot: connection refused"


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class HeldLp:
    """A chain-scoped position source holding fixed LP positions per chain (chains in ``failing`` raise)."""

    name: ClassVar[str] = "held_lp"
    kind: ClassVar[Literal["positions"]] = "positions"
    config_model: ClassVar[type[BaseModel]] = NoSettings
    scope: ClassVar[PositionScope] = PositionScope.CHAIN
    by_chain: dict[str, list[LpPosition]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def read_positions(self, chain: ChainContext | None, config: BaseModel, block: int | None,
                       as_of: datetime) -> list[LpPosition]:
        assert chain is not None
        if chain.name in self.failing:
            raise AdapterError(f"chain {chain.name}: LP positions: the position manager could not be read")
        return list(self.by_chain.get(chain.name, []))


def rootstock_lp() -> LpPosition:
    return LpPosition(id="rootstock:7", chain="rootstock", token_id=7, position_manager="0x" + "c9" * 20,
                      underlying="BTC", quote_underlying="USD", token0=RSK_WBTC, token1=RSK_USDC, decimals0=8,
                      decimals1=6, risky_is_token0=True, fee=3000, tick_lower=LP_TICKS[0], tick_upper=LP_TICKS[1],
                      liquidity=LP_LIQUIDITY, tokens_owed0=0, tokens_owed1=0, block_number=7)


@dataclass
class World:
    tmp: Path
    lp: HeldLp
    registry: AdapterRegistry
    redis: fakeredis.FakeRedis

    @property
    def ledger(self) -> Ledger:
        """A ledger on the world's (in-memory) Redis: each call is another process's view of the same keys."""
        return Ledger(self.redis, prefix="m")

    def config(self, **execution: Any) -> Config:
        usdc = {"decimals": 6, "underlying": "USD"}
        data = {
            "chains": {
                "ethereum": {
                    "chain_id": 1, "rpc_url": "http://127.0.0.1:9", "block_time_s": 12, "wallet": "ops",
                    "tokens": {"WETH": {"address": ETH_WETH, "decimals": 18, "underlying": "ETH"},
                               "WBTC": {"address": ETH_WBTC, "decimals": 8, "underlying": "BTC"},
                               "USDC": {"address": ETH_USDC, **usdc}},
                    "venues": {name: {"adapter": "uniswap_v3", "pool": "0x" + pool * 20, "router": ROUTER}
                               for name, pool in (("v3_eth", "c1"), ("v3_eth_3000", "c2"), ("v3_btc", "c3"))},
                },
                "rootstock": {
                    "chain_id": 30, "rpc_url": "http://127.0.0.1:10", "block_time_s": 30, "wallet": "ops",
                    "gas": {"type": "legacy", "native_underlying": "BTC", "native_usd": 60_000.0},
                    "tokens": {"WBTC": {"address": RSK_WBTC, "decimals": 8, "underlying": "BTC"},
                               "USDC": {"address": RSK_USDC, **usdc}},
                },
            },
            "wallets": {"ops": {"address": WALLET, "key_env": "UNIT_TEST_KEY"}},
            "positions": {"book": {"adapter": "option_book", "settings": {"path": str(self.tmp / "book.yaml")}},
                          "lp": {"adapter": HeldLp.name, "settings": {}}},
            "execution": execution,
        }
        return parse_config(data, self.tmp / "chains.yaml", self.registry)

    def memory(self) -> PositionMemory:
        return PositionMemory(self.ledger)

    def assess(self, snap: Snapshot, config: Config | None = None, memory: PositionMemory | None = None
               ) -> Assessment:
        return assess(config or self.config(), self.registry, snap, {c: Web3() for c in snap.chains}, memory)


def spot(chain: str, symbol: str, address: str, underlying: str, amount: float, decimals: int) -> SpotPosition:
    return SpotPosition(chain=chain, symbol=symbol, address=address, underlying=underlying, amount=amount,
                        raw=int(amount * 10**decimals), wallet=WALLET, block_number=7)


def chain_snapshot(chain: str, at: float, **update: Any) -> ChainSnapshot:
    if chain == "ethereum":
        venues = (cp_state("ethereum", "v3_eth", "ETH", mid=3000.0, depth_usd=5e7, timestamp=int(at)),
                  cp_state("ethereum", "v3_eth_3000", "ETH", mid=3000.0, depth_usd=2e7, timestamp=int(at)),
                  cp_state("ethereum", "v3_btc", "BTC", mid=60_000.0, depth_usd=5e7, timestamp=int(at)))
        inventory = (spot("ethereum", "WETH", ETH_WETH, "ETH", ETH_WETH_HELD, 18),
                     spot("ethereum", "WBTC", ETH_WBTC, "BTC", ETH_WBTC_HELD, 8))
        fields: dict[str, Any] = {"chain_id": 1, "base_fee_wei": None, "gas_price_wei": 20 * 10**9,
                                  "native_underlying": "ETH", "native_usd": 3000.0,
                                  "swap_gas_usd": {v.venue: 5.0 for v in venues}, "venues": venues,
                                  "inventory": inventory}
    else:
        fields = {"chain_id": 30, "base_fee_wei": None, "gas_price_wei": 10**8, "native_underlying": "BTC",
                  "native_usd": 60_000.0, "swap_gas_usd": {}, "venues": (),
                  "inventory": (spot("rootstock", "WBTC", RSK_WBTC, "BTC", RSK_WBTC_HELD, 8),)}
    base = ChainSnapshot(chain=chain, block_number=7, block_timestamp=int(at), l1_data_fee_usd=0.0, **fields)
    return base.model_copy(update=update)


def full(at: float) -> Snapshot:
    return Snapshot(taken_at=at, chains={c: chain_snapshot(c, at) for c in ("ethereum", "rootstock")})


def rootstock_down(at: float) -> Snapshot:
    return Snapshot(taken_at=at, chains={"ethereum": chain_snapshot("ethereum", at)}, failed={"rootstock": DOWN})


def by_underlying(assessment: Assessment) -> dict[str, Decision]:
    return {d.underlying: d for d in assessment.decisions}


@pytest.fixture
def world(tmp_path: Path) -> World:
    """The two chains, with an option book written so that the whole book (every chain) is BTC-flat."""
    lp = HeldLp(by_chain={"rootstock": [rootstock_lp()]})
    eps = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    out = World(tmp=tmp_path, lp=lp, registry=AdapterRegistry(eps, {HeldLp.name: lp}),
                redis=fakeredis.FakeRedis(decode_responses=True))
    (tmp_path / "book.yaml").write_text(yaml.safe_dump({"positions": []}))
    held = by_underlying(out.assess(full(NOW)))["BTC"].net_delta  # wallets + LP, every chain
    # Deep in the money (delta 1 to 1e-9): short calls flatten the whole book's BTC delta.
    line = {"id": "btc-itm", "underlying": "BTC", "type": "call", "strike": 6000, "expiry": "90d",
            "size": -round(held, 6), "vol": BOOK_VOL, "venue": "test"}
    (tmp_path / "book.yaml").write_text(yaml.safe_dump({"positions": [line]}))
    return out


def reference(world: World, at: float) -> dict[str, Decision]:
    """The decisions from the whole book at ``at``: every chain read in full (and nothing remembered)."""
    return by_underlying(world.assess(full(at)))


def rootstock_btc_delta() -> float:
    """What rootstock holds in BTC delta, computed here from the LP formulas (WBTC token0, price in range)."""
    price, upper = 60_000.0, 1.0001 ** LP_TICKS[1] * 10 ** (8 - 6)
    liquidity = LP_LIQUIDITY * 10 ** (-(8 + 6) / 2)
    return RSK_WBTC_HELD + liquidity * (1 / math.sqrt(price) - 1 / math.sqrt(upper))


def test_the_whole_book_is_flat_and_rootstock_holds_enough_to_make_a_partial_book_trade(world: World) -> None:
    """The premise of every test below: leaving rootstock out would move BTC far outside its band."""
    btc = reference(world, NOW)["BTC"]
    assert not btc.trade and abs(btc.net_delta) < 1e-3, btc
    assert rootstock_btc_delta() > 3.0
    assert btc.net_delta - rootstock_btc_delta() < btc.lower - 1.0  # the partial book's net delta: a trade
    assert reference(world, NOW)["ETH"].trade  # ETH is unhedged: its decision fires


def test_a_chain_read_in_full_is_remembered_with_its_block_and_recalled(world: World) -> None:
    memory = world.memory()
    assert memory.recall("rootstock") is None
    world.assess(full(NOW), memory=memory)
    known = world.memory().recall("rootstock")  # another worker's ledger, the same Redis
    assert known == KnownPositions(chain="rootstock", at=NOW, block=7, spot=chain_snapshot("rootstock", NOW).inventory,
                                   lp=(rootstock_lp(),))
    eth = memory.recall("ethereum")
    assert eth is not None and {p.symbol for p in eth.spot} == {"WETH", "WBTC"} and eth.lp == ()
    world.assess(full(NOW + 5), memory=memory)
    assert (recalled := memory.recall("rootstock")) is not None and recalled.at == NOW + 5  # the latest read


def test_fresh_last_known_positions_stand_in_with_the_band_widened_by_two_sigma_times_gamma(world: World) -> None:
    memory = world.memory()
    world.assess(full(NOW), memory=memory)
    age = 60.0
    assessment = world.assess(rootstock_down(NOW + age), memory=memory)
    got, ref = by_underlying(assessment), reference(world, NOW + age)
    btc = got["BTC"]
    # The whole book's delta, not the partial one (which would be ~4 BTC short).
    assert btc.net_delta == pytest.approx(ref["BTC"].net_delta, abs=1e-9)
    # Two standard deviations of the price move over the positions' age, times the stale LP's gamma.
    mark = chain_snapshot("ethereum", NOW).venue("v3_btc").mid_price
    gamma = LP_LIQUIDITY * 10 ** (-(8 + 6) / 2) / (2 * mark**1.5)  # |d²V/dP²| of a V3 position in range
    widen = 2.0 * gamma * mark * BOOK_VOL * math.sqrt(age / YEAR_S)
    assert widen > 1e-3  # not a rounding error: the band really moves
    assert btc.lower == pytest.approx(ref["BTC"].lower - widen, rel=1e-9, abs=1e-12)
    assert btc.upper == pytest.approx(ref["BTC"].upper + widen, rel=1e-9, abs=1e-12)
    assert not btc.trade and btc.trade_units == 0.0
    assert "last-known positions" in btc.reason and "chain rootstock" in btc.reason, btc.reason
    assert "from block 7, 60 s old (limit 300 s)" in btc.reason and "connection refused" in btc.reason
    assert f"band widened by {widen:.4g}" in btc.reason
    assert got["ETH"] == ref["ETH"]  # rootstock holds no ETH: untouched
    assert assessment.book.stale == {"rootstock": age} and assessment.book.blocked == {}


def test_last_known_positions_stamped_ahead_of_the_snapshot_count_as_brand_new(world: World) -> None:
    """A memory stamped by a process whose clock runs ahead of this one (age < 0) counts as brand new."""
    memory = world.memory()
    world.assess(full(NOW + 10), memory=memory)
    btc = by_underlying(world.assess(rootstock_down(NOW), memory=memory))["BTC"]
    assert "0 s old" in btc.reason and not btc.trade
    assert btc.upper - btc.lower == pytest.approx(reference(world, NOW)["BTC"].upper
                                                  - reference(world, NOW)["BTC"].lower)


@pytest.mark.parametrize(("limit", "age", "stands_in"), [(300.0, 300.0, True), (300.0, 301.0, False),
                                                         (30.0, 60.0, False), (0.0, 1.0, False)])
def test_positions_older_than_max_position_age_block_what_the_chain_holds(
        world: World, limit: float, age: float, stands_in: bool) -> None:
    config = world.config(max_position_age_s=limit)
    memory = world.memory()
    world.assess(full(NOW), config, memory)
    assessment = world.assess(rootstock_down(NOW + age), config, memory)
    got, ref = by_underlying(assessment), reference(world, NOW + age)
    btc = got["BTC"]
    assert not btc.trade
    if stands_in:
        assert "last-known" in btc.reason and btc.net_delta == pytest.approx(ref["BTC"].net_delta, abs=1e-9)
        assert assessment.book.blocked == {}
    else:
        assert btc.reason.startswith("blocked: chain rootstock: ") and "connection refused" in btc.reason
        assert f"its last-known positions are {age:.0f} s old (limit {limit:g} s)" in btc.reason, btc.reason
        assert "no trade is planned" in btc.reason
        assert set(assessment.book.blocked) == {"BTC"}
        assert not any(getattr(p, "underlying", "") == "BTC" for p in assessment.book.positions)
    assert got["ETH"] == ref["ETH"] and got["ETH"].trade  # the other underlying is decided as before


@pytest.mark.parametrize("how", ["rpc", "inventory", "source"])
def test_a_chain_never_read_in_full_blocks_what_it_holds_and_nothing_else(world: World, how: str) -> None:
    """Unreadable three ways (RPC down, wallet inventory unknown, a position source failing), nothing remembered."""
    if how == "rpc":
        snap = rootstock_down(NOW)
    elif how == "inventory":
        unknown = chain_snapshot("rootstock", NOW, inventory=(), inventory_error="chain rootstock: balanceOf failed")
        snap = full(NOW).model_copy(update={"chains": {**full(NOW).chains, "rootstock": unknown}})
    else:
        world.lp.failing.add("rootstock")
        snap = full(NOW)
    memory = world.memory()
    assessment = world.assess(snap, memory=memory)
    got = by_underlying(assessment)
    world.lp.failing.clear()
    btc = got["BTC"]
    assert not btc.trade and btc.trade_units == 0.0
    assert btc.reason.startswith("blocked: chain rootstock: ") and "none known" in btc.reason, btc.reason
    assert set(assessment.book.blocked) == {"BTC"}
    assert got["ETH"] == reference(world, NOW)["ETH"]
    assert memory.recall("rootstock") is None  # nothing half-read is remembered as the chain's positions
    assert memory.recall("ethereum") is not None


def test_a_chain_that_holds_several_underlyings_blocks_them_all(world: World) -> None:
    """ethereum holds WETH and WBTC: unreadable and unknown, neither is traded (rootstock's BTC cannot stand alone)."""
    snap = Snapshot(taken_at=NOW, chains={"rootstock": chain_snapshot("rootstock", NOW)},
                    failed={"ethereum": "chain ethereum: RPC Timeout while reading the snapshot"})
    got = by_underlying(world.assess(snap, memory=world.memory()))
    assert set(got) == {"ETH", "BTC"}
    assert all(not d.trade and d.reason.startswith("blocked: chain ethereum: ") for d in got.values()), got


def test_a_refused_venue_never_drops_its_chains_holdings(world: World) -> None:
    memory = world.memory()
    eth = chain_snapshot("ethereum", NOW)
    refused = eth.model_copy(update={
        "venues": tuple(v for v in eth.venues if v.venue != "v3_eth_3000"),
        "refused_venues": {"v3_eth_3000": "venue v3_eth_3000: the pool is not the factory's pool; refused"}})
    snap = full(NOW).model_copy(update={"chains": {**full(NOW).chains, "ethereum": refused}})
    assessment = world.assess(snap, memory=memory)
    got, ref = by_underlying(assessment), reference(world, NOW)
    assert assessment.book.blocked == {} and assessment.book.stale == {}
    assert got["ETH"].net_delta == ref["ETH"].net_delta == pytest.approx(ETH_WETH_HELD)
    assert got["BTC"] == ref["BTC"]
    known = memory.recall("ethereum")  # read in full: remembered, with its holdings
    assert known is not None and {p.symbol: p.amount for p in known.spot} == {"WETH": ETH_WETH_HELD,
                                                                               "WBTC": ETH_WBTC_HELD}


def test_a_refused_venue_that_was_the_only_mark_blocks_its_underlying_only(world: World) -> None:
    eth = chain_snapshot("ethereum", NOW)
    refused = eth.model_copy(update={"venues": tuple(v for v in eth.venues if v.venue != "v3_btc"),
                                     "refused_venues": {"v3_btc": "venue v3_btc: slot0 reverted; refused"}})
    snap = full(NOW).model_copy(update={"chains": {**full(NOW).chains, "ethereum": refused}})
    memory = world.memory()
    got = by_underlying(world.assess(snap, memory=memory))
    assert got["BTC"].reason == "blocked: no readable venue prices BTC: its positions cannot be valued"
    assert not got["BTC"].trade
    assert got["ETH"] == reference(world, NOW)["ETH"]
    known = memory.recall("ethereum")
    assert known is not None and {p.symbol for p in known.spot} == {"WETH", "WBTC"}



def test_a_trade_the_widened_band_now_contains_is_called_off() -> None:
    """The policy fired just outside its band; stale positions widen it past the net delta: no trade, and said so."""
    fired = Decision(policy="cost_aware_band", underlying="BTC", trade=True, net_delta=0.36, target=0.31,
                     trade_units=-0.05, lower=-0.35, upper=0.35, reason="net delta 0.36 outside band [-0.35, 0.35]")
    note = "chain rootstock: RPC down; using its last-known positions from block 7, 60 s old (limit 300 s)"
    book = Book(positions=(), stale={"rootstock": 60.0}, blocked={}, standing_in={"BTC": note}, notes=())
    (held,) = apply_coverage([fired], book, {"BTC": 0.02}, "cost_aware_band")
    assert (held.trade, held.trade_units, held.target) == (False, 0.0, 0.36)
    assert (held.lower, held.upper) == pytest.approx((-0.37, 0.37))
    assert held.reason.startswith(fired.reason) and note in held.reason and "band widened by 0.02" in held.reason
    (still,) = apply_coverage([fired], book, {"BTC": 0.005}, "cost_aware_band")  # not wide enough: it still trades
    assert (still.trade, still.trade_units, still.target) == (True, -0.05, 0.31)
