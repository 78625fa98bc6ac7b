"""The demo: the whole system live on a devnet, its pools moved along a real price path, hedged by real workers.

Usage::

    from crosshedge.demo import DemoOptions, run_demo
    steps, plot = run_demo(DemoOptions(config_path=Path("chains.yaml"), steps=24))
"""

from crosshedge.demo.driver import DemoOptions, price_paths, run_demo, worker_processes
from crosshedge.demo.report import DemoStep, plot_steps, summary_rows, summary_table

__all__ = [
    "DemoOptions",
    "DemoStep",
    "plot_steps",
    "price_paths",
    "run_demo",
    "summary_rows",
    "summary_table",
    "worker_processes",
]
