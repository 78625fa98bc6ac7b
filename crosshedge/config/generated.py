"""Resolve a devnet configuration to its generated chains and wallets.

chains.yaml describes the devnet (what to start) but names no address or key; ``crosshedge devnet up`` writes
those into <state_dir>/chains.generated.yaml. Every command calls :func:`resolve_generated`, which takes
``chains`` and ``wallets`` from the generated file and everything else (policy, optimizer, execution, positions)
from chains.yaml, so editing policy never requires a new devnet.

Usage::

    config = resolve_generated(load_config(Path("chains.yaml")))
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from crosshedge.config.loader import Config, load_config, parse_config
from crosshedge.errors import ConfigError

#: The file `crosshedge devnet up` writes into the devnet's state directory: its chains, wallets and addresses.
GENERATED_CONFIG = "chains.generated.yaml"


def generated_path(config: Config) -> Path | None:
    """Where the generated file of ``config``'s devnet lives (None for a config without a devnet section)."""
    devnet = config.raw.devnet
    if devnet is None:
        return None
    state_dir = devnet.state_dir if devnet.state_dir.is_absolute() else config.source.parent / devnet.state_dir
    return state_dir / GENERATED_CONFIG


def resolve_generated(config: Config) -> Config:
    """``config`` itself when it names its chains; else merged with the devnet's generated chains and wallets."""
    path = generated_path(config)
    if config.raw.chains or path is None:
        return config
    if not path.exists():
        raise ConfigError(
            f"{config.source}: the devnet section names no chains until `crosshedge devnet up` writes {path}"
        )
    generated = yaml.safe_load(path.read_text())
    merged = config.raw.model_dump(mode="json", exclude={"chains", "wallets"}, exclude_none=True)
    merged["chains"] = generated["chains"]
    merged["wallets"] = generated["wallets"]
    return parse_config(merged, config.source)


#: Where commands and workers look for the configuration when no path is given.
CONFIG_ENV = "CROSSHEDGE_CONFIG"
DEFAULT_CONFIG = Path("chains.yaml")


def config_path(path: Path | None = None) -> Path:
    """``path``, else ``$CROSSHEDGE_CONFIG``, else ./chains.yaml."""
    if path is not None:
        return path
    return Path(os.environ.get(CONFIG_ENV, str(DEFAULT_CONFIG)))


def resolve_config(path: Path | None = None) -> Config:
    """Load the config; a devnet config resolves to the devnet's generated file (`crosshedge devnet up` first)."""
    return resolve_generated(load_config(config_path(path)))
