"""chains.yaml, validated: chains, tokens, venues, wallets and the policy/optimizer/execution sections.

Every model forbids unknown fields, so a typo is an error. Errors are one sentence naming the file, the dotted path
of the field and what was expected. ``${ENV}`` in any string is replaced from the environment (a missing variable is
an error naming it). Venue sections are validated by their adapter's own model, found through the registry.

Keys never live here: a wallet names an environment variable or an encrypted keystore file.

Usage::

    config = load_config(Path("chains.yaml"))
    for chain in config.chains.values(): ...
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from adapters import (
    AdapterRegistry,
    PerpEntry,
    PositionEntry,
    TokenInfo,
    TransferEntry,
    VenueEntry,
    default_registry,
)
from crosshedge.config.chains import ChainSettings, WalletSettings
from crosshedge.config.devnet import DevnetSpec
from crosshedge.config.execution import ExecutionSettings, PositionSourceSpec
from crosshedge.config.strategy import OptimizerSettings, PolicySettings
from crosshedge.errors import ConfigError, CrosshedgeError
from crosshedge.validation import describe_validation_error


class RawConfig(BaseModel):
    """The file as written, before venue and position sections are handed to their adapters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chains: dict[str, ChainSettings] = {}
    wallets: dict[str, WalletSettings] = {}
    positions: dict[str, PositionSourceSpec] = {}
    policy: PolicySettings = PolicySettings()
    optimizer: OptimizerSettings = OptimizerSettings()
    execution: ExecutionSettings = ExecutionSettings()
    devnet: DevnetSpec | None = None


class Config(BaseModel):
    """The validated configuration, venues and position sources resolved against their adapters."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    source: Path
    raw: RawConfig
    venues: tuple[VenueEntry, ...]
    positions: tuple[PositionEntry, ...] = ()
    transfers: tuple[TransferEntry, ...] = ()
    perps: tuple[PerpEntry, ...] = ()

    @property
    def chains(self) -> dict[str, ChainSettings]:
        return self.raw.chains

    @property
    def wallets(self) -> dict[str, WalletSettings]:
        return self.raw.wallets

    def tokens(self, chain: str) -> dict[str, TokenInfo]:
        """The chain's tokens keyed by checksum address."""
        return {
            t.address: TokenInfo(
                chain=chain, symbol=symbol, address=t.address, decimals=t.decimals, underlying=t.underlying
            )
            for symbol, t in self.raw.chains[chain].tokens.items()
        }

    def venues_on(self, chain: str) -> list[VenueEntry]:
        return [v for v in self.venues if v.chain == chain]

    def transfers_on(self, chain: str) -> list[TransferEntry]:
        return [t for t in self.transfers if t.chain == chain]

    def perps_on(self, chain: str) -> list[PerpEntry]:
        """The chain's perp markets (``chains.<chain>.perps``), each validated by its adapter's model."""
        return [p for p in self.perps if p.chain == chain]

    def venue(self, chain: str, name: str) -> VenueEntry:
        """The venue ``name`` on ``chain``; ConfigError naming both when there is none."""
        for v in self.venues:
            if v.chain == chain and v.name == name:
                return v
        raise ConfigError(f"{self.source}: chains.{chain}.venues: no venue named {name!r}")

    @property
    def redis_dir(self) -> Path:
        """The embedded Redis directory; a relative ``execution.redis_dir`` is taken from the file's folder."""
        path = self.raw.execution.redis_dir
        return path if path.is_absolute() else self.source.parent / path


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _interpolate(node: Any, path: str, source: Path) -> Any:
    if isinstance(node, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"{source}: {path}: environment variable {name} is not set")
            return os.environ[name]

        return _ENV.sub(sub, node)
    if isinstance(node, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k), source) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, f"{path}[{i}]", source) for i, v in enumerate(node)]
    return node


def parse_config(data: Any, source: Path, registry: AdapterRegistry | None = None) -> Config:
    """Validate an already-parsed YAML document; see :func:`load_config`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    data = _interpolate(data, "", source)
    try:
        raw = RawConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(source, exc)) from None
    registry = registry or default_registry()
    venues: list[VenueEntry] = []
    transfers: list[TransferEntry] = []
    perps: list[PerpEntry] = []
    for chain_name, chain in raw.chains.items():
        where = f"chains.{chain_name}"
        if chain.wallet not in raw.wallets:
            raise ConfigError(f"{source}: {where}.wallet: no wallet named {chain.wallet!r} in wallets")
        for venue_name, section in chain.venues.items():
            venues.append(
                _venue_entry(source, f"{where}.venues.{venue_name}", chain_name, venue_name, section, registry)
            )
        for name, section in chain.transfers.items():
            entry = _transfer_entry(source, f"{where}.transfers.{name}", chain_name, name, section, registry)
            missing = sorted(set(registry.transfer(entry.adapter).tokens(entry)) - set(chain.tokens))
            if missing:
                raise ConfigError(f"{source}: {where}.transfers.{name}.tokens: {missing} are not tokens of the chain "
                                  f"(tokens: {sorted(chain.tokens)})")
            transfers.append(entry)
        mine = [_perp_entry(source, where, chain_name, chain, name, section, registry)
                for name, section in chain.perps.items()]
        _one_market_per_account(source, where, mine, registry)
        perps += mine
    for chain_name, chain in raw.chains.items():
        l1 = chain.gas.l1_data_fee
        if l1 is not None and l1.l1_chain not in raw.chains:
            # The rollup's data fee is priced off the L1's base fee, so the L1 must be a configured chain too.
            raise ConfigError(f"{source}: chains.{chain_name}.gas.l1_data_fee.l1_chain: no chain named "
                              f"{l1.l1_chain!r} in chains (the L1 whose base fee prices the data must be configured)")
    _check_inventory_targets(source, raw)
    positions = tuple(_position_entry(source, name, spec, registry) for name, spec in raw.positions.items())
    return Config(source=source, raw=raw, venues=tuple(venues), positions=positions, transfers=tuple(transfers),
                  perps=tuple(perps))


def _check_inventory_targets(source: Path, raw: RawConfig) -> None:
    """Targets name configured tokens, and one token's target shares over the chains add up to at most 1."""
    totals: dict[str, float] = {}
    for chain_name, chain in raw.chains.items():
        for symbol, target in chain.inventory_targets.items():
            if symbol not in chain.tokens:
                raise ConfigError(f"{source}: chains.{chain_name}.inventory_targets.{symbol}: {symbol} is not a "
                                  f"token of the chain (tokens: {sorted(chain.tokens)})")
            totals[symbol] = totals.get(symbol, 0.0) + target.target_share
    for symbol, total in sorted(totals.items()):
        if total > 1 + 1e-9:
            raise ConfigError(f"{source}: chains.*.inventory_targets.{symbol}: the target shares add up to "
                              f"{total:.4g}, above 1 (each is a share of the token's total over every chain)")


def _position_entry(source: Path, name: str, spec: PositionSourceSpec, registry: AdapterRegistry) -> PositionEntry:
    """A position source's settings, validated by its adapter's model; relative paths resolve against the file."""
    where = f"positions.{name}"
    try:
        adapter = registry.positions(spec.adapter)
    except CrosshedgeError as exc:
        raise ConfigError(f"{source}: {where}.adapter: {exc}") from None
    try:
        model = adapter.config_model.model_validate(spec.settings)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(source, exc, prefix=f"{where}.settings")) from None
    relative = {k: source.parent / v for k, v in model if isinstance(v, Path) and not v.is_absolute()}
    return PositionEntry(name=name, adapter=adapter.name, scope=adapter.scope,
                         config=model.model_copy(update=relative) if relative else model)


def _adapter_section(source: Path, where: str, section: dict[str, Any], what: str,
                     lookup: Callable[[str], Any]) -> tuple[str, BaseModel, bool]:
    """(adapter name, the section validated by the adapter's own model, enabled) of a venue or bridge section;
    ``lookup`` is the registry's accessor for the kind (it refuses an adapter of another kind)."""
    if not isinstance(section, dict) or "adapter" not in section:
        raise ConfigError(f"{source}: {where}.adapter: required field is missing (name the {what}'s adapter)")
    body = dict(section)
    adapter_name = body.pop("adapter")
    enabled = body.pop("enabled", True)
    try:
        adapter = lookup(str(adapter_name))
    except CrosshedgeError as exc:
        raise ConfigError(f"{source}: {where}.adapter: {exc}") from None
    try:
        model = adapter.config_model.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(source, exc, prefix=where)) from None
    return str(adapter.name), model, bool(enabled)


def _venue_entry(
    source: Path, where: str, chain: str, name: str, section: dict[str, Any], registry: AdapterRegistry
) -> VenueEntry:
    adapter, model, enabled = _adapter_section(source, where, section, "venue", registry.venue)
    return VenueEntry(name=name, chain=chain, adapter=adapter, config=model, enabled=enabled)


def _transfer_entry(source: Path, where: str, chain: str, name: str, section: dict[str, Any],
                    registry: AdapterRegistry) -> TransferEntry:
    adapter, model, enabled = _adapter_section(source, where, section, "bridge", registry.transfer)
    return TransferEntry(name=name, chain=chain, adapter=adapter, config=model, enabled=enabled)


def _one_market_per_account(source: Path, where: str, entries: list[PerpEntry], registry: AdapterRegistry) -> None:
    """ConfigError when two perp markets of a chain share a margin account (their Vault): the perp model prices
    each market's margin against its own account's collateral, so a shared one would be counted twice (cross
    margin is not modelled); refused here, before anything is read or signed."""
    by_vault: dict[str, str] = {}
    for entry in entries:
        vault = registry.perp(entry.adapter).contracts(entry).spender.lower()
        if vault in by_vault:
            raise ConfigError(f"{source}: {where}.perps: markets {by_vault[vault]} and {entry.name} share the margin "
                              f"account of Vault {vault}; crosshedge models one market per account (cross margin is "
                              "not modelled), so configure one of them")
        by_vault[vault] = entry.name


def _perp_entry(source: Path, where: str, chain_name: str, chain: ChainSettings, name: str, section: dict[str, Any],
                registry: AdapterRegistry) -> PerpEntry:
    """A perp market section validated by its adapter's model; the tokens it uses must be the chain's."""
    at = f"{where}.perps.{name}"
    adapter, model, enabled = _adapter_section(source, at, section, "perp market", registry.perp)
    entry = PerpEntry(name=name, chain=chain_name, adapter=adapter, config=model, enabled=enabled,
                      chain_id=chain.chain_id)
    missing = sorted(set(registry.perp(adapter).tokens(entry)) - set(chain.tokens))
    if missing:
        raise ConfigError(f"{source}: {at}: {missing} are not tokens of the chain (tokens: {sorted(chain.tokens)})")
    return dataclasses.replace(entry, underlying=registry.perp(adapter).underlying(entry))


def load_config(path: Path, registry: AdapterRegistry | None = None) -> Config:
    """Read and validate a chains.yaml; raises :class:`ConfigError` with one clear sentence on any problem."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, path, registry)
