"""The values of the transfer kind: a bridge route's quote, the deposit it made and the fill that ended it.

A transfer adapter (``kind = "transfer"``, :class:`adapters.contract.TransferAdapter`) moves one token from the
wallet on one chain to the same wallet on another. It is an instrument like a swap (see DESIGN.md "Instruments"):
it changes no risk, it consumes inventory on the origin chain and delivers it, less a fee, on the destination
after a latency; its fixed cost is the origin's gas. These values cross stage boundaries (quote -> plan -> ledger),
so they are frozen and round-trip to JSON.

Usage::

    quote = registry.transfer("across").quote(origin_entry, destination_entry, usdc, amount_raw=10**12)
    quote.amount_out_raw, quote.fee_raw, quote.expected_fill_s
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

from adapters.types import TokenInfo
from crosshedge import Frozen


@dataclass(frozen=True)
class TransferEntry:
    """One transfer section of chains.yaml (``chains.<chain>.transfers.<name>``): its adapter and validated config.

    A route exists between two chains that both configure a section of the same adapter."""

    name: str
    chain: str
    adapter: str
    config: BaseModel
    enabled: bool = True


@dataclass(frozen=True)
class TransferRoute:
    """One direction between two chains' sections of one transfer adapter, for one token (the same symbol on both
    ends). Built by the caller from the config; the adapter reads only what is here."""

    origin: TransferEntry
    destination: TransferEntry
    origin_chain_id: int
    destination_chain_id: int
    token_in: TokenInfo
    token_out: TokenInfo

    @property
    def key(self) -> str:
        """``"ethereum->base/USDC"``: how plans, the ledger and messages name the route."""
        return f"{self.origin.chain}->{self.destination.chain}/{self.token_in.symbol}"


class TransferQuote(Frozen):
    """What moving ``amount_in_raw`` of a token from ``origin`` to ``destination`` costs and takes.

    ``amount_out_raw`` is what the wallet receives on the destination (the deposit's ``outputAmount``);
    ``fee_raw`` = in − out, the bridge's fee for this amount (LP fee + relayer fee + the relayer's gas);
    ``gas_units`` the origin deposit's gas (the caller prices it in USD with the chain's gas model);
    ``expected_fill_s`` how long after the deposit the fill is expected; ``fill_deadline_s`` how long the deposit
    stays fillable before it expires and is refunded.
    """

    adapter: str
    origin: str
    destination: str
    symbol: str
    input_token: str
    output_token: str
    decimals: int = Field(ge=0, le=36)
    amount_in_raw: int = Field(gt=0)
    amount_out_raw: int = Field(ge=0)
    fee_raw: int = Field(ge=0)
    fee_bps: float = Field(ge=0)  # the proportional part of the fee (the fixed part is fixed_fee_raw)
    fixed_fee_raw: int = Field(ge=0)
    gas_units: int = Field(gt=0)
    expected_fill_s: float = Field(ge=0)
    fill_deadline_s: int = Field(gt=0)
    max_amount_raw: int = Field(gt=0)  # the most one deposit on this route may carry


class Deposit(Frozen):
    """A deposit decoded from its origin receipt: everything the destination's fill and the refund refer to."""

    adapter: str
    origin: str
    origin_chain_id: int
    destination_chain_id: int
    deposit_id: int
    depositor: str
    recipient: str
    input_token: str
    output_token: str
    input_amount: int
    output_amount: int
    quote_timestamp: int
    fill_deadline: int
    exclusivity_deadline: int
    exclusive_relayer: str
    message: str = "0x"
    tx_hash: str
    block_number: int


class RelayFill(Frozen):
    """The destination's fill of a deposit, found in its logs."""

    destination: str
    tx_hash: str
    block_number: int
    block_timestamp: int
    relayer: str
    output_amount: int
    recipient: str


class Refund(Frozen):
    """A refund of an expired deposit to the depositor on the origin, found in its logs."""

    origin: str
    tx_hash: str
    block_number: int
    log_index: int
    amount: int


class FillStatus(StrEnum):
    """The destination's record of a deposit (the SpokePool's ``fillStatuses``)."""

    UNFILLED = "unfilled"
    SLOW_FILL_REQUESTED = "slow_fill_requested"
    FILLED = "filled"


__all__ = ["Deposit", "FillStatus", "Refund", "RelayFill", "TransferEntry", "TransferQuote", "TransferRoute"]
