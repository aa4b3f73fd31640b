"""The CP-SAT model of an allocation, its solve, and the lexicographic tie-break.

Built in sections as in the OR-Tools samples: data (:class:`~selection.allocation_data.Data`),
variables, constraints, objective, solve. Every hard constraint group is
enforced by its own literal, a variable fixed to 1 in a normal solve; the
explanations relax a group by fixing its literal to 0 in a copy of the model
(its cost), or turn the literals into CP-SAT assumptions (a minimal
conflicting set when nothing is feasible).

Objective values are integers: merit scaled by ``MERIT_SCALE`` (and, for
``merit_per_money``, multiplied by money), minus the penalties of soft rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from ortools.sat.python import cp_model
from ortools.sat.python import cp_model_helper as cmh

from selection import allocation_reduce as reduce
from selection.allocation_config import MERIT_SCALE, AllocationConfig, SolverSettings
from selection.allocation_data import Data, Group, money, number, percent
from selection.allocation_rank import RankOrder

__all__ = [
    "Constraint", "Solution", "Model", "AllocationModel", "solver_for", "proportional_amounts",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # an open side of a linear constraint

Key = tuple  # a readable key of a constraint group, e.g. ("group", 0, "Souss-Massa", "min_count")


@dataclass(frozen=True)
class Constraint:
    """One group of constraints that can be relaxed as a whole."""

    key: Key
    field: str  # where it is in the configuration
    text: str  # in words (English), for explanations
    balance: bool = False  # a group (balance) rule
    soft: bool = False


@dataclass(frozen=True)
class Solution:
    """A selection and the proof that comes with it."""

    selected: np.ndarray  # bool per row
    amount: np.ndarray  # int64 per row (0 when not selected or no money)
    status: str  # OPTIMAL or FEASIBLE
    objective: int  # scaled
    bound: int  # scaled
    tie_break: str  # OPTIMAL (proven lexicographic optimum), FEASIBLE, NOT_SOLVED
    solves: int = 0


@dataclass(frozen=True)
class FormRow:
    """A linear rule with fixed amounts, in numpy: ``x·open`` within
    ``[low, high]`` (one side is None), where ``open`` are the model's 0/1
    variables in rank order; a soft rule adds ``slack * v``, ``0 <= v <= top``,
    and the objective pays ``penalty`` per unit of ``v``."""

    constraint: Constraint
    x: np.ndarray  # int64
    low: int | None
    high: int | None
    slack: int = 0
    top: int = 0
    penalty: int = 0


@dataclass(frozen=True)
class _Restriction:
    """A copy of the model with candidates held at their values (from the LP bound)."""

    model: cp_model.CpModel
    free: np.ndarray  # positions, among the model's rows, of the candidates left open
    ones: np.ndarray  # positions of the candidates held selected


@dataclass(frozen=True)
class _First:
    """The first solve of :meth:`AllocationModel.solve`: the objective and the rank sum."""

    status: int
    value: int | None = None  # scaled objective
    bound: int | None = None
    ranks: int | None = None  # rank sum
    tie_break: str | None = None
    solves: int = 1
    values: list[int] | None = None  # the x values, in rank order


class Model(cp_model.CpModel):
    """``cp_model.CpModel`` without the camel-case aliases of its methods.

    OR-Tools 9.15 gives each new model (and each clone) a deprecated
    ``AddXxx`` alias of every ``add_xxx`` method, by ``dir()`` and
    ``setattr``: 0.4 ms a model, and an allocation makes several (a sweep of
    50 budgets over 2,400 candidates makes 218). Nothing here calls them.
    """

    def _add_pre_pep8_methods(self) -> None:
        pass

    def clone(self) -> Model:
        """A copy (``CpModel.clone`` returns a plain ``CpModel``)."""
        clone = Model()
        clone.proto.copy_from(self.proto)
        clone.rebuild_constant_map()
        return clone


def solver_for(settings: SolverSettings, *, workers: int | None = None,
               presolve: bool = False, rank_order: bool = False,
               proof: bool = False) -> cp_model.CpSolver:
    """A CP-SAT solver with the parameters chosen for this model.

    Presolve is off and the LP relaxation is the strongest
    (``linearization_level=2``): measured fastest on the benchmarks'
    five-region instances (issue 5; DESIGN.md: the default presolve collapses
    at large sizes). Against presolve with
    ``keep_all_feasible_solutions_in_presolve`` and ``cp_model_probing_level=0``
    (kept below, in case presolve is switched back on), the solves of one
    allocation took 0.16 s instead of 0.60 s at 2,400 candidates, 0.75 s
    instead of 12.5 s at 20,000 and about 15 s instead of about 80 s at
    100,000; at a 20% budget over 2,400, 0.1 s instead of 8 s. The model is
    small and linear already: presolve mostly cost time. (``linearization_level``
    0 left 2,400 unsolved in 60 s; ``symmetry_level=0`` changed nothing
    measurable.) The time limit is always set.

    ``presolve=True`` for a model whose candidates far from the line are
    fixed (:mod:`selection.allocation_reduce`): presolve then removes them
    in milliseconds, and the search runs over the rest. Without presolve
    CP-SAT did not prove such a model in 60 s at 20,000 candidates; with it,
    in 0.07 s.

    ``rank_order=True`` for a model with the rank-order rule: its either-or
    fit conditions are weak in the LP, and the default linearization with
    presolve proved 200 candidates in about 1 s instead of 20 s, 300 in
    6.8 s instead of not within 60 s.

    ``proof=True`` for a solve expected to end INFEASIBLE (the uniqueness
    check of the tie-break): CP-SAT's portfolio with quick restarts. Over
    the 50 uniqueness checks of the budget sweep (issue 5, 2,400
    candidates), replayed: 8.4 ms each instead of 16.8 ms on average; for
    the solves that maximise it was twice as slow, so they keep the default.
    Deterministic with one worker and a fixed seed, like every other setting.
    """
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = settings.time_limit
    solver.parameters.num_workers = workers or settings.workers
    solver.parameters.random_seed = settings.seed
    solver.parameters.keep_all_feasible_solutions_in_presolve = True
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.cp_model_presolve = presolve or rank_order
    solver.parameters.linearization_level = 1 if rank_order else 2
    if proof:
        solver.parameters.search_branching = (
            solver.parameters.PORTFOLIO_WITH_QUICK_RESTART_SEARCH)
    return solver


class AllocationModel:
    """One boolean per selectable candidate (an amount too under ``partial``).

    ``objective`` overrides the configuration's (to compare objectives).
    With ``assumable=True`` (explaining infeasibility) every ranked candidate
    gets a variable, the rules that block candidates (merit floor, grant
    bounds, exclusions, minimum reviews) become relaxable constraint groups,
    and every literal may take either value.
    """

    def __init__(
        self,
        data: Data,
        config: AllocationConfig,
        *,
        objective: str | None = None,
        assumable: bool = False,
        currency: str = "MAD",
        restrict: tuple[np.ndarray, np.ndarray] | None = None,
        build: bool = True,
    ) -> None:
        self.data = data
        self.config = config
        self.objective_name = objective or config.objective
        self.assumable = assumable
        self.currency = currency

        # Data: the rows that get a variable, and their amounts.
        if assumable:
            self.rows = np.flatnonzero(~np.isnan(data.merit))
            relaxed = np.array(["grant" in f for f in data.filters], dtype=bool)
            self.lo = np.where(relaxed, data.free_lo, data.lo)
            self.hi = np.where(relaxed, data.free_hi, data.hi)
        else:
            self.rows = np.flatnonzero(data.selectable)
            self.lo, self.hi = data.lo, data.hi
        # A restriction (`restrict`: the rows left open, the rows held; see
        # _solve_reduced): the held rows are selected in every solution and
        # get no variable, only constants in the sums; the other rows are out.
        self.selectable_rows = self.rows
        self.held = np.empty(0, dtype=np.int64)
        self.held_mask = np.zeros(data.n, dtype=bool)
        if restrict is not None:
            self.rows = np.asarray(restrict[0], dtype=np.int64)
            self.held = np.asarray(restrict[1], dtype=np.int64)
            self.held_mask[self.held] = True
        self.in_model = np.zeros(data.n, dtype=bool)
        self.in_model[self.rows] = True
        self.step = config.grant.step
        self.partial = config.amount == "partial"
        self.position = np.full(data.n, -1, dtype=np.int64)  # row -> position in self.rows
        self.position[self.rows] = np.arange(len(self.rows))
        # Objective units: merit x MERIT_SCALE (x money under merit_per_money).
        self.weight = (max(int(config.budget or 0), 1)
                       if self.objective_name == "merit_per_money" else 1)
        self.scale = MERIT_SCALE * self.weight
        # With fixed amounts, the linear rules and the objective in numpy:
        # the model is written from them, and the LP bound reads them (so
        # that a stage the bound decides never needs the whole model).
        self.form = self._form() if not self.partial else None
        if self.form is not None:
            merit = data.merit_scaled.astype(np.int64)
            value = (merit * self.lo.astype(np.int64)
                     if self.objective_name == "merit_per_money" else merit)
            self.objective_x = value[self.rows]
            self.objective_constant = int(value[self.held].sum())
        self.built = False
        self.k: dict[int, cp_model.IntVar] = {}  # partial grants (written by build)
        # The LP bound of the reduced solve, and the LP column of each open row.
        self.bound: reduce.LpBound | None = None
        self.lp_columns: np.ndarray | None = None
        if build:
            self.build()

    @property
    def constraints(self) -> dict[Key, Constraint]:
        """The constraint groups, by key, in the order they are written."""
        if not self.built and self.form is not None and self._restrictable() and not self.assumable:
            # Every group is a row of the form: no need to write the model.
            return {row.constraint.key: row.constraint for row in self.form}
        self.build()
        return self._constraints

    def build(self) -> None:
        """Write the CP-SAT model (once)."""
        if self.built:
            return
        self.built = True
        self.model = Model()
        self.model.name = "allocation"
        self.literal: dict[Key, cp_model.IntVar] = {}
        self._constraints: dict[Key, Constraint] = {}
        self.penalties: list[tuple[int, cp_model.IntVar]] = []
        # Proto index of the constraint written from each row of the form.
        self.form_index: dict[int, int] = {}
        self.slack_of: dict[int, cp_model.IntVar] = {}  # the violation of each soft row
        self._variables()
        self._filters()
        if self.form is not None:
            self._linear_rows()
        else:
            self._budget()
            self._count()
            self._groups()
            self._resources()
        self._committee()
        if self.objective_name == "rank_order":
            self._rank_order()
        self._objective()

    # -- variables ----------------------------------------------------------

    def _variables(self) -> None:
        data, model = self.data, self.model
        # x[i] is 1 when candidate i (row position) is selected. Written into
        # the proto in one parse (new_bool_var one by one: 1 s at 100,000).
        first = len(model.proto.variables)
        model.proto.merge_text_format(
            "".join(f'variables {{ name: "x[{i}]" domain: [0, 1] }}\n' for i in self.rows))
        xs = [cp_model.IntVar(model.proto, first + k) for k in range(len(self.rows))]
        self.x: dict[int, cp_model.IntVar] = dict(zip(self.rows.tolist(), xs))
        self.x_at = np.empty(data.n, dtype=object)  # the x of each row (None: no variable)
        self.x_at[self.rows] = xs
        self.x_list = xs  # the x of each open row, in rank order
        # Under `partial`, k[i] * step is the grant of candidate i, and m[i]
        # the merit it counts: m[i] = floor(merit_scaled[i] * grant / request),
        # which r * m <= merit * grant gives at the optimum (m is maximised).
        self.k: dict[int, cp_model.IntVar] = {}
        self.m: dict[int, cp_model.IntVar] = {}
        amounts = []
        # (Fixed grants need no variable: lo[i] * x[i], summed by weight in _money.)
        for i in map(int, self.rows if self.partial else ()):
            if self.hi[i] > self.lo[i]:
                low, high = int(self.lo[i]) // self.step, int(self.hi[i]) // self.step
                k = model.new_int_var_from_domain(
                    cp_model.Domain.from_intervals([[0, 0], [low, high]]), f"k[{i}]"
                )
                model.add(k >= low * self.x[i])
                model.add(k <= high * self.x[i])
                self.k[i] = k
                amounts.append(self.step * k)
            else:
                amounts.append(int(self.lo[i]) * self.x[i])
        if self.partial:
            self.amount_of = dict(zip(map(int, self.rows), amounts))
        else:
            self.amount_of = {}
        for i, k in self.k.items():
            request, merit = int(self.data.request[i]), int(self.data.merit_scaled[i])
            m = model.new_int_var(0, max(merit, 0), f"m[{i}]")
            model.add(request * m <= merit * self.step * k)
            self.m[i] = m
        self.spend = self._money(self.selectable_rows)
        self.count = cp_model.LinearExpr.sum(list(self.x.values())) if self.x else 0
        if len(self.held):
            self.count = self.count + len(self.held)

    def _enforce(self, key: Key, field: str, text: str, *, balance: bool = False,
                 soft: bool = False) -> cp_model.IntVar:
        """The literal of a constraint group (1 unless relaxed)."""
        if key not in self.literal:
            low = 0 if self.assumable and not soft else 1
            self.literal[key] = self.model.new_int_var(low, 1, f"on{key}")
            self._constraints[key] = Constraint(key, field, text, balance, soft)
        return self.literal[key]

    def _sum(self, rows: Iterable[int], weights: np.ndarray | None = None):
        rows = np.fromiter(rows, dtype=np.int64) if not isinstance(rows, np.ndarray) else rows
        rows = rows.astype(np.int64, copy=False)
        constant = self._held(rows, weights)
        rows = rows[self.in_model[rows]]
        if not len(rows):
            expression = 0
        elif weights is None:
            expression = cp_model.LinearExpr.sum(self.x_at[rows].tolist())
        else:
            expression = cp_model.LinearExpr.weighted_sum(
                self.x_at[rows].tolist(), np.asarray(weights)[rows].astype(np.int64).tolist())
        return expression + constant if constant else expression

    def _held(self, rows: np.ndarray, weights: np.ndarray | None = None) -> int:
        """What the held rows among ``rows`` add to a sum (a restriction only)."""
        if not len(self.held) or not len(rows):
            return 0
        rows = rows[self.held_mask[rows]]
        return len(rows) if weights is None else int(np.asarray(weights)[rows].sum())

    def _amount(self, i: int):
        """The grant of candidate i, as an expression of its variables."""
        return self.amount_of[i] if self.partial else int(self.lo[i]) * self.x[i]

    def _money(self, rows: Iterable[int]):
        if not self.partial:
            # One weighted sum (fast to build at 100,000 candidates).
            return self._sum(rows, self.lo)
        rows = [int(i) for i in rows if self.in_model[i]]
        return cp_model.LinearExpr.sum([self.amount_of[i] for i in rows]) if rows else 0

    def _words(self, amount: int) -> str:
        return money(amount, self.currency, "en")

    def _indicator(self, rows: np.ndarray) -> np.ndarray:
        """1.0 at the positions of these rows among the model's, 0.0 elsewhere."""
        vector = np.zeros(len(self.rows))
        where = self.position[np.asarray(rows, dtype=np.int64)]
        vector[where[where >= 0]] = 1.0
        return vector

    # -- constraints --------------------------------------------------------

    def _filters(self) -> None:
        # Filters (explaining only): the rules that block a candidate, relaxable.
        if not self.assumable:
            return
        config = self.config
        words = {
            "exclude": ("exclude", "the committee's exclusions"),
            "min_merit": ("min_merit", f"the merit floor of {number(config.min_merit or 0, 'en')}"),
            "min_reviews": ("min_reviews", f"at least {config.min_reviews} reviews"),
            "grant": ("grant", self._grant_words()),
        }
        for i in map(int, self.rows):
            for name in self.data.filters[i]:
                on = self._enforce(("filter", name), *words[name])
                self.model.add(self.x[i] == 0).only_enforce_if(on)

    def _grant_words(self) -> str:
        config, grant = self.config, self.config.grant
        parts = []
        if grant.min is not None:
            parts.append(f"at least {self._words(grant.min)}")
        if grant.max is not None:
            parts.append(f"at most {self._words(grant.max)}")
        if grant.step != 1:
            parts.append(f"in steps of {self._words(grant.step)}")
        text = "grants of " + " and ".join(parts) if parts else "the grant amounts"
        if config.amount == "partial":
            text += f" (at least {percent(Fraction(str(config.min_fraction)), 'en')} of a request)"
        if config.amount == "tiers":
            text += " (the tiers " + ", ".join(self._words(t) for t in config.tiers or []) + ")"
        return text

    def _budget(self) -> None:
        config = self.config
        # Budget: the grants of the selected fit in the budget (under
        # `proportional`, the minimum grant of each selected does).
        if config.budget is not None:
            on = self._enforce(("budget",), "budget", f"the budget of {self._words(config.budget)}")
            self.model.add(self.spend <= config.budget).only_enforce_if(on)
        # Spend floor: at least this much is allocated.
        floor = config.spend_floor
        if floor is not None:
            field = "min_spend" if config.min_spend == floor else "min_spend_share"
            on = self._enforce(("min_spend",), field, f"spending at least {self._words(floor)}")
            self.model.add(self.spend >= floor).only_enforce_if(on)

    def _count(self) -> None:
        bounds = self.config.count
        # Count: the number selected within its bounds.
        if bounds.min is not None:
            on = self._enforce(("count", "min"), "count.min", f"at least {bounds.min} selected")
            self.model.add(self.count >= bounds.min).only_enforce_if(on)
        if bounds.max is not None:
            on = self._enforce(("count", "max"), "count.max", f"at most {bounds.max} selected")
            self.model.add(self.count <= bounds.max).only_enforce_if(on)

    def _groups(self) -> None:
        # Balance (partial grants; fixed amounts go through _form): per value
        # of a group column, count bounds, and count and money shares as
        # exact fractions N/D:  D * part >= N * whole  (min). A soft bound
        # gets a violation v >= 0 that the objective pays for.
        for group in self.data.groups:
            count = self._sum(group.members)
            amount = self._money(group.members)
            for name in self.config.groups[group.rule].bounds:
                bound = group.bound(name)
                key = ("group", group.rule, group.value, name)
                soft = group.penalty is not None
                on = self._enforce(key, f"groups[{group.rule}].{name}",
                                   _group_words(group, name, bound), balance=True, soft=soft)
                v = 0
                if soft:
                    v = self.model.new_int_var(0, max(self._top(name, bound), 1), f"v{key}")
                    self.penalties.append((int(group.penalty), v))
                part, whole = (count, self.count) if "count" in name else (amount, self.spend)
                if name == "min_count":
                    self.model.add(part + v >= bound).only_enforce_if(on)
                elif name == "max_count":
                    self.model.add(part - v <= bound).only_enforce_if(on)
                elif name.startswith("min"):
                    self.model.add(
                        bound.denominator * (part + v) >= bound.numerator * whole
                    ).only_enforce_if(on)
                else:
                    self.model.add(
                        bound.denominator * (part - v) <= bound.numerator * whole
                    ).only_enforce_if(on)

    def _top(self, name: str, bound) -> int:
        """The largest violation a soft bound can have."""
        every = self.selectable_rows
        if "count" in name:
            top = len(every)
            return max(top, bound) if name == "min_count" else top
        return int(self.hi[every].sum()) if len(every) else 0

    def _form(self) -> list[FormRow]:
        """The linear rules with fixed amounts, in numpy: budget, spend floor,
        count bounds, balance, resources (in that order)."""
        config, data = self.config, self.data
        rows: list[FormRow] = []
        open_count = len(self.rows)
        money = self.lo[self.rows].astype(np.int64)
        held_money = int(self.lo[self.held].astype(np.int64).sum())
        ones = np.ones(open_count, dtype=np.int64)

        def add(constraint: Constraint, x: np.ndarray, constant: int, low=None, high=None,
                **soft) -> None:
            # x·open + constant (what the held rows add) within [low, high].
            rows.append(FormRow(constraint, x, None if low is None else low - constant,
                                None if high is None else high - constant, **soft))

        # Budget: the grants of the selected fit in the budget (under
        # `proportional`, the minimum grant of each selected does).
        if config.budget is not None:
            add(Constraint(("budget",), "budget", f"the budget of {self._words(config.budget)}"),
                money, held_money, high=config.budget)
        # Spend floor: at least this much is allocated.
        floor = config.spend_floor
        if floor is not None:
            field = "min_spend" if config.min_spend == floor else "min_spend_share"
            add(Constraint(("min_spend",), field, f"spending at least {self._words(floor)}"),
                money, held_money, low=floor)
        # Count: the number selected within its bounds.
        bounds = config.count
        if bounds.min is not None:
            add(Constraint(("count", "min"), "count.min", f"at least {bounds.min} selected"),
                ones, len(self.held), low=bounds.min)
        if bounds.max is not None:
            add(Constraint(("count", "max"), "count.max", f"at most {bounds.max} selected"),
                ones, len(self.held), high=bounds.max)
        # Balance: per value of a group column, count bounds, and count and
        # money shares as exact fractions N/D:  D * part - N * whole >= 0
        # (min). A soft bound gets a violation v >= 0 that the objective pays for.
        for group in data.groups:
            inside = np.zeros(len(self.rows), dtype=np.int64)  # _indicator, in int64
            where = self.position[np.asarray(group.members, dtype=np.int64)]
            inside[where[where >= 0]] = 1
            held_inside = self.held_mask[group.members]
            for name in config.groups[group.rule].bounds:
                bound = group.bound(name)
                key = ("group", group.rule, group.value, name)
                soft = group.penalty is not None
                constraint = Constraint(key, f"groups[{group.rule}].{name}",
                                        _group_words(group, name, bound), True, soft)
                if "count" in name:
                    part, whole = inside, ones
                    part_held, whole_held = int(held_inside.sum()), len(self.held)
                else:
                    part, whole = inside * money, money
                    part_held = int(self.lo[group.members][held_inside].sum())
                    whole_held = held_money
                if name in ("min_count", "max_count"):
                    x, constant, limit, slack = part, part_held, bound, 1
                else:
                    n_, d_ = bound.numerator, bound.denominator
                    x, constant, limit = d_ * part - n_ * whole, d_ * part_held - n_ * whole_held, 0
                    slack = d_
                extra = {}
                if soft:
                    extra = {"slack": slack if name.startswith("min") else -slack,
                             "top": max(self._top(name, bound), 1),
                             "penalty": int(group.penalty)}
                if name.startswith("min"):
                    add(constraint, x, constant, low=limit, **extra)
                else:
                    add(constraint, x, constant, high=limit, **extra)
        # Resources: what the selected consume stays within each capacity.
        for r, (rule, usage) in enumerate(data.resources):
            use = usage.astype(np.int64)
            add(Constraint(("resource", r), f"resources[{r}]",
                           f"the capacity of {rule.capacity:,} {rule.column}"),
                use[self.rows], int(use[self.held].sum()), high=rule.capacity)
        return rows

    def _linear_rows(self) -> None:
        """Write the rows of the form into the model, each enforced by the
        literal of its constraint group (one weighted sum each)."""
        x_index = np.array([x.index for x in self.x_list], dtype=np.int64)
        for k, row in enumerate(self.form):
            c = row.constraint
            on = self._enforce(c.key, c.field, c.text, balance=c.balance, soft=c.soft)
            nonzero = np.flatnonzero(row.x)
            terms = (x_index[nonzero].tolist(), row.x[nonzero].tolist())
            if row.slack:
                v = self.model.new_int_var(0, row.top, f"v{c.key}")
                self.penalties.append((row.penalty, v))
                self.slack_of[k] = v
                terms[0].append(v.index)
                terms[1].append(row.slack)
            if len(nonzero):
                # Written into the proto in bulk: the constraint model.add
                # writes from the weighted sum (terms in this order, the
                # open side at the int64 limit), without its Python
                # expression objects (84 models a sweep of 50 budgets).
                proto = self.model.proto.constraints.add()
                proto.enforcement_literal.append(on.index)
                proto.linear.vars.extend(terms[0])
                proto.linear.coeffs.extend(terms[1])
                proto.linear.domain.extend([INT64_MIN, row.high] if row.low is None
                                           else [row.low, INT64_MAX])
                self.form_index[k] = len(self.model.proto.constraints) - 1
                continue
            expression = row.slack * v if row.slack else 0
            if row.low is not None:
                ct = self.model.add(expression >= row.low).only_enforce_if(on)
            else:
                ct = self.model.add(expression <= row.high).only_enforce_if(on)
            self.form_index[k] = ct.index

    def _resources(self) -> None:
        # Resources: what the selected consume stays within each capacity.
        for r, (rule, usage) in enumerate(self.data.resources):
            on = self._enforce(("resource", r), f"resources[{r}]",
                               f"the capacity of {rule.capacity:,} {rule.column}")
            self.model.add(
                self._sum(self.selectable_rows, usage) <= rule.capacity).only_enforce_if(on)

    def _committee(self) -> None:
        data = self.data
        # Forced inclusions: each is selected.
        for k, i in enumerate(data.include):
            on = self._enforce(("include", str(data.ids[i])), f"include[{k}]",
                               f"'{data.ids[i]}' selected (include)")
            if self.in_model[i]:
                self.model.add(self.x[i] == 1).only_enforce_if(on)
            else:
                self.model.add_bool_or([]).only_enforce_if(on)  # cannot be selected
        # One per organisation: at most one selected per value of the column.
        if data.organisation is not None:
            on = self._enforce(("one_per",), "one_per",
                               f"at most one selected per {self.config.one_per}")
            for rows in self._by_organisation().values():
                if len(rows) > 1:
                    self.model.add_at_most_one(self.x[i] for i in rows).only_enforce_if(on)
        # Incompatible pairs: not both selected.
        for k, (a, b) in enumerate(data.pairs):
            on = self._enforce(("incompatible", str(data.ids[a]), str(data.ids[b])),
                               f"incompatible[{k}]",
                               f"'{data.ids[a]}' and '{data.ids[b]}' not both selected")
            if self.in_model[a] and self.in_model[b]:
                self.model.add(self.x[a] + self.x[b] <= 1).only_enforce_if(on)

    def _by_organisation(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for i in map(int, self.rows):
            value = self.data.organisation[i]
            if value is not None:
                rows.setdefault(value, []).append(i)
        return rows

    #: The rows whose rank-order clause the model has (None: every row); see _solve_lazy.
    rank_rows: set[int] | None = None

    def _rank_order(self) -> None:
        # Rank order within each cell: see selection.allocation_rank.
        self.rank_order = RankOrder(self, self.rank_rows)

    # -- objective ----------------------------------------------------------

    def _objective(self) -> None:
        terms = []
        if self.form is not None:
            # Fixed amounts: the merit of each selected (x its grant under
            # merit_per_money: each unit of money counts the merit of the
            # grant it pays for, divided by the budget when reported).
            if len(self.rows):
                terms.append(cp_model.LinearExpr.weighted_sum(
                    self.x_list, self.objective_x.tolist()))
            if self.objective_constant:
                terms.append(self.objective_constant)
        else:
            # Partial grants: the merit each grant counts.
            merit = self.data.merit_scaled
            for i in map(int, self.rows):
                if self.objective_name == "merit_per_money":
                    terms.append(int(merit[i]) * self._amount(i))
                elif i in self.m:
                    terms.append(self.m[i])
                else:
                    terms.append(self.merit_of(i, int(self.lo[i])) * self.x[i])
        for penalty, v in self.penalties:
            terms.append(-penalty * self.weight * v)
        self.objective = (
            cp_model.LinearExpr.sum(terms) if terms else cp_model.LinearExpr.constant(0)
        )
        maximize(self.model, self.objective)

    # -- values -------------------------------------------------------------

    def merit_of(self, i: int, amount: int) -> int:
        """The scaled objective contribution of candidate i with this grant."""
        merit = int(self.data.merit_scaled[i])
        if self.objective_name == "merit_per_money":
            return merit * amount
        request = int(self.data.request[i])
        if self.partial and request > 0:
            # Merit counted in proportion to the funded fraction, rounded down.
            return merit * amount // request
        return merit

    def value_of(self, selected: np.ndarray, amount: np.ndarray) -> int:
        """The scaled objective of a selection, computed in Python (no penalties)."""
        return sum(self.merit_of(int(i), int(amount[i])) for i in np.flatnonzero(selected))

    # -- solve --------------------------------------------------------------

    def copy(self, *, relax: Iterable[Key] = (), fix: Mapping[cp_model.IntVar, int] | None = None,
             at_least: int | None = None, within: _Restriction | None = None
             ) -> cp_model.CpModel:
        """A copy of the model (or of a restriction of it) with constraint
        groups relaxed, variables fixed, or the objective held at least at a value."""
        self.build()
        model = (within.model if within is not None else self.model).clone()
        for key in relax:
            if key in self.literal:
                _set_domain(model, self.literal[key], 0, 0)
        for var, value in (fix or {}).items():
            model.add(var == value)
        if at_least is not None:
            # Variables of a clone keep their indices: the expression carries over.
            model.add(self.objective >= at_least)
        return model

    def variables(self) -> list[cp_model.IntVar]:
        """The tie-break vector, in rank order: every x, then every partial grant."""
        return [self.x[int(i)] for i in self.rows] + [self.k[i] for i in sorted(self.k)]

    def read(self, solver: cp_model.CpSolver) -> tuple[np.ndarray, np.ndarray]:
        selected = np.zeros(self.data.n, dtype=bool)
        amount = np.zeros(self.data.n, dtype=np.int64)
        for i in map(int, self.rows):
            if solver.value(self.x[i]):
                selected[i] = True
                amount[i] = solver.value(self.k[i]) * self.step if i in self.k else int(self.lo[i])
        selected[self.held] = True
        amount[self.held] = self.lo[self.held]
        if self.config.amount == "proportional":
            amount = proportional_amounts(self.data, self.config, selected)
        if self.config.budget is None:
            amount[:] = 0
        return selected, amount

    def read_values(self, values: Mapping[cp_model.IntVar, int]) -> tuple[np.ndarray, np.ndarray]:
        """Selection and grants from the values of the x variables (fixed amounts)."""
        selected = np.zeros(self.data.n, dtype=bool)
        for i in map(int, self.rows):
            selected[i] = bool(values[self.x[i]])
        selected[self.held] = True
        amount = np.where(selected, self.lo, 0).astype(np.int64)
        if self.config.amount == "proportional":
            amount = proportional_amounts(self.data, self.config, selected)
        if self.config.budget is None:
            amount[:] = 0
        return selected, amount

    def solve(self, settings: SolverSettings) -> tuple[int, Solution | None]:
        """Maximise the objective, then break ties by the documented key.

        Returns the CP-SAT status of the first solve and the solution (None
        when there is none). Among the selections with the best objective,
        the one returned is the first by this key, in order:

        1. the most rank points: each selected candidate scores ``N - p``,
           ``p`` its row position (0 for the best ranked) and ``N`` the number
           of rows (N points for the best ranked, 1 for the last);
        2. lexicographic: the best-ranked candidate on which two selections
           still differ is selected in the one returned;
        3. under ``partial``, the grants in rank order, lexicographically
           (more money to the better ranked).

        Every step is proven by CP-SAT (``tie_break`` "OPTIMAL"), so the
        selection is unique: the same whatever the seed or number of workers.

        On large stages the candidates that every optimal selection takes,
        or that none takes, are first fixed from the LP bound
        (:mod:`selection.allocation_reduce`, where the proof is): the set of
        optimal selections is unchanged, so the answer is the same, found
        over the candidates near the line only.
        """
        if self.objective_name == "rank_order" and not self.assumable:
            return self._solve_lazy(settings)
        reduced = self._solve_reduced(settings)
        if reduced is not None:
            return reduced
        self.build()
        return self._finish(settings, self._first(settings, None), None)

    def _solve_lazy(self, settings: SolverSettings) -> tuple[int, Solution | None]:
        """The rank-order solve, its clauses added only where they are broken.

        Each round solves a relaxation: a model with the rank-order clause of
        only some rows (``RankOrder`` with ``rows``, none at first); every
        other constraint and the objective unchanged. Its selection is then
        checked against every clause of this (whole) model
        (``RankOrder.violations``); the rows whose clause it breaks get theirs
        in the relaxation and the next round starts. Each round has strictly
        more clauses, so the loop ends (at worst with all of them).

        Proof that the answer is the model's. The relaxation's selections
        include the model's. When the selection S that ``_finish`` returns
        for the relaxation breaks no clause, S is a selection of the model.
        Objective: the relaxation's optimum is at least the model's, and S
        reaches it, so S is optimal for the model too and the model's
        optimal selections are the relaxation's optimal selections that
        satisfy every clause. The tie-break (rank points, then
        lexicographic, then the grants) picks, among the relaxation's
        optimal selections, the best by a key; S is the best of a set that
        contains the model's optimal selections, and S is one of them, so S
        is also their best. (A bound or tie-break that is not proven in the
        relaxation stays not proven: the status says so.)

        The tie-break is run only when the first solve's selection already
        breaks no clause (it may still end on one that does: checked again).
        """
        self.build()  # the whole model: the check reads every clause
        lazy = AllocationModel(self.data, self.config, objective=self.objective_name,
                               currency=self.currency, build=False)
        lazy.rank_rows = set()
        lazy.build()
        hint = None
        self.lazy_rounds = 0
        while True:
            self.lazy_rounds += 1
            first = lazy._first(settings, None, hint)
            if first.values is None:
                # Nothing in the relaxation: nothing in the model either.
                return first.status, None
            check = self.rank_order.violations
            broken = check(dict(zip(self.x_list, first.values)), settings)
            if broken == []:
                status, solution = lazy._finish(settings, first, None)
                values = dict(zip(self.x_list, solution.selected[self.rows].astype(int).tolist()))
                for i, k in self.k.items():
                    values[k] = int(solution.amount[i]) // self.step
                broken = check(values, settings)
                if broken == []:
                    return status, solution
            if not broken or set(broken) <= lazy.rank_order.added:  # pragma: no cover
                # A check not decided in time (or a clause the relaxation has
                # broken: a bug): the whole model.
                return self._finish(settings, self._first(settings, None), None)
            lazy.rank_order.add(broken)
            hint = first.values

    def _first(self, settings: SolverSettings, within: _Restriction | None,
               hint: list[int] | None = None) -> _First:
        """The first solve: the objective, then the rank sum (in one solve when
        ``scale * objective + rank sum`` fits in 64 bits)."""
        xs = [self.x[int(i)] for i in self.rows]
        weights = [self.data.n - int(i) for i in self.rows]  # N - row position
        rank_sum = cp_model.LinearExpr.weighted_sum(xs, weights) if xs else 0
        scale = sum(weights) + 1  # larger than any rank sum
        solves = 1

        def run(model: cp_model.CpModel) -> tuple[cp_model.CpSolver, int]:
            if hint is not None:
                _hint(model, xs, hint)
            solver = self.solver(settings, presolve=within is not None)
            return solver, solver.solve(model)

        if self._fits_int64(scale):
            # Objective and rank sum in one solve: scale * objective + rank sum.
            model = self.copy(within=within)
            maximize(model, scale * self.objective + rank_sum)
            solver, status = run(model)
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                return _First(status)
            combined = int(round(solver.objective_value))
            value, ranks = combined // scale, combined % scale
            bound = int(solver.best_objective_bound) // scale
            tie_break = "OPTIMAL" if status == cp_model.OPTIMAL else "FEASIBLE"
        else:
            # Too large for one integer objective: the objective, then the rank sum.
            solver, status = run(self.copy(within=within))
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                return _First(status)
            value = int(round(solver.objective_value))
            bound = int(round(solver.best_objective_bound))
            model = self.copy(at_least=value, within=within)
            maximize(model, rank_sum)
            _hint(model, xs, _values(solver, xs))
            solver = self.solver(settings, presolve=within is not None)
            second = solver.solve(model)
            solves += 1
            if second not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # pragma: no cover
                raise RuntimeError("the rank-sum solve lost the solution it was given")
            ranks = int(round(solver.objective_value))
            tie_break = "OPTIMAL" if second == cp_model.OPTIMAL else "FEASIBLE"
        return _First(status, value, bound, ranks, tie_break, solves, _values(solver, xs))

    def _solve_reduced(self, settings: SolverSettings) -> tuple[int, Solution | None] | None:
        """The solve over the candidates the LP bound leaves open, or None
        (the full model is then solved): see :mod:`selection.allocation_reduce`.

        A trial floor ``lower`` leaves about 64 candidates open (256, 1,024...
        while nothing that good is feasible); the restricted model is solved,
        and its answer stands when it is worth at least its ``lower``.
        Otherwise the selection it found is a proven floor: the fixings
        against it hold by themselves, and a second restriction built on it
        is final.
        """
        if (self.assumable or settings.reduce == "never"
                or (settings.reduce == "auto" and len(self.rows) < reduce.MIN_CANDIDATES)):
            return None
        bound, booleans = self._lp_bound(settings)
        if bound is None:
            return None
        self.bound, self.lp_columns = bound, booleans  # for best_with
        trials = reduce.ladder(bound, booleans, self._first_open(settings))
        hint = None  # the x values of a selection found
        while trials:
            lower = trials.pop(0)
            fixed, ones = reduce.fixings(bound, booleans, lower)
            if self._restrictable():
                # A smaller model over the open candidates, the held ones as constants.
                sub = self._submodel(fixed, ones)
                sub_hint = None if hint is None else [hint[p] for p in np.flatnonzero(~fixed)]
                first = sub._first(settings, None, sub_hint)
                if first.status == cp_model.OPTIMAL and first.value >= lower:
                    # Every optimal selection is in the restriction (the module's proof).
                    return sub._finish(settings, first, None)
                if first.values is not None:
                    values = np.array(ones, dtype=np.int64)
                    values[np.flatnonzero(~fixed)] = first.values
                    first = _First(first.status, first.value, values=values.tolist())
            else:
                within = self._restrict(fixed, ones)
                first = self._first(settings, within, hint)
                if first.status == cp_model.OPTIMAL and first.value >= lower:
                    return self._finish(settings, first, within)
            if first.status == cp_model.INFEASIBLE:
                continue  # nothing worth `lower` in what is left: look further below
            if first.status != cp_model.OPTIMAL:
                return None  # not proven in time: no proof that the fixings hold
            # A selection worth `value` exists: the next restriction is built
            # against it, and contains it (fixings against a proven value
            # hold by themselves).
            best, hint = first.value, first.values
            trials = [best]
        return None

    def _first_open(self, settings: SolverSettings) -> int:
        """How many candidates the first trial leaves open: 64, or on a small
        stage that ``reduce: always`` forces, an eighth of them (so that the
        restriction is tried, and tested, there too)."""
        if settings.reduce == "always":
            return max(1, min(64, len(self.rows) // 8))
        return 64

    def best_with(self, i: int, settings: SolverSettings) -> tuple[int, int | None]:
        """The best objective (scaled) of a selection that includes row ``i``
        (at its full grant under ``partial``), and the CP-SAT status.

        After a reduced solve, the same LP bound serves: with ``x[i] = 1``
        forced it drops by ``max(0, -d_i)``, and the other candidates are
        fixed against it as in :meth:`_solve_reduced` (with the same check:
        the restricted optimum must reach the value the fixings assumed).
        Otherwise, or when no trial is conclusive, the whole model is solved.
        """
        if self.bound is not None and self._restrictable():
            p = int(self.position[i])
            columns = self.lp_columns
            d = float(self.bound.reduced[columns[p]])
            forced = reduce.LpBound(self.bound.upper - max(0.0, -d), self.bound.reduced,
                                    self.bound.margin)
            trials = reduce.ladder(forced, columns, self._first_open(settings))
            while trials:
                lower = trials.pop(0)
                fixed, ones = reduce.fixings(forced, columns, lower)
                fixed[p] = ones[p] = True
                sub = self._submodel(fixed, ones)
                solver = sub.solver(settings)
                status = solver.solve(sub.model)
                if status == cp_model.INFEASIBLE:
                    continue  # nothing worth `lower` with i: look further below
                if status != cp_model.OPTIMAL:
                    break
                value = int(round(solver.objective_value))
                if value >= lower:
                    return status, value
                trials = [value]  # a proven floor: the next restriction is final
        self.build()
        fix = {self.x[i]: 1}
        if i in self.k:
            fix[self.k[i]] = int(self.hi[i]) // self.step
        solver = self.solver(settings)
        status = solver.solve(self.copy(fix=fix))
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return status, None
        return status, int(round(solver.objective_value))

    def _lp_bound(self, settings: SolverSettings) -> tuple[reduce.LpBound | None, np.ndarray]:
        """The LP bound, and the LP column of each open candidate.

        When the form holds every rule (``_restrictable``), the LP is the
        form alone: columns are the candidates, then the violations of soft
        rules, and the CP-SAT model is not needed. Otherwise its columns are
        the model's variables, with the rules outside the form read from the
        proto (a relaxation of those that are not linear).
        """
        count = len(self.rows)
        if self.form is not None and self._restrictable():
            soft = [k for k, row in enumerate(self.form) if row.slack]
            columns = count + len(soft)
            x_column = np.arange(count, dtype=np.int64)
            slack_column = dict(zip(soft, range(count, columns)))
            low, high = np.zeros(columns), np.ones(columns)
            for k in soft:
                high[slack_column[k]] = self.form[k].top
            extra = []
        else:
            self.build()
            proto = self.model.proto
            columns = len(proto.variables)
            x_column = np.array([x.index for x in self.x_list], dtype=np.int64)
            slack_column = {k: v.index for k, v in self.slack_of.items()}
            low, high = reduce.domains(proto, x_column)
            extra = reduce.proto_rows(proto, skip=set(self.form_index.values()), low=low)
        objective = np.zeros(columns)
        if self.form is not None:
            objective[x_column] = self.objective_x
            for k, column in slack_column.items():
                objective[column] -= self.form[k].penalty * self.weight
        else:
            objective = reduce.objective_vector(self.objective, columns)
        rows = []
        for k, row in enumerate(self.form or ()):
            nonzero = np.flatnonzero(row.x)
            variables, coefficients = x_column[nonzero], row.x[nonzero].astype(float)
            if k in slack_column:
                variables = np.append(variables, slack_column[k])
                coefficients = np.append(coefficients, float(row.slack))
            rows.append((variables, coefficients,
                         -np.inf if row.low is None else row.low,
                         np.inf if row.high is None else row.high))
        bound = reduce.lp_bound(objective, low, high, rows + extra, time_limit=settings.time_limit)
        return bound, x_column

    def solver(self, settings: SolverSettings, *, presolve: bool = False,
               proof: bool = False) -> cp_model.CpSolver:
        """A CP-SAT solver for this model (see :func:`solver_for`)."""
        return solver_for(settings, presolve=presolve, proof=proof,
                          rank_order=self.objective_name == "rank_order")

    def _submodel(self, fixed: np.ndarray, ones: np.ndarray) -> AllocationModel:
        """A model of its own over the open candidates (``~fixed``), those held
        selected (``fixed & ones``) as constants, the others out."""
        return AllocationModel(self.data, self.config, objective=self.objective_name,
                               currency=self.currency,
                               restrict=(self.rows[~fixed], self.rows[fixed & ones]))

    def _restrictable(self) -> bool:
        """True when a restriction can be a model of its own (fixed amounts,
        and no rule that ties two candidates other than through sums)."""
        data = self.data
        return (not self.partial and self.objective_name != "rank_order"
                and not len(data.include) and data.organisation is None and not data.pairs)

    def _restrict(self, fixed: np.ndarray, ones: np.ndarray) -> _Restriction:
        """The model with the candidates at the ``fixed`` positions held at
        their value (1 where ``ones``): two constraints, which presolve turns
        into fixed variables."""
        xs = [self.x[int(i)] for i in self.rows]
        model = self.model.clone()
        held_one = [xs[p] for p in np.flatnonzero(fixed & ones)]
        held_zero = [xs[p] for p in np.flatnonzero(fixed & ~ones)]
        if held_one:
            model.add(cp_model.LinearExpr.sum(held_one) == len(held_one))
        if held_zero:
            model.add(cp_model.LinearExpr.sum(held_zero) == 0)
        return _Restriction(model, np.flatnonzero(~fixed), np.flatnonzero(fixed & ones))

    def _finish(self, settings: SolverSettings, first: _First, within: _Restriction | None
                ) -> tuple[int, Solution | None]:
        """The tie-break after the first solve, and the solution.

        In a restriction, only the open candidates can differ between two
        optimal selections: the tie-break runs over them.
        """
        status, value, bound, ranks = first.status, first.value, first.bound, first.ranks
        tie_break, solves = first.tie_break, first.solves
        if value is None:
            return status, None
        every = [self.x[int(i)] for i in self.rows]
        open_ = within.free if within is not None else np.arange(len(self.rows))
        xs = [every[p] for p in open_]
        values = [first.values[p] for p in open_]
        weights = [self.data.n - int(self.rows[p]) for p in open_]
        rank_sum = cp_model.LinearExpr.weighted_sum(xs, weights) if xs else 0
        if within is not None:
            # The rank points of the candidates held selected are a constant.
            ranks -= int(sum(self.data.n - int(self.rows[p]) for p in within.ones))
        proven = status == cp_model.OPTIMAL
        bound = value if proven else max(bound, value)
        presolve = within is not None

        def held() -> cp_model.CpModel:
            model = self.copy(at_least=value, within=within)
            if xs:
                model.add(rank_sum >= ranks)
            return model

        # Lexicographic among the selections with this objective and rank sum;
        # first, the cheap question: is there any other?
        if xs and tie_break == "OPTIMAL" and settings.tie_break == "rank_points":
            # Asked to stop after the rank points: proven, but not proven unique.
            tie_break = "RANK_POINTS"
        elif xs and tie_break == "OPTIMAL":
            other = held()
            _add_other(other, xs, values)
            solver = self.solver(settings, presolve=presolve, proof=True)
            unique = solver.solve(other)
            solves += 1
            if unique in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                values, tie_break, steps = self.lexicographic(xs, values, held, settings,
                                                              presolve=presolve)
                solves += steps
            elif unique != cp_model.INFEASIBLE:
                tie_break = "FEASIBLE"
        fixed = dict(zip(every, first.values))
        fixed.update(zip(xs, values))
        if self.k:
            # Partial grants: the selection fixed, the grants lexicographically.
            ks = [self.k[i] for i in sorted(self.k)]
            solver = _solve_fixed(self, fixed, settings)
            grants = _values(solver, ks)

            def held_grants() -> cp_model.CpModel:
                return self.copy(fix=fixed, at_least=value)

            grants, grant_tie, steps = self.lexicographic(ks, grants, held_grants, settings)
            solves += steps
            if grant_tie != "OPTIMAL":
                tie_break = grant_tie
            fixed.update(zip(ks, grants))
        if self.k:
            selected, amount = self.read(_solve_fixed(self, fixed, settings))
        else:
            # Every variable of the solution is an x: read them without a solve.
            selected, amount = self.read_values(fixed)
        return status, Solution(
            selected=selected,
            amount=amount,
            status="OPTIMAL" if proven else "FEASIBLE",
            objective=value,
            bound=bound,
            tie_break=tie_break,
            solves=solves,
        )

    def _fits_int64(self, scale: int) -> bool:
        """True when scale * objective + rank sum stays far within int64."""
        proto = self.model.proto
        variables = np.array(proto.objective.vars, dtype=np.int64)
        coeffs = list(proto.objective.coeffs)
        # |x| <= 1: no domain to read (the x are most terms: sorted out in
        # numpy, their coefficients summed in Python, exactly).
        boolean = np.isin(variables, np.array([x.index for x in self.x_list], dtype=np.int64))
        total = sum(map(abs, itertools.compress(coeffs, boolean.tolist())))
        for k in np.flatnonzero(~boolean).tolist():
            domain = proto.variables[int(variables[k])].domain
            total += abs(coeffs[k]) * max(abs(domain[0]), abs(domain[len(domain) - 1]))
        return (total + 1) * scale < 2**60

    def lexicographic(self, variables: list[cp_model.IntVar], values: list[int], held,
                      settings: SolverSettings, *, presolve: bool = False
                      ) -> tuple[list[int], str, int]:
        """The lexicographically largest ``variables`` among the solutions of ``held()``.

        Each step asks CP-SAT for a solution that is lexicographically larger
        than the current one, with its first difference as early as possible;
        the current one is the answer when CP-SAT proves there is none. The
        first differing position only moves later, so the loop ends.
        """
        solves = 0
        while True:
            model = held()
            upper = [_upper(model, v) for v in variables]
            open_ = [p for p, v in enumerate(values) if v < upper[p]]
            if not open_:
                return values, "OPTIMAL", solves
            # d[p]: the first difference is at p (and it is an increase).
            d = {p: model.new_bool_var(f"first_diff[{p}]") for p in open_}
            model.add_exactly_one(d.values())
            # same: the first difference comes after this position, which is
            # then unchanged; a chain, so that the model stays linear in size.
            remaining = len(open_)
            same = None  # None: still 1 (no position yet)
            for p, var in enumerate(variables):
                if p in d:
                    model.add(var >= values[p] + 1).only_enforce_if(d[p])
                    remaining -= 1
                    if remaining == 0:
                        break
                    after = model.new_bool_var(f"same[{p}]")
                    model.add(after + d[p] == (1 if same is None else same))
                    same = after
                if same is None:
                    model.add(var == values[p])
                else:
                    model.add(var == values[p]).only_enforce_if(same)
            weights = [len(variables) - p for p in open_]
            model.maximize(cp_model.LinearExpr.weighted_sum(list(d.values()), weights))
            _hint(model, variables, values)
            solver = self.solver(settings, presolve=presolve)
            status = solver.solve(model)
            solves += 1
            if status == cp_model.INFEASIBLE:
                return values, "OPTIMAL", solves
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                return values, "FEASIBLE", solves
            values = _values(solver, variables)


def maximize(model: cp_model.CpModel, expression) -> None:
    """``model.maximize(expression)`` for an integer linear expression, written
    into the proto in bulk: OR-Tools 9.15's ``maximize`` appends the terms one
    by one in Python (0.7 s for 100,000 terms; this: 0.13 s). The proto is the
    one ``maximize`` writes: terms negated, scaling factor -1."""
    flat = cmh.FlatIntExpr(expression)
    model.clear_objective()
    objective = model.proto.objective
    objective.vars.extend([var.index for var in flat.vars])
    objective.coeffs.extend([-coeff for coeff in flat.coeffs])
    objective.offset = -flat.offset
    objective.scaling_factor = -1.0


def _add_other(model: cp_model.CpModel, variables: list[cp_model.IntVar],
               values: list[int]) -> None:
    """Require a 0/1 vector other than ``values``: ``sum(1 - x for the ones) +
    sum(x for the zeros) >= 1``, written into the proto in bulk. It is the
    constraint ``model.add`` writes from that sum (checked term by term on
    random vectors): its terms merged by variable index, coefficient -1 for
    the ones and 1 for the zeros, the constants moved to the bound."""
    index = np.array([var.index for var in variables], dtype=np.int64)
    order = np.argsort(index, kind="stable")
    ones = np.asarray(values, dtype=bool)
    linear = model.proto.constraints.add().linear
    linear.vars.extend(index[order].tolist())
    linear.coeffs.extend(np.where(ones, -1, 1)[order].tolist())
    linear.domain.extend([1 - int(ones.sum()), INT64_MAX])


def _values(solver: cp_model.CpSolver, variables: list[cp_model.IntVar]) -> list[int]:
    """The values of these variables in the solver's solution, read in bulk
    (``solver.value`` one by one: 0.4 s for 200,000 reads)."""
    solution = list(solver.response_proto.solution)
    return [int(solution[var.index]) for var in variables]


def _hint(model: cp_model.CpModel, variables: list[cp_model.IntVar], values: list[int]) -> None:
    """``model.add_hint`` for each pair, written into the proto in bulk."""
    hint = model.proto.solution_hint
    hint.vars.extend([var.index for var in variables])
    hint.values.extend([int(v) for v in values])


def _set_domain(model: cp_model.CpModel, var: cp_model.IntVar, low: int, high: int) -> None:
    """Narrow a literal of a clone (its domain is one interval)."""
    domain = model.proto.variables[var.index].domain
    domain[0], domain[1] = low, high


def _upper(model: cp_model.CpModel, var: cp_model.IntVar) -> int:
    domain = model.proto.variables[var.index].domain
    return int(domain[len(domain) - 1])  # (this proto's lists take no negative index)


def _solve_fixed(model: AllocationModel, fixed: Mapping[cp_model.IntVar, int],
                 settings: SolverSettings) -> cp_model.CpSolver:
    """A solver holding these values (to read every variable of the model)."""
    copy = model.copy(fix=fixed)
    solver = model.solver(settings)
    status = solver.solve(copy)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # pragma: no cover - a bug if so
        raise RuntimeError(f"CP-SAT returned {solver.status_name(status)} for a known solution")
    return solver


def proportional_amounts(data: Data, config: AllocationConfig, selected: np.ndarray) -> np.ndarray:
    """Grants proportional to merit that spend the budget, within the grant bounds.

    Each selected gets ``clamp(step * floor(t * merit_scaled / (step * Q)),
    grant.min, grant.max)`` with ``Q = 2**20`` and ``t`` the largest integer
    for which the grants fit in the budget (found by bisection; the grants
    only grow with ``t``). Integers throughout; the model guarantees that
    ``grant.min`` for each selected fits, so ``t = 0`` always does.
    """
    step, low = config.grant.step, int(config.grant.min or 0)
    budget = int(config.budget or 0)
    # grant.min and grant.max are multiples of the step (checked in the configuration).
    high = int(config.grant.max) if config.grant.max is not None else budget - budget % step
    rows = np.flatnonzero(selected)
    merit = [max(int(data.merit_scaled[i]), 0) for i in rows]
    scale = 2**20

    def grants(t: int) -> list[int]:
        return [min(max(step * (t * m // (step * scale)), low), high) for m in merit]

    lo, hi = 0, budget * scale + 1  # grants(hi) exceed the budget unless capped
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(grants(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    amount = np.zeros(data.n, dtype=np.int64)
    amount[rows] = grants(lo)
    return amount


def _group_words(group: Group, name: str, bound) -> str:
    if name == "min_count":
        return f"{group.label}: at least {bound} selected"
    if name == "max_count":
        return f"{group.label}: at most {bound} selected"
    what = "of the number selected" if "count" in name else "of the money"
    side = "at least" if name.startswith("min") else "at most"
    return f"{group.label}: {side} {percent(bound, 'en')} {what}"
