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
from orchestrator.execution import confirm_lane, execute_lane, lane_lease, lanes_finished
from orchestrator.inventory import InventoryReport, InventoryShare, build_inventory
from orchestrator.lane import Hooks, Lane, SwapTerms
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
    TransferRecord,
    TransferState,
    lane_name,
)
from orchestrator.logs import LogFormat, configure_logging, current_context, log_context
from orchestrator.metrics import (
    LedgerCollector,
    MetricsServer,
    connect_worker_signals,
    heartbeat,
    record_cost,
    record_event,
    record_intent,
    record_rpc_error,
    record_run_failure,
    record_run_state,
    set_band,
    set_book_greeks,
    set_head_lag,
    set_inventory,
    start_metrics_server,
)
from orchestrator.permits import build_swap_with_permit, check_permit
from orchestrator.planning import Planner, PolicyVerdicts, intents_from_trades, plan_run, snapshot_run
from orchestrator.queues import DEFAULT_QUEUE, lane_queue, lane_queues
from orchestrator.reconcile import RunReport, TradeRow, TransferRow, chain_balances, reconcile_run
from orchestrator.recovery import recover_runs, resume_run
from orchestrator.redis_server import (
    LOG_CAP_BYTES,
    REDIS_URL_ENV,
    EmbeddedRedis,
    EmbeddedRedisBusyError,
    EmbeddedRedisError,
    RedisStatus,
    ServerIdentity,
    StopReport,
    embedded_identity,
    embedded_server,
    external_status,
    owned_server,
    redis_client,
    resolve_redis_url,
)
from orchestrator.runs import cancel_run, fail_run, finish_run, make_run_id, start_run
from orchestrator.safety import KillSwitch, RunLock, check_not_halted
from orchestrator.scheduling import TickResult, policy_tick, short_of_target
from orchestrator.sender import execute_intent, skip_intent
from orchestrator.signer import WalletSigner, load_signer, terminal_prompt
from orchestrator.snapshot import (
    HEAD_MOVED_ATTEMPTS,
    ChainSnapshot,
    Snapshot,
    chain_context,
    connect_all,
    read_venues,
    take_snapshot,
)
from orchestrator.status import (
    PING_TIMEOUT_S,
    STUCK_AFTER_S,
    DeltaLine,
    InventoryLine,
    RunLine,
    StatusReport,
    WorkerLine,
    build_status,
)
from orchestrator.tasks import preload_signers
from orchestrator.terms import hooks_for, run_plan, run_snapshot, swap_terms, venue_state
from orchestrator.transactions import approve_tx, bump_fees, validate_tx
from orchestrator.transfers import arriving, track_open_transfers, track_transfer, transfer_routes
from orchestrator.verification import ContractVerifier
from orchestrator.views import IntentLine, RunSummary, run_explain, run_risk, run_summary, wait_for_run, with_explains

__all__ = [
    "DEFAULT_QUEUE",
    "HEAD_MOVED_ATTEMPTS",
    "LOG_CAP_BYTES",
    "PING_TIMEOUT_S",
    "REDIS_URL_ENV",
    "STUCK_AFTER_S",
    "TERMINAL_INTENT_STATES",
    "TERMINAL_RUN_STATES",
    "ChainSnapshot",
    "ContractVerifier",
    "DeltaLine",
    "EmbeddedRedis",
    "EmbeddedRedisBusyError",
    "EmbeddedRedisError",
    "Hooks",
    "Intent",
    "IntentKind",
    "IntentLine",
    "IntentRecord",
    "IntentState",
    "InventoryLine",
    "InventoryReport",
    "InventoryShare",
    "KillSwitch",
    "Lane",
    "Lease",
    "Ledger",
    "LedgerCollector",
    "LogFormat",
    "MetricsServer",
    "Planner",
    "PolicyVerdicts",
    "RedisStatus",
    "RunContext",
    "RunEvent",
    "RunLine",
    "RunLock",
    "RunRecord",
    "RunReport",
    "RunState",
    "RunSummary",
    "ServerIdentity",
    "Snapshot",
    "StatusReport",
    "StopReport",
    "SwapTerms",
    "TickResult",
    "TradeRow",
    "TransferRecord",
    "TransferRow",
    "TransferState",
    "WalletSigner",
    "WorkerLine",
    "approve_tx",
    "arriving",
    "assess_now",
    "build_inventory",
    "build_problem",
    "build_status",
    "build_swap_with_permit",
    "bump_fees",
    "cancel_run",
    "chain_balances",
    "chain_context",
    "check_not_halted",
    "check_permit",
    "configure_logging",
    "confirm_lane",
    "connect_all",
    "connect_worker_signals",
    "create_app",
    "current_context",
    "decide_and_plan",
    "decisions_for",
    "embedded_identity",
    "embedded_server",
    "execute_intent",
    "execute_lane",
    "external_status",
    "fail_run",
    "finish_run",
    "heartbeat",
    "hooks_for",
    "intents_from_trades",
    "lane_lease",
    "lane_name",
    "lane_queue",
    "lane_queues",
    "lanes_finished",
    "load_signer",
    "log_context",
    "make_run_id",
    "open_context",
    "open_ledger",
    "owned_server",
    "plan_run",
    "policy_tick",
    "preload_signers",
    "read_positions",
    "read_venues",
    "reconcile_run",
    "record_cost",
    "record_event",
    "record_intent",
    "record_rpc_error",
    "record_run_failure",
    "record_run_state",
    "recover_runs",
    "redis_client",
    "resolve_redis_url",
    "resume_run",
    "run_explain",
    "run_plan",
    "run_risk",
    "run_snapshot",
    "run_summary",
    "set_band",
    "set_book_greeks",
    "set_head_lag",
    "set_inventory",
    "short_of_target",
    "skip_intent",
    "snapshot_run",
    "start_metrics_server",
    "start_run",
    "swap_terms",
    "take_snapshot",
    "terminal_prompt",
    "track_open_transfers",
    "track_transfer",
    "transfer_routes",
    "validate_tx",
    "venue_costs",
    "venue_state",
    "wait_for_run",
    "with_explains",
]
