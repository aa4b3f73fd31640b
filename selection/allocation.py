"""Allocation: choose who is selected, and for how much, with OR-Tools CP-SAT.

A stage's ``select:`` block of the program file parses into an
:class:`AllocationConfig`; :func:`allocate` takes the ranked candidates of the
stage and returns an :class:`AllocationResult` that carries the selection, the
amounts, the solver's proof (status, bound, gap) and a reason, in French and in
English, for every candidate.

The model is the one DESIGN.md describes ("The optimiser"): one boolean per
candidate who can be selected, integer money everywhere, merit scaled to
integers by :data:`MERIT_SCALE` before CP-SAT sees it, exact integer arithmetic
for shares, and an explicit lexicographic tie-break.

>>> import pandas as pd
>>> candidates = pd.DataFrame({
...     "application_id": ["A1", "A2", "A3"],
...     "score": [90.0, 80.0, 70.0],
...     "requested_amount": [60_000, 50_000, 40_000],
... })
>>> result = allocate(candidates, AllocationConfig(budget=100_000))
>>> result.status, result.spend, list(result.table["reason"])
('OPTIMAL', 100000, ['selected', 'budget', 'selected'])
>>> print(result.table.loc[1, "reason_en"])
Not selected: the budget of 100,000 MAD is fully allocated (request: 50,000 MAD).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

from selection.allocation_config import (
    AMOUNT_POLICIES,
    MERIT_SCALE,
    OBJECTIVES,
    AllocationConfig,
    Bounds,
    ExplainSettings,
    GrantBounds,
    GroupRule,
    ResourceRule,
    SolverSettings,
)
from selection.allocation_data import prepare
from selection.allocation_model import AllocationModel
from selection.errors import SolverLimitError
from selection.explain import (
    check_feasibility,
    compare_objectives,
    constraint_costs,
    counterfactuals,
    explain_infeasible,
    price_of_balance,
    reason_columns,
    str_column,
)

__all__ = [
    "MERIT_SCALE",
    "REASON_CODES",
    "OBJECTIVES",
    "AMOUNT_POLICIES",
    "Bounds",
    "GrantBounds",
    "GroupRule",
    "ResourceRule",
    "SolverSettings",
    "ExplainSettings",
    "AllocationConfig",
    "AllocationResult",
    "allocate",
]

REASON_CODES = (
    "selected",
    "not_ranked",
    "excluded",
    "below_min_merit",
    "below_min_reviews",
    "amount_out_of_bounds",
    "capacity",
    "group_cap",
    "resource",
    "organisation",
    "incompatible",
    "budget",
    "outranked",
)
"""Every reason code a candidate can receive, in the order they are checked."""


# ---------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AllocationResult:
    """What :func:`allocate` decided, with the proof and the reasons.

    ``table`` has one row per candidate, in the input (rank) order:
    ``application_id``, ``selected`` (bool), ``amount`` (int64, 0 when not
    selected or when no money is allocated), ``reason`` (a code of
    :data:`REASON_CODES`), ``reason_fr`` and ``reason_en``, and the
    counterfactuals of the candidates not selected: ``merit_needed`` (float,
    NaN when not computed), ``extra_budget`` (nullable int) and
    ``counterfactual_note`` (why a value is empty).

    ``objective`` and ``best_bound`` are in the objective's units (merit
    points; for ``merit_per_money``, merit x money / budget); ``gap`` is the
    relative distance between them, 0.0 when the optimum is proven.
    ``groups`` maps each group column to ``{value: {"count", "money",
    "candidates"}}`` where ``candidates`` counts every candidate of the value.
    ``tie_break`` is "OPTIMAL" when the lexicographic tie-break is proven.
    ``constraint_costs``, ``price_of_balance`` and ``comparisons`` (None
    when not computed: see :class:`ExplainSettings`) are described in
    :func:`selection.explain.constraint_costs`,
    :func:`~selection.explain.price_of_balance` and
    :func:`~selection.explain.compare_objectives`.
    """

    table: pd.DataFrame
    status: str
    objective: float
    best_bound: float
    gap: float
    spend: int
    count: int
    budget: int | None
    currency: str
    groups: dict[str, dict[str, dict[str, int]]]
    tie_break: str
    wall_time: float
    objective_name: str = "total_merit"
    amount_policy: str = "requested"
    merit: float = 0.0
    constraint_costs: list[dict[str, Any]] | None = None
    price_of_balance: dict[str, Any] | None = None
    comparisons: dict[str, dict[str, Any]] | None = None
    time_limit: float = 10.0

    @property
    def selected_ids(self) -> list[str]:
        """Application ids of the selected, in rank order."""
        return [str(v) for v in self.table.loc[self.table["selected"], "application_id"]]

    def to_summary(self) -> dict[str, Any]:
        """JSON-safe, deterministic summary (no times): what ``summary.json`` holds.

        >>> import pandas as pd
        >>> df = pd.DataFrame({"application_id": ["A"], "score": [50.0]})
        >>> allocate(df, AllocationConfig()).to_summary()["status"]
        'OPTIMAL'
        """
        reasons = self.table["reason"].value_counts()
        return {
            "status": self.status,
            "objective_policy": self.objective_name,
            "amount_policy": self.amount_policy,
            "objective": self.objective,
            "best_bound": self.best_bound,
            "gap": self.gap,
            "time_limit": self.time_limit,
            "tie_break": self.tie_break,
            "budget": self.budget,
            "currency": self.currency,
            "spend": self.spend,
            "count": self.count,
            "merit": self.merit,
            "candidates": len(self.table),
            "groups": {
                column: {value: dict(stats) for value, stats in values.items()}
                for column, values in self.groups.items()
            },
            "reasons": {code: int(reasons.get(code, 0)) for code in REASON_CODES},
            # None: not computed (a large stage; see explain.costs and
            # explain.compare_objectives).
            "binding_constraints": (
                None if self.constraint_costs is None else [dict(c) for c in self.constraint_costs]
            ),
            "price_of_balance": self.price_of_balance,
            "other_objectives": (
                None if self.comparisons is None
                else {k: dict(v) for k, v in self.comparisons.items()}
            ),
            "selected": self.selected_ids,
        }


# ---------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------


def allocate(
    candidates: pd.DataFrame,
    config: AllocationConfig,
    *,
    group_values: Mapping[str, Sequence[str]] | None = None,
    currency: str = "MAD",
) -> AllocationResult:
    """Select the candidates that maximise the objective under the constraints.

    ``candidates`` has one row per candidate, best first (the row order is
    the rank order): ``application_id``, the merit column (NaN: not ranked,
    never selected), ``requested_amount`` (integer; needed when a budget is
    set, except under ``amount: proportional``) and every column a rule
    names. ``group_values`` declares the values of group columns (for rules
    without ``values``), so that a value with no candidate still gets its
    minimum checked.

    Tie-break: among the selections with the best objective, the one whose
    vector (selected or not, for each row in rank order; then, under
    ``partial``, each grant in rank order) is lexicographically largest.
    The same input gives the same selection whatever the seed or the number
    of workers (when every solve is proven within the time limit).

    Raises :class:`InputDataError` for missing or malformed columns,
    :class:`ConfigError` for ids that are not candidates,
    :class:`InfeasibleError` with a minimal conflicting set of constraints
    when they cannot all hold, and :class:`SolverLimitError` when no
    solution is found in time.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"application_id": ["a", "b", "c"],
    ...                    "score": [80.0, 80.0, 60.0], "region": ["N", "N", "S"]})
    >>> config = AllocationConfig(count={"max": 2},
    ...                           groups=[{"column": "region", "min_count": 1}])
    >>> allocate(df, config).selected_ids
    ['a', 'c']
    """
    started = time.perf_counter()
    group_values = group_values or {}
    data = prepare(candidates, config, group_values, currency)
    check_feasibility(data, config, currency)
    # Written lazily: a stage that the LP bound decides needs only a small model.
    model = AllocationModel(data, config, currency=currency, build=False)
    status, solution = model.solve(config.solver)
    if solution is None:
        if status == cp_model.INFEASIBLE:
            raise explain_infeasible(data, config, currency)
        if status == cp_model.UNKNOWN:
            raise SolverLimitError(
                f"the solver found no selection within the time limit of "
                f"{config.solver.time_limit:g} s",
                field="solver.time_limit",
                suggestion="raise solver.time_limit",
                code="time_limit",
            )
        # MODEL_INVALID would be a bug of this module, not a user mistake.
        raise RuntimeError(f"CP-SAT returned status {status}: {model.model.validate()}")

    explain = config.explain
    small = int(data.selectable.sum()) <= explain.exact_up_to
    with_costs = small if explain.costs is None else explain.costs
    merit_needed, extra, notes = counterfactuals(model, solution)
    costs = constraint_costs(model, solution) if with_costs else None
    balance = price_of_balance(model, solution) if with_costs else None
    compare = small if explain.compare_objectives is None else explain.compare_objectives
    comparisons = compare_objectives(data, config, solution, currency) if compare else None
    why = reason_columns(data, config, solution, currency, config.objective)
    # The columns as arrays, not Series: a dict of Series is aligned on
    # their indexes (two thirds of the DataFrame's cost, issue 5). Only the
    # ids stay a Series: pandas would infer ``str`` from an object array.
    table = pd.DataFrame(
        {
            "application_id": pd.Series(data.ids, dtype=object),
            "selected": np.asarray(solution.selected, dtype=bool),
            "amount": np.asarray(solution.amount, dtype=np.int64),
            **{name: _values(column) for name, column in why.items()},
            "merit_needed": np.asarray(merit_needed, dtype=float),
            # Masked where there is none (-1): built as it is, not masked after.
            "extra_budget": pd.arrays.IntegerArray(extra, extra < 0),
            "counterfactual_note": _values(str_column(notes)),
        }
    )

    selected, amount = solution.selected, solution.amount
    groups: dict[str, dict[str, dict[str, int]]] = {}
    for group in data.groups:
        groups.setdefault(group.column, {})[group.value] = {
            "count": int(selected[group.members].sum()),
            "money": int(amount[group.members].sum()),
            "candidates": len(group.members),
        }
    bound = solution.bound
    gap = 0.0 if solution.status == "OPTIMAL" or bound == 0 else (
        abs(bound - solution.objective) / abs(bound)
    )
    return AllocationResult(
        table=table,
        status=solution.status,
        objective=solution.objective / model.scale,
        best_bound=bound / model.scale,
        gap=gap,
        spend=int(amount.sum()),
        count=int(selected.sum()),
        budget=config.budget,
        currency=currency,
        groups=groups,
        tie_break=solution.tie_break,
        wall_time=time.perf_counter() - started,
        objective_name=config.objective,
        amount_policy=config.amount,
        merit=round(float(data.merit[selected].sum()), 6),
        constraint_costs=costs,
        price_of_balance=balance,
        comparisons=comparisons,
        time_limit=config.solver.time_limit,
    )


def _values(column: pd.Series | Sequence[str]) -> Any:
    """The array of a Series (a column of no row stays the list it is)."""
    return column.array if isinstance(column, pd.Series) else column
