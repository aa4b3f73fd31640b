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
from typing import Any

import numpy as np
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
    """(code, French, English) for every candidate, checked in REASON_CODES order."""
    selected, amount = solution.selected, solution.amount
    spend = int(amount.sum())
    count = int(selected.sum())
    group_count = [int(selected[g.members].sum()) for g in data.groups]
    group_money = [int(amount[g.members].sum()) for g in data.groups]
    memberships: list[list[int]] = [[] for _ in range(data.n)]
    for k, group in enumerate(data.groups):
        for i in group.members:
            memberships[int(i)].append(k)
    usage = [int(use[selected].sum()) for _, use in data.resources]
    organisations = set()
    if data.organisation is not None:
        organisations = {data.organisation[i] for i in np.flatnonzero(selected)} - {None}

    out = []
    for i in range(data.n):
        reason = _reason(i, data, config, selected, amount, spend, count, group_count,
                         group_money, memberships[i], usage, organisations, currency)
        if objective == "rank_order" and reason[0] not in (
            "selected", "not_ranked", "excluded", "below_min_merit", "below_min_reviews",
            "amount_out_of_bounds",
        ):
            above = [
                str(data.ids[j]) for j in range(i)
                if selected[j] and data.cell[j] == data.cell[i]
            ]
            if above:
                names = some(above)
                reason = (
                    reason[0],
                    reason[1] + f" Mieux classées dans son groupe et retenues : {names}.",
                    reason[2] + f" Higher-ranked in its group and selected: {names}.",
                )
        out.append(reason)
    return out


def _reason(
    i: int,
    data: Data,
    config: AllocationConfig,
    selected: np.ndarray,
    amount: np.ndarray,
    spend: int,
    count: int,
    group_count: Sequence[int],
    group_money: Sequence[int],
    memberships: Sequence[int],
    usage: Sequence[int],
    organisations: set,
    currency: str,
) -> Reason:
    blocked = data.blocked[i]
    if blocked is not None:
        return blocked
    merit_fr, merit_en = number(data.merit[i], "fr"), number(data.merit[i], "en")
    grant = int(data.lo[i])
    if selected[i]:
        if config.allocates_money:
            given = int(amount[i])
            return (
                "selected",
                f"Retenu : subvention de {money(given, currency, 'fr')} (mérite {merit_fr}).",
                f"Selected: grant of {money(given, currency, 'en')} (merit {merit_en}).",
            )
        return ("selected", f"Retenu (mérite {merit_fr}).", f"Selected (merit {merit_en}).")
    if config.count.max is not None and count >= config.count.max:
        return (
            "capacity",
            f"Non retenu : le maximum de {config.count.max} retenus est atteint.",
            f"Not selected: the maximum of {config.count.max} selected is reached.",
        )
    for k in memberships:
        group = data.groups[k]
        if group.penalty is not None:
            continue
        if group.max_count is not None and group_count[k] >= group.max_count:
            return (
                "group_cap",
                f"Non retenu : {group.label_fr} a déjà son maximum de "
                f"{group.max_count} retenus.",
                f"Not selected: {group.label} already has its maximum of "
                f"{group.max_count} selected.",
            )
        share = group.max_count_share
        if share is not None and (group_count[k] + 1) * share.denominator > (
            share.numerator * (count + 1)
        ):
            return (
                "group_cap",
                f"Non retenu : le retenir porterait {group.label_fr} au-delà de sa part "
                f"maximale de {percent(share, 'fr')} des retenus.",
                f"Not selected: selecting it would take {group.label} above its maximum "
                f"share of {percent(share, 'en')} of those selected.",
            )
        share = group.max_share
        if share is not None and (group_money[k] + grant) * share.denominator > (
            share.numerator * (spend + grant)
        ):
            return (
                "group_cap",
                f"Non retenu : ses {money(grant, currency, 'fr')} porteraient "
                f"{group.label_fr} au-delà de sa part maximale de {percent(share, 'fr')} "
                "du montant attribué.",
                f"Not selected: its {money(grant, currency, 'en')} would take "
                f"{group.label} above its maximum share of {percent(share, 'en')} of the "
                "money.",
            )
    for r, (rule, use) in enumerate(data.resources):
        if usage[r] + int(use[i]) > rule.capacity:
            return (
                "resource",
                f"Non retenu : ses {int(use[i]):,} {rule.column} dépassent les "
                f"{rule.capacity - usage[r]:,} restants (capacité "
                f"{rule.capacity:,}).".replace(",", " "),
                f"Not selected: its {int(use[i]):,} {rule.column} exceed the "
                f"{rule.capacity - usage[r]:,} left (capacity {rule.capacity:,}).",
            )
    if data.organisation is not None and data.organisation[i] in organisations:
        org = data.organisation[i]
        return (
            "organisation",
            f"Non retenu : une autre candidature de « {org} » est retenue (une par "
            f"{config.one_per}).",
            f"Not selected: another application of '{org}' is selected (one per "
            f"{config.one_per}).",
        )
    for a, b in data.pairs:
        if i in (a, b) and selected[b if i == a else a]:
            other = data.ids[b if i == a else a]
            return (
                "incompatible",
                f"Non retenu : incompatible avec « {other} », qui est retenu.",
                f"Not selected: incompatible with '{other}', which is selected.",
            )
    if config.budget is not None and config.budget - spend < grant:
        left = config.budget - spend
        if left == 0:
            return (
                "budget",
                f"Non retenu : le budget de {money(config.budget, currency, 'fr')} est "
                f"entièrement attribué (demande : {money(grant, currency, 'fr')}).",
                f"Not selected: the budget of {money(config.budget, currency, 'en')} is "
                f"fully allocated (request: {money(grant, currency, 'en')}).",
            )
        return (
            "budget",
            f"Non retenu : sa demande de {money(grant, currency, 'fr')} dépasse les "
            f"{money(left, currency, 'fr')} restants du budget.",
            f"Not selected: its request of {money(grant, currency, 'en')} exceeds the "
            f"{money(left, currency, 'en')} left in the budget.",
        )
    what = {
        "total_merit": ("de plus grand mérite total", "with the highest total merit"),
        "merit_per_money": ("de plus grand mérite par dirham", "with the highest merit per money"),
        "rank_order": ("qui respecte l'ordre de classement", "that respects rank order"),
    }[config.objective]
    return (
        "outranked",
        f"Non retenu : il respecte les limites restantes, mais la sélection {what[0]} "
        f"ne l'inclut pas (mérite {merit_fr}).",
        f"Not selected: it fits within the remaining limits, but the selection {what[1]} "
        f"leaves it out (merit {merit_en}).",
    )


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
    out = [i for i in range(n) if not solution.selected[i] and data.selectable[i]]
    for i in range(n):
        if not solution.selected[i] and not data.selectable[i]:
            notes[i] = "cannot be selected: " + data.blocked[i][2].removeprefix("Not selected: ")
    limit = config.explain.counterfactuals
    totals = _totals(model, solution)
    blocked = _broken_mask(out, model, totals)
    for rank, i in enumerate(out):
        notes[i] = _extra_budget(i, model, solution, extra, totals,
                                 None if blocked is None else bool(blocked[rank]))
        if model.objective_name == "rank_order":
            notes[i] = _join(notes[i], "merit not computed under rank_order (merit moves the rank)")
            continue
        if rank >= limit:
            notes[i] = _join(notes[i], f"merit not computed: only the {limit} best-ranked "
                             "candidates not selected get one (explain.counterfactuals)")
            continue
        fix = {model.x[i]: 1}
        if i in model.k:
            fix[model.k[i]] = int(model.hi[i]) // model.step
        copy = model.copy(fix=fix)
        solver = solver_for(config.solver)
        status = solver.solve(copy)
        if status == cp_model.INFEASIBLE:
            notes[i] = _join(notes[i], "no merit would select it: no selection that includes "
                             "it satisfies the constraints")
            continue
        if status != cp_model.OPTIMAL or solution.status != "OPTIMAL":
            notes[i] = _join(notes[i], "merit not computed: not proven within the time limit")
            continue
        grant = int(model.hi[i]) if i in model.k else int(model.lo[i])
        others = int(round(solver.objective_value)) - model.merit_of(i, grant)
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


def _extra_budget(i: int, model: AllocationModel, solution: Solution, extra: np.ndarray,
                  totals: dict[str, Any], blocked: bool | None = None) -> str:
    """``blocked``: False when :func:`_broken_mask` found that adding i breaks
    no count, group or resource rule (None: not known)."""
    config = model.config
    if config.budget is None or config.amount == "proportional":
        return ""
    if blocked is False and _plain_data(model):
        broken = []
    else:
        broken = _broken_if_added(i, model, solution, totals)
    if broken:
        return "no extra budget alone would fund it: adding it would break " + "; ".join(broken)
    missing = totals["spend"] + int(model.lo[i]) - config.budget
    if missing <= 0:
        return "the budget is not what keeps it out"
    extra[i] = missing
    return ""


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
        "members": [set(int(j) for j in g.members) for g in data.groups],
    }


def _plain_data(model: AllocationModel) -> bool:
    """No organisation column and no incompatible pairs: the count, group and
    resource rules are all that :func:`_broken_if_added` checks."""
    return model.data.organisation is None and not model.data.pairs


def _broken_mask(out: list[int], model: AllocationModel,
                 totals: dict[str, Any]) -> np.ndarray | None:
    """For each candidate of ``out``: would adding it break a count, group or
    resource rule? The checks of :func:`_broken_if_added`, for all the
    candidates at once in int64 (a Python loop over 100,000 candidates took
    2 s); None when the products could leave int64, or nothing to check."""
    data, config = model.data, model.config
    if config.budget is None or config.amount == "proportional" or not out:
        return None
    rows = np.asarray(out, dtype=np.int64)
    add = np.asarray(model.lo, dtype=np.int64)[rows]
    count = totals["count"] + 1
    spend = totals["spend"] + add
    limit = 2**62
    fractions = [f for g in data.groups for f in (g.min_count_share, g.max_count_share,
                                                   g.min_share, g.max_share) if f is not None]
    top = max([abs(f.numerator) + f.denominator for f in fractions] + [1])
    if top * (abs(int(totals["spend"])) + int(np.abs(add).max()) + count + 1) >= limit:
        return None
    broken = np.zeros(len(rows), dtype=bool)
    if config.count.max is not None and count > config.count.max:
        broken[:] = True
    for k, group in enumerate(data.groups):
        if group.penalty is not None:
            continue
        inside = np.isin(rows, group.members)
        part = totals["group_count"][k] + inside.astype(np.int64)
        money = totals["group_money"][k] + np.where(inside, add, 0)
        if group.max_count is not None:
            broken |= part > group.max_count
        if group.max_count_share is not None:
            f = group.max_count_share
            broken |= f.denominator * part > f.numerator * count
        if group.min_count_share is not None:
            f = group.min_count_share
            broken |= f.denominator * part < f.numerator * count
        if group.max_share is not None:
            f = group.max_share
            broken |= f.denominator * money > f.numerator * spend
        if group.min_share is not None:
            f = group.min_share
            broken |= f.denominator * money < f.numerator * spend
    for r, (rule, use) in enumerate(data.resources):
        usage = np.asarray(use)[rows]
        if np.abs(usage).max(initial=0) + abs(int(totals["usage"][r])) >= limit:
            return None
        broken |= totals["usage"][r] + usage.astype(np.int64) > rule.capacity
    return broken


def _broken_if_added(i: int, model: AllocationModel, solution: Solution,
                     totals: dict[str, Any]) -> list[str]:
    """The hard constraints (other than the budget) that adding i, with its
    smallest grant, to the selection would break. Minimums cannot break when a
    candidate is added, except the shares of the groups it is not in."""
    data, config, constraints = model.data, model.config, model.constraints
    add = int(model.lo[i])
    count, spend = totals["count"] + 1, totals["spend"] + add
    broken = []
    if config.count.max is not None and count > config.count.max:
        broken.append(constraints[("count", "max")].text)
    for k, group in enumerate(data.groups):
        if group.penalty is not None:
            continue
        inside = i in totals["members"][k]
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
    solver = solver_for(model.config.solver)
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
