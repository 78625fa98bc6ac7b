"""Uniswap V4 calldata in Python: pool keys and ids, PositionManager / V4Router action plans, UniversalRouter inputs.

The layouts follow v4-periphery's ``CalldataDecoder`` (each action's parameters are the ABI encoding of the types
its ``decode*`` helper names), ``Actions.sol`` and universal-router's ``Commands.sol`` (semantics read, not code
copied). Everything here is pure: no RPC, no state.

Usage::

    key = PoolKey(NATIVE, usdc, fee=250, tick_spacing=5)
    plan = encode_actions([
        (Action.SWAP_EXACT_IN_SINGLE, swap_exact_in_single(key, zero_for_one=True, amount_in=10**18)),
        (Action.SETTLE_ALL, settle_all(key.currency0, 10**18)),
        (Action.TAKE_ALL, take_all(key.currency1, 0)),
    ])
    commands, inputs = v4_swap(plan)   # UniversalRouter.execute(commands, inputs, deadline)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from adapters.rpc.abi import checksum_address

#: Native ETH as a V4 currency (it sorts before every token, so it is always currency0).
NATIVE = "0x0000000000000000000000000000000000000000"
NO_HOOKS = NATIVE
#: Permit2's address on every chain (the devnet etches its runtime code there too).
PERMIT2_ADDRESS = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
MAX_UINT128 = 2**128 - 1
MAX_UINT160 = 2**160 - 1
MAX_UINT48 = 2**48 - 1
_POOL_KEY = "(address,address,uint24,int24,address)"


class Action(IntEnum):
    """v4-periphery ``Actions``: one byte per step of a PositionManager or V4Router plan."""

    INCREASE_LIQUIDITY = 0x00
    DECREASE_LIQUIDITY = 0x01
    MINT_POSITION = 0x02
    BURN_POSITION = 0x03
    SWAP_EXACT_IN_SINGLE = 0x06
    SWAP_EXACT_IN = 0x07
    SWAP_EXACT_OUT_SINGLE = 0x08
    SWAP_EXACT_OUT = 0x09
    SETTLE = 0x0B
    SETTLE_ALL = 0x0C
    SETTLE_PAIR = 0x0D
    TAKE = 0x0E
    TAKE_ALL = 0x0F
    TAKE_PAIR = 0x11
    CLOSE_CURRENCY = 0x12
    SWEEP = 0x14


class Command(IntEnum):
    """universal-router ``Commands``: one byte per command of ``execute``."""

    PERMIT2_PERMIT = 0x0A
    WRAP_ETH = 0x0B
    UNWRAP_WETH = 0x0C
    V4_SWAP = 0x10


@dataclass(frozen=True)
class PoolKey:
    """A V4 pool's identity: the sorted currencies, LP fee (pips), tick spacing and hooks contract."""

    currency0: str
    currency1: str
    fee: int
    tick_spacing: int
    hooks: str = NO_HOOKS

    def __post_init__(self) -> None:
        # PoolManager refuses unsorted currencies; catching it here gives a clear message instead of a revert.
        if int(self.currency0, 16) >= int(self.currency1, 16):
            raise ValueError(f"pool key currencies are not sorted: {self.currency0} >= {self.currency1}")

    def as_tuple(self) -> tuple[str, str, int, int, str]:
        """The struct as web3/eth_abi take it (checksummed addresses)."""
        return (checksum_address(self.currency0), checksum_address(self.currency1), self.fee, self.tick_spacing,
                checksum_address(self.hooks))

    @property
    def pool_id(self) -> str:
        """``PoolIdLibrary.toId``: keccak256 of the ABI-encoded key (all static fields), 0x-prefixed."""
        return _pool_id(self)

    @property
    def has_native(self) -> bool:
        return int(self.currency0, 16) == 0


@lru_cache(maxsize=1024)  # every read builds its calls from a fresh key of the config: the keccak once per key
def _pool_id(key: PoolKey) -> str:
    return "0x" + keccak(encode([_POOL_KEY], [key.as_tuple()])).hex()


def sorted_currencies(a: str, b: str) -> tuple[str, str]:
    """(currency0, currency1): the lower address first, as a pool key needs."""
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def encode_actions(steps: Sequence[tuple[Action, bytes]]) -> bytes:
    """An action plan: ``abi.encode(bytes actions, bytes[] params)`` (PositionManager and V4_SWAP both take it)."""
    actions = bytes(int(action) for action, _ in steps)
    return encode(["bytes", "bytes[]"], [actions, [params for _, params in steps]])


def mint_position(key: PoolKey, tick_lower: int, tick_upper: int, liquidity: int, amount0_max: int,
                  amount1_max: int, owner: str, hook_data: bytes = b"") -> bytes:
    """MINT_POSITION parameters: (PoolKey, tickLower, tickUpper, liquidity, amount0Max, amount1Max, owner, hookData)."""
    return encode([_POOL_KEY, "int24", "int24", "uint256", "uint128", "uint128", "address", "bytes"],
                  [key.as_tuple(), tick_lower, tick_upper, liquidity, amount0_max, amount1_max,
                   checksum_address(owner), hook_data])


def settle_pair(currency0: str, currency1: str) -> bytes:
    """SETTLE_PAIR parameters: pay both debts of the plan from the caller."""
    return encode(["address", "address"], [checksum_address(currency0), checksum_address(currency1)])


def sweep(currency: str, to: str) -> bytes:
    """SWEEP parameters: send the contract's leftover ``currency`` (excess native ETH sent as value) to ``to``."""
    return encode(["address", "address"], [checksum_address(currency), checksum_address(to)])


def swap_exact_in_single(key: PoolKey, zero_for_one: bool, amount_in: int, amount_out_minimum: int = 0,
                         hook_data: bytes = b"") -> bytes:
    """SWAP_EXACT_IN_SINGLE parameters: one ``ExactInputSingleParams`` struct (it has dynamic bytes, so an offset
    word leads)."""
    struct = (key.as_tuple(), zero_for_one, amount_in, amount_out_minimum, hook_data)
    return encode([f"({_POOL_KEY},bool,uint128,uint128,bytes)"], [struct])


def settle_all(currency: str, max_amount: int) -> bytes:
    """SETTLE_ALL parameters: pay the whole debt in ``currency`` from the caller, at most ``max_amount``."""
    return encode(["address", "uint256"], [checksum_address(currency), max_amount])


def take_all(currency: str, min_amount: int) -> bytes:
    """TAKE_ALL parameters: send the whole credit in ``currency`` to the caller, at least ``min_amount``."""
    return encode(["address", "uint256"], [checksum_address(currency), min_amount])


def quote_exact_single(key: PoolKey, zero_for_one: bool, exact_amount: int,
                       hook_data: bytes = b"") -> tuple[tuple[str, str, int, int, str], bool, int, bytes]:
    """V4Quoter ``QuoteExactSingleParams`` as web3 takes it for quoteExactInputSingle / quoteExactOutputSingle."""
    return (key.as_tuple(), zero_for_one, exact_amount, hook_data)


def v4_swap(plan: bytes) -> tuple[bytes, list[bytes]]:
    """UniversalRouter ``execute`` commands and inputs for one V4_SWAP running ``plan`` (from encode_actions)."""
    return bytes([int(Command.V4_SWAP)]), [plan]


def exact_in_single_plan(key: PoolKey, zero_for_one: bool, amount_in: int, amount_out_minimum: int) -> bytes:
    """The V4_SWAP plan of an exact-in single-pool swap: swap, pay the input (SETTLE_ALL), take the output
    (TAKE_ALL) no less than ``amount_out_minimum``."""
    currency_in, currency_out = (key.currency0, key.currency1) if zero_for_one else (key.currency1, key.currency0)
    return encode_actions([
        (Action.SWAP_EXACT_IN_SINGLE, swap_exact_in_single(key, zero_for_one, amount_in, amount_out_minimum)),
        (Action.SETTLE_ALL, settle_all(currency_in, amount_in)),
        (Action.TAKE_ALL, take_all(currency_out, amount_out_minimum)),
    ])
