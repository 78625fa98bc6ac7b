"""RPC for adapters and the orchestrator: connections (failover across a chain's endpoints, head agreement, head
freshness), call encoding, one-round-trip batched reads, staged reads, the read lens (one eth_call per chain).

Usage::

    from adapters.rpc import connect, check_heads, check_head_fresh, encode_call, batch_call, decode
"""

from adapters.rpc.abi import (
    DEFAULT_CALL_GAS,
    Address,
    Call,
    CallResult,
    cached_call,
    calldata,
    checksum_address,
    decode,
    encode_call,
)
from adapters.rpc.batch import RpcBatch, error_message, hex_int
from adapters.rpc.connection import (
    READ_METHODS,
    SEND_METHODS,
    ChainEndpoint,
    EndpointStatus,
    FailoverEndpoint,
    FailoverPolicy,
    FailoverStatus,
    Head,
    RoundTripCounter,
    check_head_fresh,
    default_tolerance_blocks,
    endpoint_urls,
    make_web3,
    redact_url,
)
from adapters.rpc.failover import FailoverProvider, check_heads, connect, rpc_status
from adapters.rpc.lens import LENS_ADDRESS, Walk, WalkKind, lens_status, lens_usable
from adapters.rpc.multicall import batch_call, batch_call_in, decode_multicall, encode_multicall, raw_call
from adapters.rpc.stages import StageResult, Stages, run_stages

__all__ = [
    "DEFAULT_CALL_GAS",
    "LENS_ADDRESS",
    "READ_METHODS",
    "SEND_METHODS",
    "Address",
    "Call",
    "CallResult",
    "ChainEndpoint",
    "EndpointStatus",
    "FailoverEndpoint",
    "FailoverPolicy",
    "FailoverProvider",
    "FailoverStatus",
    "Head",
    "RoundTripCounter",
    "RpcBatch",
    "StageResult",
    "Stages",
    "Walk",
    "WalkKind",
    "batch_call",
    "batch_call_in",
    "cached_call",
    "calldata",
    "check_head_fresh",
    "check_heads",
    "checksum_address",
    "connect",
    "decode",
    "decode_multicall",
    "default_tolerance_blocks",
    "encode_call",
    "encode_multicall",
    "endpoint_urls",
    "error_message",
    "hex_int",
    "lens_status",
    "lens_usable",
    "make_web3",
    "raw_call",
    "redact_url",
    "rpc_status",
    "run_stages",
]
