"""Candidates decided before the search: reduced-cost fixing from the LP bound.

Most candidates of a large allocation are far from the line: so good that
every optimal selection takes them, or so far behind that none does. This
module finds them from the linear relaxation of the CP-SAT model, so that
CP-SAT searches only over the candidates near the line.

The bound (a Lagrangian bound, valid for *any* multipliers). The model
maximises ``c·x`` over integer ``x`` with ``l <= x <= u`` and linear rows
``lo_r <= A_r·x <= hi_r``. For any multipliers ``y`` (one per row) let
``d = c - Aᵀy`` (the reduced costs). For every ``x`` that satisfies the rows
and the bounds::

    c·x = y·(Ax) + d·x <= Σ_r row_r(y_r) + Σ_j max(d_j l_j, d_j u_j) = U

where ``row_r(y_r)`` is ``y_r hi_r`` when ``y_r > 0`` and ``y_r lo_r`` when
``y_r < 0`` (a multiplier whose side is unbounded is set to 0). This holds
whatever ``y`` is, so ``y`` may come from an approximate LP solver (PDLP
here, or GLOP over part of the columns: below): a poor ``y`` only weakens
the bound. Rows that are not linear, or
that are enforced by a literal that is not fixed to 1, are left out: a
relaxation only makes ``U`` larger, so the bound stays valid.

Fixing. For a 0/1 variable ``j`` with ``d_j < 0`` the bound's term for it is
0 (``x_j = 0``); a selection with ``x_j = 1`` has ``c·x <= U - |d_j|``. With
``d_j > 0`` likewise a selection with ``x_j = 0`` has ``c·x <= U - d_j``.
So, given an integer ``lower`` and ``U - |d_j| < lower``, every selection
that puts ``x_j`` on the other side of its bound is worth less than
``lower``. Fixing every such ``j`` gives a restricted model ``R``. If the
optimum of ``R`` is at least ``lower``, then every optimal selection of the
full model lies in ``R`` (one outside it would be worth less than ``lower``,
hence less than ``R``'s optimum, which the full model also reaches): ``R``
has the same optimum and the same *set* of optimal selections, so the
tie-break among them gives the same unique answer. The caller checks that
condition after solving ``R``; when it fails, the feasible selection ``R``
gave is a proven ``lower`` for a second, larger ``R`` (which then satisfies
the condition by construction, since it contains that selection), or the
full model is solved.

The multipliers. They are the LP's optimal duals, found by column
generation when the stage is large (:func:`_generated_duals`): the LP has
a few rows and one column per candidate, and at its optimum all but a few
columns sit at a bound. GLOP solves it over about 200 columns (the others
held at the bound their reduced cost points to), and the columns whose
reduced cost then disagrees with the bound they are held at join the
solved ones, until none does: the duals are then optimal for the whole LP
(each held column satisfies the optimality condition of its bound). At
2,400 candidates, 1 or 2 rounds of 2 ms instead of 14 ms for PDLP over
every column (issue 5). When it does not settle within a few rounds,
PDLP over every column gives them. Any multipliers give a valid bound (above),
so neither way can make a fixing wrong; better ones fix more.

Floating point. ``U`` and ``d`` are computed in float64; a fixing is made
only when ``U - |d_j|`` is below ``lower`` by more than a margin of ``1e-9``
times the sum of the absolute values of every term that entered them (plus
``1e-6``), orders of magnitude above float64's rounding error. Objective
values are integers, so no fixing is lost to this margin that matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model_helper as cmh

__all__ = ["LpBound", "lp_bound", "fixings"]

#: Stages with fewer candidates than this are solved whole: the LP costs more
#: than it saves.
MIN_CANDIDATES = 200


@dataclass(frozen=True)
class LpBound:
    """An upper bound on the objective and the reduced cost of each LP column."""

    upper: float  # U: no selection is worth more
    reduced: np.ndarray  # d_j, per column
    margin: float  # float64 safety margin on U - |d_j|


#: One LP row: column indices, coefficients, lower and upper bound (±inf: none).
LpRow = tuple[np.ndarray, np.ndarray, float, float]


def lp_bound(objective: np.ndarray, low: np.ndarray, high: np.ndarray, rows: list[LpRow], *,
             time_limit: float) -> LpBound | None:
    """The Lagrangian bound of ``objective`` (maximised) over the columns'
    bounds and these rows, with the LP's duals as multipliers (column
    generation with GLOP on large stages, else PDLP); None when there is no
    row or the LP solver returns no multipliers."""
    if not rows:
        return None
    # Imported here: scipy.sparse and the LP wrapper add 0.3 s to every
    # command's start-up, and only large stages need them.
    import scipy.sparse as sp

    n = len(objective)
    matrix = sp.csr_matrix(
        (np.concatenate([r[1] for r in rows]).astype(float),
         (np.concatenate([np.full(len(r[0]), k, dtype=np.int64) for k, r in enumerate(rows)]),
          np.concatenate([np.asarray(r[0], dtype=np.int64) for r in rows]))),
        shape=(len(rows), n),
    )
    row_low = np.array([r[2] for r in rows], dtype=float)
    row_high = np.array([r[3] for r in rows], dtype=float)
    c = np.asarray(objective, dtype=float)
    low, high = low.astype(float), high.astype(float)
    limit = max(float(time_limit), 0.1)

    y = None
    if n >= GENERATE_FROM:
        y = _generated_duals(c, low, high, matrix, row_low, row_high, limit)
    if y is None:
        y = _duals("pdlp", c, low, high, matrix, row_low, row_high, limit)
    if y is None:
        return None
    y[~np.isfinite(y)] = 0.0
    y[(y > 0) & ~np.isfinite(row_high)] = 0.0
    y[(y < 0) & ~np.isfinite(row_low)] = 0.0
    reduced = c - matrix.T @ y
    row_terms = np.where(y > 0, y * np.where(np.isfinite(row_high), row_high, 0.0),
                         y * np.where(np.isfinite(row_low), row_low, 0.0))
    column_terms = np.maximum(reduced * low, reduced * high)
    upper = float(row_terms.sum() + column_terms.sum())
    scale = (np.abs(row_terms).sum() + np.abs(column_terms).sum() + np.abs(c).sum()
             + (abs(matrix).T @ np.abs(y)).sum())
    if not np.isfinite(upper) or not np.isfinite(scale):
        return None
    return LpBound(upper=upper, reduced=reduced, margin=1e-9 * float(scale) + 1e-6)


def _duals(solver_name: str, c: np.ndarray, low: np.ndarray, high: np.ndarray, matrix,
           row_low: np.ndarray, row_high: np.ndarray, time_limit: float) -> np.ndarray | None:
    """The multipliers of ``max c·x`` over these rows and column bounds
    from one LP solve (None without an optimal solution)."""
    from ortools.linear_solver.python import model_builder_helper as mbh

    builder = mbh.ModelBuilderHelper()
    # Minimise -c: the LP solvers' convention.
    builder.fill_model_from_sparse_data(low, high, -c, row_low, row_high, matrix)
    solver = mbh.ModelSolverHelper(solver_name)
    solver.set_time_limit_in_seconds(time_limit)
    solver.solve(builder)
    if solver_name == "pdlp":
        # PDLP's duals are approximate (any multipliers give a valid bound).
        if not solver.has_solution():
            return None
    elif solver.status() != mbh.SolveStatus.OPTIMAL:
        return None
    # Multipliers of the maximisation: the negated duals of the minimisation.
    y = -np.asarray(solver.dual_values(), dtype=float)
    return y if solver_name == "pdlp" or np.isfinite(y).all() else None


#: Column generation (:func:`_generated_duals`) from this many columns on
#: (below, PDLP over every column is as fast).
GENERATE_FROM = 1_000
#: Columns in the first sample LP, and columns solved in the first round.
SAMPLE_COLUMNS = 300
OPEN_COLUMNS = 200
#: Rounds of column generation before giving up (PDLP then).
ROUNDS = 6


def _generated_duals(c: np.ndarray, low: np.ndarray, high: np.ndarray, matrix,
                     row_low: np.ndarray, row_high: np.ndarray,
                     time_limit: float) -> np.ndarray | None:
    """Optimal LP duals by column generation with GLOP (see the module's
    docstring), or None when the rounds do not settle.

    Start: the LP over every k-th column, its row bounds scaled by the
    share of columns it has, gives multipliers close to the optimal ones;
    the ``OPEN_COLUMNS`` columns (a twelfth of them on larger stages) with
    the smallest absolute reduced cost under them are solved, the others held at the bound their reduced cost points to
    (upper when positive). Each round solves the LP over the open columns,
    the held ones as constants in the rows; a held column whose reduced
    cost under the new duals has the wrong sign (positive at its lower
    bound, negative at its upper bound) is opened. The open set only
    grows, so each round's LP is a relaxation of the last, and when no
    held column is wrong, the round's primal solution and duals satisfy
    the optimality conditions of the whole LP. The result is deterministic
    (GLOP, stable sorts, fixed data).
    """
    n = len(c)
    columns = matrix.tocsc()
    sample = np.arange(0, n, max(1, n // SAMPLE_COLUMNS))
    share = len(sample) / n
    y = _duals("glop", c[sample], low[sample], high[sample], columns[:, sample],
               row_low * share, row_high * share, time_limit)
    if y is None:
        return None
    d = c - matrix.T @ y
    free = np.zeros(n, dtype=bool)
    free[np.argsort(np.abs(d), kind="stable")[:max(OPEN_COLUMNS, n // 12)]] = True
    at_high = d > 0
    held_value = np.where(at_high, high, low)
    tolerance = 1e-9 * (float(np.abs(c).max(initial=0.0)) + 1.0)
    for _ in range(ROUNDS):
        held = ~free
        constant = matrix @ np.where(held, held_value, 0.0)
        solved = np.flatnonzero(free)
        y = _duals("glop", c[solved], low[solved], high[solved], columns[:, solved],
                   row_low - constant, row_high - constant, time_limit)
        if y is None:
            return None
        d = c - matrix.T @ y
        wrong = held & np.where(at_high, d < -tolerance, d > tolerance)
        if not wrong.any():
            return y
        free |= wrong
    return None


def domains(proto, booleans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bound of every variable of a CP-SAT proto (the
    ``booleans`` are known to be 0/1: not read one by one)."""
    n = len(proto.variables)
    low, high = np.zeros(n), np.ones(n)
    is_bool = np.zeros(n, dtype=bool)
    is_bool[booleans] = True
    for k in np.flatnonzero(~is_bool):
        domain = proto.variables[int(k)].domain
        low[k], high[k] = domain[0], domain[len(domain) - 1]
    return low, high


def objective_vector(expression, columns: int) -> np.ndarray:
    """The coefficients of a linear expression, by variable index."""
    c = np.zeros(columns)
    flat = cmh.FlatIntExpr(expression)
    np.add.at(c, np.array([v.index for v in flat.vars], dtype=np.int64),
              np.array(flat.coeffs, dtype=float))
    return c


def proto_rows(proto, *, skip: set[int], low: np.ndarray) -> list[LpRow]:
    """The rows of a CP-SAT proto that are linear (or clauses, or at most
    one) and always in force (every enforcement literal fixed to 1), except
    those in ``skip``; the rest is left out, a relaxation."""
    rows: list[LpRow] = []
    for index, constraint in enumerate(proto.constraints):
        if index in skip:
            continue
        if any(ref < 0 or low[ref] < 1 for ref in constraint.enforcement_literal):
            continue  # not always in force
        if constraint.has_linear():
            linear = constraint.linear
            domain = linear.domain
            lo, hi = float(domain[0]), float(domain[len(domain) - 1])
            rows.append((np.array(list(linear.vars), dtype=np.int64),
                         np.array(list(linear.coeffs), dtype=float),
                         lo if lo > -2**62 else -np.inf, hi if hi < 2**62 else np.inf))
        elif constraint.has_bool_or() or constraint.has_at_most_one() or constraint.has_exactly_one():
            kind = ("bool_or" if constraint.has_bool_or() else
                    "at_most_one" if constraint.has_at_most_one() else "exactly_one")
            literals = list(getattr(constraint, kind).literals)
            # A negated literal not(v) is 1 - v: coefficient -1 and a constant 1.
            variables = np.array([ref if ref >= 0 else -ref - 1 for ref in literals], dtype=np.int64)
            coefficients = np.array([1.0 if ref >= 0 else -1.0 for ref in literals])
            negated = sum(ref < 0 for ref in literals)
            lo = 1.0 - negated if kind != "at_most_one" else -np.inf
            hi = 1.0 - negated if kind != "bool_or" else np.inf
            rows.append((variables, coefficients, lo, hi))
    return rows


def fixings(bound: LpBound, variables: np.ndarray, lower: float) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``variables`` (0/1, model indices) take the same value in
    every selection worth at least ``lower``: a mask, and that value."""
    d = bound.reduced[variables]
    return bound.upper - np.abs(d) + bound.margin < lower, d > 0


def ladder(bound: LpBound, variables: np.ndarray, first: int) -> list[int]:
    """Trial values of ``lower`` that leave about ``first``, 4 x ``first``,
    16 x ``first``... of ``variables`` open, up to half of them."""
    slack = np.sort(np.abs(bound.reduced[variables]))
    values, free = [], first
    while free < len(slack) // 2:
        # Open: U - |d_j| + margin >= lower for the `free` smallest |d_j|.
        values.append(math.floor(bound.upper - slack[free] + bound.margin) + 1)
        free *= 4
    return values
