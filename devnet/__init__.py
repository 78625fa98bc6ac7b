"""A local multi-chain devnet: anvil processes running the official Uniswap, WETH9 and ERC20 bytecode."""
