"""The ``perp_curie`` adapter without a chain: its config errors, fills decoded from a recorded receipt, quotes and
curves of a recorded market state, its calls, and the perp kind's conformance suite.

The recorded files (tests/fixtures/perp_curie) come from the devnet of tests/integration/adapters/test_perp_curie.py:
the market read at a block, and the receipt of a short of 7 vETH sent right after it (which the integration test
checks against AccountBalance).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector

from adapters import PerpConformance, PerpEntry, PerpMarketState, PerpQuote, Side, default_registry
from adapters.perp_curie import OPEN_POSITION, PerpCurieAdapter, PerpCurieConfig, curie_trade, pool_model, walk
from adapters.uniswap_v3 import PoolModel
from crosshedge import AdapterError, ConfigError, InputError, QuoteOutOfRangeError
from crosshedge.config import parse_config

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "perp_curie"
E18 = 10**18
USDC = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"


def _state() -> PerpMarketState:
    return PerpMarketState.model_validate_json((FIXTURES / "market_state.json").read_text())


def _receipt() -> dict[str, Any]:
    return dict(json.loads((FIXTURES / "open_short_receipt.json").read_text()))


def _section(state: PerpMarketState, **over: Any) -> dict[str, Any]:
    p = state.pool
    return {"adapter": "perp_curie", "clearing_house": state.clearing_house, "vault": state.vault,
            "exchange": "0x" + "31" * 20, "account_balance": "0x" + "32" * 20, "market_registry": "0x" + "33" * 20,
            "clearing_house_config": "0x" + "34" * 20, "base_token": state.base_token,
            "quote_token": state.quote_token, "pool": p["address"], "underlying": "ETH", "collateral": "USDC",
            **over}


def _config(section: dict[str, Any]) -> dict[str, Any]:
    return {"chains": {"optimism": {
        "chain_id": 10, "rpc_url": "http://127.0.0.1:1", "block_time_s": 2, "wallet": "desk",
        "tokens": {"USDC": {"address": USDC, "decimals": 6, "underlying": "USD"}},
        "perps": {"eth_perp": section}}},
        "wallets": {"desk": {"address": "0x" + "44" * 20, "key_env": "DESK_KEY"}}}


def _entry(state: PerpMarketState) -> PerpEntry:
    [entry] = parse_config(_config(_section(state)), Path("chains.yaml")).perps_on("optimism")
    return entry


# ---------------------------------------------------------------- config


def test_a_perp_section_is_validated_by_the_adapter_model() -> None:
    state = _state()
    config = parse_config(_config(_section(state, window_ticks=1500)), Path("chains.yaml"))
    [entry] = config.perps_on("optimism")
    assert (entry.name, entry.chain, entry.chain_id, entry.adapter, entry.enabled) == ("eth_perp", "optimism", 10,
                                                                                       "perp_curie", True)
    assert isinstance(entry.config, PerpCurieConfig) and entry.config.window_ticks == 1500
    assert config.perps_on("base") == []


@pytest.mark.parametrize(("over", "drop", "field"), [
    ({"clearing_hose": "0x" + "11" * 20}, None, r"chains\.optimism\.perps\.eth_perp\.clearing_hose"),
    ({"vault": "0x1234"}, None, r"chains\.optimism\.perps\.eth_perp\.vault"),
    ({}, "pool", r"chains\.optimism\.perps\.eth_perp\.pool"),
    ({"window_ticks": 0}, None, r"chains\.optimism\.perps\.eth_perp\.window_ticks"),
    ({"collateral": "DAI"}, None, r"chains\.optimism\.perps\.eth_perp: \['DAI'\] are not tokens of the chain"),
    ({"adapter": "across"}, None, r"chains\.optimism\.perps\.eth_perp\.adapter: .*not a perp adapter"),
])
def test_config_errors_name_the_field(over: dict[str, Any], drop: str | None, field: str) -> None:
    section = _section(_state(), **over)
    if drop is not None:
        del section[drop]
    with pytest.raises(ConfigError, match=field):
        parse_config(_config(section), Path("chains.yaml"))


def test_two_markets_sharing_a_margin_account_are_refused_and_their_own_accounts_are_not() -> None:
    state = _state()
    config = _config(_section(state))
    btc = _section(state, base_token="0x" + "51" * 20, pool="0x" + "52" * 20, underlying="BTC")
    config["chains"]["optimism"]["perps"]["btc_perp"] = btc
    with pytest.raises(ConfigError, match=r"chains\.optimism\.perps: markets eth_perp and btc_perp share the margin "
                       r"account of Vault .*one market per account"):
        parse_config(config, Path("chains.yaml"))
    btc |= {"vault": "0x" + "53" * 20, "clearing_house": "0x" + "54" * 20}  # a deployment of its own
    assert [e.name for e in parse_config(config, Path("chains.yaml")).perps_on("optimism")] == ["eth_perp", "btc_perp"]


# ---------------------------------------------------------------- fills from a recorded receipt


def test_fills_decode_from_a_recorded_receipt_as_the_quote_of_the_recorded_state() -> None:
    state, adapter = _state(), PerpCurieAdapter()
    fills = adapter.parse_fills(state, _receipt())
    assert len(fills) == 1  # the receipt's other logs (token transfers, the pool's Swap, funding) are not fills
    fill = fills[0]
    q = adapter.quote(state, Side.SELL, 7 * E18)  # what was sent right after the read
    assert (fill.exchanged_position_size, fill.exchanged_position_notional, fill.fee) == (
        q.exchanged_position_size, q.exchanged_position_notional, q.fee_raw)
    assert fill.open_notional == q.quote_amount_raw and fill.realized_pnl == 0 and fill.side is Side.SELL
    assert fill.sqrt_price_x96_after == q.sqrt_price_x96_after
    assert fill.trader == state.account and fill.tx_hash == _receipt()["transactionHash"]
    assert adapter.parse_fills(_entry(state), _receipt()) == fills  # from the config entry alone, the same
    assert type(fill).model_validate_json(fill.model_dump_json()) == fill


def test_a_reverted_receipt_or_another_market_is_not_a_fill() -> None:
    state, adapter = _state(), PerpCurieAdapter()
    with pytest.raises(AdapterError, match=r"^chain optimism: market eth_perp: transaction 0x[0-9a-f]{64} reverted$"):
        adapter.parse_fills(state, {**_receipt(), "status": 0})
    other = state.model_copy(update={"base_token": "0x" + "55" * 20})
    assert adapter.parse_fills(other, _receipt()) == []
    elsewhere = state.model_copy(update={"clearing_house": "0x" + "56" * 20})
    assert adapter.parse_fills(elsewhere, _receipt()) == []


# ---------------------------------------------------------------- quotes and curves


def test_the_walk_is_the_v3_pools_swap() -> None:
    """The exact-input walk (Curie's replay loop over compute_swap_step) is PoolModel's own swap, to the wei."""
    model = pool_model(_state())
    for zf1 in (True, False):
        for amount in (10**12, 10**18, 3 * 10**19, 2 * 10**20):
            amount_in = amount if zf1 else amount * 3000
            w, ref = walk(model, zf1, amount_in, model.fee), model.swap_exact_in(zf1, amount_in)
            assert (w.paid, w.received, w.sqrt_price_x96, w.tick, w.crossed) == (
                ref.amount_in, ref.amount_out, ref.sqrt_price_x96, ref.tick, ref.initialized_ticks_crossed)


def test_quotes_are_monotone_and_charge_the_exchange_fee() -> None:
    state, adapter = _state(), PerpCurieAdapter()
    mid = (state.pool["sqrt_price_x96"] / 2**96) ** 2
    sizes = [10**15, 10**17, 10**18, 10**19, 5 * 10**19, 9 * 10**19]
    shorts = [adapter.quote(state, Side.SELL, s) for s in sizes]
    longs = [adapter.quote(state, Side.BUY, s) for s in sizes]
    for s, short, long in zip(sizes, shorts, longs, strict=True):
        assert short.price < mid < long.price
        assert -short.exchanged_position_size == long.exchanged_position_size == s
        # The fee is the exchange's (0.1%) on the notional, to within a wei per step, not the pool's 0.3%.
        assert short.fee_raw == pytest.approx(short.exchanged_position_notional * 0.001, rel=1e-6, abs=20)
        assert long.fee_raw == pytest.approx(-long.exchanged_position_notional * 0.001 / 0.999, rel=1e-6, abs=20)
        assert short.quote_amount_raw == short.exchanged_position_notional - short.fee_raw
        assert long.quote_amount_raw == -long.exchanged_position_notional + long.fee_raw
    assert [q.price for q in shorts] == sorted((q.price for q in shorts), reverse=True)
    assert [q.price for q in longs] == sorted(q.price for q in longs)
    assert shorts[-1].ticks_crossed >= 2 and longs[-1].ticks_crossed >= 2
    assert PerpQuote.model_validate_json(longs[-1].model_dump_json()) == longs[-1]


def test_the_curves_price_what_the_quotes_charge() -> None:
    state, adapter = _state(), PerpCurieAdapter()
    for side, curve in ((Side.SELL, state.sell), (Side.BUY, state.buy)):
        first = curve.segments[0]
        q = adapter.quote(state, side, int(first.size * E18 / 2))
        # The curve's first piece is the vAMM with the exchange fee in the pool fee's place: within 1 bp of a quote.
        assert q.price == pytest.approx(first.price, rel=1e-4)
    assert state.sell.side is Side.SELL and state.buy.side is Side.BUY


def test_orders_past_the_window_or_the_tick_cap_are_refused() -> None:
    state, adapter = _state(), PerpCurieAdapter()
    capped = state.model_copy(update={"max_ticks_crossed": 10})
    with pytest.raises(QuoteOutOfRangeError, match=r"chain optimism: market eth_perp: .*cap of 10 per block"):
        adapter.quote(capped, Side.BUY, 50 * E18)
    with pytest.raises(QuoteOutOfRangeError, match=r"chain optimism: market eth_perp: .*past the vAMM ticks read"):
        adapter.quote(state, Side.SELL, 10**24)
    with pytest.raises(InputError, match="chain optimism: market eth_perp: the base amount must be positive"):
        adapter.quote(state, Side.SELL, 0)


def test_a_trade_replay_ends_where_the_pool_swap_ends() -> None:
    model = PoolModel.from_ticks(2**96 * 55, 80_000, 10**22, 3000, 60, {79_980: 10**21, 80_100: -(10**21)})
    for short in (True, False):
        trade = curie_trade(model, True, short, 10**18, 1000)
        assert trade.complete and trade.base == 10**18 and trade.fee > 0


# ---------------------------------------------------------------- calls


def test_open_close_deposit_withdraw_calls() -> None:
    state, adapter = _state(), PerpCurieAdapter()
    tx = adapter.build_open(state, Side.BUY, 2 * E18, 7_000 * E18, 1_800_000_000)
    assert (tx.chain_id, tx.to) == (10, state.clearing_house)

    data = bytes.fromhex(tx.data[2:])
    assert data[:4] == function_signature_to_4byte_selector(OPEN_POSITION)
    [(base, b2q, exact_in, amount, bound, deadline, limit, referral)] = abi_decode(
        ["(address,bool,bool,uint256,uint256,uint256,uint160,bytes32)"], data[4:])
    assert (base.lower(), b2q, exact_in, amount, bound, deadline, limit, referral) == (
        state.base_token.lower(), False, False, 2 * E18, 7_000 * E18, 1_800_000_000, 0, bytes(32))
    with pytest.raises(InputError, match=r"chain optimism: market eth_perp: .*a zero bound would accept any price"):
        adapter.build_open(state, Side.SELL, E18, 0, 1_800_000_000)
    with pytest.raises(InputError, match=r"chain optimism: market eth_perp: the account .* has no position"):
        adapter.build_close(state, E18, 1_800_000_000)  # the recorded account is flat
    entry = _entry(state)
    deposit, withdraw = adapter.build_deposit(entry, USDC, 10**9), adapter.build_withdraw(entry, USDC, 10**9)
    assert deposit.to == withdraw.to == adapter.contracts(entry).spender == state.vault
    assert deposit.data[:10] != withdraw.data[:10] and deposit.chain_id == 10
    no_account = state.model_copy(update={"position": None, "account": None})
    with pytest.raises(AdapterError, match="chain optimism: market eth_perp: the read had no account"):
        adapter.position(no_account)


def test_the_recorded_state_round_trips_and_carries_the_account() -> None:
    state = _state()
    assert PerpMarketState.model_validate_json(state.model_dump_json()) == state
    assert state.position is not None and state.position.source == "perp_curie"
    assert (state.position.mark_price, state.position.mm_ratio) == (state.mark_price, state.mm_ratio)


class TestPerpCurieConformance(PerpConformance):
    adapter = PerpCurieAdapter()
    entry_point = "perp_curie"
    example_entry = _entry(_state())
    example_state = _state()


def test_the_registry_hands_it_out_as_a_perp_adapter_only() -> None:
    assert isinstance(default_registry().perp("perp_curie"), PerpCurieAdapter)
    with pytest.raises(ConfigError, match=r"'perp_curie' is a perp adapter, not a venue|is a perp source, not"):
        default_registry().venue("perp_curie")
    with pytest.raises(ConfigError, match="'across' is a transfer adapter, not a perp adapter"):
        default_registry().perp("across")
