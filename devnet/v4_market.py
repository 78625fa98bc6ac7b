"""The market driver's Uniswap V4 arbitrage: every pool of a chain's ``uniswap_v4`` deployment swapped to the price
path's price through the chain's UniversalRouter, from the trader account, as a searcher would.

V4's router takes no price limit, so the swap is an exact output computed from the pool's state at one block
(StateView's slot0, liquidity, bitmap words and tick liquidity, walked by devnet.v4_math): one V4_SWAP of
SWAP_EXACT_OUT_SINGLE, SETTLE_ALL (the ERC20 input pulled from the trader through Permit2, or native ether paid as
the call's value) and TAKE_ALL to the trader; a native input is followed by SWEEP of the unused ether back. The
trader's Permit2 approvals of the router are sent the first time a token is paid (read on chain each time, so an
``evm_revert`` that undid them is noticed).

Usage::

    pools = v4_pool_refs("ethereum", devnet_state["chains"]["ethereum"])
    moved = v4_to(w3, pools[0], 3050.0, trader, settle_fee=lambda: None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from web3 import Web3

from devnet.artifacts import load_artifact
from devnet.deployer import MAX_UINT, TOKENS, TX, DeployError
from devnet.liquidity import PairLayout, sqrt_price_x96
from devnet.v4 import MAX_UINT48, MAX_UINT160, NATIVE, PoolKey
from devnet.v4_math import ExactOut, PoolSlot, exact_out_to_price

# The few V4 / UniversalRouter encodings the arbitrage needs (devnet may not import adapters; the unit tests hold
# them equal to adapters.uniswap_v4's and adapters.uniswap.universal_router's).
SWAP_EXACT_OUT_SINGLE, SETTLE_ALL, TAKE_ALL = 0x08, 0x0C, 0x0F  # v4-periphery Actions
V4_SWAP, SWEEP = 0x10, 0x04  # universal-router Commands
EXECUTE_SELECTOR = bytes.fromhex("3593564c")  # execute(bytes commands, bytes[] inputs, uint256 deadline)
MSG_SENDER = "0x0000000000000000000000000000000000000001"  # ActionConstants: the caller of execute
_POOL_KEY = "(address,address,uint24,int24,address)"
#: Gas of one arbitrage: the swap crosses a tick per LP range edge in its way (a few tens of thousands each).
V4_SWAP_GAS = 3_000_000
DEADLINE = 2**40  # far off, as the V3 path's: the devnet's clocks are moved (perp waits), and the swap is mined at once
DECIMALS = {"ETH": 18, **{s: d for s, (_, d, _) in TOKENS.items()}}
UNDERLYING = {"ETH": "ETH", **{s: u for s, (_, _, u) in TOKENS.items()}}


@dataclass(frozen=True)
class V4PoolRef:
    """One V4 pool the driver arbitrages: its key and id, the chain's StateView, UniversalRouter and Permit2, and
    its base/quote symbols with their currencies (ETH is native ether, currency 0x0)."""

    chain: str
    venue: str
    key: PoolKey
    state_view: str
    router: str
    permit2: str
    base: str
    quote: str
    base_currency: str
    quote_currency: str

    @property
    def pool_id(self) -> bytes:
        return bytes.fromhex(self.key.pool_id[2:])

    def layout(self) -> PairLayout:
        base_is_0 = int(self.base_currency, 16) == int(self.key.currency0, 16)
        return PairLayout(base_is_0, DECIMALS[self.base], DECIMALS[self.quote])


def v4_pool_refs(chain: str, s: dict[str, Any]) -> list[V4PoolRef]:
    """The chain's V4 pools from its devnet state (the ``uniswap_v4`` section devnet.v4 writes; none without it).

    Base and quote come from each pool's devnet name (``v4_<base>_<quote>_<fee>``, devnet.v4.v4_pool_name); their
    currencies must be the pool key's, else DeployError.
    """
    section = s.get("uniswap_v4")
    if not section:
        return []
    out = []
    for name, p in section["pools"].items():
        base, quote = (part.upper() for part in name.split("_")[1:3])
        currency = {sym: NATIVE if sym == "ETH" else s["tokens"][sym]["address"] for sym in (base, quote)}
        key = PoolKey(p["currency0"], p["currency1"], int(p["fee"]), int(p["tick_spacing"]), p["hooks"])
        if {int(c, 16) for c in currency.values()} != {int(key.currency0, 16), int(key.currency1, 16)}:
            raise DeployError(f"devnet {chain}: V4 pool {name}'s key holds {key.currency0}/{key.currency1}, "
                              f"not its {base}/{quote}")
        if key.pool_id.lower() != str(p["pool_id"]).lower():
            raise DeployError(f"devnet {chain}: V4 pool {name}'s id {p['pool_id']} is not its key's {key.pool_id}")
        out.append(V4PoolRef(chain=chain, venue=name, key=key, state_view=section["state_view"],
                             router=section["universal_router"], permit2=section["permit2"], base=base, quote=quote,
                             base_currency=currency[base], quote_currency=currency[quote]))
    return out


def _contract(w3: Web3, name: str, address: str) -> Any:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def read_walk(w3: Web3, pool: V4PoolRef, target: int, block: int) -> tuple[int, ExactOut]:
    """The pool's sqrt price and the exact output to ``target``, from StateView at ``block``."""
    view = _contract(w3, "StateView", pool.state_view)
    sqrt_p, tick, protocol_fee, lp_fee = view.functions.getSlot0(pool.pool_id).call(block_identifier=block)
    liquidity = view.functions.getLiquidity(pool.pool_id).call(block_identifier=block)
    words: dict[int, int] = {}

    def word_of(position: int) -> int:
        if position not in words:
            words[position] = int(view.functions.getTickBitmap(pool.pool_id, position).call(block_identifier=block))
        return words[position]

    def net_of(tick: int) -> int:
        return int(view.functions.getTickLiquidity(pool.pool_id, tick).call(block_identifier=block)[1])

    slot = PoolSlot(int(sqrt_p), int(tick), int(liquidity), int(lp_fee), int(protocol_fee))
    return int(sqrt_p), exact_out_to_price(slot, target, pool.key.tick_spacing, word_of, net_of)


def exact_out_plan(key: PoolKey, zero_for_one: bool, amount_out: int, amount_in_max: int) -> bytes:
    """The V4_SWAP plan: SWAP_EXACT_OUT_SINGLE (at most ``amount_in_max`` in), SETTLE_ALL of the input (at most
    ``amount_in_max``), TAKE_ALL of the output (at least ``amount_out``) to the caller."""
    currency_in, currency_out = (key.currency0, key.currency1) if zero_for_one else (key.currency1, key.currency0)
    swap = encode([f"({_POOL_KEY},bool,uint128,uint128,bytes)"],
                  [(key.as_tuple(), zero_for_one, amount_out, amount_in_max, b"")])
    settle = encode(["address", "uint256"], [Web3.to_checksum_address(currency_in), amount_in_max])
    take = encode(["address", "uint256"], [Web3.to_checksum_address(currency_out), amount_out])
    return encode(["bytes", "bytes[]"], [bytes([SWAP_EXACT_OUT_SINGLE, SETTLE_ALL, TAKE_ALL]), [swap, settle, take]])


def execute_calldata(key: PoolKey, swap: ExactOut, amount_in_max: int, deadline: int) -> bytes:
    """UniversalRouter.execute of the arbitrage: V4_SWAP, then for an ether input SWEEP of what it left back."""
    commands, inputs = [V4_SWAP], [exact_out_plan(key, swap.zero_for_one, swap.amount_out, amount_in_max)]
    if swap.zero_for_one and key.has_native:
        commands.append(SWEEP)
        inputs.append(encode(["address", "address", "uint160"], [NATIVE, MSG_SENDER, 0]))
    return EXECUTE_SELECTOR + encode(["bytes", "bytes[]", "uint256"], [bytes(commands), inputs, deadline])


def _sent(w3: Web3, pool: V4PoolRef, tx_hash: Any, what: str) -> None:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
    if receipt["status"] != 1:
        raise DeployError(f"devnet {pool.chain}: {what} reverted (tx {tx_hash.hex()})")


def ensure_permit2(w3: Web3, pool: V4PoolRef, trader: str, currency: str, settle_fee: Callable[[], None]) -> None:
    """The trader's standing approvals for the router to pull ERC20 ``currency`` through Permit2 (the token's of
    Permit2, Permit2's of the router: the max amount, which Permit2 never spends down, and the max expiration),
    each sent when missing; ``settle_fee`` runs before each transaction (the chain's base fee)."""
    token = _contract(w3, "ERC20PresetMinterPauser", currency)
    permit2 = _contract(w3, "IAllowanceTransfer", pool.permit2)
    router = Web3.to_checksum_address(pool.router)
    params: Any = {"from": trader, "gas": 100_000, **TX}  # TxParams, a TypedDict web3 checks at run time
    if int(token.functions.allowance(trader, permit2.address).call()) < MAX_UINT160:
        settle_fee()
        _sent(w3, pool, token.functions.approve(permit2.address, MAX_UINT).transact(params), "Permit2 approval")
    amount, expiration, _ = permit2.functions.allowance(trader, token.address, router).call()
    if int(amount) < MAX_UINT160 or int(expiration) < MAX_UINT48:
        settle_fee()
        call = permit2.functions.approve(token.address, router, MAX_UINT160, MAX_UINT48)
        _sent(w3, pool, call.transact(params), "Permit2 allowance of the UniversalRouter")


def v4_to(w3: Web3, pool: V4PoolRef, price: float, trader: str, settle_fee: Callable[[], None]) -> bool:
    """Swap ``pool`` to ``price`` (quote per base); whether a swap was sent (none within 0.02 bp of the price, or
    when only an empty range lies between: nothing there to arbitrage)."""
    target = sqrt_price_x96(pool.layout().raw_price(price))
    current, swap = read_walk(w3, pool, target, int(w3.eth.block_number))
    if abs(target - current) <= current // 1_000_000 or swap.amount_out == 0:
        return False
    # The pool charges exactly the walk's input for each full step and recomputes only the last one, from the
    # remaining output: room for its rounding, never used otherwise (an ERC20 is pulled to the wei owed).
    amount_in_max = swap.amount_in + swap.amount_in // 100_000 + 10
    currency_in = pool.key.currency0 if swap.zero_for_one else pool.key.currency1
    symbol_in = pool.base if int(currency_in, 16) == int(pool.base_currency, 16) else pool.quote
    native_in = int(currency_in, 16) == 0
    if not native_in:
        ensure_permit2(w3, pool, trader, currency_in, settle_fee)
        held = int(_contract(w3, "ERC20PresetMinterPauser", currency_in).functions.balanceOf(trader).call())
        if held < amount_in_max:
            raise DeployError(f"devnet {pool.chain}: the trader holds {held} raw {symbol_in}, short of the "
                              f"{amount_in_max} moving V4 pool {pool.venue} to {price:.6g} takes")
    tx: Any = {"from": trader, "to": Web3.to_checksum_address(pool.router), "gas": V4_SWAP_GAS, **TX,
               "data": execute_calldata(pool.key, swap, amount_in_max, DEADLINE),
               "value": amount_in_max if native_in else 0}
    settle_fee()
    _sent(w3, pool, w3.eth.send_transaction(tx), f"V4 arbitrage of {pool.venue} to {price:.6g}")
    return True
