"""The demo: the whole system live on a devnet, its pools moved along a real price path, hedged by real workers.

Usage::

    from crosshedge.demo import DemoOptions, run_demo
    result = run_demo(DemoOptions(config_path=Path("chains.yaml"), steps=24))   # DemoResult: steps, plot, halted
"""

from crosshedge.demo.blocks import BlockClock
from crosshedge.demo.driver import (
    DemoResult,
    demo_explain,
    follow_run,
    halt_reason,
    one_step,
    run_chain,
    run_demo,
    step_key,
    worker_processes,
)
from crosshedge.demo.options import DemoOptionError, DemoOptions, PathStep, check_steps, parse_start, price_paths
from crosshedge.demo.report import (
    DemoStep,
    funding_paid,
    headline,
    inside,
    outside_band,
    plot_steps,
    summary_rows,
    summary_table,
)

__all__ = [
    "BlockClock",
    "DemoOptionError",
    "DemoOptions",
    "DemoResult",
    "DemoStep",
    "PathStep",
    "check_steps",
    "demo_explain",
    "follow_run",
    "funding_paid",
    "halt_reason",
    "headline",
    "inside",
    "one_step",
    "outside_band",
    "parse_start",
    "plot_steps",
    "price_paths",
    "run_chain",
    "run_demo",
    "step_key",
    "summary_rows",
    "summary_table",
    "worker_processes",
]
