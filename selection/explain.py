"""Explanations of an allocation: why nothing fits, why each candidate is out, what each rule costs.

- :func:`check_feasibility`: cheap necessary conditions that name the culprit in
  the best words ("19 grants of at least 20,000 MAD need 380,000 MAD; the
  budget is 300,000 MAD"), run before the solver;
- :func:`explain_infeasible`: when CP-SAT proves that nothing is feasible, a
  minimal conflicting set of constraint groups: CP-SAT's sufficient
  assumptions, shrunk by deletion filtering until dropping any one of them
  makes the rest satisfiable;
- :func:`reasons`: a reason code and a sentence (French, English) for every
  candidate;
- :func:`counterfactuals`: for each candidate not selected, the merit at which
  it would have been selected and the extra budget that would have funded it;
- :func:`constraint_costs` and :func:`price_of_balance`: the objective with and
  without each binding constraint, and with and without every balance rule;
- :func:`compare_objectives`: what the other objective policies would fund.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from ortools.sat.python import cp_model

from selection.allocation_config import MERIT_SCALE, OBJECTIVES, AllocationConfig
from selection.allocation_data import Data, Group, money, number, percent, some
from selection.allocation_model import AllocationModel, Key, Solution, solver_for
from selection.errors import InfeasibleError

__all__ = [
    "check_feasibility",
    "explain_infeasible",
    "reasons",
    "counterfactuals",
    "constraint_costs",
    "price_of_balance",
    "compare_objectives",
]

Reason = tuple[str, str, str]


# ---------------------------------------------------------------------------
# Infeasibility: cheap necessary checks that name the culprit
# ---------------------------------------------------------------------------


def check_feasibility(data: Data, config: AllocationConfig, currency: str) -> None:
    """Raise InfeasibleError when a necessary condition visibly fails.

    Each check is a *necessary* condition of feasibility (a failed check proves
    that no selection exists), so running them before the solver never rejects
    a feasible instance; the solver still decides every case they miss. Soft
    rules are never checked here: they can always be broken at a price.
    """

    def fail(message: str, suggestion: str, code: str, field: str | None = None) -> None:
        raise InfeasibleError(message, suggestion=suggestion, code=code, field=field)

    def cash(amount: int) -> str:
        return money(amount, currency, "en")

    everyone = np.arange(data.n)
    grants = "requests" if config.amount == "requested" else "grants"
    n_selectable = int(data.selectable.sum())
    count_min = config.count.min or 0
    hard = [g for g in data.groups if g.penalty is None]
    by_rule: dict[int, list[Group]] = {}
    for group in hard:
        by_rule.setdefault(group.rule, []).append(group)

    # The committee's inclusions must be selectable, and fit the count.
    for i in data.include:
        if data.blocked[i] is not None:
            why = data.blocked[i][2].removeprefix("Not selected: ").rstrip(".")
            fail(
                f"'{data.ids[i]}' must be selected (include) but cannot be: {why}",
                f"remove '{data.ids[i]}' from include, or relax the rule that blocks it",
                "include_blocked", "include",
            )
    if config.count.max is not None and len(data.include) > config.count.max:
        fail(
            f"{len(data.include)} applications must be selected (include) but at most "
            f"{config.count.max} can be selected",
            "raise count.max or shorten include",
            "include_above_count_max", "include",
        )
    count_min = max(count_min, len(data.include))

    # Enough selectable candidates overall and in every group.
    if count_min > n_selectable:
        fail(
            f"at least {count_min} must be selected but {_can_be_selected(n_selectable)}",
            "lower count.min, or see the reasons of the candidates that cannot be selected",
            "count_min",
        )
    for group in hard:
        available = int(data.selectable[group.members].sum())
        if group.min_count is not None and group.min_count > available:
            fail(
                f"{group.label} needs at least {group.min_count} selected but "
                f"{_can_be_selected(available)}",
                f"lower min_count for '{group.column}', or see the reasons of its "
                "candidates that cannot be selected",
                "group_min_count",
            )

    # The minimums of one rule (disjoint values) against the count maximum.
    required = count_min
    for rule, groups in by_rule.items():
        total_min = sum(g.min_count or 0 for g in groups)
        column = config.groups[rule].column
        if config.count.max is not None and total_min > config.count.max:
            fail(
                f"the minimums for {column} add up to {total_min} selected but at most "
                f"{config.count.max} can be selected",
                f"raise count.max or lower min_count for '{column}'",
                "group_min_above_count_max",
            )
        required = max(required, total_min)

    # The maximums of a rule that covers every selectable candidate.
    for rule, groups in by_rule.items():
        column = config.groups[rule].column
        if _covers(data, groups, positive_only=False) and all(
            g.max_count is not None for g in groups
        ):
            total_max = sum(g.max_count for g in groups if g.max_count is not None)
            if total_max < required:
                fail(
                    f"the maximums for {column} allow at most {total_max} selected but "
                    f"at least {required} are required",
                    f"raise max_count for '{column}', or lower the minimums",
                    "group_max_below_required",
                )

    if config.budget is None:
        return
    budget = config.budget

    # The budget against the cheapest way to meet the minimum counts.
    if config.grant.min is not None and required * config.grant.min > budget:
        fail(
            f"at least {required} grants of at least {cash(config.grant.min)} need "
            f"{cash(required * config.grant.min)}; the budget is {cash(budget)}",
            "raise the budget, or lower grant.min or the minimum counts",
            "budget_below_minimum_grants",
        )
    cost = data.cheapest(everyone, count_min)
    if cost > budget:
        fail(
            f"at least {count_min} must be selected, and the {count_min} smallest {grants} "
            f"add up to {cash(cost)}; the budget is {cash(budget)}",
            "raise the budget or lower count.min",
            "budget_below_count_min",
        )
    for rule, groups in by_rule.items():
        column = config.groups[rule].column
        cost = sum(data.cheapest(g.members, g.min_count or 0) for g in groups)
        if cost > budget:
            fail(
                f"the minimums for {column} need at least {cash(cost)} (the smallest "
                f"{grants} of each value); the budget is {cash(budget)}",
                f"raise the budget or lower min_count for '{column}'",
                "budget_below_group_minimums",
            )
    floor = config.spend_floor
    if floor is not None and config.amount != "proportional":
        reachable = int(data.hi[data.selectable].sum())
        if reachable < floor:
            fail(
                f"at least {cash(floor)} must be spent but all the grants that can be "
                f"made add up to {cash(reachable)}",
                "lower min_spend or min_spend_share",
                "spend_floor_unreachable",
            )

    # A group's own minimum count against its maximum share of the budget.
    for group in hard:
        if group.max_share is None or not group.min_count:
            continue
        cost = data.cheapest(group.members, group.min_count)
        share = group.max_share
        if cost * share.denominator > share.numerator * budget:
            fail(
                f"{group.label} needs at least {group.min_count} selected, which costs at "
                f"least {cash(cost)}, more than its maximum share ({percent(share, 'en')}) "
                f"of the budget of {cash(budget)}",
                f"raise max_money_share for '{group.column}' or the budget, or lower its "
                "min_count",
                "group_share_below_minimum",
            )

    # Money shares, once some money must be spent.
    selectable_grants = data.lo[data.selectable]
    if required == 0 or not len(selectable_grants) or selectable_grants.min() == 0:
        return
    for group in hard:
        if group.min_share and not data.selectable[group.members].any():
            fail(
                f"{group.label} must receive at least {percent(group.min_share, 'en')} of "
                "the money spent but none of its candidates can be selected",
                f"lower min_money_share for '{group.column}'",
                "group_min_share_empty",
            )
    for rule, groups in by_rule.items():
        column = config.groups[rule].column
        total_share = sum((g.min_share or Fraction(0) for g in groups), Fraction(0))
        if total_share > 1:
            fail(
                f"the minimum money shares for {column} add up to "
                f"{percent(total_share, 'en')}, more than all of the money spent",
                f"lower min_money_share for '{column}'",
                "group_min_shares_above_all",
            )
        if _covers(data, groups, positive_only=True) and all(
            g.max_share is not None for g in groups
        ):
            total_share = sum((g.max_share or Fraction(0) for g in groups), Fraction(0))
            if total_share < 1:
                fail(
                    f"the maximum money shares for {column} add up to "
                    f"{percent(total_share, 'en')}, less than all of the money spent",
                    f"raise max_money_share for '{column}'",
                    "group_max_shares_below_all",
                )


def _covers(data: Data, groups: Sequence[Group], *, positive_only: bool) -> bool:
    """True when every selectable candidate (with a positive grant, if asked)
    belongs to one of these groups."""
    inside = np.zeros(data.n, dtype=bool)
    for group in groups:
        inside[group.members] = True
    concerned = data.selectable & (data.lo > 0) if positive_only else data.selectable
    return bool(inside[concerned].all())


def _can_be_selected(k: int) -> str:
    if k == 0:
        return "no candidate can be selected"
    if k == 1:
        return "only 1 candidate can be selected"
    return f"only {k} candidates can be selected"


# ---------------------------------------------------------------------------
# Infeasibility: a minimal conflicting set from CP-SAT assumptions
# ---------------------------------------------------------------------------


def explain_infeasible(data: Data, config: AllocationConfig, currency: str) -> InfeasibleError:
    """The error to raise once CP-SAT has proved the constraints infeasible.

    Every hard constraint group and every rule that blocks candidates gets a
    literal; CP-SAT returns a sufficient subset of them (its assumptions core);
    deletion filtering then drops each member in turn and keeps the drop
    whenever the rest is still infeasible, so the set returned is minimal:
    relaxing any one of its members makes the others satisfiable together.
    """
    model = AllocationModel(data, config, assumable=True, currency=currency)
    keys = [key for key, c in model.constraints.items() if not c.soft]

    def conflict(subset: list[Key]) -> list[Key] | None:
        """A sufficient conflicting subset of ``subset`` (others relaxed), or None."""
        copy = model.copy(relax=[k for k in keys if k not in subset])
        copy.clear_objective()
        copy.add_assumptions([model.literal[k] for k in subset])
        solver = solver_for(config.solver, workers=1)
        status = solver.solve(copy)
        if status != cp_model.INFEASIBLE:
            return None
        core = set(solver.sufficient_assumptions_for_infeasibility())
        return [k for k in subset if model.literal[k].index in core]

    core = conflict(keys)
    if core is None:  # pragma: no cover - the caller saw INFEASIBLE
        core = keys
    for key in list(core):
        if key not in core:
            continue
        smaller = conflict([k for k in core if k != key])
        if smaller is not None:
            core = smaller
    texts = [model.constraints[k].text for k in core]
    fields = list(dict.fromkeys(model.constraints[k].field for k in core))
    if not texts:  # pragma: no cover - every hard constraint has a literal
        message = "no selection satisfies the constraints"
    elif len(texts) == 1:
        message = f"no selection satisfies {texts[0]}"
    else:
        message = (
            "no selection satisfies these constraints together: " + "; ".join(texts)
            + " (relaxing any one of them removes the conflict)"
        )
    return InfeasibleError(
        message,
        field=", ".join(fields) or None,
        suggestion="relax one of them: " + ", ".join(fields) if fields else None,
        code="infeasible",
    )


# ---------------------------------------------------------------------------
# A reason for every candidate
# ---------------------------------------------------------------------------


def reasons(data: Data, config: AllocationConfig, solution: Solution, currency: str,
            objective: str) -> list[Reason]:
    """(code, French, English) for every candidate, checked in REASON_CODES order
    (see :func:`reason_columns`)."""
    return _reason_rows(data, config, solution, currency, objective).reasons()


def reason_columns(data: Data, config: AllocationConfig, solution: Solution, currency: str,
                   objective: str) -> dict[str, pd.Series | list[str]]:
    """The ``reason``, ``reason_fr`` and ``reason_en`` columns of the result
    table: what :func:`reasons` gives, as ``str`` columns built by pyarrow
    from the few distinct sentences (not from one Python string per row:
    1.5 ms a column at 2,400 rows, issue 5)."""
    return _reason_rows(data, config, solution, currency, objective).columns()


def str_column(values: Sequence[str]) -> pd.Series | Sequence[str]:
    """A ``str`` column of these strings, built by pyarrow (what
    ``pd.Series(values)`` gives, in half the time); no values are left as
    they are (a table column of no value has pandas' object dtype)."""
    if not len(values):
        return values
    return pd.Series(pd.array(pa.array(values, type=pa.large_string()), dtype="str"))


def _reason_rows(data: Data, config: AllocationConfig, solution: Solution, currency: str,
                 objective: str) -> _Reasons:
    """The reason of every candidate, checked in REASON_CODES order.

    Worked out for all the candidates at once: each rule, in turn, explains
    the candidates it keeps out among those not explained yet, and each
    sentence is written once per distinct value it shows (a grant, a merit)
    and shared (one call per candidate took 2.6 s at 100,000).
    """
    selected, amount = solution.selected, solution.amount
    n = data.n
    spend = int(amount.sum())
    count = int(selected.sum())
    grant = data.lo
    merit_bits = data.merit.view(np.int64)  # by the bits: 0.0 and -0.0 read differently
    out = _Reasons(n)

    def cash(value: Any, lang: Literal["fr", "en"]) -> str:
        return money(int(value), currency, lang)

    for i in np.flatnonzero(~data.selectable):
        out.give_row(int(i), data.blocked[i])
    chosen = out.open & selected

    def selected_with_grant(rows: np.ndarray) -> list[Reason]:
        # One sentence per selected (their grants and merits differ), written
        # in one pass without a call per row (25,000 calls over a sweep of 50
        # budgets, issue 5); the merit's French form is the English one with
        # a decimal comma (as `number` writes it).
        grants = amount[rows].tolist()
        merits = [number(value, "en") for value in data.merit[rows].tolist()]
        return [
            (
                "selected",
                f"Retenu : subvention de {money(grant, currency, 'fr')} "
                f"(mérite {merit.replace('.', ',')}).",
                f"Selected: grant of {money(grant, currency, 'en')} (merit {merit}).",
            )
            for grant, merit in zip(grants, merits)
        ]

    if config.allocates_money:
        out.give_each(chosen, selected_with_grant)
    else:
        out.give(chosen, lambda i: (
            "selected",
            f"Retenu (mérite {number(data.merit[i], 'fr')}).",
            f"Selected (merit {number(data.merit[i], 'en')}).",
        ), by=merit_bits)
    left_out = out.open.copy()  # the candidates a rank-order note may follow

    if config.count.max is not None and count >= config.count.max:
        out.give(out.open, lambda i: (
            "capacity",
            f"Non retenu : le maximum de {config.count.max} retenus est atteint.",
            f"Not selected: the maximum of {config.count.max} selected is reached.",
        ))
    for group in data.groups:
        if group.penalty is not None:
            continue
        member = np.zeros(n, dtype=bool)
        member[group.members] = True
        part = int(selected[group.members].sum())
        if group.max_count is not None and part >= group.max_count:
            out.give(member, lambda i, g=group: (
                "group_cap",
                f"Non retenu : {g.label_fr} a déjà son maximum de {g.max_count} retenus.",
                f"Not selected: {g.label} already has its maximum of {g.max_count} selected.",
            ))
        share = group.max_count_share
        if share is not None and (part + 1) * share.denominator > share.numerator * (count + 1):
            out.give(member, lambda i, g=group, share=share: (
                "group_cap",
                f"Non retenu : le retenir porterait {g.label_fr} au-delà de sa part "
                f"maximale de {percent(share, 'fr')} des retenus.",
                f"Not selected: selecting it would take {g.label} above its maximum "
                f"share of {percent(share, 'en')} of those selected.",
            ))
        share = group.max_share
        if share is not None:
            given = int(amount[group.members].sum())
            add = _exact(grant, abs(given) + abs(spend), max(share.denominator, share.numerator))
            over = (given + add) * share.denominator > share.numerator * (spend + add)
            out.give(member & np.asarray(over, dtype=bool), lambda i, g=group, share=share: (
                "group_cap",
                f"Non retenu : ses {cash(grant[i], 'fr')} porteraient "
                f"{g.label_fr} au-delà de sa part maximale de {percent(share, 'fr')} "
                "du montant attribué.",
                f"Not selected: its {cash(grant[i], 'en')} would take "
                f"{g.label} above its maximum share of {percent(share, 'en')} of the "
                "money.",
            ), by=grant)
    for rule, use in data.resources:
        usage = int(use[selected].sum())
        over = usage + _exact(use, usage) > rule.capacity
        out.give(np.asarray(over, dtype=bool), lambda i, rule=rule, use=use, usage=usage: (
            "resource",
            f"Non retenu : ses {int(use[i]):,} {rule.column} dépassent les "
            f"{rule.capacity - usage:,} restants (capacité "
            f"{rule.capacity:,}).".replace(",", " "),
            f"Not selected: its {int(use[i]):,} {rule.column} exceed the "
            f"{rule.capacity - usage:,} left (capacity {rule.capacity:,}).",
        ), by=use)
    if data.organisation is not None:
        organisation = data.organisation
        taken = {organisation[i] for i in np.flatnonzero(selected)} - {None}
        rows = np.flatnonzero(out.open)
        same = np.zeros(n, dtype=bool)
        same[rows] = [organisation[i] in taken for i in rows]
        out.give(same, lambda i: (
            "organisation",
            f"Non retenu : une autre candidature de « {organisation[i]} » est retenue "
            f"(une par {config.one_per}).",
            f"Not selected: another application of '{organisation[i]}' is selected (one per "
            f"{config.one_per}).",
        ), by=organisation)
    for a, b in data.pairs:
        for i, other in ((a, b), (b, a)):
            if out.open[i] and selected[other]:
                out.give_row(i, (
                    "incompatible",
                    f"Non retenu : incompatible avec « {data.ids[other]} », qui est retenu.",
                    f"Not selected: incompatible with '{data.ids[other]}', which is selected.",
                ))
    if config.budget is not None:
        budget, left = config.budget, config.budget - spend
        if left == 0:
            out.give(grant > left, lambda i: (
                "budget",
                f"Non retenu : le budget de {cash(budget, 'fr')} est "
                f"entièrement attribué (demande : {cash(grant[i], 'fr')}).",
                f"Not selected: the budget of {cash(budget, 'en')} is "
                f"fully allocated (request: {cash(grant[i], 'en')}).",
            ), by=grant)
        else:
            out.give(grant > left, lambda i: (
                "budget",
                f"Non retenu : sa demande de {cash(grant[i], 'fr')} dépasse les "
                f"{cash(left, 'fr')} restants du budget.",
                f"Not selected: its request of {cash(grant[i], 'en')} exceeds the "
                f"{cash(left, 'en')} left in the budget.",
            ), by=grant)
    what = {
        "total_merit": ("de plus grand mérite total", "with the highest total merit"),
        "merit_per_money": ("de plus grand mérite par dirham", "with the highest merit per money"),
        "rank_order": ("qui respecte l'ordre de classement", "that respects rank order"),
    }[config.objective]
    out.give(out.open, lambda i: (
        "outranked",
        f"Non retenu : il respecte les limites restantes, mais la sélection {what[0]} "
        f"ne l'inclut pas (mérite {number(data.merit[i], 'fr')}).",
        f"Not selected: it fits within the remaining limits, but the selection {what[1]} "
        f"leaves it out (merit {number(data.merit[i], 'en')}).",
    ), by=merit_bits)
    if objective == "rank_order":
        _higher_ranked(out, data, selected, left_out)
    return out


class _Reasons:
    """The reason of every row, as an index into a short list of sentences."""

    def __init__(self, n: int) -> None:
        self.which = np.full(n, -1, dtype=np.int64)
        self.texts: list[Reason] = []
        self.open = np.ones(n, dtype=bool)  # rows without a reason yet

    def give_row(self, i: int, reason: Reason) -> None:
        self.which[i] = len(self.texts)
        self.texts.append(reason)
        self.open[i] = False

    def give(self, rows: np.ndarray, make: Any, by: np.ndarray | None = None) -> None:
        """Give the open ``rows`` (a mask) the reason ``make(i)``, written once
        per distinct ``by[i]`` (once for all when ``by`` is None), for a
        representative ``i``."""
        rows = np.flatnonzero(rows & self.open)
        if not len(rows):
            return
        if by is None:
            codes, first = np.zeros(len(rows), dtype=np.int64), rows[:1]
        else:
            codes, first = _distinct(by[rows])
            first = rows[first]
        self.which[rows] = len(self.texts) + codes
        self.texts.extend(make(int(i)) for i in first)
        self.open[rows] = False

    def give_each(self, rows: np.ndarray, make: Any) -> None:
        """Give each of the open ``rows`` (a mask) its own reason: ``make``
        takes their positions and returns their reasons, in that order."""
        rows = np.flatnonzero(rows & self.open)
        if not len(rows):
            return
        self.which[rows] = len(self.texts) + np.arange(len(rows))
        self.texts.extend(make(rows))
        self.open[rows] = False

    def reasons(self) -> list[Reason]:
        texts = np.empty(len(self.texts), dtype=object)
        for k, reason in enumerate(self.texts):  # one by one: tuples are not rows
            texts[k] = reason
        return texts[self.which].tolist()

    def columns(self) -> dict[str, pd.Series | list[str]]:
        """The code, French and English columns: each sentence once, then
        taken by row (in arrow); as :func:`str_column`, no rows give lists."""
        names = ("reason", "reason_fr", "reason_en")
        if not len(self.which):
            return {name: [] for name in names}
        which = pa.array(self.which)
        return {
            name: pd.Series(pd.array(
                pa.array([t[k] for t in self.texts], type=pa.large_string()).take(which),
                dtype="str"))
            for k, name in enumerate(names)
        }


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code per key, first position of each code): equal keys (rows of a 2-D
    array) share a code, numbered in order of first appearance."""
    m = len(keys)
    codes = np.zeros(m, dtype=np.int64)
    for column in keys.reshape(m, -1).T:  # the codes so far paired with the next column's
        column_codes = pd.factorize(column, use_na_sentinel=False)[0]
        codes = pd.factorize(codes * (m + 1) + column_codes)[0].astype(np.int64)
    return codes, np.unique(codes, return_index=True)[1]


def _exact(values: np.ndarray, plus: int, times: int = 1) -> np.ndarray:
    """``values`` as int64 when ``(value + plus) x times`` stays well within
    int64; as Python integers otherwise (exact, slower)."""
    values = np.asarray(values)
    top = int(np.abs(values).max(initial=0))
    if (top + abs(plus) + 1) * (abs(times) + 1) < 2**62:
        return values.astype(np.int64)
    return values.astype(object)


def _higher_ranked(out: _Reasons, data: Data, selected: np.ndarray, rows: np.ndarray) -> None:
    """Under rank_order, follow the reason of each of ``rows`` (a mask) with
    the candidates of its group ranked above it and selected."""
    n = data.n
    cell = np.asarray(data.cell, dtype=np.int64)
    chosen = np.flatnonzero(selected)
    chosen = chosen[np.lexsort((chosen, cell[chosen]))]  # by cell, then rank
    key = cell[chosen] * (n + 1) + chosen
    rows = np.flatnonzero(rows)
    start = np.searchsorted(key, cell[rows] * (n + 1))
    above = np.searchsorted(key, cell[rows] * (n + 1) + rows) - start
    rows, start, above = rows[above > 0], start[above > 0], above[above > 0]
    if not len(rows):
        return
    codes, first = _distinct(np.stack([out.which[rows], start, above], axis=1))
    texts = []
    for k in first:
        code, fr, en = out.texts[out.which[rows[k]]]
        shown = [str(data.ids[j]) for j in chosen[start[k]:start[k] + min(above[k], 5)]]
        names = some(shown + [""] * (above[k] - len(shown)))  # some() shows the first 5
        texts.append((
            code,
            fr + f" Mieux classées dans son groupe et retenues : {names}.",
            en + f" Higher-ranked in its group and selected: {names}.",
        ))
    out.which[rows] = len(out.texts) + codes
    out.texts.extend(texts)


# ---------------------------------------------------------------------------
# Counterfactuals: the merit and the extra budget that would have changed it
# ---------------------------------------------------------------------------


def counterfactuals(
    model: AllocationModel, solution: Solution
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(merit needed, extra budget, note) per candidate; NaN/-1 with a note when none.

    *Merit needed*: the smallest merit (in steps of 1/MERIT_SCALE) at which the
    best selection that includes the candidate scores strictly higher than
    the chosen one, every other merit and every constraint unchanged; one
    exact re-solve with the candidate forced in (under ``partial``, at its
    full grant). Computed for the ``explain.counterfactuals`` best-ranked
    candidates not selected; not under ``rank_order``, where merit also moves
    a candidate in the rank order.

    *Extra budget*: the money missing to add the candidate, with its
    smallest grant, to the selection as it stands (every other selected
    candidate kept): its grant minus what is left of the budget. Empty when
    adding it would also break another hard constraint (named in the note)
    or when the budget is not what keeps it out.
    """
    data, config = model.data, model.config
    n = data.n
    needed = np.full(n, np.nan)
    extra = np.full(n, -1, dtype=np.int64)
    notes = [""] * n
    left_out = ~np.asarray(solution.selected, dtype=bool)
    out = np.flatnonzero(left_out & data.selectable).tolist()
    for i in np.flatnonzero(left_out & ~data.selectable).tolist():
        notes[i] = "cannot be selected: " + data.blocked[i][2].removeprefix("Not selected: ")
    limit = config.explain.counterfactuals
    budget_notes = _extra_budgets(out, model, solution, extra)
    # The candidates that get no merit: every one under rank_order, else
    # those beyond the limit; their notes are a few distinct texts, each
    # joined once (one by one: 1 ms a call at 2,400 candidates).
    if model.objective_name == "rank_order":
        computed, skipped = 0, "merit not computed under rank_order (merit moves the rank)"
    else:
        computed = limit
        skipped = (f"merit not computed: only the {limit} best-ranked candidates not "
                   "selected get one (explain.counterfactuals)")
    joined: dict[str, str] = {}
    for rank in range(computed, len(out)):
        note = budget_notes[rank]
        if note not in joined:
            joined[note] = _join(note, skipped)
        notes[out[rank]] = joined[note]
    for rank, i in enumerate(out[:computed]):
        notes[i] = budget_notes[rank]
        status, best = model.best_with(i, config.solver)
        if status == cp_model.INFEASIBLE:
            notes[i] = _join(notes[i], "no merit would select it: no selection that includes "
                             "it satisfies the constraints")
            continue
        if status != cp_model.OPTIMAL or solution.status != "OPTIMAL":
            notes[i] = _join(notes[i], "merit not computed: not proven within the time limit")
            continue
        grant = int(model.hi[i]) if i in model.k else int(model.lo[i])
        others = best - model.merit_of(i, grant)
        gap = solution.objective - others + 1  # the contribution it would need
        merit = _merit_for(model, i, grant, gap)
        if merit is None:
            notes[i] = _join(notes[i], "no merit would select it: its grant would be 0")
            continue
        needed[i] = merit / MERIT_SCALE
    return needed, extra, notes


def _merit_for(model: AllocationModel, i: int, grant: int, contribution: int) -> int | None:
    """The smallest scaled merit whose contribution reaches ``contribution``
    (None when no merit can: a grant of 0 under merit_per_money)."""
    if contribution <= 0:
        return int(model.data.merit_scaled[i])
    request = int(model.data.request[i])
    if model.objective_name == "merit_per_money":
        # contribution = merit x grant
        return -(-contribution // grant) if grant > 0 else None
    if model.partial and request > 0:
        # contribution = floor(merit x grant / request)
        return -(-contribution * request // grant) if grant > 0 else None
    return contribution


def _extra_budgets(out: list[int], model: AllocationModel, solution: Solution,
                   extra: np.ndarray) -> list[str]:
    """The extra-budget note of each candidate of ``out`` (not selected,
    selectable), for all of them at once; the amounts go into ``extra``."""
    config = model.config
    if config.budget is None or config.amount == "proportional" or not out:
        return [""] * len(out)
    totals = _totals(model, solution)
    broken = _broken_mask(out, model, solution, totals)
    if broken is None:  # the reference: one candidate at a time
        broken = ["; ".join(_broken_if_added(i, model, solution, totals)) for i in out]
    rows = np.asarray(out, dtype=np.int64)
    spend = totals["spend"]
    missing = spend + _exact(np.asarray(model.lo)[rows], spend + config.budget) - config.budget
    joined = np.asarray(broken, dtype=object)
    notes = np.full(len(rows), "", dtype=object)
    notes[np.asarray(missing <= 0, dtype=bool)] = "the budget is not what keeps it out"
    hit = joined != ""
    notes[hit] = "no extra budget alone would fund it: adding it would break " + joined[hit]
    fund = ~hit & np.asarray(missing > 0, dtype=bool)
    extra[rows[fund]] = missing[fund]
    return notes.tolist()


def _totals(model: AllocationModel, solution: Solution) -> dict[str, Any]:
    """The sums over the selection that adding one candidate changes."""
    data, selected, amount = model.data, solution.selected, solution.amount
    organisations = set()
    if data.organisation is not None:
        organisations = {data.organisation[j] for j in np.flatnonzero(selected)} - {None}
    return {
        "count": int(selected.sum()),
        "spend": int(amount.sum()),
        "group_count": [int(selected[g.members].sum()) for g in data.groups],
        "group_money": [int(amount[g.members].sum()) for g in data.groups],
        "usage": [int(use[selected].sum()) for _, use in data.resources],
        "organisations": organisations,
    }


def _broken_mask(out: list[int], model: AllocationModel, solution: Solution,
                 totals: dict[str, Any]) -> list[str] | None:
    """For each candidate of ``out``: the hard rules (other than the budget)
    that adding it would break, joined by "; " ("" when none). The checks of
    :func:`_broken_if_added` for all the candidates at once: each rule gives
    a column of a boolean matrix, and the texts are joined once per distinct
    row of it (a loop over 100,000 candidates took 1.5 s)."""
    data, config, constraints = model.data, model.config, model.constraints
    rows = np.asarray(out, dtype=np.int64)
    m = len(rows)
    count, spend = totals["count"] + 1, totals["spend"]
    columns: list[np.ndarray] = []
    texts: list[str] = []

    def rule(broken: Any, key: Key) -> None:
        broken = np.broadcast_to(np.asarray(broken, dtype=bool), (m,))
        if broken.any():
            columns.append(broken)
            texts.append(constraints[key].text)

    if config.count.max is not None and count > config.count.max:
        rule(True, ("count", "max"))
    fractions = [f for g in data.groups for f in (g.min_count_share, g.max_count_share,
                                                   g.min_share, g.max_share) if f is not None]
    top = max([max(f.numerator, f.denominator) for f in fractions] + [1])
    money_now = max([abs(spend)] + [abs(v) for v in totals["group_money"]])
    add = _exact(np.asarray(model.lo)[rows], 2 * money_now + count, 2 * top)
    exact = add.dtype == object  # then the counts too: a denominator can be 10**16
    for k, group in enumerate(data.groups):
        if group.penalty is not None:
            continue
        member = np.zeros(data.n, dtype=bool)
        member[group.members] = True
        inside = member[rows]
        part = totals["group_count"][k] + inside.astype(object if exact else np.int64)
        money = totals["group_money"][k] + np.where(inside, add, 0)
        checks = {
            "max_count": (group.max_count, lambda b: part > b),
            "max_count_share": (group.max_count_share,
                                lambda f: f.denominator * part > f.numerator * count),
            "min_count_share": (group.min_count_share,
                                lambda f: f.denominator * part < f.numerator * count),
            "max_money_share": (group.max_share,
                                lambda f: f.denominator * money > f.numerator * (spend + add)),
            "min_money_share": (group.min_share,
                                lambda f: f.denominator * money < f.numerator * (spend + add)),
        }
        for name, (bound, fails) in checks.items():
            if bound is not None:
                rule(fails(bound), ("group", group.rule, group.value, name))
    for r, (resource, use) in enumerate(data.resources):
        usage = totals["usage"][r]
        rule(usage + _exact(np.asarray(use)[rows], usage) > resource.capacity, ("resource", r))
    if data.organisation is not None:
        taken = totals["organisations"]
        rule([data.organisation[i] in taken for i in rows], ("one_per",))

    joined = np.full(m, "", dtype=object)
    if columns:
        matrix = np.stack(columns, axis=1)
        hit = np.flatnonzero(matrix.any(axis=1))
        matrix = matrix[hit]
        # Each row of the matrix as integers (62 columns to an int64), numbered.
        keys = np.stack([
            matrix[:, s:s + 62].astype(np.int64)
            @ (np.int64(1) << np.arange(matrix[:, s:s + 62].shape[1], dtype=np.int64))
            for s in range(0, matrix.shape[1], 62)
        ], axis=1)
        codes, first = _distinct(keys)
        names = np.array(texts, dtype=object)
        patterns = np.empty(len(first), dtype=object)
        for c, f in enumerate(first):
            patterns[c] = "; ".join(names[matrix[f]])
        joined[hit] = patterns[codes]
    # Incompatible pairs touch a few candidates each: one at a time.
    for a, b in data.pairs:
        for i, other in ((a, b), (b, a)) if a != b else ((a, b),):
            rank = int(np.searchsorted(rows, i))
            if rank < m and rows[rank] == i and solution.selected[other]:
                text = constraints[("incompatible", str(data.ids[a]), str(data.ids[b]))].text
                joined[rank] = _join(joined[rank], text)
    return joined.tolist()


def _broken_if_added(i: int, model: AllocationModel, solution: Solution,
                     totals: dict[str, Any]) -> list[str]:
    """The hard constraints (other than the budget) that adding i, with its
    smallest grant, to the selection would break. Minimums cannot break when a
    candidate is added, except the shares of the groups it is not in.
    (One candidate at a time: the reference that :func:`_broken_mask` must match.)"""
    data, config, constraints = model.data, model.config, model.constraints
    add = int(model.lo[i])
    count, spend = totals["count"] + 1, totals["spend"] + add
    broken = []
    if config.count.max is not None and count > config.count.max:
        broken.append(constraints[("count", "max")].text)
    for k, group in enumerate(data.groups):
        if group.penalty is not None:
            continue
        inside = i in group.members
        part = totals["group_count"][k] + inside
        money = totals["group_money"][k] + (add if inside else 0)
        checks = {
            "max_count": group.max_count is not None and part > group.max_count,
            "max_count_share": group.max_count_share is not None
            and group.max_count_share.denominator * part > group.max_count_share.numerator * count,
            "min_count_share": group.min_count_share is not None
            and group.min_count_share.denominator * part < group.min_count_share.numerator * count,
            "max_money_share": group.max_share is not None
            and group.max_share.denominator * money > group.max_share.numerator * spend,
            "min_money_share": group.min_share is not None
            and group.min_share.denominator * money < group.min_share.numerator * spend,
        }
        for name, fails in checks.items():
            if fails:
                broken.append(constraints[("group", group.rule, group.value, name)].text)
    for r, (rule, use) in enumerate(data.resources):
        if totals["usage"][r] + int(use[i]) > rule.capacity:
            broken.append(constraints[("resource", r)].text)
    if data.organisation is not None and data.organisation[i] in totals["organisations"]:
        broken.append(constraints[("one_per",)].text)
    for a, b in data.pairs:
        if i in (a, b) and solution.selected[b if i == a else a]:
            broken.append(constraints[("incompatible", str(data.ids[a]), str(data.ids[b]))].text)
    return broken


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


# ---------------------------------------------------------------------------
# What each constraint costs
# ---------------------------------------------------------------------------


def _resolve(model: AllocationModel, relax: Sequence[Key]) -> tuple[int | None, bool]:
    copy = model.copy(relax=relax)
    solver = model.solver(model.config.solver)
    status = solver.solve(copy)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    return int(round(solver.objective_value)), status == cp_model.OPTIMAL


def constraint_costs(model: AllocationModel, solution: Solution) -> list[dict[str, Any]]:
    """Each binding constraint group with its cost, largest first.

    The cost is the objective without the group (every other constraint kept)
    minus the objective with it, in the objective's units; a group is binding
    when the cost is positive. ``proven`` is false when a re-solve hit the
    time limit (the cost is then a lower bound).
    """
    costs = []
    for key, constraint in model.constraints.items():
        if constraint.soft:
            continue
        value, proven = _resolve(model, [key])
        if value is None:
            continue
        cost = value - solution.objective
        if cost > 0:
            costs.append({
                "constraint": constraint.text,
                "field": constraint.field,
                "cost": cost / model.scale,
                "objective_without": value / model.scale,
                "proven": proven and solution.status == "OPTIMAL",
            })
    costs.sort(key=lambda c: (-c["cost"], c["field"], c["constraint"]))
    return costs


def price_of_balance(model: AllocationModel, solution: Solution) -> dict[str, Any] | None:
    """The objective with every balance rule (hard and soft) against none."""
    balance = [k for k, c in model.constraints.items() if c.balance]
    if not balance:
        return None
    value, proven = _resolve(model, balance)
    if value is None:  # pragma: no cover - fewer constraints cannot be infeasible
        return None
    return {
        "objective_with": solution.objective / model.scale,
        "objective_without": value / model.scale,
        "cost": (value - solution.objective) / model.scale,
        "proven": proven and solution.status == "OPTIMAL",
    }


# ---------------------------------------------------------------------------
# What the other objectives would fund
# ---------------------------------------------------------------------------


def compare_objectives(data: Data, config: AllocationConfig, solution: Solution,
                       currency: str) -> dict[str, dict[str, Any]]:
    """For each other objective: count, money, total merit, and who differs."""
    out: dict[str, dict[str, Any]] = {}
    chosen = set(np.flatnonzero(solution.selected).tolist())
    for name in OBJECTIVES:
        if name == config.objective:
            continue
        if name == "merit_per_money" and (config.budget is None or config.amount == "proportional"):
            continue
        model = AllocationModel(data, config, objective=name, currency=currency)
        status, other = model.solve(config.solver)
        if other is None:
            out[name] = {"status": "INFEASIBLE" if status == cp_model.INFEASIBLE else "UNKNOWN"}
            continue
        funded = set(np.flatnonzero(other.selected).tolist())
        out[name] = {
            "status": other.status,
            "count": int(other.selected.sum()),
            "money": int(other.amount.sum()),
            "merit": round(float(data.merit[other.selected].sum()), 6),
            "only_with_this_objective": [str(data.ids[i]) for i in sorted(funded - chosen)],
            "only_with_the_chosen_objective": [str(data.ids[i]) for i in sorted(chosen - funded)],
        }
    return out
