"""A sandwich searcher for the devnet: it watches a chain's public mempool and sandwiches the Uniswap swaps it can.

The devnet's stand-in for the MEV bots that read every public mempool. It polls ``txpool_content``; each pending
``SwapRouter.exactInputSingle`` or ``UniswapV2Router02.swapExactTokensForTokens`` (calldata decoded with eth_abi) is
a candidate, and for each it does what a searcher does, through the real routers:

1. **Size the front-run**: the largest input in the victim's direction after which the victim's own call still
   succeeds, i.e. still gets its ``amountOutMinimum`` (bisection over ``eth_simulateV1`` bundles [front-run,
   victim] on the latest state), capped by the searcher's inventory. That is the most a sandwich can take.
2. **Price it**: [front-run, victim, back-run] simulated together at that size and a few smaller ones; the back-run
   sells everything the front-run bought. Profit is the back-run's output less the front-run's input, gas is
   priced at the next base fee plus tip, both in USD from the devnet's pools. The best size is sent only when it
   pays for its gas (and ``min_profit_usd``); a price-limited victim (``sqrtPriceLimitX96``) is left alone (a
   front-run only makes it fill less).
3. **Order it**: the front-run bids a higher fee cap and tip than the victim, the back-run a lower fee cap and no
   tip, so a block ordered by fee holds front-run, victim, back-run (anvil orders its pool by fee cap, a builder by
   tip; both agree on these bids). The front-run's minimum is its simulated output, the back-run's its input: a
   bundle that lands out of order reverts instead of trading at a loss.
4. **Book it**: after the block it checks the order and logs the victim's actual output and its own profit.

A swap is acted on once it is listed at two consecutive polls, and counts as seen only if it is still pending once
its bundle is prepared: anvil lists a transaction while it seals the block that holds it (a few milliseconds), and
one glimpsed then is gone by the next poll; it is logged as ``late``, never sandwiched (nothing sent after it can
be ordered before it).

It logs one JSON object per line on stdout: ``ready``, ``watching`` (heartbeat: polls, head), ``seen``, ``skip``
(with the reason), ``sandwich``, ``landed``, ``late``, ``error``, ``stopped`` (it exits once the node has not
answered for a minute: started detached, it must not outlive the devnet).

Devnet only: the searcher is an unlocked anvil dev account (``eth_sendTransaction``, as the market driver trades);
its capital is wrapped ETH and tokens minted by the devnet's deployer (the tokens' minter).

This module is the process (its options, start and stop, ``main``); the searcher itself lives in devnet.mev:
searcher (watching, sending, booking), sandwich_planner (sizing and pricing) and swap_calls (router calldata).

Usage::

    bot = start_searcher(SearcherOptions(name="arbitrum", rpc_url=url, state_file=state_dir / "state.json",
                                         chain="arbitrum", account=w3.eth.accounts[3], fund=True), state_dir)
    events = read_events(bot.log)      # [{"event": "ready", ...}, {"event": "sandwich", "victim": "0x..."}, ...]
    stop_searcher("arbitrum", state_dir)

    python -m devnet.mev.sandwich --rpc URL --state .crosshedge/devnet/state.json --chain arbitrum --account 0x.. --fund
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from devnet.mev.jsonrpc import JsonRpcClient
from devnet.mev.processes import DevnetProcess, process_running, spawn, stop_process
from devnet.mev.searcher import Searcher


@dataclass(frozen=True)
class SearcherOptions:
    name: str  # the pid file is searcher-<name>.json
    rpc_url: str  # the chain's public node
    state_file: Path  # the devnet's state.json (addresses of routers, pools, tokens)
    chain: str
    account: str  # an unlocked dev account that nothing else uses (anvil's 4th: accounts 0-2 have roles)
    poll_s: float = 0.05
    min_profit_usd: float = 0.0
    fund_usd: float = 0.0  # > 0: wrap / mint this much of every token and approve the routers first
    heartbeat_s: float = 1.0  # a `watching` event this often


def start_searcher(opts: SearcherOptions, state_dir: Path) -> DevnetProcess:
    """Start ``python -m devnet.mev.sandwich`` for one chain; its JSON-lines log is the returned process's ``log``."""
    args = ["--rpc", opts.rpc_url, "--state", str(opts.state_file), "--chain", opts.chain, "--account",
            opts.account, "--poll-s", str(opts.poll_s), "--min-profit-usd", str(opts.min_profit_usd),
            "--fund-usd", str(opts.fund_usd), "--heartbeat-s", str(opts.heartbeat_s)]
    return spawn("searcher", opts.name, "devnet.mev.sandwich", args, state_dir)


def searcher_running(name: str, state_dir: Path) -> DevnetProcess | None:
    return process_running("searcher", name, state_dir)


def stop_searcher(name: str, state_dir: Path) -> bool:
    return stop_process("searcher", name, state_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet.mev.sandwich", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpc", required=True, help="the chain's public node")
    parser.add_argument("--state", required=True, type=Path, help="the devnet's state.json")
    parser.add_argument("--chain", required=True)
    parser.add_argument("--account", required=True, help="an unlocked dev account the searcher trades from")
    parser.add_argument("--poll-s", type=float, default=0.05)
    parser.add_argument("--min-profit-usd", type=float, default=0.0)
    parser.add_argument("--fund-usd", type=float, default=0.0)
    parser.add_argument("--heartbeat-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    chain = json.loads(args.state.read_text())["chains"][args.chain]
    searcher = Searcher(JsonRpcClient(args.rpc), chain, args.account, poll_s=args.poll_s,
                        min_profit_usd=args.min_profit_usd, heartbeat_s=args.heartbeat_s)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.fund_usd > 0:
        searcher.fund(args.fund_usd)
    else:
        searcher.log("ready", account=searcher.account, balances=searcher.balances())
    searcher.run(stop)


if __name__ == "__main__":
    main()
