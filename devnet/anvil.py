"""Start, find and stop the anvil processes of a devnet (one per chain), tracked by pid files in the state dir.

Usage::

    proc = start_anvil(AnvilOptions(name="ethereum", chain_id=1, port=18545, base_fee_wei=20 * 10**9), state_dir)
    wait_ready(proc.url, timeout_s=10)
    stop_anvil("ethereum", state_dir)
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.types import RPCEndpoint

from crosshedge import RpcError
from devnet.artifacts import anvil_binary
from devnet.pids import pid_alive, terminate

#: Funded, unlocked dev accounts anvil derives from its well-known test mnemonic. Devnet-only: these keys are
#: public; the operator wallet crosshedge trades with is a fresh key in an encrypted keystore instead.
DEV_ACCOUNT_BALANCE_ETH = 100_000_000


@dataclass(frozen=True)
class AnvilOptions:
    name: str
    chain_id: int
    port: int
    base_fee_wei: int
    block_time_s: float | None = None  # None: automine (each transaction mined at once)
    accounts: int = 5  # 0 deploys, 1 provides liquidity, 2 trades, 3 searches (sandwiches), 4 relays (Across)


@dataclass(frozen=True)
class AnvilProcess:
    name: str
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


MAX_PORT = 65535


def port_free(port: int) -> bool:
    """True when ``port`` can be bound on 127.0.0.1 now (nothing else listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_offset(base_ports: Iterable[int], offsets: Iterable[int]) -> int | None:
    """The first of ``offsets`` at which every one of ``base_ports`` (a devnet's chains' ports) is free and a valid
    port, else None: how tests and benches put a devnet of their own beside a running demo or another session."""
    ports = list(base_ports)
    for offset in offsets:
        if max(ports) + offset > MAX_PORT:
            return None  # offsets grow: the rest are past the port range too
        if all(port_free(p + offset) for p in ports):
            return offset
    return None


def _pid_file(name: str, state_dir: Path) -> Path:
    return state_dir / f"anvil-{name}.json"


def _states_dir(name: str, state_dir: Path) -> Path:
    return state_dir / f"anvil-{name}-states"


def start_anvil(opts: AnvilOptions, state_dir: Path) -> AnvilProcess:
    """Launch anvil detached (it outlives the CLI that started it) and record its pid."""
    state_dir.mkdir(parents=True, exist_ok=True)
    # anvil moves old blocks' states out of memory to disk, by default under ~/.foundry/anvil/tmp, where a process
    # that is killed leaves them behind (hundreds of MB each: a day of test sessions filled the disk). They go in
    # the devnet's own state dir instead, cleared here and on stop, so they live and die with the devnet.
    shutil.rmtree(_states_dir(opts.name, state_dir), ignore_errors=True)
    args = [
        str(anvil_binary()),
        "--host", "127.0.0.1",
        "--port", str(opts.port),
        "--chain-id", str(opts.chain_id),
        "--base-fee", str(opts.base_fee_wei),
        "--accounts", str(opts.accounts),
        "--balance", str(DEV_ACCOUNT_BALANCE_ETH),
        "--gas-limit", "60000000",
        "--no-request-size-limit",
        "--cache-path", str(_states_dir(opts.name, state_dir)),
    ]
    if opts.block_time_s is not None:
        args += ["--block-time", str(opts.block_time_s)]
    log = (state_dir / f"anvil-{opts.name}.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    record = AnvilProcess(name=opts.name, pid=proc.pid, port=opts.port)
    _pid_file(opts.name, state_dir).write_text(json.dumps({"pid": proc.pid, "port": opts.port}))
    return record


def wait_ready(url: str, timeout_s: float = 15.0) -> None:
    """Poll eth_chainId until the node answers; raise RpcError naming the URL on time-out."""
    deadline = time.monotonic() + timeout_s
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    while True:
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=1.0) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RpcError(f"anvil at {url} did not answer within {timeout_s:.0f} s")
        time.sleep(0.05)


def running(name: str, state_dir: Path) -> AnvilProcess | None:
    """The recorded anvil for ``name`` if its process is still alive."""
    path = _pid_file(name, state_dir)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if not pid_alive(data["pid"]):
        return None
    return AnvilProcess(name=name, pid=data["pid"], port=data["port"])


def stop_anvil(name: str, state_dir: Path, timeout_s: float = 5.0) -> bool:
    """Terminate the recorded anvil (SIGTERM, then SIGKILL); True if one was running."""
    proc = running(name, state_dir)
    _pid_file(name, state_dir).unlink(missing_ok=True)
    if proc is None:
        return False
    terminate(proc.pid, group=True, timeout_s=timeout_s)
    shutil.rmtree(_states_dir(name, state_dir), ignore_errors=True)
    return True


def anvil_rpc(w3: Web3, method: str, *params: Any) -> Any:
    """Call one of anvil's own methods (anvil_*, evm_*) and return its result; an RPC error is an RpcError."""
    response = w3.provider.make_request(RPCEndpoint(method), list(params))
    if "error" in response:
        raise RpcError(f"{method} failed: {response['error']}")
    return response.get("result")
