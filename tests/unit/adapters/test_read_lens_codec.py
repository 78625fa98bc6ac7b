"""The read lens's hand-written codec against eth_abi's generic one, the walk output format, and its build cache."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from adapters import encode_call
from adapters.rpc.lens import Walk, WalkKind, WalkOut, build, decode_read, encode_read, lens_runtime_code, walk_answers
from adapters.rpc.lens.codec import READ_SIGNATURE
from adapters.rpc.lens.driver import _merged

POOL = "0x" + "ab" * 20
TOKEN = "0x" + "cd" * 20
WORD = 1 << 256
STATE_VIEW = "0x" + "5e" * 20
POOL_ID = bytes(range(32))
TYPES = ["(address,uint256,bytes)[]", "(address,uint256,bytes32,int256,int256,bool,int256,int256)[]", "uint256",
         "uint256"]


def answer(results: list[tuple[bool, int, bytes]], out: list[int]) -> bytes:
    """What ReadLens.read returns, encoded by eth_abi."""
    return abi_encode(["uint256", "(bool,uint256,bytes)[]", "uint256", "uint256", "uint256[]"],
                      [123, results, 1_700_000_000, 7, [v % WORD for v in out]])


def test_calldata_is_what_eth_abi_encodes() -> None:
    calls = [encode_call(TOKEN, "decimals()"), encode_call(POOL, "ticks(int24)", -887_220)]
    walks = [Walk(POOL, 4000), Walk(POOL, 10, (-3466, -3000))]
    data = encode_read(calls, walks, 4_000_000, 12_000)
    assert data[:4] == keccak(text=READ_SIGNATURE)[:4]
    got_calls, got_walks, reserve, max_out = abi_decode(TYPES, data[4:])
    assert [(t.lower(), g, d) for t, g, d in got_calls] == [(c.target, c.gas, c.data) for c in calls]
    none = b"\0" * 32
    assert got_walks == ((POOL, 0, none, 0, 4000, False, 0, 0), (POOL, 0, none, 0, 10, True, -3466, -3000))
    assert (reserve, max_out) == (4_000_000, 12_000)


def test_walk_output_becomes_the_answers_of_the_calls_it_replaces() -> None:
    # Spacing 60, words -2..-1 (ticks -30720..-60): word -2 has bits 0 and 255 set, word -1 none.
    bits = 1 | (1 << 255)
    out = [1, -200, 60, -2, -1, 0, bits, 5, -5, 6, 6, 0, 0, 0, 0, 0, 0, 0]  # then a walk of an address not a pool
    walks = [Walk(POOL, 100), Walk(TOKEN, 100)]
    got = decode_read(answer([(True, 21, b"\x12")], out), walks)
    assert (got.block_number, got.timestamp, got.base_fee) == (123, 1_700_000_000, 7)
    assert got.results[0].success and got.results[0].data == b"\x12"
    pool, token = got.walks
    assert (pool.ok, pool.tick, pool.spacing, pool.lo, pool.hi, pool.complete) == (True, -200, 60, -2, -1, True)
    assert pool.words == {-2: bits, -1: 0}
    assert pool.ticks == {-512 * 60: (5, WORD - 5), (-512 + 255) * 60: (6, 6)}
    assert not token.ok and token.complete
    answers = walk_answers(got.walks)
    tick_key = (POOL, encode_call(POOL, "ticks(int24)", -512 * 60).data)
    assert int.from_bytes(answers[tick_key].data[32:64], "big", signed=True) == -5
    word_key = (POOL, encode_call(POOL, "tickBitmap(int16)", -2).data)
    assert int.from_bytes(answers[word_key].data, "big") == bits and len(answers) == 4


def v4_walk(pool_id: bytes = POOL_ID, words: tuple[int, int] | None = None) -> Walk:
    return Walk(STATE_VIEW, 4000, words, kind=WalkKind.V4_STATE_VIEW, pool_id=pool_id, spacing=10)


def test_a_v4_walk_carries_its_kind_pool_id_and_spacing() -> None:
    data = encode_read([], [Walk(POOL, 4000), v4_walk(words=(-2, 3))], 4_000_000, 12_000)
    _, got_walks, _, _ = abi_decode(TYPES, data[4:])
    assert got_walks[1] == (STATE_VIEW, 1, POOL_ID, 10, 4000, True, -2, 3)


def test_a_walk_refuses_fields_its_kind_does_not_have() -> None:
    with pytest.raises(ValueError, match="32-byte pool id"):
        Walk(STATE_VIEW, 4000, kind=WalkKind.V4_STATE_VIEW, pool_id=b"\1" * 20, spacing=10)
    with pytest.raises(ValueError, match="positive tick spacing"):
        Walk(STATE_VIEW, 4000, kind=WalkKind.V4_STATE_VIEW, pool_id=POOL_ID)
    with pytest.raises(ValueError, match="no pool id"):
        Walk(POOL, 4000, pool_id=POOL_ID)


def test_a_v4_walk_answers_state_views_getters_for_its_pool_id() -> None:
    # Spacing 10, word 3 with bits 1 and 7 set; a second pool on the same StateView answers under its own id.
    bits = (1 << 1) | (1 << 7)
    out = [1, 7700, 10, 3, 3, 4, bits, 11, 5, 12, -12, 1, 0, 10, 0, 0, 1, 0]
    other = bytes(32)[:-1] + b"\x01"
    walks = [v4_walk(), v4_walk(other)]
    got = decode_read(answer([], out), walks)
    first, second = got.walks
    assert first.ticks == {(3 * 256 + 1) * 10: (11, 5), (3 * 256 + 7) * 10: (12, WORD - 12)}
    assert second.words == {0: 0}
    answers = walk_answers(got.walks)
    assert len(answers) == 4
    net_key = (STATE_VIEW, encode_call(STATE_VIEW, "getTickLiquidity(bytes32,int24)", POOL_ID, (3 * 256 + 7) * 10).data)
    gross, net = abi_decode(["uint128", "int128"], answers[net_key].data)
    assert (gross, net) == (12, -12)  # the word read as StateView returns it: decodes as its own answer does
    word_key = (STATE_VIEW, encode_call(STATE_VIEW, "getTickBitmap(bytes32,int16)", other, 0).data)
    assert answers[word_key].data == bytes(32)
    assert (STATE_VIEW, encode_call(STATE_VIEW, "getTickBitmap(bytes32,int16)", POOL_ID, 3).data) in answers
    assert (STATE_VIEW, encode_call(POOL, "tickBitmap(int16)", 3).data) not in answers


def test_continued_pieces_merge_into_their_own_pool_not_a_neighbour_on_the_same_state_view() -> None:
    first, second = v4_walk(), v4_walk(bytes(31) + b"\x01")
    outs = [WalkOut(first, True, 0, 10, -1, 1, 0, {-1: 0}), WalkOut(second, True, 0, 10, -1, 1, 0, {-1: 0})]
    pieces = [WalkOut(v4_walk(words=(0, 1)), True, 0, 10, 0, 1, 2, {0: 0, 1: 0}),
              WalkOut(v4_walk(second.pool_id, (0, 1)), True, 0, 10, 0, 1, 2, {0: 5, 1: 0})]
    a, b = _merged(outs, pieces)
    assert a.complete and a.words == {-1: 0, 0: 0, 1: 0}
    assert b.complete and b.words == {-1: 0, 0: 5, 1: 0}


def test_an_unfinished_walk_says_where_it_stopped() -> None:
    out = [1, 0, 1, -3466, 3465, -3000] + [0] * 466
    [walk] = decode_read(answer([], out), [Walk(POOL, 887272)]).walks
    assert not walk.complete and walk.next == -3000 and len(walk.words) == 466


@pytest.mark.parametrize("out", [[1, 0, 1, 0, 0, 1], [1, 0, 1, 0, 0, 1, 1], [1, 0, 1, 0, 0, 1, 0, 0]])
def test_malformed_walk_output_is_refused(out: list[int]) -> None:
    # A header claiming one word with the word missing, its set bit's liquidity missing, or words left over.
    with pytest.raises(ValueError):
        decode_read(answer([], out), [Walk(POOL, 1)])


def test_the_build_is_cached_by_source_hash_and_idempotent() -> None:
    path = build()
    stamp = path.stat().st_mtime_ns
    assert build() == path and path.stat().st_mtime_ns == stamp  # a second build does nothing
    assert path.name.startswith("ReadLens-") and len(lens_runtime_code()) > 1000
