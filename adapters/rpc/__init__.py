"""RPC for adapters and the orchestrator: connections, call encoding, one-round-trip batched reads, staged reads.

Usage::

    from adapters.rpc import connect, encode_call, batch_call, decode
"""

from adapters.rpc.abi import DEFAULT_CALL_GAS, Address, Call, CallResult, calldata, decode, encode_call
from adapters.rpc.connection import (
    READ_METHODS,
    ChainEndpoint,
    RoundTripCounter,
    connect,
    make_web3,
    redact_url,
)
from adapters.rpc.multicall import batch_call, decode_multicall, encode_multicall, raw_call
from adapters.rpc.stages import StageResult, Stages, run_stages

__all__ = [
    "DEFAULT_CALL_GAS",
    "READ_METHODS",
    "Address",
    "Call",
    "CallResult",
    "ChainEndpoint",
    "RoundTripCounter",
    "StageResult",
    "Stages",
    "batch_call",
    "calldata",
    "connect",
    "decode",
    "decode_multicall",
    "encode_call",
    "encode_multicall",
    "make_web3",
    "raw_call",
    "redact_url",
    "run_stages",
]
