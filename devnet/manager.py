"""Bring a whole devnet up or down: anvil per chain, deployments in parallel, the generated config and keystore.

Usage::

    devnet = DevnetManager(spec, root=Path.cwd())
    result = devnet.up()          # starts anvil, deploys, writes <state_dir>/chains.generated.yaml
    devnet.status(); devnet.down()

A deployment is cached (devnet.cache) under <root>/.crosshedge/devnet-cache, or $CROSSHEDGE_DEVNET_CACHE (``off``
turns it off): a later ``up`` with the same inputs loads each chain's state into its anvil instead of deploying,
with the same addresses, pools, operator wallet and generated config.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import secrets
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from eth_account import Account
from web3 import HTTPProvider, Web3

from crosshedge import ConfigError, RpcError
from crosshedge.config import GENERATED_CONFIG, DevnetChain, DevnetSpec
from devnet.across import DevnetAcross
from devnet.anvil import AnvilOptions, running, start_anvil, stop_anvil, wait_ready
from devnet.cache import CACHE_ENV, Deployed, DevnetCache, cache_key, dump_chain, restore_chain
from devnet.deploy import deploy_chain, settle_base_fee
from devnet.deployer import DeployError
from devnet.mev import RelayOptions, start_relay, stop_relay
from devnet.producer import start_producer, stop_producer
from devnet.relayer import start_relayer, stop_relayer
from devnet.v4 import v4_venue_sections

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
RELAY_PORT_OFFSET = 100  # a chain's private relay listens at the chain's port + 100 (18545 -> 18645)
# Devnet-only keystore strength: scrypt n=2**14 keeps `devnet up` fast; real wallets bring their own keystore.
DEVNET_SCRYPT_N = 2**14


class _PlainDumper(yaml.SafeDumper):
    """Writes a value shared by two sections (a pool that is a venue and a route's leg) out in full each time: no
    ``&id001`` anchors, so the file reads plainly and is the same text whether its sections share objects or not
    (a deployment and its cached copy)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


@dataclass(frozen=True)
class ChainStatus:
    name: str
    chain_id: int
    port: int
    running: bool
    block: int | None


#: The Curie roles a perp_curie section names (adapters.perp_curie.PerpCurieConfig), as devnet.perp records them.
_PERP_ROLES = ("clearing_house", "vault", "exchange", "account_balance", "market_registry", "clearing_house_config",
               "base_token", "quote_token", "pool")


def _perp_section(perp: dict[str, Any]) -> dict[str, Any]:
    """The generated config's perp_curie section of one Curie deployment: its one market, in USDC."""
    return {"adapter": "perp_curie", **{role: perp[role] for role in _PERP_ROLES}, "underlying": perp["underlying"],
            "collateral": "USDC"}


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _port_answers(port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:``port`` (a bind test would also trip on a port
    our own just-stopped anvil left in TIME_WAIT, which anvil can reuse)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _foreign_chain_id(url: str, timeout_s: float = 2.0) -> int | None:
    """The chain id a JSON-RPC node at ``url`` reports (eth_chainId), or None when it does not answer one."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            result = json.loads(response.read()).get("result")
        return int(result, 16) if isinstance(result, str) else None
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return None


#: Chain state keys that belong to one devnet (its port, its base fee setting), not to the cached deployment.
_LOCAL_KEYS = frozenset({"rpc_url", "base_fee_wei", "private_rpc_url"})


def _without_local(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in _LOCAL_KEYS}


def _cache_for(root: Path, given: Path | None) -> DevnetCache | None:
    """The deployment cache: $CROSSHEDGE_DEVNET_CACHE=off disables it; else ``given``, that variable's directory,
    or <root>/.crosshedge/devnet-cache."""
    env = os.environ.get(CACHE_ENV, "")
    if env == "off":
        return None
    return DevnetCache(given or (Path(env) if env else root / ".crosshedge" / "devnet-cache"))


class DevnetManager:
    """Lifecycle of the devnet described by a chains.yaml ``devnet`` section."""

    def __init__(self, spec: DevnetSpec, root: Path, port_offset: int = 0, cache_dir: Path | None = None,
                 use_cache: bool = True, across: DevnetAcross | None = None) -> None:
        self.spec = spec
        # The bridge's fee schedule and relayer delay (the generated transfers sections and devnet.relayer).
        self.across = across or DevnetAcross.model_validate(spec.bridge.model_dump())
        self.state_dir = spec.state_dir if spec.state_dir.is_absolute() else root / spec.state_dir
        self.port_offset = port_offset  # tests run a second devnet beside a running demo
        self.cache = _cache_for(root, cache_dir) if use_cache else None  # False: every `up` deploys (benchmarks)

    def port(self, chain: DevnetChain) -> int:
        return chain.port + self.port_offset

    def url(self, chain: DevnetChain) -> str:
        return f"http://127.0.0.1:{self.port(chain)}"

    def relay_port(self, chain: DevnetChain) -> int:
        return self.port(chain) + RELAY_PORT_OFFSET

    def _new_operator(self) -> tuple[str, Path, Path]:
        """A fresh operator key, stored only in an encrypted keystore (0600) beside a 0600 password file.

        Its address has no zero byte: calldata costs 4 gas per zero byte and 16 per other byte, so every devnet's
        operator pays the same gas for the same swaps (their recipient is this address), and a demo repeats.
        """
        account = Account.create()
        while b"\x00" in bytes.fromhex(account.address[2:]):  # about 1 key in 13
            account = Account.create()
        password = secrets.token_hex(16)
        keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=DEVNET_SCRYPT_N)
        ks_path, pw_path = self.state_dir / "operator.keystore.json", self.state_dir / "operator.password"
        _write_secret(ks_path, json.dumps(keystore))
        _write_secret(pw_path, password)
        return account.address, ks_path, pw_path

    def up(self) -> dict[str, Any]:
        """Start every chain and deploy (or load the cached deployment); returns the devnet state (also written to
        state.json), whose ``cache`` says which: ``hit``, ``miss`` (deployed and stored), ``rebuilt`` (an unusable
        entry was replaced) or ``off``.

        Every chain's port is checked before anything starts: a port another process holds (a node this devnet
        did not start) is a ConfigError naming the chain, the port and, when it answers JSON-RPC, its chain id;
        nothing is started or deployed then.
        """
        started = time.perf_counter()
        self.down()
        self._check_ports_free()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        key = cache_key(self.spec) if self.cache is not None else ""
        chains, operator, outcome = self._from_cache(key)
        if chains is None:
            operator, chains = self._deploy_all(key)
        ks_path, pw_path = self.state_dir / "operator.keystore.json", self.state_dir / "operator.password"
        self._start_relays(chains)
        state = {"operator": operator, "keystore": str(ks_path), "password_file": str(pw_path), "chains": chains,
                 "prices": self.spec.prices, "across": self.across.model_dump(mode="json"), "cache": outcome,
                 "seconds": round(time.perf_counter() - started, 3)}
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        self._write_generated(state)
        self.start_block_producer()
        self.start_relayer()
        return state

    def _check_ports_free(self) -> None:
        """ConfigError for the first chain whose port something else answers on (our own anvils are down by now)."""
        for name, chain in self.spec.chains.items():
            port = self.port(chain)
            if chain.private_relay and _port_answers(self.relay_port(chain)):
                raise ConfigError(f"devnet.chains.{name}.private_relay: port {self.relay_port(chain)} (the chain's "
                                  f"port + {RELAY_PORT_OFFSET}) is already in use; nothing was started or deployed")
            if not _port_answers(port):
                continue
            found = _foreign_chain_id(self.url(chain))
            what = (f"another node answers there with chain id {found}" if found is not None
                    else "another process is listening there (it does not answer eth_chainId)")
            raise ConfigError(f"devnet.chains.{name}.port: port {port} is already in use ({what}); stop it or "
                              f"choose another port for chain {name}; nothing was started or deployed")

    def _start_anvils(self) -> None:
        for name, chain in self.spec.chains.items():
            start_anvil(AnvilOptions(name=name, chain_id=chain.chain_id, port=self.port(chain),
                                     base_fee_wei=int(chain.base_fee_gwei * 1e9),
                                     block_time_s=chain.block_time_s if chain.interval_mining else None),
                        self.state_dir)

    def _each_chain(self, job: Any, *args: Any) -> dict[str, Any]:
        """``job(name, chain, *args)`` for every chain at once (the chains are independent anvils)."""
        with ThreadPoolExecutor(max_workers=len(self.spec.chains) or 1) as pool:
            futures = {name: pool.submit(job, name, chain, *args) for name, chain in self.spec.chains.items()}
            return {name: future.result() for name, future in futures.items()}

    def _deploy_all(self, key: str) -> tuple[str, dict[str, Any]]:
        """A fresh operator and a fresh deployment on every chain, stored in the cache under ``key``."""
        operator, ks_path, pw_path = self._new_operator()
        self._start_anvils()
        deployed = self._each_chain(self._deploy_one, operator)
        chains = {name: state for name, (state, _, _) in deployed.items()}
        if self.cache is not None:
            entry = Deployed(operator=operator, keystore=ks_path.read_text(), password=pw_path.read_text(),
                             chains={n: _without_local(s) for n, s in chains.items()},
                             dumps={n: dump for n, (_, dump, _) in deployed.items()},
                             heads={n: head for n, (_, _, head) in deployed.items()})
            try:
                self.cache.store(key, entry)
            except OSError as exc:  # a read-only or full disk costs the next `up` a deployment, nothing more
                log.warning("devnet cache: could not store %s (%s)", self.cache.entry(key), exc)
        return operator, chains

    def _deploy_one(self, name: str, chain: DevnetChain, operator: str) -> tuple[dict[str, Any], bytes, int]:
        url = self.url(chain)
        wait_ready(url)
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
        state = deploy_chain(w3, name, chain, self.spec.prices, operator)
        # Dumped before the base fee is settled: a load then settles it the same way, so both end on one head.
        dump, head = dump_chain(w3) if self.cache is not None else (b"", 0)
        settle_base_fee(w3, int(chain.base_fee_gwei * 1e9))
        return self._local(state, chain), dump, head

    def _local(self, state: dict[str, Any], chain: DevnetChain) -> dict[str, Any]:
        """The chain's state with what belongs to this devnet, not to the deployment: its URL and base fee."""
        state["rpc_url"] = self.url(chain)
        state["base_fee_wei"] = int(chain.base_fee_gwei * 1e9)  # what the block producer holds the base fee at
        return state

    def _from_cache(self, key: str) -> tuple[dict[str, Any] | None, str, str]:
        """The chains loaded from the cache entry for ``key`` and its operator, and the cache outcome; None for
        the chains when the devnet must deploy (no entry, or one that fails to load: its anvils are stopped)."""
        if self.cache is None:
            return None, "", "off"
        try:
            entry = self.cache.load(key)
            if entry is None or set(entry.chains) != set(self.spec.chains):
                return None, "", "miss"
            self._start_anvils()
            chains = self._each_chain(self._restore_one, entry)
        except (DeployError, RpcError, OSError, ValueError) as exc:  # CacheEntryError is a DeployError
            log.warning("devnet cache: %s; deploying afresh", exc)
            self.cache.discard(key)
            self._stop_anvils()
            return None, "", "rebuilt"
        _write_secret(self.state_dir / "operator.keystore.json", entry.keystore)
        _write_secret(self.state_dir / "operator.password", entry.password)
        return chains, entry.operator, "hit"

    def _restore_one(self, name: str, chain: DevnetChain, entry: Deployed) -> dict[str, Any]:
        url = self.url(chain)
        wait_ready(url)
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
        state = json.loads(json.dumps(entry.chains[name]))  # a copy: the caller adds this devnet's URLs to it
        restore_chain(w3, name, entry.dumps[name], state, entry.heads[name], exact=not chain.interval_mining)
        settle_base_fee(w3, int(chain.base_fee_gwei * 1e9))
        return self._local(state, chain)

    def _start_relays(self, chains: dict[str, Any]) -> None:
        """A private relay (devnet.mev.relay) per chain that asks for one; its URL goes into the chain's state.

        On an interval-mining chain it builds a block every block time, as a builder does; on an automining chain
        (where every public transaction is mined at once) it includes a transaction as soon as it arrives.
        """
        for name, chain in self.spec.chains.items():
            if not chain.private_relay:
                continue
            block_time_s = chain.block_time_s if chain.interval_mining else 0.0
            relay = start_relay(RelayOptions(name=name, upstream=self.url(chain), port=self.relay_port(chain),
                                             block_time_s=block_time_s), self.state_dir)
            wait_ready(relay.url)
            chains[name]["private_rpc_url"] = relay.url

    def _write_generated(self, state: dict[str, Any]) -> None:
        chains: dict[str, Any] = {}
        for name, chain in self.spec.chains.items():
            s = state["chains"][name]
            gas: dict[str, Any] = {"type": "eip1559", "native_underlying": "ETH",
                                   "max_gas_price_gwei": max(chain.base_fee_gwei * 20, 1.0)}
            if chain.l1_data_fee_from:
                gas["l1_data_fee"] = {"l1_chain": chain.l1_data_fee_from, "tx_bytes": 400, "scalar": 0.01}
            chains[name] = {
                "chain_id": chain.chain_id, "rpc_url": s["rpc_url"], "block_time_s": chain.block_time_s,
                "confirmations": chain.confirmations, "wallet": "operator", "multicall": s["contracts"]["multicall"],
                "contracts": {k: v for k, v in s["contracts"].items() if k not in {"wbtc", "usdc"}},
                "gas": gas, "tokens": s["tokens"], "venues": s["venues"],
                # keccak256 of each deployment's runtime code: the contract verifier pins these exact contracts.
                "code_hashes": s.get("code_hashes", {}),
            }
            if s.get("uniswap_v4"):  # the V4 deployment; its pools are venues only with devnet.v4_venues
                chains[name]["uniswap_v4"] = s["uniswap_v4"]
                if self.spec.v4_venues:
                    weth = s["tokens"]["WETH"]["address"]
                    chains[name]["venues"] = {**s["venues"], **v4_venue_sections(s["uniswap_v4"], weth)}
            if s.get("perps"):  # the chain's Perp (Curie) markets (devnet.perp); their code hashes are above
                chains[name]["perps"] = {market: _perp_section(p) for market, p in s["perps"].items()}
            if chain.inventory_targets:  # where each token's inventory should sit (crosshedge inventory, the plan)
                chains[name]["inventory_targets"] = {k: v.model_dump() for k, v in chain.inventory_targets.items()}
            if "private_rpc_url" in s:  # sends go through the chain's private relay; reads stay on rpc_url
                chains[name]["private_rpc_url"] = s["private_rpc_url"]
            if s.get("across"):  # the chain's SpokePool, with the fee schedule the devnet's relayer charges
                chains[name]["transfers"] = {"across": self.across.transfer_section(s["across"]["spoke_pool"])}
        generated = {
            "chains": chains,
            "wallets": {"operator": {"address": state["operator"], "keystore": state["keystore"],
                                     "password_file": state["password_file"]}},
        }
        header = "# Written by `crosshedge devnet up`; do not edit. Addresses of this devnet's deployment.\n"
        text = yaml.dump(generated, Dumper=_PlainDumper, sort_keys=False)
        (self.state_dir / GENERATED_CONFIG).write_text(header + text)

    def down(self) -> list[str]:
        """Stop the block producer, the Across relayer, the relays and every chain's anvil; returns the names of the
        chains that were running."""
        stop_producer(self.state_dir)
        stop_relayer(self.state_dir)
        for name in self.spec.chains:
            stop_relay(name, self.state_dir)
        return self._stop_anvils()

    def _stop_anvils(self) -> list[str]:
        return [name for name in self.spec.chains if stop_anvil(name, self.state_dir)]

    def start_block_producer(self) -> None:
        """Keep blocks coming on every chain (devnet.producer), unless the spec turns it off."""
        if self.spec.block_interval_s > 0:
            start_producer(self.state_dir, self.spec.block_interval_s)

    def start_relayer(self, delay_s: float | None = None, fill: bool = True) -> None:
        """(Re)start the devnet's Across relayer (devnet.relayer), unless the bridge spec turns it off; ``delay_s``
        defaults to the spec's (what the generated config publishes as expected_fill_s)."""
        if self.across.relayer:
            start_relayer(self.state_dir, self.across.relayer_delay_s if delay_s is None else delay_s, fill=fill)

    def status(self) -> list[ChainStatus]:
        out = []
        for name, chain in self.spec.chains.items():
            proc = running(name, self.state_dir)
            block = None
            if proc is not None:
                try:
                    block = Web3(HTTPProvider(self.url(chain), request_kwargs={"timeout": 2})).eth.block_number
                except (OSError, ValueError):
                    block = None
            out.append(ChainStatus(name, chain.chain_id, self.port(chain), proc is not None, block))
        return out

    def load_state(self) -> dict[str, Any]:
        path = self.state_dir / STATE_FILE
        if not path.exists():
            raise ConfigError(f"{path}: no devnet state; run `crosshedge devnet up` first")
        return dict(json.loads(path.read_text()))
