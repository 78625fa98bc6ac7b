"""Uniswap V4 fee semantics (ProtocolFeeLibrary, LPFeeLibrary) and the hook policy from synthetic hook addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.uniswap_v4 import (
    DYNAMIC_FEE_FLAG,
    MAX_PROTOCOL_FEE,
    HookFlag,
    UniswapV4Config,
    direction_protocol_fee,
    hook_flags,
    hook_policy,
    is_dynamic_fee,
    swap_fee,
)

USDC = "0x" + "a0" * 20


@pytest.mark.parametrize(("lp_fee", "protocol_fee", "zero_for_one", "expected"), [
    (3000, 0, True, 3000),  # no protocol fee: the LP fee alone
    (3000, 1000, True, 3997),  # 1000 + 3000 - 3000*1000/1e6
    (3000, 1000 << 12, True, 3000),  # the oneForZero half does not apply to a zeroForOne swap
    (3000, 1000 << 12, False, 3997),
    (0, 500, True, 500),  # LP fee 0: the protocol fee alone
    (500, 250, True, 750),  # 250*500/1e6 floors to 0
    (1_000_000, 1000, True, 1_000_000),  # capped at 100%
    (2999, 999, True, 3996),  # 999*2999/1e6 = 2.996 floors to 2: 3998 - 2
])
def test_swap_fee_hand_cases(lp_fee: int, protocol_fee: int, zero_for_one: bool, expected: int) -> None:
    assert swap_fee(lp_fee, protocol_fee, zero_for_one) == expected


def test_protocol_fee_halves_are_twelve_bits_each() -> None:
    packed = (400 << 12) | 250
    assert direction_protocol_fee(packed, True) == 250 and direction_protocol_fee(packed, False) == 400


@given(st.integers(0, 1_000_000), st.integers(0, MAX_PROTOCOL_FEE), st.integers(0, MAX_PROTOCOL_FEE), st.booleans())
def test_swap_fee_is_the_protocol_fee_then_the_lp_fee_on_the_rest(lp: int, zf1_fee: int, ofz_fee: int,
                                                                   zf1: bool) -> None:
    fee = swap_fee(lp, (ofz_fee << 12) | zf1_fee, zf1)
    p = zf1_fee if zf1 else ofz_fee
    # protocolFee + lpFee·(1e6 − protocolFee)/1e6 rounded up (the library's own description of its formula)
    assert fee == p + -(-lp * (1_000_000 - p) // 1_000_000)
    assert max(lp, p) <= fee <= 1_000_000


def test_dynamic_fee_is_exactly_the_flag() -> None:
    assert is_dynamic_fee(DYNAMIC_FEE_FLAG) and not is_dynamic_fee(DYNAMIC_FEE_FLAG | 1) and not is_dynamic_fee(3000)


def hooks_with(flags: int, high: int = 0xABCDEF) -> str:
    """A synthetic hooks address: arbitrary high bits, ``flags`` in the low 14."""
    return "0x" + format((high << 136) | flags, "040x")


def test_no_hooks_is_exact() -> None:
    policy = hook_policy("0x" + "00" * 20, 3000)
    assert policy.exact and policy.reason == "exact: no hooks" and not policy.flags


@pytest.mark.parametrize("flag", [HookFlag.BEFORE_SWAP, HookFlag.AFTER_SWAP, HookFlag.BEFORE_ADD_LIQUIDITY,
                                  HookFlag.AFTER_DONATE, HookFlag.BEFORE_INITIALIZE])
def test_hooks_without_deltas_are_exact_on_a_static_fee(flag: HookFlag) -> None:
    policy = hook_policy(hooks_with(flag), 3000)
    assert policy.exact and str(flag.name).lower() in policy.reason and policy.flags == flag


@pytest.mark.parametrize("flag", [HookFlag.BEFORE_SWAP_RETURNS_DELTA, HookFlag.AFTER_SWAP_RETURNS_DELTA,
                                  HookFlag.AFTER_ADD_LIQUIDITY_RETURNS_DELTA,
                                  HookFlag.AFTER_REMOVE_LIQUIDITY_RETURNS_DELTA])
def test_delta_returning_hooks_are_refused(flag: HookFlag) -> None:
    policy = hook_policy(hooks_with(flag | HookFlag.BEFORE_SWAP | HookFlag.AFTER_SWAP), 3000)
    assert not policy.exact and "return deltas" in policy.reason and str(flag.name).lower() in policy.reason


def test_before_swap_on_a_dynamic_fee_pool_is_refused_but_after_swap_is_not() -> None:
    refused = hook_policy(hooks_with(HookFlag.BEFORE_SWAP), DYNAMIC_FEE_FLAG)
    assert not refused.exact and "override the LP fee" in refused.reason
    assert hook_policy(hooks_with(HookFlag.AFTER_SWAP), DYNAMIC_FEE_FLAG).exact


def test_only_the_low_fourteen_bits_are_permissions() -> None:
    assert hook_flags(hooks_with(0, high=(1 << 20) - 1)) == HookFlag(0)
    assert hook_flags(hooks_with(HookFlag.AFTER_SWAP, high=0xFF)) == HookFlag.AFTER_SWAP


def _config(**extra: object) -> dict[str, object]:
    return {"pool_manager": "0x" + "11" * 20, "state_view": "0x" + "22" * 20, "universal_router": "0x" + "33" * 20,
            "permit2": "0x000000000022D473030F116dDEE9F6B43aC78BA3", "currency0": "0x" + "00" * 20,
            "currency1": USDC, "fee": 250, "tick_spacing": 5, "weth": "0x" + "44" * 20} | extra


def test_config_builds_the_pool_key_and_its_id() -> None:
    config = UniswapV4Config.model_validate(_config())
    assert config.key.fee == 250 and config.key.has_native and config.key.pool_id.startswith("0x")
    assert len(config.key.pool_id) == 66 and config.policy.exact


@pytest.mark.parametrize(("extra", "words"), [
    ({"weth": None}, "weth"),
    ({"currency0": USDC, "currency1": "0x" + "00" * 20}, "sort below"),
    ({"fee": 1_000_001}, "dynamic flag"),
    ({"hooks": hooks_with(HookFlag.AFTER_SWAP_RETURNS_DELTA)}, "hooks: refused"),
    ({"pool": "0x" + "55" * 20}, "Extra inputs"),
])
def test_config_refuses_bad_sections(extra: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        UniswapV4Config.model_validate(_config(**extra))
