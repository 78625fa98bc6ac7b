"""The read lens: the project's own Solidity contract (``ReadLens.sol``) that reads every venue of a chain in ONE
``eth_call``, run with a state override so it is never deployed. It executes the staged readers' first-round calls
and walks each Uniswap V3 pool's tick bitmap (and, through StateView, each V4 pool's) itself, so the later rounds
are answered without round trips.

Usage::

    from adapters.rpc.lens import Walk, lens_round, lens_usable
"""

from adapters.rpc.lens.build import build, lens_runtime_code
from adapters.rpc.lens.codec import LensAnswer, Walk, WalkKind, WalkOut, decode_read, encode_read, walk_answers
from adapters.rpc.lens.driver import (
    LENS_ADDRESS,
    LENS_GAS,
    MAX_OUT,
    RESERVE_GAS,
    Answers,
    LensRound,
    lens_round,
    lens_status,
    lens_usable,
)

__all__ = [
    "LENS_ADDRESS",
    "LENS_GAS",
    "MAX_OUT",
    "RESERVE_GAS",
    "Answers",
    "LensAnswer",
    "LensRound",
    "Walk",
    "WalkKind",
    "WalkOut",
    "build",
    "decode_read",
    "encode_read",
    "lens_round",
    "lens_runtime_code",
    "lens_status",
    "lens_usable",
    "walk_answers",
]
