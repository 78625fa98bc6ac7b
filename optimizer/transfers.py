"""Bridge transfers in the hedge model: what a transfer costs, what it brings, which trades must wait for it, and
how far it moves the chains' inventory toward their targets. The model (:mod:`optimizer.terms`) and the exact scoring
of a finished plan (:func:`optimizer.finalize.plan_from_trades`) both use these definitions, so the solver's objective
and the plan's reported one price a transfer alike.

Per route ``t`` (a :class:`~optimizer.problem.TransferOption`) the model has an amount ``x_t ≥ 0`` (token units sent)
and a switch ``y_t ∈ {0, 1}``::

    x_t ≤ cap_t · y_t,   x_t ≥ min_t · y_t,   Σ y_t ≤ optimizer.max_transfers
    received_t = (1 − fee_bps_t / 10⁴) · x_t − fixed_t · y_t
    cost_t     = gas_usd_t · y_t + price_t · (fee_bps_t / 10⁴ · x_t + fixed_t · y_t)

Per (chain, token) ``g``: a trade may spend ``held_g + Σ received into g − Σ sent from g``, and a transfer sends only
what is held (never funds still on their way). What a chain's trades spend beyond ``held_g`` is spent *late*, after
the fill: those trades are staged (the run executes the transfer, its follow-up the trade), and the delta they hedge
stays open meanwhile. That wait costs ``staged_g · price_g · z · vol · sqrt(latency / year)`` (a one-sided tail move
over the latency, :func:`wait_rate`). Last, each (chain, token) with an inventory target is short by
``max(0, level_g − (held_g + arriving_g + in_g − out_g))`` and pays ``optimizer.inventory_shortfall_bps`` per USD of
it: the expected extra cost of future hedges on a chain that ran dry, which is what makes a transfer that rebalances
worth its fee. ``level_g`` is the target share of the token's total when the chain is already short by more than its
threshold (fill it back to target, as Across's rebalancer does), else the lower edge ``(share − threshold)·total``
(sending from it may not drain it past the edge for free).

Usage::

    flows = Flows.of(plan.transfers)
    wait_usd, staged = staged_trades(problem, trades, plan.transfers)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.problem import HedgeProblem, PlannedTrade, PlannedTransfer, TransferOption

YEAR_S = 365.25 * 86_400
Group = tuple[str, str]  # (chain, token symbol)


def wait_rate(problem: HedgeProblem, option: TransferOption) -> float:
    """USD of risk per USD a trade spends only once ``option``'s fill has come (z · vol · sqrt(latency / year))."""
    s = problem.settings
    return float(s.transfer_wait_z * s.transfer_wait_vol * math.sqrt(option.latency_s / YEAR_S))


def option_of(problem: HedgeProblem, transfer: PlannedTransfer) -> TransferOption | None:
    return next((o for o in problem.transfers if o.adapter == transfer.adapter and o.origin == transfer.origin
                 and o.destination == transfer.destination and o.symbol == transfer.symbol), None)


def min_units(problem: HedgeProblem, option: TransferOption) -> float:
    """The smallest transfer worth a deposit: the minimum trade size in USD, and twice what the fixed fee takes."""
    keep = 1 - option.fee_bps / 1e4
    return max(problem.settings.min_trade_usd / option.price_usd, 2 * option.fixed_fee / keep, 10.0**-option.decimals)


def planned_transfer(option: TransferOption, amount_raw: int) -> PlannedTransfer:
    """``amount_raw`` sent over ``option``, priced exactly (fee, gas, what arrives)."""
    scale = 10**option.decimals
    received = option.received_raw(amount_raw)
    return PlannedTransfer(
        adapter=option.adapter, origin=option.origin, destination=option.destination, symbol=option.symbol,
        amount=amount_raw / scale, amount_raw=amount_raw, expected_received=received / scale,
        expected_received_raw=received, price_usd=option.price_usd,
        fee_usd=(amount_raw - received) / scale * option.price_usd, gas_usd=option.gas_usd,
        latency_s=option.latency_s,
    )


def received_raw(transfer: PlannedTransfer) -> int:
    """What the transfer delivers, in raw units (from its float for plans stored before the raw figure was kept)."""
    if transfer.expected_received_raw:
        return transfer.expected_received_raw
    scale: int = 10 ** _decimals(transfer)
    return math.floor(transfer.expected_received * scale)


def _decimals(transfer: PlannedTransfer) -> int:
    return round(math.log10(transfer.amount_raw / transfer.amount)) if transfer.amount > 0 else 0


@dataclass(frozen=True)
class Flows:
    """Raw units each (chain, token) sends and receives through a plan's transfers."""

    sent: dict[Group, int]
    received: dict[Group, int]

    @classmethod
    def of(cls, transfers: Sequence[PlannedTransfer]) -> Flows:
        sent: defaultdict[Group, int] = defaultdict(int)
        received: defaultdict[Group, int] = defaultdict(int)
        for t in transfers:
            sent[(t.origin, t.symbol)] += t.amount_raw
            received[(t.destination, t.symbol)] += received_raw(t)
        return cls(dict(sent), dict(received))


def spent_raw(trades: Sequence[PlannedTrade]) -> dict[Group, int]:
    """Raw input each (chain, token) the trades spend."""
    out: defaultdict[Group, int] = defaultdict(int)
    for tr in trades:
        out[(tr.chain, tr.token_in)] += tr.amount_in_raw
    return dict(out)


def held_raw(problem: HedgeProblem, group: Group, decimals: int) -> int:
    amount = problem.inventory.get(group[0], {}).get(group[1], 0.0)
    return math.floor(amount * 10**decimals) if amount > 0 else 0


def staged_trades(problem: HedgeProblem, trades: Sequence[PlannedTrade], transfers: Sequence[PlannedTransfer]
                  ) -> tuple[float, set[int]]:
    """The wait cost (USD) and the trades (indices) that spend funds the transfers bring: every trade of a
    (chain, token) whose spending (with what it sends) exceeds what is held there now waits for the fills."""
    if not transfers:
        return 0.0, set()
    inbound: defaultdict[Group, list[PlannedTransfer]] = defaultdict(list)
    for t in transfers:
        inbound[(t.destination, t.symbol)].append(t)
    flows, spent = Flows.of(transfers), spent_raw(trades)
    wait, staged = 0.0, set()
    for group, arriving in inbound.items():
        slowest = max(arriving, key=lambda t: t.latency_s)
        option = option_of(problem, slowest)
        decimals = option.decimals if option is not None else _decimals(slowest)
        late = spent.get(group, 0) + flows.sent.get(group, 0) - held_raw(problem, group, decimals)
        if late <= 0:
            continue
        staged |= {i for i, tr in enumerate(trades) if (tr.chain, tr.token_in) == group}
        rate = wait_rate(problem, option) if option is not None else 0.0
        wait += late / 10**decimals * slowest.price_usd * rate
    return wait, staged


def token_prices(problem: HedgeProblem) -> dict[str, float]:
    """USD per unit of each token a route carries (as the routes priced it)."""
    return {o.symbol: o.price_usd for o in problem.transfers}


def target_levels(problem: HedgeProblem) -> dict[Group, float]:
    """Per (chain, token) with a target: the balance below which it counts as short (see the module docstring)."""
    totals: defaultdict[str, float] = defaultdict(float)
    for book in (problem.inventory, problem.arriving):
        for held in book.values():
            for symbol, amount in held.items():
                totals[symbol] += amount
    levels: dict[Group, float] = {}
    for chain, targets in problem.inventory_targets.items():
        for symbol, target in targets.items():
            total = totals.get(symbol, 0.0)
            now = _balance(problem, (chain, symbol))
            edge = max(0.0, target.target_share - target.threshold) * total
            levels[(chain, symbol)] = target.target_share * total if now < edge else edge
    return levels


def _balance(problem: HedgeProblem, group: Group) -> float:
    chain, symbol = group
    return problem.inventory.get(chain, {}).get(symbol, 0.0) + problem.arriving.get(chain, {}).get(symbol, 0.0)


def shortfall_usd(problem: HedgeProblem, transfers: Sequence[PlannedTransfer]) -> float:
    """The inventory term after ``transfers``: Σ rate · price · max(0, level − balance) over the targeted tokens a
    route carries (tokens no route carries cannot be moved, so their term is a constant and left out)."""
    prices, rate = token_prices(problem), problem.settings.inventory_shortfall_bps / 1e4
    moved: defaultdict[Group, float] = defaultdict(float)
    for t in transfers:
        moved[(t.origin, t.symbol)] -= t.amount
        moved[(t.destination, t.symbol)] += t.expected_received
    total = 0.0
    for group, level in target_levels(problem).items():
        price = prices.get(group[1])
        if price is not None:
            total += rate * price * max(0.0, level - _balance(problem, group) - moved.get(group, 0.0))
    return total


def inventory_usd(problem: HedgeProblem, transfers: Sequence[PlannedTransfer]) -> float:
    """How much the transfers change the inventory term (negative: closer to the targets)."""
    if not problem.transfers:
        return 0.0
    return shortfall_usd(problem, transfers) - shortfall_usd(problem, ())


# --- the model's arrays -------------------------------------------------------------------------------------------


def route_shape(problem: HedgeProblem) -> tuple[tuple[str, str, str], ...]:
    """(origin, destination, token) per route, in the model's order: part of the model's shape."""
    return tuple((o.origin, o.destination, o.symbol) for o in problem.transfers)


def token_groups(routes: Sequence[tuple[str, str, str]]) -> tuple[Group, ...]:
    """Every (chain, token) a route starts or ends at."""
    return tuple(sorted({(o, s) for o, _, s in routes} | {(d, s) for _, d, s in routes}))


@dataclass(frozen=True)
class TransferData:
    """The transfer terms' parameter values for one run (routes in :func:`route_shape` order)."""

    keep: np.ndarray  # (T,) share of the amount that arrives
    fixed: np.ndarray  # (T,) token units the fixed fee takes
    cap: np.ndarray  # (T,) most units a route may send (0: switched off)
    min_units: np.ndarray  # (T,)
    usd_per_unit: np.ndarray  # (T,) proportional fee, USD per unit sent
    usd_fixed: np.ndarray  # (T,) origin gas + fixed fee, USD per transfer
    max_transfers: float
    held: np.ndarray  # (G,) per token group: what the wallet holds now
    level: np.ndarray  # (G,) target level minus the balance (held + arriving): the shortfall before any transfer
    short_usd: np.ndarray  # (G,) USD per unit of shortfall (0 where no target)
    wait_base: np.ndarray  # (len(base_groups),) USD of wait per base unit spent late
    wait_quote: np.ndarray  # (len(quote_groups),)
    inflow_base: np.ndarray  # (len(base_groups),) the most units transfers could bring (presolve's room)
    inflow_quote: np.ndarray  # (len(quote_groups),)


def transfer_data(problem: HedgeProblem, base_groups: Sequence[Group], quote_groups: Sequence[Group]) -> TransferData:
    """The parameter values of the transfer terms (see the module docstring for where each enters)."""
    s = problem.settings
    routes = problem.transfers
    groups = token_groups(route_shape(problem))
    off = set(problem.disabled_chains)
    keep = np.array([1 - o.fee_bps / 1e4 for o in routes])
    held_of = {g: max(0.0, problem.inventory.get(g[0], {}).get(g[1], 0.0)) for g in groups}
    cap = np.array([0.0 if o.origin in off or o.destination in off or s.max_transfers == 0
                    else min(o.max_amount_raw / 10**o.decimals, held_of[(o.origin, o.symbol)]) for o in routes])
    mins = np.array([min_units(problem, o) for o in routes])
    cap = np.where(cap >= mins, cap, 0.0)
    levels, prices = target_levels(problem), token_prices(problem)
    rate = s.inventory_shortfall_bps / 1e4
    wait: dict[Group, float] = {}
    inflow: defaultdict[Group, float] = defaultdict(float)
    for o, c, k in zip(routes, cap, keep, strict=True):
        g = (o.destination, o.symbol)
        wait[g] = max(wait.get(g, 0.0), o.price_usd * wait_rate(problem, o))
        inflow[g] += c * k
    return TransferData(
        keep=keep, fixed=np.array([o.fixed_fee for o in routes]), cap=cap, min_units=mins,
        usd_per_unit=np.array([o.price_usd * o.fee_bps / 1e4 for o in routes]),
        usd_fixed=np.array([o.gas_usd + o.price_usd * o.fixed_fee for o in routes]),
        max_transfers=float(s.max_transfers),
        held=np.array([held_of[g] for g in groups]),
        level=np.array([levels.get(g, 0.0) - _balance(problem, g) for g in groups]),
        short_usd=np.array([rate * prices[g[1]] if g in levels else 0.0 for g in groups]),
        wait_base=np.array([wait.get(g, 0.0) for g in base_groups]),
        wait_quote=np.array([wait.get(g, 0.0) for g in quote_groups]),
        inflow_base=np.array([inflow.get(g, 0.0) for g in base_groups]),
        inflow_quote=np.array([inflow.get(g, 0.0) for g in quote_groups]),
    )


def transfers_from(problem: HedgeProblem, sent: np.ndarray, bridged: np.ndarray) -> list[PlannedTransfer]:
    """The solver's amounts as exact transfers (raw units floored; a route below its minimum is no transfer)."""
    out = []
    for option, units, on in zip(problem.transfers, sent, bridged, strict=True):
        if on < 0.5:
            continue
        amount_raw = min(math.floor(units * 10**option.decimals), option.max_amount_raw)
        if amount_raw <= 0 or amount_raw / 10**option.decimals < min_units(problem, option) * (1 - 1e-9):
            continue
        if option.received_raw(amount_raw) > 0:
            out.append(planned_transfer(option, amount_raw))
    return out

