"""The devnet's Across relayer: a third party, like the market driver, that fills every chain's deposits.

It watches ``FundsDeposited`` on every chain's SpokePool (devnet.across) and, ``--delay-s`` after a deposit's
block time, fills it on the destination's SpokePool (``fillRelay``, repaid on the origin) from the devnet's relayer
account, an unlocked anvil account (``eth_sendTransaction``: no key anywhere). It fills each deposit once: the
fills it made are remembered, and the destination's ``fillStatuses`` is read before every fill, so a restarted
relayer never fills twice. It skips a deposit whose fill deadline has passed, and one that pays less than the fee
schedule it publishes (the devnet spec's DevnetAcross, in the state file). ``--no-fill`` watches but never fills
(a relayer that is down, for the tests of unfilled transfers). A chain reverted under it (evm_revert, a reorg)
is scanned again; a deposit whose block is gone is dropped.

Every step is one JSON line in ``relayer-across.log`` (read with devnet.read_events): ``ready``, ``deposit``,
``filled``, ``already_filled``, ``expired``, ``underpriced``, ``due`` (with --no-fill), ``dropped``, ``error``.

Usage::

    python -m devnet.relayer --state .crosshedge/devnet/state.json --delay-s 4      # (what `devnet up` starts)
    proc = start_relayer(state_dir, delay_s=4.0, fill=False); stop_relayer(state_dir)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests
from eth_abi.abi import encode as abi_encode
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, ContractLogicError, TimeExhausted, Web3Exception

from devnet.across import DevnetAcross, spoke_pool
from devnet.artifacts import load_artifact
from devnet.deployer import MAX_UINT, TX
from devnet.mev.processes import DevnetProcess, print_event, process_running, spawn, stop_process

KIND, NAME = "relayer", "across"
STATE_FILE = "state.json"
FILL_GAS = 500_000
#: V3RelayData followed by the destination chain id: what the relay hash (fillStatuses' key) is taken over.
_RELAY_HASH_TYPES = ["(bytes32,bytes32,bytes32,bytes32,bytes32,uint256,uint256,uint256,uint256,uint32,uint32,bytes)",
                     "uint256"]
_TRANSIENT = (requests.RequestException, OSError, TimeExhausted, ValueError)

Decision = Literal["wait", "fill", "expired", "underpriced"]


@dataclass(frozen=True)
class SeenDeposit:
    """One FundsDeposited log, with what filling it takes (``relay_data`` is fillRelay's V3RelayData)."""

    origin: str
    block_number: int
    block_hash: str
    log_index: int
    block_time: int
    relay_data: tuple[Any, ...]
    destination_chain_id: int

    @property
    def key(self) -> tuple[str, str, int]:
        """Names this deposit in this block: after a revert the same deposit id is a new deposit."""
        return self.origin, self.block_hash, self.log_index

    @property
    def deposit_id(self) -> int:
        return int(self.relay_data[8])

    @property
    def origin_chain_id(self) -> int:
        return int(self.relay_data[7])

    @property
    def input_amount(self) -> int:
        return int(self.relay_data[5])

    @property
    def output_amount(self) -> int:
        return int(self.relay_data[6])

    @property
    def output_token(self) -> str:
        return Web3.to_checksum_address(bytes(self.relay_data[4])[-20:])

    @property
    def fill_deadline(self) -> int:
        return int(self.relay_data[9])


def decide(deposit: SeenDeposit, origin_now: float, destination_now: float, delay_s: float, fee_raw: int) -> Decision:
    """What to do with a deposit now: ``expired`` once the destination's clock reached its fill deadline (a fill
    would revert), ``underpriced`` when it leaves the relayer less than ``fee_raw``, ``wait`` until ``delay_s``
    after its block time on the origin's clock, then ``fill``."""
    if destination_now >= deposit.fill_deadline:
        return "expired"
    if deposit.input_amount - deposit.output_amount < fee_raw:
        return "underpriced"
    if origin_now < deposit.block_time + delay_s:
        return "wait"
    return "fill"


def relay_hash(deposit: SeenDeposit) -> bytes:
    return bytes(Web3.keccak(abi_encode(_RELAY_HASH_TYPES, [deposit.relay_data, deposit.destination_chain_id])))


@dataclass
class ChainLink:
    """One chain as the relayer sees it: its SpokePool, the relayer account, the tokens it can pay out."""

    name: str
    w3: Web3
    chain_id: int
    spoke: Contract
    relayer: str
    tokens: dict[str, str]  # checksum address -> symbol
    cursor: tuple[int, bytes] | None = None  # the last block scanned (number, hash)
    head_time: int = 0

    @classmethod
    def from_state(cls, name: str, state: dict[str, Any]) -> ChainLink:
        w3 = Web3(HTTPProvider(state["rpc_url"], request_kwargs={"timeout": 10}))
        tokens = {str(Web3.to_checksum_address(t["address"])): str(s) for s, t in state["tokens"].items()}
        across = state["across"]
        return cls(name=name, w3=w3, chain_id=int(state["chain_id"]), spoke=spoke_pool(w3, across["spoke_pool"]),
                   relayer=Web3.to_checksum_address(across["relayer"]), tokens=tokens)


@dataclass
class AcrossRelayer:
    """Scans every chain's deposits and fills the due ones (see the module docstring)."""

    chains: dict[str, ChainLink]
    schedule: DevnetAcross
    delay_s: float
    fill: bool = True
    clock: Callable[[], float] = time.time
    emit: Callable[[dict[str, Any]], None] = print_event
    pending: dict[tuple[str, str, int], SeenDeposit] = field(default_factory=dict)
    done: set[tuple[str, str, int]] = field(default_factory=set)

    def poll_once(self) -> int:
        """Scan every chain, then act on every pending deposit; returns how many chains answered."""
        reached = 0
        for chain in self.chains.values():
            try:
                self._scan(chain)
                reached += 1
            except (*_TRANSIENT, Web3Exception) as exc:
                # That chain is down or restarting, or an evm_revert raced the scan (a block it was reading is gone:
                # BlockNotFound); the others go on, and the next poll rescans from a canonical cursor.
                self.emit({"event": "error", "chain": chain.name, "error": repr(exc)[:300]})
        for deposit in list(self.pending.values()):
            try:
                self._act(deposit)
            except (*_TRANSIENT, Web3Exception) as exc:  # tried again next poll (fillStatuses guards a repeat)
                self.emit({"event": "error", "deposit": _describe(deposit), "error": repr(exc)[:300]})
        return reached

    def _scan(self, chain: ChainLink) -> None:
        head = chain.w3.eth.get_block("latest")
        number, digest = int(head["number"]), bytes(head["hash"])
        if chain.cursor is not None and not self._canonical(chain, *chain.cursor, head=number):
            self.emit({"event": "rewind", "chain": chain.name, "from": chain.cursor[0], "head": number})
            chain.cursor = None
        start = chain.cursor[0] + 1 if chain.cursor else 0
        if start <= number:
            logs = chain.w3.eth.get_logs({"address": chain.spoke.address, "fromBlock": start, "toBlock": number,
                                          "topics": [_funds_deposited_topic()]})
            times: dict[int, int] = {}
            for log in logs:
                deposit = self._decode(chain, log, times)
                if deposit.key not in self.done and deposit.key not in self.pending:
                    self.pending[deposit.key] = deposit
                    self.emit({"event": "deposit", **_describe(deposit)})
        chain.cursor, chain.head_time = (number, digest), int(head["timestamp"])

    @staticmethod
    def _canonical(chain: ChainLink, number: int, digest: bytes, head: int | None = None) -> bool:
        if head is not None and number > head:
            return False
        try:
            return bytes(chain.w3.eth.get_block(number)["hash"]) == digest
        except BlockNotFound:
            # Reverted away (an evm_revert shortened the chain; anvil may still report a head above it for a
            # moment): not canonical, so the scan starts over instead of asking for that block forever.
            return False

    def _decode(self, chain: ChainLink, log: Any, times: dict[int, int]) -> SeenDeposit:
        a = chain.spoke.events.FundsDeposited().process_log(log)["args"]
        block = int(log["blockNumber"])
        if block not in times:
            times[block] = int(chain.w3.eth.get_block(block)["timestamp"])
        data = (a["depositor"], a["recipient"], a["exclusiveRelayer"], a["inputToken"], a["outputToken"],
                a["inputAmount"], a["outputAmount"], chain.chain_id, a["depositId"], a["fillDeadline"],
                a["exclusivityDeadline"], a["message"])
        return SeenDeposit(origin=chain.name, block_number=block, block_hash="0x" + bytes(log["blockHash"]).hex(),
                           log_index=int(log["logIndex"]), block_time=times[block], relay_data=data,
                           destination_chain_id=int(a["destinationChainId"]))

    def _finish(self, deposit: SeenDeposit, event: str, **extra: Any) -> None:
        self.pending.pop(deposit.key, None)
        self.done.add(deposit.key)
        self.emit({"event": event, **_describe(deposit), **extra})

    def _act(self, deposit: SeenDeposit) -> None:
        origin = self.chains[deposit.origin]
        dest = next((c for c in self.chains.values() if c.chain_id == deposit.destination_chain_id), None)
        symbol = dest.tokens.get(deposit.output_token) if dest is not None else None
        if dest is None or symbol is None:
            self._finish(deposit, "unfillable", reason="not a devnet chain or token")
            return
        fee = self.schedule.fee_raw(symbol, deposit.input_amount)
        decision = decide(deposit, max(self.clock(), origin.head_time), dest.head_time, self.delay_s, fee)
        if decision == "wait":
            return
        if decision != "fill":
            self._finish(deposit, decision, fee_raw=fee)
            return
        if not self._canonical(origin, deposit.block_number, bytes.fromhex(deposit.block_hash[2:])):
            self.pending.pop(deposit.key, None)  # reverted away: nothing to fill
            self.emit({"event": "dropped", **_describe(deposit)})
            return
        if not self.fill:
            self._finish(deposit, "due")
            return
        self._fill(deposit, dest)

    def _fill(self, deposit: SeenDeposit, dest: ChainLink) -> None:
        digest = relay_hash(deposit)
        status = int(dest.spoke.functions.fillStatuses(digest).call())
        if status != 0:  # filled (2) or a slow fill requested (1): someone else's now
            self._finish(deposit, "already_filled", status=status)
            return
        self._ensure_allowance(dest, deposit.output_token, deposit.output_amount)
        fn = dest.spoke.functions.fillRelay(deposit.relay_data, deposit.origin_chain_id,
                                            bytes(12) + bytes.fromhex(dest.relayer[2:]))
        try:
            fn.call({"from": dest.relayer})
        except ContractLogicError as exc:
            self._finish(deposit, "fill_refused", reason=str(exc)[:300])
            return
        params: Any = {"from": dest.relayer, "gas": FILL_GAS, **TX}
        tx = fn.transact(params)
        receipt = dest.w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.05)
        event = "filled" if receipt["status"] == 1 else "fill_reverted"
        self._finish(deposit, event, tx_hash="0x" + bytes(tx).hex(), fill_block=int(receipt["blockNumber"]),
                     relay_hash="0x" + digest.hex())

    @staticmethod
    def _ensure_allowance(chain: ChainLink, token: str, amount: int) -> None:
        erc20 = chain.w3.eth.contract(address=Web3.to_checksum_address(token),
                                      abi=load_artifact("ERC20PresetMinterPauser").abi)
        if int(erc20.functions.allowance(chain.relayer, chain.spoke.address).call()) >= amount:
            return
        params: Any = {"from": chain.relayer, "gas": 100_000, **TX}
        chain.w3.eth.wait_for_transaction_receipt(
            erc20.functions.approve(chain.spoke.address, MAX_UINT).transact(params), timeout=30)


def _funds_deposited_topic() -> str:
    return "0x" + bytes(Web3.keccak(text="FundsDeposited(bytes32,bytes32,uint256,uint256,uint256,uint256,uint32,"
                                         "uint32,uint32,bytes32,bytes32,bytes32,bytes)")).hex()


def _describe(deposit: SeenDeposit) -> dict[str, Any]:
    return {"origin": deposit.origin, "origin_chain_id": deposit.origin_chain_id,
            "destination_chain_id": deposit.destination_chain_id, "deposit_id": deposit.deposit_id,
            "block": deposit.block_number, "block_time": deposit.block_time, "input_amount": deposit.input_amount,
            "output_amount": deposit.output_amount, "fill_deadline": deposit.fill_deadline}


def run(state_file: Path, delay_s: float | None, fill: bool, poll_s: float) -> None:
    """Relay until the devnet's state file disappears or every chain stays unreachable for a while."""
    state = json.loads(state_file.read_text())
    schedule = DevnetAcross.model_validate(state.get("across", {}))
    chains = {n: ChainLink.from_state(n, s) for n, s in state["chains"].items() if s.get("across")}
    relayer = AcrossRelayer(chains=chains, schedule=schedule,
                            delay_s=schedule.relayer_delay_s if delay_s is None else delay_s, fill=fill)
    print_event({"event": "ready", "chains": sorted(chains), "delay_s": relayer.delay_s, "fill": fill})
    unreachable_since: float | None = None
    while state_file.exists():
        reached = relayer.poll_once()
        now = time.monotonic()
        unreachable_since = None if reached else (unreachable_since or now)
        if unreachable_since is not None and now - unreachable_since > 30:
            return  # the devnet is gone
        time.sleep(poll_s)


def start_relayer(state_dir: Path, delay_s: float, fill: bool = True, poll_s: float = 0.25) -> DevnetProcess:
    """Start (or restart) the devnet's relayer detached, on the devnet whose state.json is in ``state_dir``."""
    args = ["--state", str(state_dir / STATE_FILE), "--delay-s", str(delay_s), "--poll-s", str(poll_s)]
    return spawn(KIND, NAME, "devnet.relayer", [*args, *([] if fill else ["--no-fill"])], state_dir)


def stop_relayer(state_dir: Path) -> bool:
    """Stop the devnet's relayer; True when one was running."""
    return stop_process(KIND, NAME, state_dir)


def relayer_running(state_dir: Path) -> DevnetProcess | None:
    """The devnet's relayer process while it is alive, else None."""
    return process_running(KIND, NAME, state_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state", type=Path, required=True, help="the devnet's state.json")
    parser.add_argument("--delay-s", type=float, default=None, help="fill this long after the deposit's block time")
    parser.add_argument("--no-fill", action="store_true", help="watch deposits but never fill one")
    parser.add_argument("--poll-s", type=float, default=0.25)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(args.state, args.delay_s, not args.no_fill, args.poll_s)


if __name__ == "__main__":
    main()


__all__ = ["AcrossRelayer", "ChainLink", "SeenDeposit", "decide", "relay_hash", "relayer_running", "run",
           "start_relayer", "stop_relayer"]
