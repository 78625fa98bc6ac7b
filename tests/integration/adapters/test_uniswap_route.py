"""Multi-hop route venues on the devnet: quotes equal QuoterV2's quoteExactInput over the same path to the wei (V3
legs) and the pair's getAmountsOut after it (a V2 leg), executed UniversalRouter swaps deliver exactly the quote
(min_out one wei above it reverts), fills parse from the receipt, reads ride in the chain's rounds, gas measured.
"""

from __future__ import annotations

import dataclasses
import json
import random
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from adapters import (
    AdapterRegistry,
    RoundTripCounter,
    Side,
    SignedPermit,
    VenueState,
    calldata,
    check_live_venue,
    decode,
    default_registry,
    ordered_curve_ok,
    permit_typed_data,
    read_permit_nonce,
)
from adapters.uniswap.curve import cumulative
from adapters.uniswap_route import PERMIT2_ADDRESS, Hop, UniswapRouteAdapter, v3_path
from adapters.uniswap_v3.reader import MAX_ROUND_TRIPS
from adapters.uniswap_v4 import quote_exact_single
from devnet import load_artifact
from orchestrator import read_venues as read_chain_venues
from tests.integration.adapters.adapter_helpers import approve, at_head, balance, context, read_venues, send
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration

_LOADED = default_registry().venue("uniswap_route")
assert isinstance(_LOADED, UniswapRouteAdapter)
ROUTE: UniswapRouteAdapter = _LOADED
QUOTE_PATH = "quoteExactInput(bytes,uint256)"
MAX_UINT160, MAX_UINT48 = 2**160 - 1, 2**48 - 1


def _routes(devnet: DevnetHandle, chain: str, block: int | None = None) -> list[VenueState]:
    return read_venues(devnet.config, context(devnet.config, chain), "uniswap_route", block)


def _all_v3(state: VenueState) -> bool:
    return all(leg["kind"] == "uniswap_v3" for leg in state.pool["legs"])


def _kinds(state: VenueState) -> list[str]:
    return [leg["kind"] for leg in state.pool["legs"]]


def _size(rng: random.Random, state: VenueState, side: Side) -> int:
    """Log-uniform from 0.1% to ~95% of the curve's reach, so most cases cross ticks on the legs."""
    curve = state.sell if side is Side.SELL else state.buy
    top = sum(s.size for s in curve.segments) * 0.95 * 10 ** rng.uniform(-3, 0)
    if side is Side.SELL:
        return max(1, int(top * 10**state.base.decimals))
    return max(1, int(top * state.mid_price * 10**state.quote.decimals))


def _quoter_exact_input(w3: Web3, state: VenueState, side: Side, amount_in: int, block: int) -> int:
    hops = ROUTE.hops(state, side)
    data = calldata(QUOTE_PATH, v3_path(hops), amount_in)
    raw = w3.eth.call({"to": state.pool["quoter"], "data": data}, block)  # type: ignore[typeddict-item]
    return int(decode(("uint256", "uint160[]", "uint32[]", "uint256"), raw)[0])


def test_route_quotes_equal_quoter_v2_quote_exact_input_to_the_wei(devnet: DevnetHandle, still_chains: None) -> None:
    rng = random.Random(12)
    checked = crossed = 0
    for chain in devnet.chains():
        w3 = devnet.w3(chain)
        block = w3.eth.block_number
        for state in filter(_all_v3, _routes(devnet, chain, block)):
            for side in (Side.SELL, Side.BUY):
                for _ in range(40):
                    amount = _size(rng, state, side)
                    fill = ROUTE.route_fill(state, side, amount)
                    assert not fill.partial
                    assert fill.amount_out == _quoter_exact_input(w3, state, side, amount, block), (
                        f"{chain}/{state.venue} {side.value} {amount}")
                    checked += 1
                    crossed += fill.ticks_crossed >= 1
    assert checked >= 200 and crossed >= 30, (checked, crossed)  # the devnet ladders have ~30 ticks in reach


def test_mixed_route_quotes_equal_quoter_then_pair(devnet: DevnetHandle, still_chains: None) -> None:
    """A V3 leg then a V2 leg: QuoterV2's single-pool quote feeds the pair's getAmountOut (the router's own
    getAmountsOut over [WETH, USDC]), which is what the route composes."""
    rng = random.Random(7)
    w3 = devnet.w3("ethereum")
    block = w3.eth.block_number
    [state] = [s for s in _routes(devnet, "ethereum", block) if _kinds(s) == ["uniswap_v3", "uniswap_v2"]]
    v2_router = devnet.config.chains["ethereum"].contracts["v2_router"]
    for _ in range(30):
        amount = _size(rng, state, Side.SELL)
        hops = ROUTE.hops(state, Side.SELL)
        mid = _quoter_exact_input(w3, state.model_copy(update={"pool": {**state.pool, "legs": state.pool["legs"][:1],
                                                                        "path": state.pool["path"][:2]}}),
                                  Side.SELL, amount, block)
        raw = w3.eth.call({"to": v2_router, "data": calldata(  # type: ignore[typeddict-item]
            "getAmountsOut(uint256,address[])", mid, [hops[1].token_in, hops[1].token_out])}, block)
        assert ROUTE.quote(state, Side.SELL, amount) == decode(("uint256[]",), raw)[0][-1]


def _v4_quoter_out(w3: Web3, quoter: str, hop: Hop, amount_in: int, block: int) -> int:
    v4_quoter = w3.eth.contract(address=Web3.to_checksum_address(quoter), abi=load_artifact("V4Quoter").abi)
    params = quote_exact_single(hop.pool_key(), hop.zero_for_one, amount_in)
    out, _gas = v4_quoter.functions.quoteExactInputSingle(params).call(block_identifier=block)
    return int(out)


def test_v3_then_v4_route_quotes_equal_quoter_v2_then_v4_quoter(devnet: DevnetHandle) -> None:
    """WETH→WBTC through a V3 pool, then WBTC→USDC through a V4 pool (and back): QuoterV2's single-pool quote of
    the V3 leg feeds V4Quoter's of the V4 leg, each leg's output the next one's input, as the router swaps them."""
    rng = random.Random(41)
    w3 = devnet.w3("ethereum")
    v4 = devnet.config.chains["ethereum"].uniswap_v4
    assert v4 is not None
    block, routes = at_head(context(devnet.config, "ethereum"), lambda at: _routes(devnet, "ethereum", at))
    [state] = [s for s in routes if "uniswap_v4" in _kinds(s)]
    assert _kinds(state) == ["uniswap_v3", "uniswap_v4"] and state.base.symbol == "WETH"
    checked = crossed = 0
    for side in (Side.SELL, Side.BUY):
        hops = ROUTE.hops(state, side)
        for _ in range(40):
            amount = _size(rng, state, side)
            fill = ROUTE.route_fill(state, side, amount)
            mid = (_quoter_exact_input(w3, _first_leg(state, side), side, amount, block) if hops[0].kind == "uniswap_v3"
                   else _v4_quoter_out(w3, v4.v4_quoter, hops[0], amount, block))
            out = (_v4_quoter_out(w3, v4.v4_quoter, hops[1], mid, block) if hops[1].kind == "uniswap_v4"
                   else _quoter_exact_input(w3, _last_leg(state, side), side, mid, block))
            assert (fill.legs[0].amount_out, fill.amount_out) == (mid, out), f"{side.value} {amount}"
            checked += 1
            crossed += fill.ticks_crossed >= 1
    assert checked == 80 and crossed >= 10, (checked, crossed)


def _one_leg(state: VenueState, index: int) -> VenueState:
    """The route cut to its leg ``index`` (SELL order), for QuoterV2's path of that leg alone."""
    pool = {**state.pool, "legs": [state.pool["legs"][index]], "path": state.pool["path"][index:index + 2]}
    return state.model_copy(update={"pool": pool})


def _first_leg(state: VenueState, side: Side) -> VenueState:
    return _one_leg(state, 0 if side is Side.SELL else len(state.pool["legs"]) - 1)


def _last_leg(state: VenueState, side: Side) -> VenueState:
    return _one_leg(state, len(state.pool["legs"]) - 1 if side is Side.SELL else 0)


def test_route_curves_convex_and_within_one_bp_at_every_breakpoint(devnet: DevnetHandle) -> None:
    for chain in devnet.chains():
        for state in _routes(devnet, chain):
            for curve in (state.sell, state.buy):
                assert len(curve.segments) >= 10 and ordered_curve_ok(curve), f"{chain}/{state.venue}"
                for base, quote in cumulative(curve):
                    if curve.side is Side.SELL:
                        exact = ROUTE.quote(state, Side.SELL, round(base * 10**state.base.decimals))
                        model = quote * 10**state.quote.decimals
                    else:
                        exact = ROUTE.quote(state, Side.BUY, round(quote * 10**state.quote.decimals))
                        model = base * 10**state.base.decimals
                    assert model <= exact * (1 + 1e-9) and abs(model / exact - 1) < 1e-4, (
                        f"{chain}/{state.venue} {curve.side.value} at {base}")


def _allow_router(w3: Web3, owner: str, token: str, router: str) -> None:
    """A standing Permit2 allowance for the router (the orchestrator's signed permit replaces it in a lane)."""
    approve(w3, owner, token, PERMIT2_ADDRESS)
    send(w3, owner, PERMIT2_ADDRESS, calldata("approve(address,address,uint160,uint48)", token, router,
                                              MAX_UINT160, MAX_UINT48), gas=100_000)


#: The router's errors for a final output below the minimum (V3, V2 and V4 commands).
TOO_LITTLE = {bytes(Web3.keccak(text=e))[:4].hex() for e in ("V3TooLittleReceived()", "V2TooLittleReceived()",
                                                              "V4TooLittleReceived(uint256,uint256)")}


def _too_little_received(w3: Web3, sender: str, to: str, data: str) -> bool:
    """Whether the call reverts with the router's too-little-received error (not any other revert)."""
    try:
        w3.eth.call({"from": sender, "to": to, "data": data})  # type: ignore[typeddict-item]
    except ContractLogicError as exc:
        return any(sel in f"{exc} {exc.data}" for sel in TOO_LITTLE)
    return False


def _swap_once(devnet: DevnetHandle, chain: str, state: VenueState, side: Side, amount: int) -> dict[str, Any]:
    w3, trader = devnet.w3(chain), devnet.state["chains"][chain]["accounts"]["trader"]
    token_in, token_out = (state.base, state.quote) if side is Side.SELL else (state.quote, state.base)
    _allow_router(w3, trader, token_in.address, state.pool["router"])
    quoted = ROUTE.route_fill(state, side, amount)
    deadline = state.block_timestamp + 3600
    over = ROUTE.build_swap(state, side, amount, quoted.amount_out + 1, trader, deadline)
    assert _too_little_received(w3, trader, over.to, over.data), f"{chain}/{state.venue}: min_out + 1 did not revert"
    tx = ROUTE.build_swap(state, side, amount, quoted.amount_out, trader, deadline)
    before_in, before_out = balance(w3, token_in.address, trader), balance(w3, token_out.address, trader)
    receipt = send(w3, trader, tx.to, tx.data, gas=1_500_000)
    assert before_in - balance(w3, token_in.address, trader) == amount
    assert balance(w3, token_out.address, trader) - before_out == quoted.amount_out
    fill = ROUTE.parse_receipt(state, receipt)
    assert (fill.side, fill.amount_in_raw, fill.amount_out_raw) == (side, amount, quoted.amount_out)
    # The router keeps nothing: every intermediate token it held between commands went on to the next leg.
    for token in state.pool["path"]:
        assert balance(w3, token, state.pool["router"]) == 0
    return {"gas": int(receipt["gasUsed"]), "ticks": quoted.ticks_crossed, "legs": len(state.pool["legs"])}


def test_executed_route_swaps_deliver_exactly_the_quote(devnet: DevnetHandle, chain_snapshot: dict[str, str]) -> None:
    """Both sides of every route, small and large (half the sell curve's reach, crossing ticks on the legs): the
    wallet pays exactly the input and receives exactly the quote. Also measures the route's gas: after one warm-up
    swap each way (a fresh devnet pool's first swap pays one-off zero-to-nonzero writes a live pool never does, the
    V2 pair's price accumulators), a swap that crosses no tick costs the route's fixed gas within 10%."""
    measured = []
    for chain in devnet.chains():
        for first in _routes(devnet, chain):
            reach = sum(s.size for s in first.sell.segments) * first.mid_price  # USD the sell curve reaches
            for side, usd in ((Side.SELL, 1_000.0), (Side.BUY, 1_000.0), (Side.SELL, 50_000.0),
                              (Side.BUY, 50_000.0), (Side.SELL, reach / 2), (Side.BUY, reach / 4)):
                # Read again before each swap: the one before moved the legs' prices.
                ctx = context(devnet.config, chain)
                _, [state] = at_head(ctx, partial(ROUTE.read, ctx, [_entry(devnet, chain, first.venue)]))
                amount = (round(usd / state.mid_price * 10**state.base.decimals) if side is Side.SELL
                          else round(usd * 10**state.quote.decimals))
                got = _swap_once(devnet, chain, state, side, amount)
                measured.append((chain, state, side.value, usd, got))
    for chain, state, how, usd, got in measured:
        print(f"route gas {chain}/{state.venue} {how} ${usd:,.0f}: {got['gas']} gas, {got['ticks']} ticks crossed "
              f"(model {state.gas_units} + {state.gas_units_per_tick}/tick)")
    warm = [(state, got) for _, state, _, usd, got in measured if usd == 50_000.0 and got["ticks"] == 0]
    assert len(warm) >= 6
    for state, got in warm:
        assert abs(got["gas"] / state.gas_units - 1) < 0.10, (state.venue, got, state.gas_units)
    # The last buy crosses back ticks the large sell crossed (no longer fresh): fixed + per tick within 15%.
    back = [(state, got) for _, state, how, usd, got in measured if how == "buy" and got["ticks"] > 0]
    assert len(back) >= 3
    for state, got in back:
        model = state.gas_units + state.gas_units_per_tick * got["ticks"]
        assert abs(got["gas"] / model - 1) < 0.15, (state.venue, got, model)


def _entry(devnet: DevnetHandle, chain: str, name: str) -> Any:
    return next(v for v in devnet.config.venues_on(chain) if v.name == name)


def test_route_reads_ride_in_the_chains_rounds(devnet: DevnetHandle, still_chains: None) -> None:
    """Routes add no round trip: with the multicall the whole chain stays at the V3 reader's three cold rounds and
    one warm; with the read lens, one eth_call."""
    for lens in (False, True):
        counter = RoundTripCounter()
        ctx = dataclasses.replace(context(devnet.config, "ethereum", counter), read_lens=lens)
        entries = devnet.config.venues_on("ethereum")
        registry = AdapterRegistry.from_entry_points()  # fresh instances: a cold read
        counter.reset()
        number, cold = read_chain_venues(ctx, entries, registry, "latest")
        assert {s.adapter for s in cold} == {"uniswap_v2", "uniswap_v3", "uniswap_route", "uniswap_v4"}
        assert len(cold) == len(entries)
        assert counter.count == (1 if lens else MAX_ROUND_TRIPS), f"lens={lens}"
        counter.reset()
        assert read_chain_venues(ctx, entries, registry, number) == (number, cold)
        assert counter.count == 1


def test_routes_pass_the_live_conformance_check(devnet: DevnetHandle, still_chains: None) -> None:
    for chain in devnet.chains():
        ctx = context(devnet.config, chain)
        block = ctx.w3.eth.block_number
        for entry in (v for v in devnet.config.venues_on(chain) if v.adapter == "uniswap_route"):
            assert check_live_venue(ROUTE, ctx, entry, block).block_number == block


def _signed_permit(key: bytes, w3: Web3, chain: str, state: VenueState, amount: int, deadline: int,
                   owner: str) -> SignedPermit:
    """The route's permit for ``amount`` signed (EIP-712, Permit2's domain) with the wallet's key at the nonce Permit2
    expects: what the lane's signer does in a run."""
    request = ROUTE.permit_request(state, Side.SELL, amount, deadline)
    nonce = read_permit_nonce(w3, chain, request, owner)
    message = encode_typed_data(full_message=permit_typed_data(request, nonce, w3.eth.chain_id))
    signature = "0x" + bytes(Account.sign_message(message, key).signature).hex()
    return SignedPermit(request=request, nonce=nonce, signature=signature)


def test_a_route_swap_carrying_the_wallets_signed_permit_needs_no_standing_allowance(
        devnet: DevnetHandle, chain_snapshot: dict[str, str]) -> None:
    """The operator (its own key, no Permit2 allowance for the router) approves Permit2 and swaps with a permit it
    signed for exactly the input: the route delivers the quote. Without the permit the same swap reverts."""
    chain = "base"
    w3 = devnet.w3(chain)
    key = Account.decrypt(json.loads(Path(devnet.state["keystore"]).read_text()),
                          Path(devnet.state["password_file"]).read_text().strip())
    operator = Web3.to_checksum_address(devnet.state["operator"])
    [state] = _routes(devnet, chain)
    amount = round(10_000 / state.mid_price * 10**state.base.decimals)
    quoted = ROUTE.quote(state, Side.SELL, amount)
    deadline = state.block_timestamp + 3600
    w3.provider.make_request(RPCEndpoint("anvil_impersonateAccount"), [operator])
    try:
        approve(w3, operator, state.base.address, PERMIT2_ADDRESS)
        bare = ROUTE.build_swap(state, Side.SELL, amount, quoted, operator, deadline)
        with pytest.raises(ContractLogicError):
            w3.eth.call({"from": operator, "to": bare.to, "data": bare.data})  # type: ignore[typeddict-item]
        permit = _signed_permit(bytes(key), w3, chain, state, amount, deadline, operator)
        tx = ROUTE.build_permit_swap(state, Side.SELL, amount, quoted, operator, deadline, permit)
        before = balance(w3, state.quote.address, operator)
        receipt = send(w3, operator, tx.to, tx.data, gas=1_500_000)
    finally:
        w3.provider.make_request(RPCEndpoint("anvil_stopImpersonatingAccount"), [operator])
    assert balance(w3, state.quote.address, operator) - before == quoted
    assert ROUTE.parse_receipt(state, receipt).amount_out_raw == quoted


def test_routes_price_like_the_direct_pools(devnet: DevnetHandle, still_chains: None) -> None:
    """The devnet's WBTC/WETH pools sit at the ratio of the BTC and ETH prices, so a route's mid is the direct
    pools' of its underlying within the pools' configured offsets (a few bp), and its legs are deep: WBTC routes
    through WETH, and the WETH route through WBTC then V4's WBTC/USDC pool."""
    paths = {"BTC": ["WBTC", "WETH", "USDC"], "ETH": ["WETH", "WBTC", "USDC"]}
    seen: set[str] = set()
    for chain in devnet.chains():
        ctx = context(devnet.config, chain)
        block = ctx.w3.eth.block_number
        direct = read_venues(devnet.config, ctx, "uniswap_v3", block)
        for state in _routes(devnet, chain, block):
            seen.add(state.underlying)
            assert [ctx.token(t).symbol for t in state.pool["path"]] == paths[state.underlying]  # type: ignore[union-attr]
            same = [d for d in direct if d.underlying == state.underlying]
            assert same and all(abs(state.mid_price / d.mid_price - 1) < 15e-4 for d in same), (chain, state.venue)
            reach = sum(s.size for s in state.sell.segments) * state.mid_price
            assert reach > 250_000, (chain, state.venue, reach)  # USD the sell curve reaches: a real alternative
    assert seen == {"BTC", "ETH"}
