"""Which Uniswap V4 pools the exact model may quote, from the permissions encoded in the hooks address.

v4-core ``Hooks.sol`` reads a hook's permissions from the low 14 bits of its address. The swap loop the model
replays is PoolManager's alone unless a hook can change a swap's amounts:

* the four ``*_RETURNS_DELTA`` bits let a hook take or give currency in a swap or a liquidity change, so the
  swapper's amounts are no longer the pool's: such pools are refused;
* ``beforeSwap`` on a dynamic-fee pool may return an LP-fee override for that one swap, which slot0 never shows:
  refused too;
* any other hook (no hooks at all, or callbacks that return no delta) leaves the swap's amounts to the pool and is
  modelled exactly. A callback can still change state in its own call (a beforeSwap that trades first); the
  model assumes it does not, and says so in the policy.

Refused pools are not quoted through V4Quoter: a quote per size would cost a round trip per curve point, and the
optimizer needs curves (see the README's V4 section).

Usage::

    policy = hook_policy("0x0000000000000000000000000000000000000000", fee=3000)
    policy.exact, policy.reason
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from adapters.uniswap_v4.fees import MAX_LP_FEE, is_dynamic_fee


class HookFlag(IntFlag):
    """v4-core ``Hooks`` permission flags (bit positions in the hooks address)."""

    BEFORE_INITIALIZE = 1 << 13
    AFTER_INITIALIZE = 1 << 12
    BEFORE_ADD_LIQUIDITY = 1 << 11
    AFTER_ADD_LIQUIDITY = 1 << 10
    BEFORE_REMOVE_LIQUIDITY = 1 << 9
    AFTER_REMOVE_LIQUIDITY = 1 << 8
    BEFORE_SWAP = 1 << 7
    AFTER_SWAP = 1 << 6
    BEFORE_DONATE = 1 << 5
    AFTER_DONATE = 1 << 4
    BEFORE_SWAP_RETURNS_DELTA = 1 << 3
    AFTER_SWAP_RETURNS_DELTA = 1 << 2
    AFTER_ADD_LIQUIDITY_RETURNS_DELTA = 1 << 1
    AFTER_REMOVE_LIQUIDITY_RETURNS_DELTA = 1 << 0


ALL_HOOK_MASK = (1 << 14) - 1
DELTA_FLAGS = (HookFlag.BEFORE_SWAP_RETURNS_DELTA | HookFlag.AFTER_SWAP_RETURNS_DELTA
               | HookFlag.AFTER_ADD_LIQUIDITY_RETURNS_DELTA | HookFlag.AFTER_REMOVE_LIQUIDITY_RETURNS_DELTA)


@dataclass(frozen=True)
class HookPolicy:
    """How a pool is quoted: ``exact`` (the integer model) or refused, with the reason in one phrase."""

    exact: bool
    reason: str
    flags: HookFlag


def hook_flags(hooks: str) -> HookFlag:
    """The permissions of a hooks address (its low 14 bits)."""
    return HookFlag(int(hooks, 16) & ALL_HOOK_MASK)


def _names(flags: HookFlag) -> str:
    return ", ".join(str(f.name).lower() for f in HookFlag if f in flags)


def pool_key_problem(currency0: str, currency1: str, fee: int, hooks: str) -> str | None:
    """Why a configured pool key cannot be quoted exactly (unsorted currencies, a fee that is neither an LP fee nor the
    dynamic flag, hooks outside the model), or None. Checked when a config loads, not at the first read, where it would
    make the whole chain unreadable."""
    if int(currency0, 16) >= int(currency1, 16):
        return f"currency0 {currency0} must sort below currency1 {currency1}"
    if fee > MAX_LP_FEE and not is_dynamic_fee(fee):
        return f"fee {fee} is neither an LP fee (<= {MAX_LP_FEE}) nor the dynamic flag 0x800000"
    policy = hook_policy(hooks, fee)
    return None if policy.exact else f"hooks: {policy.reason}"


def hook_policy(hooks: str, fee: int) -> HookPolicy:
    """The quoting policy of a pool with ``hooks`` and key ``fee`` (see module doc)."""
    flags = hook_flags(hooks)
    if int(hooks, 16) == 0:
        return HookPolicy(True, "exact: no hooks", flags)
    if flags & DELTA_FLAGS:
        return HookPolicy(False, f"refused: hooks {hooks} may return deltas ({_names(flags & DELTA_FLAGS)}), so a "
                          "swap's amounts are not the pool's", flags)
    if is_dynamic_fee(fee) and flags & HookFlag.BEFORE_SWAP:
        return HookPolicy(False, f"refused: hooks {hooks} have beforeSwap on a dynamic-fee pool, which may override "
                          "the LP fee per swap", flags)
    what = _names(flags) or "no permissions"
    return HookPolicy(True, f"exact: hooks {hooks} return no deltas ({what}); assumed to leave the pool's state "
                      "alone during a swap", flags)


__all__ = ["ALL_HOOK_MASK", "DELTA_FLAGS", "HookFlag", "HookPolicy", "hook_flags", "hook_policy",
           "pool_key_problem"]
