"""Recorded pool states: a file round-trips, a bad one is refused in one sentence naming the file and the field,
and `crosshedge quote --pool-state` quotes one exactly as the pool model does (table, JSON, exit codes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters import (
    Side,
    UniswapV2PoolState,
    UniswapV3PoolState,
    UniswapV4PoolState,
    load_pool_state,
    pool_state_filename,
    write_pool_state,
)
from adapters.uniswap import get_amount_out, get_sqrt_ratio_at_tick
from adapters.uniswap_v3 import model_of_record, quote_record
from crosshedge import InputError
from crosshedge.cli import app
from tests.unit.adapters.pool_helpers import pool_with

USDC = {"address": "0x" + "11" * 20, "symbol": "USDC", "decimals": 6, "underlying": "USD"}
WETH = {"address": "0x" + "22" * 20, "symbol": "WETH", "decimals": 18, "underlying": "ETH"}
POSITIONS = [(-887220, 887220, 10**17), (-60000, -49980, 4 * 10**18), (-54000, -45000, 10**18)]


def v3_document(tick: int = -51000) -> dict[str, Any]:
    """A WETH/USDC 0.3% pool near 1 ETH = 6,100 USDC (token0 WETH, 18 and 6 decimals) with stacked ranges."""
    pool = pool_with(POSITIONS, tick=tick, spacing=60, fee=3000, window=2_000_000)
    return {
        "protocol": "uniswap_v3", "version": 1, "chain": "ethereum", "chain_id": 31337, "venue": "v3_weth_usdc",
        "address": "0x" + "33" * 20, "block_number": 42, "block_timestamp": 1_700_000_000, "token0": WETH,
        "token1": USDC, "base": "token0", "fee": 3000, "tick_spacing": 60, "sqrt_price_x96": pool.sqrt_price_x96,
        "tick": tick, "liquidity": pool.liquidity,
        "ticks": [{"tick": t, "liquidity_net": n} for t, n in sorted(pool.liquidity_net.items())],
    }


def v2_document() -> dict[str, Any]:
    return {"protocol": "uniswap_v2", "version": 1, "chain": "base", "chain_id": 8453, "venue": "v2_weth_usdc",
            "address": "0x" + "44" * 20, "block_number": 7, "block_timestamp": 1, "token0": USDC, "token1": WETH,
            "base": "token1", "reserve0": 6_000_000 * 10**6, "reserve1": 2_000 * 10**18}


def write(tmp_path: Path, doc: dict[str, Any], name: str = "state.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_a_v3_state_round_trips_through_its_file(tmp_path: Path) -> None:
    record = load_pool_state(write(tmp_path, v3_document()))
    assert isinstance(record, UniswapV3PoolState)
    saved = write_pool_state(tmp_path / "out", record)
    assert saved.name == pool_state_filename(record) == "ethereum.v3_weth_usdc.json"
    assert load_pool_state(saved) == record
    assert json.loads(saved.read_text())["protocol"] == "uniswap_v3"  # the protocol leads the file


def test_a_recorded_v3_state_quotes_like_the_pool_model_with_no_window(tmp_path: Path) -> None:
    record = load_pool_state(write(tmp_path, v3_document()))
    assert isinstance(record, UniswapV3PoolState)
    reference = pool_with(POSITIONS, tick=-51000, spacing=60, fee=3000, window=2_000_000)
    for side, zf1 in ((Side.SELL, True), (Side.BUY, False)):
        for amount in (10**6, 10**15, 10**18, 3 * 10**21):
            quote = quote_record(record, side, amount)
            want = reference.swap_exact_in(zf1, amount)
            assert (quote.amount_in, quote.amount_out, quote.ticks_crossed) == (
                want.amount_in, want.amount_out, want.initialized_ticks_crossed)
    drained = quote_record(record, Side.BUY, 10**40)  # more USDC than the whole curve takes
    assert drained.partial and drained.amount_in < 10**40 and model_of_record(record).complete


def test_a_v2_state_quotes_get_amount_out(tmp_path: Path) -> None:
    record = load_pool_state(write(tmp_path, v2_document()))
    assert isinstance(record, UniswapV2PoolState) and record.base_token.symbol == "WETH"
    from adapters.uniswap_v2 import quote_record as v2_quote

    sell = v2_quote(record, Side.SELL, 10**18)  # WETH (token1) in
    assert sell.amount_out == get_amount_out(10**18, 2_000 * 10**18, 6_000_000 * 10**6) and not sell.partial
    assert sell.price_after < 3000 < v2_quote(record, Side.BUY, 10**9).price_after


def v4_document() -> dict[str, Any]:
    doc = v3_document()
    return doc | {"protocol": "uniswap_v4", "pool_id": "0x" + "ab" * 32, "hooks": "0x" + "00" * 20,
                  "currency0": doc["token0"]["address"], "currency1": doc["token1"]["address"],
                  "fee": 3000, "dynamic_fee": False, "lp_fee": 3000, "protocol_fee": (200 << 12) | 100}


def test_v4_records_its_key_lp_and_protocol_fees(tmp_path: Path) -> None:
    record = load_pool_state(write(tmp_path, v4_document()))
    assert isinstance(record, UniswapV4PoolState) and record.protocol_fee & 0xFFF == 100
    assert record.fee == 3000 and not record.dynamic_fee


def test_v4_dynamic_flag_must_match_the_key_fee(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="dynamic_fee"):
        load_pool_state(write(tmp_path, v4_document() | {"dynamic_fee": True}))
    record = load_pool_state(write(tmp_path, v4_document() | {"fee": 0x800000, "dynamic_fee": True}))
    assert isinstance(record, UniswapV4PoolState) and record.dynamic_fee


@pytest.mark.parametrize(("edit", "field", "why"), [
    (lambda d: d | {"fees": 3000}, "fees", "unknown field"),
    (lambda d: {k: v for k, v in d.items() if k != "liquidity"}, "liquidity", "required field is missing"),
    (lambda d: d | {"protocol": "curve"}, "protocol", "expected one of uniswap_v2, uniswap_v3, uniswap_v4"),
    (lambda d: d | {"sqrt_price_x96": float(d["sqrt_price_x96"])}, "sqrt_price_x96", "JSON float"),
    (lambda d: d | {"sqrt_price_x96": str(d["sqrt_price_x96"]) + "x"}, "sqrt_price_x96", "valid integer"),
    (lambda d: d | {"ticks": d["ticks"][:-1]}, "ticks", "do not sum to zero"),
    (lambda d: d | {"liquidity": d["liquidity"] + 1}, "ticks", "not the liquidity"),
    (lambda d: d | {"tick": d["tick"] + 5}, "tick", "does not match sqrt_price_x96"),
    (lambda d: d | {"ticks": [d["ticks"][1], d["ticks"][0], *d["ticks"][2:]]}, "ticks", "strictly ascending"),
    (lambda d: d | {"ticks": [d["ticks"][0], {"tick": -887190, "liquidity_net": 0}, *d["ticks"][1:]]}, "ticks",
     "multiple of tick_spacing"),
    (lambda d: d | {"token0": WETH | {"decimals": 300}}, "token0.decimals", "less than or equal to 255"),
    (lambda d: d | {"base": "weth"}, "base", "'token0' or 'token1'"),
    (lambda d: d | {"ticks": [{"tick": 1, "liquidityNet": 5}]}, "ticks.0.liquidity_net", "required field"),
])
def test_a_bad_file_is_one_sentence_naming_the_file_and_field(tmp_path: Path, edit: Any, field: str, why: str) -> None:
    path = write(tmp_path, edit(v3_document()))
    with pytest.raises(InputError) as caught:
        load_pool_state(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}:") and why in message and "\n" not in message


def test_an_unreadable_or_non_json_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read the pool state file"):
        load_pool_state(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=rf"^{bad}: not valid JSON at line 1, column 2"):
        load_pool_state(bad)


def test_cli_quote_prints_a_table_json_and_means_its_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    path = write(tmp_path, v3_document())
    record = load_pool_state(path)
    assert isinstance(record, UniswapV3PoolState)
    args = ["quote", "--pool-state", str(path), "--side", "sell", "--amount-in", str(10**18)]
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "amount out" in table.stdout and "partial fill" in table.stdout
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    want = quote_record(record, Side.SELL, 10**18)
    assert (doc["amount_in"], doc["amount_out"], doc["ticks_crossed"], doc["partial"]) == (
        want.amount_in, want.amount_out, want.ticks_crossed, False)
    assert doc["sqrt_price_x96_after"] < record.sqrt_price_x96 <= get_sqrt_ratio_at_tick(record.tick + 1)
    partial = json.loads(runner.invoke(app, ["quote", "--pool-state", str(path), "--side", "buy", "--amount-in",
                                             str(10**40), "--json"]).stdout)
    assert partial["partial"] and partial["amount_in"] < 10**40
    assert runner.invoke(app, [*args[:-1], "-5"]).exit_code == 2  # not a positive raw amount
    assert runner.invoke(app, [*args[:4], "--side", "hold", *args[5:]]).exit_code == 2
    assert runner.invoke(app, ["quote", "--side", "sell", "--amount-in", "1"]).exit_code == 2  # no --pool-state
    broken = write(tmp_path, v3_document() | {"fee": -1}, "broken.json")
    failed = runner.invoke(app, ["quote", "--pool-state", str(broken), "--side", "sell", "--amount-in", "1"])
    assert failed.exit_code == 1 and f"{broken}: fee:" in failed.stderr
