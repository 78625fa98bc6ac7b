"""The demo's block clock: deterministic blocks, so the same prices give the same trades and costs.

Three things made two demos over the same prices book different trades and costs, all of them the devnet's
blocks rather than the prices:

* **Base fee.** anvil mines a block the moment a transaction arrives (automine), and an EIP-1559 chain derives each
  block's base fee from its parent's gas: a hedge landing right after one of the devnet producer's held-fee blocks
  paid 7/8 of the configured fee, one landing after another transaction less again, one racing the producer's
  ``setNextBlockBaseFee`` the full fee (measured: a few percent of every Ethereum swap's gas).
* **Timestamps.** A Uniswap pool writes its price oracle (V3 observation, V2 cumulative prices) on the first
  swap of each second: a hedge mined in the same wall-clock second as the market driver's arbitrage of that pool
  cost ~10,000 gas less than one mined a second later (dollars on Ethereum, and a different native-ETH delta).
* **Reads.** anvil runs an ``eth_call`` pinned to the head's number against the next block if one is mined while
  the call is in flight; the adapters refuse such a read ("reads pinned to block N ran at block N+1"), and a
  snapshot that lost a chain that way planned without it. A timer mining under running reads hits that.

So, for the demo, automine is off and this clock is the only miner (the devnet's producer is not started):

* it polls every chain's transaction pool and mines, at the configured base fee, when a transaction waits, so
  every transaction pays exactly base fee + tip, and a block is mined only while the one process that could be
  reading that chain (the lane that sent the transaction) waits for its receipt;
* every block is one second after the one before (anvil's block timestamp interval), starting at a multiple of
  256 s at least a minute past the chain's head and the wall clock: every swap is a new second for its pool, and the
  chain's clock, not the host's, dates every swap's deadline (``max(host clock, head)``), so its calldata has the
  same zero bytes (4 gas instead of 16) in both runs. The chain runs ahead of the wall clock by about as many
  seconds as it has blocks: a head in the future is fresh for the workers' staleness checks;
* once a chain has been quiet for ``quiet_s`` it gets the blocks its confirmation depth still needs; an idle chain
  gets a block every ``heartbeat_s`` (dated no earlier than the wall clock), so heads never go stale.

The market driver need not wait for any of this: inside :meth:`BlockClock.on_arrival` the clock pauses and
automine is back on (the driver sets the base fee before each of its swaps); :meth:`BlockClock.paused` holds all
mining while the demo itself reads the chains. Left: a swap deadline whose second byte is zero (a 256 s window
every 18 h of chain time) or a lane slower than ``quiet_s`` between two transactions (an extra block, on a loaded
machine) still shifts a few gas and the next run's head by seconds; runs then differ by cents (3 cents on a $1,440
hour, measured).

Usage::

    with BlockClock.from_state(devnet_state, {"ethereum": 3}) as clock:
        with clock.on_arrival():
            driver.move_to(prices)      # each swap mined at once
        with clock.paused():
            ...                         # the demo's own snapshot
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from web3 import HTTPProvider, Web3
from web3.exceptions import Web3Exception

from crosshedge.errors import RpcError
from devnet import anvil_rpc

log = logging.getLogger("crosshedge.demo")
_ERRORS = (OSError, ValueError, Web3Exception, RpcError)
#: The chain's clock starts at least this far ahead of the wall clock (then gains a second per block).
_LEAD_S = 60


@dataclass
class _Chain:
    w3: Web3
    base_fee_wei: int
    confirmations: int
    owed: int = 0  # blocks its confirmation depth still needs after the last transaction's block
    last_tx: float = 0.0
    last_block: float = 0.0


class BlockClock:
    """Mines every chain at its held base fee when transactions wait (see module docstring); automine off while
    entered, back on at exit."""

    def __init__(self, chains: Mapping[str, tuple[Web3, int, int]], poll_s: float = 0.05, quiet_s: float = 1.0,
                 heartbeat_s: float = 20.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.chains = {name: _Chain(w3, fee, depth) for name, (w3, fee, depth) in chains.items()}
        self.poll_s, self.quiet_s, self.heartbeat_s = poll_s, quiet_s, heartbeat_s
        self._clock, self._wall = clock, wall
        self.blocks = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held while the clock mines, and while it is paused
        self._thread: threading.Thread | None = None

    @classmethod
    def from_state(cls, state: dict[str, Any], confirmations: Mapping[str, int]) -> BlockClock:
        """A clock for every chain of a devnet's state (its RPC URL and the base fee the devnet holds), each owed
        its ``confirmations`` depth after a transaction."""
        return cls({name: (Web3(HTTPProvider(c["rpc_url"], request_kwargs={"timeout": 10})), int(c["base_fee_wei"]),
                           confirmations.get(name, 1))
                    for name, c in state["chains"].items()})

    def __enter__(self) -> BlockClock:
        self._set_automine(False)
        for chain in self.chains.values():
            head = int(chain.w3.eth.get_block("latest")["timestamp"])
            anvil_rpc(chain.w3, "anvil_setBlockTimestampInterval", 1)
            start = (max(head, int(self._wall())) + _LEAD_S) // 256 * 256 + 256
            anvil_rpc(chain.w3, "evm_setNextBlockTimestamp", start)
        self._thread = threading.Thread(target=self._run, name="demo-block-clock", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for name, chain in self.chains.items():
            try:  # a kept devnet goes back to mining on arrival, at anvil's own clock
                anvil_rpc(chain.w3, "anvil_removeBlockTimestampInterval")
                anvil_rpc(chain.w3, "evm_setAutomine", True)
            except _ERRORS as err:
                log.info("block clock: chain %s: automine not restored: %s", name, err)

    @contextmanager
    def on_arrival(self) -> Iterator[None]:
        """Pause the clock and mine every transaction as it arrives (automine) meanwhile.

        Only for senders that set the next base fee themselves before each transaction (the market driver does):
        anvil derives an automined block's fee from its parent otherwise.
        """
        with self._lock:
            self._set_automine(True)
            try:
                yield
            finally:
                self._set_automine(False)
                now = self._clock()
                for chain in self.chains.values():
                    chain.last_block = now

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No block is mined meanwhile (a transaction sent now waits until the end)."""
        with self._lock:
            yield

    def hold(self, seconds: int) -> None:
        """Move every chain's clock ``seconds`` on in one block each (the same on all, so their clocks keep their
        distance): the replayed hour's price holds that long before the hedge looks at it."""
        with self._lock:
            now = self._clock()
            for chain in self.chains.values():
                head = int(chain.w3.eth.get_block("latest")["timestamp"])
                anvil_rpc(chain.w3, "evm_setNextBlockTimestamp", head + seconds)
                self._mine(chain, now)

    def _set_automine(self, on: bool) -> None:
        for chain in self.chains.values():
            anvil_rpc(chain.w3, "anvil_setNextBlockBaseFeePerGas", hex(chain.base_fee_wei))
            anvil_rpc(chain.w3, "evm_setAutomine", on)

    def tick(self) -> None:
        """One look at every chain: mine what waits, the confirmation blocks owed, or a heartbeat."""
        now = self._clock()
        for name, chain in self.chains.items():
            try:
                status = anvil_rpc(chain.w3, "txpool_status")
                if int(str(status.get("pending", "0x0")), 0) > 0:
                    self._mine(chain, now)
                    chain.last_tx, chain.owed = now, chain.confirmations - 1
                elif chain.owed > 0 and now - chain.last_tx >= self.quiet_s:
                    for _ in range(chain.owed):
                        self._mine(chain, now)
                    chain.owed = 0
                elif now - chain.last_block >= self.heartbeat_s:
                    head = int(chain.w3.eth.get_block("latest")["timestamp"])
                    if head + 1 < int(self._wall()):  # idle so long that the chain fell behind: catch up
                        anvil_rpc(chain.w3, "evm_setNextBlockTimestamp", int(self._wall()))
                    self._mine(chain, now)
            except _ERRORS as err:  # that chain is down: the demo's and the workers' own reads say so
                log.info("block clock: chain %s: %s", name, err)

    def _mine(self, chain: _Chain, now: float) -> None:
        anvil_rpc(chain.w3, "anvil_setNextBlockBaseFeePerGas", hex(chain.base_fee_wei))
        anvil_rpc(chain.w3, "evm_mine")
        chain.last_block = now
        self.blocks += 1

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            with self._lock:
                self.tick()


__all__ = ["BlockClock"]
