"""devnet.free_port_offset: the offset tests and benches put their own devnet at, beside whatever listens already."""

from __future__ import annotations

import socket

from devnet import free_port_offset, port_free


def test_an_offset_with_a_port_taken_is_skipped_and_one_past_the_range_is_never_returned() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        assert not port_free(taken)
        base = [taken - 100, taken]  # a two-chain devnet whose second chain's port is the taken one at offset 0
        offset = free_port_offset(base, [0, 7, 14])
        assert offset in (7, 14) and all(port_free(p + offset) for p in base)
    assert free_port_offset([65_000], [600, 700]) is None  # 65,600 is no port: the search ends there
