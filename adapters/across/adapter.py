"""The ``across`` transfer adapter: Across Protocol's SpokePool (v3 deposits, 5.x ABI with bytes32 addresses).

A transfer is one ``deposit`` on the origin's SpokePool (after an exact approval of it), which emits
``FundsDeposited``; a relayer pays the recipient on the destination from its own inventory with ``fillRelay``
(``FilledRelay``); a deposit nobody fills by its ``fillDeadline`` is refunded to the depositor on the origin through
a root bundle (``ExecutedRelayerRefundRoot``). The quote is the relayers' published schedule in the config, so it
costs no round trip; the fill and the refund are found in logs, pinned to block ranges.

Usage::

    quote = AcrossAdapter().quote(route, amount_in=250_000 * 10**6)
    tx = AcrossAdapter().build_deposit(route, quote, wallet, wallet, quote_timestamp=now, fill_deadline=now + 1800)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from hexbytes import HexBytes
from pydantic import BaseModel
from web3 import Web3
from web3.types import FilterParams

from adapters.across.config import AcrossConfig
from adapters.across.events import (
    EXECUTED_REFUND_ROOT,
    FILLED_RELAY,
    FUNDS_DEPOSITED,
    decode_deposit,
    decode_fill,
    decode_refund,
    logs_of,
    relay_hash,
    to_bytes32,
)
from adapters.contract import ANY_CODE, LinkCheck, LinkKind, RoleCheck, VenueChecks, VenueContracts, ViewCall
from adapters.rpc import calldata, checksum_address, decode, encode_call
from adapters.transfers import Deposit, FillStatus, Refund, RelayFill, TransferEntry, TransferQuote, TransferRoute
from adapters.types import ChainContext, TxRequest
from crosshedge import AdapterError, InputError

DEPOSIT = ("deposit(bytes32,bytes32,bytes32,bytes32,uint256,uint256,uint256,bytes32,uint32,uint32,uint32,bytes)")
#: No cap configured: the most a uint256 amount the SpokePool accepts can carry, in practice unbounded.
UNCAPPED = 2**127
_STATUSES = (FillStatus.UNFILLED, FillStatus.SLOW_FILL_REQUESTED, FillStatus.FILLED)


def _config(entry: TransferEntry) -> AcrossConfig:
    if not isinstance(entry.config, AcrossConfig):
        raise AdapterError(f"chain {entry.chain}: transfers.{entry.name} is not an across section")
    return entry.config


def _topic(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


class AcrossAdapter:
    """Transfer adapter for Across SpokePools (see module docstring)."""

    name: ClassVar[str] = "across"
    kind: ClassVar[Literal["transfer"]] = "transfer"
    config_model: ClassVar[type[BaseModel]] = AcrossConfig

    def contracts(self, entry: TransferEntry) -> VenueContracts:
        """The SpokePool: the approval spender, what the deposit calls and what fill checks read."""
        spoke = _config(entry).spoke_pool
        return VenueContracts(spender=spoke, called={"spoke_pool": spoke}, read={"spoke_pool": spoke})

    def verification(self, entry: TransferEntry) -> VenueChecks:
        """The SpokePool must hold code and wrap the chain's native coin with its configured WETH (a SpokePool of
        another chain, or no SpokePool at all, answers otherwise). Its proxy's implementation varies with
        upgrades, so the exact code is pinned by ``code_hashes`` where the operator wants it pinned."""
        spoke = _config(entry).spoke_pool
        return VenueChecks(
            roles={"spoke_pool": RoleCheck(address=spoke, code=ANY_CODE)},
            links=(LinkCheck(call=ViewCall(role="spoke_pool", signature="wrappedNativeToken()"),
                             expect=LinkKind.NATIVE_TOKEN, says="the chain's wrapped native token",
                             note="a SpokePool wraps the native coin of the chain it serves"),),
        )

    def tokens(self, entry: TransferEntry) -> tuple[str, ...]:
        return tuple(_config(entry).tokens)

    def quote(self, route: TransferRoute, amount_in: int) -> TransferQuote:
        """The destination's published schedule applied to ``amount_in`` (raw units of the origin token)."""
        origin, dest = _config(route.origin), _config(route.destination)
        symbol = route.token_in.symbol
        for entry, cfg in ((route.origin, origin), (route.destination, dest)):
            if symbol not in cfg.tokens:
                raise InputError(f"chain {entry.chain}: transfers.{entry.name} does not bridge {symbol} (tokens "
                                 f"{cfg.tokens})")
        if route.token_in.decimals != route.token_out.decimals:
            raise InputError(f"route {route.key}: {symbol} has {route.token_in.decimals} decimals on "
                             f"{route.origin.chain} and {route.token_out.decimals} on {route.destination.chain}")
        if amount_in <= 0:
            raise InputError(f"route {route.key}: amount must be positive, got {amount_in}")
        centi = dest.fee_centi_bps
        proportional = -(-amount_in * centi // 1_000_000)  # ceil: never below what a relayer asks
        fixed = dest.relayer_fixed_fee.get(symbol, 0)
        fee = min(amount_in, proportional + fixed)
        return TransferQuote(
            adapter=self.name, origin=route.origin.chain, destination=route.destination.chain, symbol=symbol,
            input_token=route.token_in.address, output_token=route.token_out.address,
            decimals=route.token_in.decimals, amount_in_raw=amount_in, amount_out_raw=amount_in - fee, fee_raw=fee,
            fee_bps=centi / 100, fixed_fee_raw=fixed, gas_units=origin.deposit_gas,
            expected_fill_s=dest.expected_fill_s, fill_deadline_s=min(origin.fill_deadline_s, dest.fill_deadline_s),
            max_amount_raw=min(origin.max_deposit_raw.get(symbol, UNCAPPED),
                               dest.max_deposit_raw.get(symbol, UNCAPPED)),
        )

    def build_deposit(self, route: TransferRoute, quote: TransferQuote, depositor: str, recipient: str,
                      quote_timestamp: int, fill_deadline: int) -> TxRequest:
        """``deposit`` of the quote's input for exactly its output, to ``recipient`` on the destination; open to
        any relayer (no exclusivity), no message."""
        if quote.amount_out_raw <= 0:
            raise InputError(f"route {route.key}: {quote.amount_in_raw} raw {quote.symbol} does not cover the "
                             f"bridge fee {quote.fee_raw}")
        if quote.amount_in_raw > quote.max_amount_raw:
            raise InputError(f"route {route.key}: {quote.amount_in_raw} raw {quote.symbol} is above the route's "
                             f"limit {quote.max_amount_raw}")
        if not quote_timestamp < fill_deadline <= quote_timestamp + quote.fill_deadline_s:
            raise InputError(f"route {route.key}: fill deadline {fill_deadline} must fall within "
                             f"{quote.fill_deadline_s} s after the quote time {quote_timestamp}")
        data = calldata(DEPOSIT, to_bytes32(depositor), to_bytes32(recipient), to_bytes32(quote.input_token),
                        to_bytes32(quote.output_token), quote.amount_in_raw, quote.amount_out_raw,
                        route.destination_chain_id, bytes(32), quote_timestamp, fill_deadline, 0, b"")
        return TxRequest(chain_id=route.origin_chain_id, to=_config(route.origin).spoke_pool, data=data,
                         description=f"across deposit {route.key} {quote.amount_in_raw} -> {quote.amount_out_raw}")

    def parse_deposit(self, route: TransferRoute, receipt: Mapping[str, Any]) -> Deposit:
        """The FundsDeposited event of the origin SpokePool in ``receipt``."""
        tx = "0x" + bytes(HexBytes(receipt["transactionHash"])).hex()
        if int(receipt["status"]) != 1:
            raise AdapterError(f"chain {route.origin.chain}: deposit {tx} reverted")
        logs = logs_of(receipt, _config(route.origin).spoke_pool, bytes(FUNDS_DEPOSITED))
        if len(logs) != 1:
            raise AdapterError(f"chain {route.origin.chain}: deposit {tx} emitted {len(logs)} FundsDeposited events "
                               "from the SpokePool, not one")
        return decode_deposit(logs[0], self.name, route.origin.chain, route.origin_chain_id)

    def fill_status(self, chain: ChainContext, route: TransferRoute, deposit: Deposit, block: int) -> FillStatus:
        """``fillStatuses(relayHash)`` on the destination SpokePool at ``block``."""
        call = encode_call(_config(route.destination).spoke_pool, "fillStatuses(bytes32)",
                           relay_hash(deposit, route.destination_chain_id))
        raw = chain.w3.eth.call({"to": call.target, "data": call.data}, block)
        (status,) = decode(("uint256",), bytes(raw))
        if not 0 <= status < len(_STATUSES):
            raise AdapterError(f"chain {chain.name}: fillStatuses answered {status} for deposit {deposit.deposit_id}")
        return _STATUSES[status]

    def find_fill(self, chain: ChainContext, route: TransferRoute, deposit: Deposit, from_block: int,
                  to_block: int) -> RelayFill | None:
        """The destination's FilledRelay of ``deposit`` (matched on origin, id and amounts) between the blocks."""
        spoke = checksum_address(_config(route.destination).spoke_pool)
        params: FilterParams = {"address": spoke, "fromBlock": from_block, "toBlock": to_block,
                                "topics": ["0x" + bytes(FILLED_RELAY).hex(), _topic(deposit.origin_chain_id),
                                           _topic(deposit.deposit_id)]}
        for log in chain.w3.eth.get_logs(params):
            fill = decode_fill(log)
            if (fill["input_amount"], fill["output_amount"], checksum_address(fill["depositor"])) != (
                    deposit.input_amount, deposit.output_amount, checksum_address(deposit.depositor)):
                continue  # another origin's deposit with the same id, or a different relay: not ours
            block = chain.w3.eth.get_block(int(log["blockNumber"]))
            return RelayFill(destination=chain.name, tx_hash="0x" + bytes(HexBytes(log["transactionHash"])).hex(),
                             block_number=int(log["blockNumber"]), block_timestamp=int(block["timestamp"]),
                             relayer=fill["relayer"], output_amount=int(fill["paid"]), recipient=fill["recipient"])
        return None

    def find_refund(self, chain: ChainContext, route: TransferRoute, deposit: Deposit, from_block: int,
                    to_block: int) -> Refund | None:
        """A refund leaf paying the deposit's input back to its depositor on the origin between the blocks.

        A leaf names addresses and amounts, not deposits: the first payment of exactly the input amount of the
        input token to the depositor is taken (the ledger attributes each refund log to one deposit only)."""
        spoke = checksum_address(_config(route.origin).spoke_pool)
        params: FilterParams = {"address": spoke, "fromBlock": from_block, "toBlock": to_block,
                                "topics": ["0x" + bytes(EXECUTED_REFUND_ROOT).hex(), _topic(deposit.origin_chain_id)]}
        want = (checksum_address(deposit.depositor), deposit.input_amount)
        for log in chain.w3.eth.get_logs(params):
            refund = decode_refund(log)
            if refund["token"] == checksum_address(deposit.input_token) and want in refund["refunds"]:
                return Refund(origin=chain.name, tx_hash="0x" + bytes(HexBytes(log["transactionHash"])).hex(),
                              block_number=int(log["blockNumber"]), log_index=int(log["logIndex"]),
                              amount=deposit.input_amount)
        return None


def spoke_pool_of(entry: TransferEntry) -> str:
    """The SpokePool an across section names (for allowlists and tools)."""
    return Web3.to_checksum_address(_config(entry).spoke_pool)
