"""Venue and position-source plugins: the contract, the values adapters produce, the registry and conformance suite.

Built-in adapters (``uniswap_v3``, ``uniswap_v2``, ``erc20``, ``uniswap_v3_lp``, ``option_book``) are found through
the ``crosshedge.adapters`` entry-point group like any third-party plugin, so nothing here imports them; what they
share with the rest of crosshedge (values, RPC helpers, the curve helpers) is exported below.

Usage::

    from adapters import Side, default_registry
    v3 = default_registry().venue("uniswap_v3")
"""

from adapters.conformance import (
    AdapterConformance,
    check_entry_point,
    check_live_venue,
    check_static,
    contract_problems,
    static_problems,
)
from adapters.contract import (
    REQUIRED_MEMBERS,
    Adapter,
    Capability,
    PositionScope,
    PositionSource,
    StagedVenueReader,
    VenueAdapter,
    VenueContracts,
)
from adapters.option_book import load_book
from adapters.positions import LpPosition, OptionPosition, Smile, SpotPosition
from adapters.registry import ENTRY_POINT_GROUP, AdapterRegistry, check_conformance, default_registry
from adapters.rpc import (
    Address,
    Call,
    CallResult,
    ChainEndpoint,
    RoundTripCounter,
    Stages,
    batch_call,
    calldata,
    connect,
    decode,
    encode_call,
    make_web3,
    redact_url,
    run_stages,
)
from adapters.types import (
    ChainContext,
    Curve,
    Fill,
    PositionEntry,
    Segment,
    Side,
    TokenInfo,
    TxRequest,
    VenueEntry,
    VenueState,
    ordered_curve_ok,
)
from adapters.uniswap import size_within_bps

__all__ = [
    "ENTRY_POINT_GROUP",
    "REQUIRED_MEMBERS",
    "Adapter",
    "AdapterConformance",
    "AdapterRegistry",
    "Address",
    "Call",
    "CallResult",
    "Capability",
    "ChainContext",
    "ChainEndpoint",
    "Curve",
    "Fill",
    "LpPosition",
    "OptionPosition",
    "PositionEntry",
    "PositionScope",
    "PositionSource",
    "RoundTripCounter",
    "Segment",
    "Side",
    "Smile",
    "SpotPosition",
    "StagedVenueReader",
    "Stages",
    "TokenInfo",
    "TxRequest",
    "VenueAdapter",
    "VenueContracts",
    "VenueEntry",
    "VenueState",
    "batch_call",
    "calldata",
    "check_conformance",
    "check_entry_point",
    "check_live_venue",
    "check_static",
    "connect",
    "contract_problems",
    "decode",
    "default_registry",
    "encode_call",
    "load_book",
    "make_web3",
    "ordered_curve_ok",
    "redact_url",
    "run_stages",
    "size_within_bps",
    "static_problems",
]
