"""chains.yaml: the config models of every section, and loading with one-sentence errors.

Every section's model lives here (chains, wallets, positions, policy, optimizer, execution, devnet), so loading a
file imports no solver, worker or chain client. Venue and position sections are validated by their adapter's own
model, found through the adapter registry.

Usage::

    from crosshedge.config import load_config, resolve_generated
    config = resolve_generated(load_config(Path("chains.yaml")))
"""

from crosshedge.config.chains import (
    Address,
    ChainSettings,
    GasSettings,
    InventoryTargetSettings,
    L1DataFee,
    TokenSettings,
    UniswapV4Deployment,
    UniswapV4PoolKey,
    WalletSettings,
)
from crosshedge.config.devnet import (
    DevnetBridgeSettings,
    DevnetChain,
    DevnetPool,
    DevnetRoute,
    DevnetSpec,
    DevnetV4Pool,
)
from crosshedge.config.execution import ExecutionSettings, PositionSourceSpec
from crosshedge.config.generated import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    GENERATED_CONFIG,
    config_path,
    generated_path,
    resolve_config,
    resolve_generated,
)
from crosshedge.config.loader import Config, RawConfig, load_config, parse_config
from crosshedge.config.strategy import OptimizerSettings, PolicyName, PolicySettings
from crosshedge.validation import describe_validation_error

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "GENERATED_CONFIG",
    "Address",
    "ChainSettings",
    "Config",
    "DevnetBridgeSettings",
    "DevnetChain",
    "DevnetPool",
    "DevnetRoute",
    "DevnetSpec",
    "DevnetV4Pool",
    "ExecutionSettings",
    "GasSettings",
    "InventoryTargetSettings",
    "L1DataFee",
    "OptimizerSettings",
    "PolicyName",
    "PolicySettings",
    "PositionSourceSpec",
    "RawConfig",
    "TokenSettings",
    "UniswapV4Deployment",
    "UniswapV4PoolKey",
    "WalletSettings",
    "config_path",
    "describe_validation_error",
    "generated_path",
    "load_config",
    "parse_config",
    "resolve_config",
    "resolve_generated",
]
