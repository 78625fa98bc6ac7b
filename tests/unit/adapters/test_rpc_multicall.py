"""The hand-written multicall codec agrees with eth_abi, and malformed return data is refused, not misread."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import EncodingError
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.rpc import Call, cached_call, decode, decode_multicall, encode_call, encode_multicall
from adapters.rpc.multicall import MULTICALL_RETURNS

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
calls = st.lists(
    st.builds(Call, addresses, st.binary(max_size=100), st.integers(0, 2**64)), max_size=8
)


@settings(max_examples=80, deadline=None)
@given(calls=calls)
def test_encode_multicall_equals_eth_abi(calls: list[Call]) -> None:
    expected = encode_call("0x" + "00" * 20, "multicall((address,uint256,bytes)[])",
                           [(c.target, c.gas, c.data) for c in calls]).data
    assert encode_multicall(calls) == expected


@settings(max_examples=80, deadline=None)
@given(block=st.integers(0, 2**64), results=st.lists(st.tuples(st.booleans(), st.integers(0, 2**64),
                                                                st.binary(max_size=300)), max_size=8))
def test_decode_multicall_equals_eth_abi(block: int, results: list[tuple[bool, int, bytes]]) -> None:
    raw = abi_encode(list(MULTICALL_RETURNS), [block, results])
    number, got = decode_multicall(raw)
    ref_block, ref = abi_decode(list(MULTICALL_RETURNS), raw)
    assert number == ref_block == block
    assert [(r.success, r.data) for r in got] == [(ok, data) for ok, _gas, data in ref]


@pytest.mark.parametrize("cut", [0, 31, 64, 100])
def test_truncated_return_data_is_refused(cut: int) -> None:
    raw = abi_encode(list(MULTICALL_RETURNS), [7, [(True, 1, b"\x01" * 64), (False, 2, b"")]])
    with pytest.raises(ValueError):
        decode_multicall(raw[:cut] if cut else b"")
    with pytest.raises(ValueError):
        decode_multicall(raw[: len(raw) - 40])


def test_fast_argument_encoding_equals_eth_abi_and_defers_out_of_range() -> None:
    for value in (0, 1, -1, 887272, -887272, 2**23 - 1, -(2**23)):
        assert encode_call("0x" + "11" * 20, "ticks(int24)", value).data[4:] == abi_encode(["int24"], [value])
    owner = "0x" + "ab" * 20
    assert encode_call(owner, "balanceOf(address)", owner).data[4:] == abi_encode(["address"], [owner])
    with pytest.raises(EncodingError, match="24 bits"):  # out of range: eth_abi refuses it, the fast path never guesses
        encode_call(owner, "ticks(int24)", 2**23)


@settings(max_examples=80, deadline=None)
@given(pool_id=st.binary(min_size=32, max_size=32), tick=st.integers(-(2**23), 2**23 - 1))
def test_fast_bytes32_encoding_equals_eth_abi(pool_id: bytes, tick: int) -> None:
    # V4's StateView getters take (bytes32 poolId, int24 tick): the read path's most repeated calls.
    got = encode_call("0x" + "11" * 20, "getTickLiquidity(bytes32,int24)", pool_id, tick).data[4:]
    assert got == abi_encode(["bytes32", "int24"], [pool_id, tick])
    assert cached_call("0x" + "11" * 20, "getTickLiquidity(bytes32,int24)", pool_id, tick).data[4:] == got


def test_short_bytes32_defers_to_eth_abi() -> None:
    # A shorter value is right-padded by eth_abi (its rule for bytesN); the fast path takes only exactly 32 bytes.
    assert encode_call("0x" + "11" * 20, "getSlot0(bytes32)", b"\x01").data[4:] == abi_encode(["bytes32"], [b"\x01"])
    with pytest.raises(EncodingError):
        encode_call("0x" + "11" * 20, "getSlot0(bytes32)", b"\x01" * 33)


_WORD_VALUES = {
    "uint256": st.integers(0, 2**256 - 1), "uint128": st.integers(0, 2**128 - 1),
    "int24": st.integers(-(2**23), 2**23 - 1), "int128": st.integers(-(2**127), 2**127 - 1),
    "address": addresses, "bool": st.booleans(),
}


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.sampled_from(sorted(_WORD_VALUES)).flatmap(
    lambda t: st.tuples(st.just(t), _WORD_VALUES[t])), min_size=1, max_size=6))
def test_fast_decoding_equals_eth_abi(values: list[tuple[str, object]]) -> None:
    types = [t for t, _ in values]
    data = abi_encode(types, [v for _, v in values])
    expected = [v.lower() if isinstance(v, str) else v for v in abi_decode(types, data)]
    assert list(decode(types, data)) == expected == [v.lower() if isinstance(v, str) else v for _, v in values]
