"""Execution: the run stages as plain functions, the Celery app and thin tasks, the ledger, signing and sending.

    start_run -> snapshot_run -> plan_run -> execute_lane (per lane) -> confirm_lane -> reconcile_run

Usage::

    from orchestrator import DEFAULT_QUEUE, create_app, open_context, start_run
    ctx = open_context(resolve_config(None))
    run_id = start_run(ctx, kind="manual")
    create_app(ctx.config).send_task("crosshedge.snapshot", args=[run_id], queue=DEFAULT_QUEUE)
"""

from orchestrator.assess import assess_now, build_problem, decide_and_plan, decisions_for, read_positions, venue_costs
from orchestrator.celery_app import create_app
from orchestrator.context import RunContext, open_context, open_ledger
from orchestrator.execution import confirm_lane, execute_lane, hooks_for, lanes_finished, venue_state
from orchestrator.ledger import (
    TERMINAL_INTENT_STATES,
    TERMINAL_RUN_STATES,
    Intent,
    IntentKind,
    IntentRecord,
    IntentState,
    Lease,
    Ledger,
    RunEvent,
    RunRecord,
    RunState,
    lane_name,
)
from orchestrator.metrics import start_metrics_server
from orchestrator.planning import Planner, PolicyVerdicts, intents_from_trades, plan_run, snapshot_run
from orchestrator.queues import DEFAULT_QUEUE, lane_queue, lane_queues
from orchestrator.reconcile import RunReport, TradeRow, chain_balances, reconcile_run
from orchestrator.recovery import recover_runs, resume_run
from orchestrator.redis_server import EmbeddedRedis, redis_client, resolve_redis_url
from orchestrator.runs import cancel_run, fail_run, finish_run, make_run_id, start_run
from orchestrator.safety import KillSwitch, RunLock, check_not_halted
from orchestrator.scheduling import TickResult, policy_tick
from orchestrator.sender import Hooks, Lane, approve_tx, bump_fees, execute_intent, validate_tx
from orchestrator.signer import WalletSigner, load_signer, terminal_prompt
from orchestrator.snapshot import ChainSnapshot, Snapshot, chain_context, connect_all, read_venues, take_snapshot
from orchestrator.tasks import preload_signers
from orchestrator.views import IntentLine, RunSummary, run_summary, wait_for_run

__all__ = [
    "DEFAULT_QUEUE",
    "TERMINAL_INTENT_STATES",
    "TERMINAL_RUN_STATES",
    "ChainSnapshot",
    "EmbeddedRedis",
    "Hooks",
    "Intent",
    "IntentKind",
    "IntentLine",
    "IntentRecord",
    "IntentState",
    "KillSwitch",
    "Lane",
    "Lease",
    "Ledger",
    "Planner",
    "PolicyVerdicts",
    "RunContext",
    "RunEvent",
    "RunLock",
    "RunRecord",
    "RunReport",
    "RunState",
    "RunSummary",
    "Snapshot",
    "TickResult",
    "TradeRow",
    "WalletSigner",
    "approve_tx",
    "assess_now",
    "build_problem",
    "bump_fees",
    "cancel_run",
    "chain_balances",
    "chain_context",
    "check_not_halted",
    "confirm_lane",
    "connect_all",
    "create_app",
    "decide_and_plan",
    "decisions_for",
    "execute_intent",
    "execute_lane",
    "fail_run",
    "finish_run",
    "hooks_for",
    "intents_from_trades",
    "lane_name",
    "lane_queue",
    "lane_queues",
    "lanes_finished",
    "load_signer",
    "make_run_id",
    "open_context",
    "open_ledger",
    "plan_run",
    "policy_tick",
    "preload_signers",
    "read_positions",
    "read_venues",
    "reconcile_run",
    "recover_runs",
    "redis_client",
    "resolve_redis_url",
    "resume_run",
    "run_summary",
    "snapshot_run",
    "start_metrics_server",
    "start_run",
    "take_snapshot",
    "terminal_prompt",
    "validate_tx",
    "venue_costs",
    "venue_state",
    "wait_for_run",
]
