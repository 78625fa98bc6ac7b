"""Exact finishing of a plan: re-split sizes among its venues on the exact venue models, and check a plan's limits
on its exact amounts.

The solver sees each venue through a sampled piecewise-linear curve, so within the venue set it picks, its split is
right only up to the sampling error. :func:`polish` keeps the venue set and each underlying's total input fixed and
moves input between the plan's trades of one underlying and side until their exact marginal outputs agree (Newton
steps on finite differences of the adapters' own ``quote``, the KKT condition of maximising Σ out_i(in_i) with Σ in_i
fixed). Every step is accepted only when the exact objective (cost + risk) drops and every limit still holds on the
exact amounts, so polishing never makes a plan worse.

Usage::

    better = polish(problem, plan, quoter, rounds=8)
    problem_text = violation(problem, plan)      # None when the plan keeps every limit on its exact amounts
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from adapters import Side
from crosshedge import AdapterError, PlanError
from optimizer.finalize import Allocation, Quoter, exact_trade, plan_from_trades
from optimizer.limits import violation
from optimizer.problem import HedgeProblem, Plan, venue_key


class _Group:
    """The trades of one underlying and side: human inputs, their scales and exact outputs."""

    def __init__(self, problem: HedgeProblem, plan: Plan, index: list[int], quoter: Quoter) -> None:
        states = {venue_key(v): v for v in problem.venues}
        self.index, self.quoter = index, quoter
        self.states = [states[plan.trades[i].venue_key] for i in index]
        self.side = plan.trades[index[0]].side
        sell = self.side is Side.SELL
        self.scale_in = np.array([10.0 ** (s.base.decimals if sell else s.quote.decimals) for s in self.states])
        self.scale_out = np.array([10.0 ** (s.quote.decimals if sell else s.base.decimals) for s in self.states])
        self.raw_total = sum(plan.trades[i].amount_in_raw for i in index)

    def raw(self, x: np.ndarray) -> list[int]:
        """Raw inputs for human inputs ``x``, keeping the group's raw total when every input has one scale."""
        raw = [max(1, math.floor(v * s)) for v, s in zip(x, self.scale_in, strict=True)]
        if len(set(self.scale_in.tolist())) == 1:
            raw[int(np.argmax(raw))] += self.raw_total - sum(raw)
        return raw

    def out(self, j: int, human_in: float) -> float:
        raw = self.quoter(self.states[j], self.side, max(1, math.floor(human_in * self.scale_in[j])))
        return float(raw / self.scale_out[j])

    def newton_step(self, x: np.ndarray) -> np.ndarray:
        """Move towards equal exact marginal output (Σ of the step is 0)."""
        m, c = np.zeros(x.size), np.zeros(x.size)
        for j, xj in enumerate(x):
            h = max(1e-3 * xj, 1e3 / self.scale_in[j])
            lo, mid, hi = self.out(j, xj - h), self.out(j, xj), self.out(j, xj + h)
            m[j], c[j] = (hi - lo) / (2 * h), (2 * mid - hi - lo) / h**2
        c = np.maximum(c, 1e-9 * np.abs(m) / np.maximum(x, 1e-12))  # a straight piece: a long, guarded step
        lam = float(np.sum(m / c) / np.sum(1 / c))
        return np.asarray((m - lam) / c, dtype=float)


def polish(problem: HedgeProblem, plan: Plan, quoter: Quoter, rounds: int) -> Plan:
    """``plan`` with each underlying's trades re-split on the exact models (never worse; see module docstring)."""
    groups: defaultdict[tuple[str, Side], list[int]] = defaultdict(list)
    for i, tr in enumerate(plan.trades):
        groups[(tr.underlying, tr.side)].append(i)
    best = plan
    for index in groups.values():
        if len(index) > 1 and rounds > 0:
            best = _polish_group(problem, best, index, quoter, rounds)
    return best


def _polish_group(problem: HedgeProblem, plan: Plan, index: list[int], quoter: Quoter, rounds: int) -> Plan:
    group = _Group(problem, plan, index, quoter)
    best = plan
    x = np.array([plan.trades[i].amount_in_raw for i in index]) / group.scale_in
    for _ in range(rounds):
        try:
            d = group.newton_step(x)
        except AdapterError:
            return best  # a probe fell outside a venue's read window: keep what we have
        if np.max(np.abs(d)) <= 1e-10 * x.sum():
            return best
        shrinking = d < 0
        t = min(1.0, float(np.min(0.9 * x[shrinking] / -d[shrinking]))) if shrinking.any() else 1.0
        for _ in range(6):
            cand = _rebuilt(problem, best, group, x + t * d)
            if cand is not None and cand.objective_usd < best.objective_usd - 1e-12 * max(1.0, abs(best.objective_usd)):
                best, x = cand, x + t * d
                break
            t /= 2
        else:
            return best
    return best


def _rebuilt(problem: HedgeProblem, plan: Plan, group: _Group, x: np.ndarray) -> Plan | None:
    """``plan`` with the group's inputs set to ``x`` (human), priced exactly; None if it breaks a limit."""
    trades = list(plan.trades)
    try:
        for i, st, raw in zip(group.index, group.states, group.raw(x), strict=True):
            trades[i] = exact_trade(problem, Allocation(st, group.side, trades[i].base_amount, raw), group.quoter)
    except (PlanError, AdapterError):
        return None
    cand = plan_from_trades(problem, trades, stats=plan.stats, model_objective=plan.model_objective_usd,
                            transfers=plan.transfers, perp_trades=plan.perp_trades, kind=plan.kind)
    return cand if violation(problem, cand) is None else None
