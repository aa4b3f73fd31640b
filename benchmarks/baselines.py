"""What a user would otherwise use, on the same instances as ``selection``.

Each function takes the candidates table of :mod:`instances` and a
:class:`instances.Balance` and returns a :class:`Outcome`: the merit of the
selected set (in the same units as :attr:`selection.AllocationResult.objective`),
whether it satisfies the instance's constraints, and the solver's status.

- :func:`greedy`: rank order, as a committee would do it by hand.
- :func:`highs`: the same integer model as ``selection.allocate``'s, solved by
  HiGHS through highspy, with its gaps set so that "optimal" means optimal.
- :func:`pabutools_greedy`, :func:`pabutools_max_welfare`: pabutools' rules
  on the budget-only instance (pabutools has no group constraints).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from instances import Balance

MERIT_SCALE = 1000  # as selection.allocation.MERIT_SCALE: merit reaches solvers as integers


@dataclass(frozen=True)
class Outcome:
    objective: float
    selected: int
    feasible: bool
    status: str

    def figures(self) -> dict[str, object]:
        return {
            "objective": self.objective,
            "selected": self.selected,
            "feasible": self.feasible,
            "status": self.status,
        }


def _scaled_merit(table: pd.DataFrame) -> np.ndarray:
    return np.rint(table["score"].to_numpy(dtype=float) * MERIT_SCALE).astype(np.int64)


def _selectable(table: pd.DataFrame, balance: Balance) -> np.ndarray:
    amount = table["requested_amount"].to_numpy(dtype=np.int64)
    return (amount >= balance.grant_min) & (amount <= balance.grant_max)


def check(table: pd.DataFrame, balance: Balance | None, chosen: np.ndarray, budget: int) -> bool:
    """True when ``chosen`` (bool per row) satisfies the budget and, when
    ``balance`` is given, every region's minimum count and maximum money share."""
    amount = table["requested_amount"].to_numpy(dtype=np.int64)
    spend = int(amount[chosen].sum())
    if spend > budget:
        return False
    if balance is None:
        return True
    share = Fraction(str(balance.max_money_share))
    region = table["region"].to_numpy()
    for value in pd.unique(region):
        members = chosen & (region == value)
        if int(members.sum()) < balance.min_count:
            return False
        if int(amount[members].sum()) * share.denominator > share.numerator * spend:
            return False
    return True


def _outcome(table: pd.DataFrame, balance: Balance | None, chosen: np.ndarray, budget: int,
             status: str) -> Outcome:
    merit = int(_scaled_merit(table)[chosen].sum())
    return Outcome(merit / MERIT_SCALE, int(chosen.sum()), check(table, balance, chosen, budget), status)


def greedy(table: pd.DataFrame, balance: Balance) -> Outcome:
    """Rank order: take each candidate, best first, whose request still fits
    the budget and keeps its region within its maximum share of the budget
    (the share of the final spend is unknown while going down the list).
    Regional minimums are not sought; :attr:`Outcome.feasible` says whether
    the set happens to satisfy every constraint of the instance."""
    amount = table["requested_amount"].to_numpy(dtype=np.int64)
    region = table["region"].to_numpy()
    selectable = _selectable(table, balance)
    cap = Fraction(str(balance.max_money_share)) * balance.budget
    left = balance.budget
    money: dict[str, int] = {}
    chosen = np.zeros(len(table), dtype=bool)
    for i in np.flatnonzero(selectable):
        request = int(amount[i])
        if request > left or money.get(region[i], 0) + request > cap:
            continue
        chosen[i] = True
        left -= request
        money[region[i]] = money.get(region[i], 0) + request
    return _outcome(table, balance, chosen, balance.budget, "heuristic")


def highs(table: pd.DataFrame, balance: Balance, *, time_limit: float = 60.0) -> Outcome:
    """``selection.allocate``'s merit model in HiGHS (one solve, no tie-break).

    Maximise the scaled merit of the selected subject to the budget, at least
    ``min_count`` selected per region and, per region, ``D * money <= N * spend``
    for the share N/D. DESIGN.md: HiGHS's default relative gap (1e-4) can stop
    one unit short, so the relative gap is 0 and the absolute gap just under
    one unit of the integer objective.
    """
    import highspy
    from scipy import sparse

    amount = table["requested_amount"].to_numpy(dtype=np.int64)
    region = table["region"].to_numpy()
    columns = np.flatnonzero(_selectable(table, balance))
    merit = _scaled_merit(table)[columns]
    a = amount[columns].astype(float)
    n = len(columns)
    share = Fraction(str(balance.max_money_share))
    values = list(pd.unique(region[columns]))

    rows = [a]  # budget
    lower, upper = [-np.inf], [float(balance.budget)]
    for value in values:
        member = (region[columns] == value).astype(float)
        rows.append(member)  # count >= min_count
        lower.append(float(balance.min_count))
        upper.append(np.inf)
        rows.append(a * (share.denominator * member - share.numerator))  # D*money - N*spend <= 0
        lower.append(-np.inf)
        upper.append(0.0)
    matrix = sparse.csc_matrix(np.vstack(rows))

    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(rows)
    lp.col_cost_ = merit.astype(float)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.array(lower)
    lp.row_upper_ = np.array(upper)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = len(rows)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n

    solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", float(time_limit))
    solver.setOptionValue("mip_rel_gap", 0.0)
    solver.setOptionValue("mip_abs_gap", 1 - 1e-6)
    solver.setOptionValue("random_seed", 0)
    solver.setOptionValue("threads", 1)
    solver.passModel(lp)
    solver.run()
    status = solver.modelStatusToString(solver.getModelStatus())
    chosen = np.zeros(len(table), dtype=bool)
    info = solver.getInfo()
    if info.primal_solution_status:  # a feasible solution exists
        chosen[columns] = np.asarray(solver.getSolution().col_value) > 0.5
    return _outcome(table, balance, chosen, balance.budget, status)


def _pabutools_instance(table: pd.DataFrame, balance: Balance):
    """The budget-only instance: one project per selectable candidate (cost =
    request), one voter whose cardinal ballot gives each project its scaled
    merit, so that additive utilitarian welfare is total merit."""
    from pabutools.election import CardinalBallot, CardinalProfile, Instance, Project

    columns = np.flatnonzero(_selectable(table, balance))
    ids = table["application_id"].to_numpy()
    merit = _scaled_merit(table)
    amount = table["requested_amount"].to_numpy(dtype=np.int64)
    projects = {int(i): Project(str(ids[i]), int(amount[i])) for i in columns}
    instance = Instance(projects.values(), budget_limit=balance.budget)
    ballot = CardinalBallot({p: int(merit[i]) for i, p in projects.items()})
    profile = CardinalProfile([ballot], instance=instance)
    position = {p.name: i for i, p in projects.items()}
    return instance, profile, position


def _chosen(table: pd.DataFrame, allocation, position: dict[str, int]) -> np.ndarray:
    chosen = np.zeros(len(table), dtype=bool)
    chosen[[position[p.name] for p in allocation]] = True
    return chosen


def pabutools_greedy(table: pd.DataFrame, balance: Balance) -> Outcome:
    """pabutools' greedy utilitarian welfare (merit per money, budget only)."""
    from pabutools.election import Additive_Cardinal_Sat
    from pabutools.rules import greedy_utilitarian_welfare

    instance, profile, position = _pabutools_instance(table, balance)
    allocation = greedy_utilitarian_welfare(instance, profile, sat_class=Additive_Cardinal_Sat)
    return _outcome(table, None, _chosen(table, allocation, position), balance.budget, "heuristic")


def pabutools_max_welfare(table: pd.DataFrame, balance: Balance) -> Outcome:
    """pabutools' max additive utilitarian welfare (budget only), with its default
    inner algorithm for a resolute outcome: a primal-dual branch and bound for
    knapsack, written recursively (deep instances exceed Python's recursion limit)."""
    from pabutools.election import Additive_Cardinal_Sat
    from pabutools.rules import max_additive_utilitarian_welfare

    instance, profile, position = _pabutools_instance(table, balance)
    allocation = max_additive_utilitarian_welfare(instance, profile, sat_class=Additive_Cardinal_Sat)
    return _outcome(table, None, _chosen(table, allocation, position), balance.budget, "optimal (primal-dual)")
