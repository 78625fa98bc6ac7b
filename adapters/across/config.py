"""The ``across`` transfer section of one chain in chains.yaml: its SpokePool and the relayers' published fees.

Usage (chains.yaml)::

    chains:
      base:
        transfers:
          across: {adapter: across, spoke_pool: 0x..., tokens: [USDC, WETH], lp_fee_bps: 1, relayer_fee_bps: 4,
                   relayer_fixed_fee: {USDC: 500000, WETH: 166666666666666}, expected_fill_s: 4, fill_deadline_s: 1800}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.rpc import Address


class AcrossConfig(BaseModel):
    """One chain's Across SpokePool and the fee schedule its relayers publish for fills on routes to it.

    The fee of a transfer of ``a`` raw units is ``ceil(a·(lp_fee_bps + relayer_fee_bps)/10⁴)`` plus the
    destination's ``relayer_fixed_fee`` of the token (the relayer's gas there, in the token's raw units): the
    deposit's ``outputAmount`` is the input less that fee, and a relayer fills only deposits that pay it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    spoke_pool: Address  # the SpokePool proxy (deposits and fills go to it)
    tokens: list[str] = Field(min_length=1)  # symbols this chain's SpokePool bridges (configured tokens)
    lp_fee_bps: float = Field(ge=0, lt=1000)
    relayer_fee_bps: float = Field(ge=0, lt=1000)
    relayer_fixed_fee: dict[str, int] = {}  # symbol -> raw units a fill to this chain costs on top
    expected_fill_s: float = Field(gt=0)  # deposit -> fill, as the relayers publish it
    fill_deadline_s: int = Field(gt=0, le=86_400)  # a deposit stays fillable this long (the SpokePool's limit)
    max_deposit_raw: dict[str, int] = {}  # symbol -> the most one deposit may carry (the relayers' inventory)
    deposit_gas: int = Field(default=110_000, gt=0)  # gas units of one deposit call

    @model_validator(mode="after")
    def _fees_for_bridged_tokens(self) -> AcrossConfig:
        for field, values in (("relayer_fixed_fee", self.relayer_fixed_fee), ("max_deposit_raw", self.max_deposit_raw)):
            unknown = sorted(set(values) - set(self.tokens))
            if unknown:
                raise ValueError(f"{field} names {unknown}, which are not in tokens {self.tokens}")
            negative = sorted(s for s, v in values.items() if v < 0 or (field == "max_deposit_raw" and v == 0))
            if negative:
                raise ValueError(f"{field}: {negative} must be positive raw amounts")
        return self

    @property
    def fee_centi_bps(self) -> int:
        """The proportional fee in hundredths of a basis point (integer math keeps quotes exact)."""
        return round((self.lp_fee_bps + self.relayer_fee_bps) * 100)
