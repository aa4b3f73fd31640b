"""The ``rank_order`` objective's constraints: no one passed over for a lower-ranked one who fits.

Within a cell (the candidates with the same value in every group column), a
candidate may be left out while a lower-ranked one of its cell is selected
only if it does not fit (:meth:`RankOrder.reasons` says exactly when). The
model keeps that rule as one clause per candidate,

    x[i]  or  not below[i]  or  (a reason why i does not fit),

where ``below[i]`` is true when a candidate of i's cell ranked below i is
selected, and each reason is a literal that implies the inequality it stands
for. This module adds nothing that changes the set of selections the rule
allows; what it adds makes that set easier for CP-SAT to search:

* Reasons that cannot hold are left out (the count maximum and the maximum
  count of i's own group, see :meth:`RankOrder.reasons`).
* Reasons that depend only on the totals and on i's smallest grant (every
  share reason) are one literal per (rule, grant), shared by the candidates
  with that grant, and ordered by grant (a share that i's grant breaks, a
  larger grant breaks too).
* Implied constraints on the budget reason: it holds only when what the
  selected below i take is less than i's smallest grant, so no selected
  candidate below i has a grant at least as large (``RankOrder._dominated``).

Each is proven where it is built. The brute force of
``tests/test_allocation_properties.py`` (``rank_respected``) checks the
whole against enumeration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
from ortools.sat.python import cp_model

if TYPE_CHECKING:  # pragma: no cover
    from selection.allocation_config import SolverSettings
    from selection.allocation_model import AllocationModel, Key

__all__ = ["RankOrder", "MAX_LEVELS"]

#: Grant levels tracked per cell by the budget's dominance chains (more
#: distinct grants than this are rounded up to this many levels).
MAX_LEVELS = 24


class RankOrder:
    """Adds the rank-order rule of ``model`` (an :class:`AllocationModel`) to its CP-SAT model.

    Attributes kept for the explanations: ``spend_total``, ``count_total``
    (integer variables equal to the spend and the count), ``below_spend``,
    ``below_count`` (per row: what the selected of its cell ranked below it
    take).

    ``rows`` (the lazy solve, ``AllocationModel._solve_lazy``): the clauses of
    these rows only, more added by :meth:`add`; each with sums of its own
    instead of the chains over whole cells, and without the implied
    ``_chains`` clauses (a model with few clauses, in which nothing is
    written for the rows without one).
    """

    def __init__(self, model: AllocationModel, rows: Iterable[int] | None = None) -> None:
        self.m = model
        self.cp = model.model
        self.on = model._enforce(("rank_order",), "objective", "rank order within each group")
        self.by_cell: dict[int, list[int]] = {}
        for i in map(int, model.rows):
            self.by_cell.setdefault(int(model.data.cell[i]), []).append(i)
        self._member = [np.zeros(model.data.n, dtype=bool) for _ in model.data.groups]
        for k, group in enumerate(model.data.groups):
            self._member[k][group.members] = True
        self._shared: dict[tuple, cp_model.IntVar] = {}
        self._w: dict[int, cp_model.IntVar] | None = None  # see _chains
        self._ordered: dict[tuple, int] = {}  # share rule -> levels ordered (_share_order)
        self.lazy = rows is not None
        self._totals()
        if rows is None:
            self._suffix_sums()
            self._clauses()
        else:
            self.below_spend, self.below_count = {}, {}
            self.below_use = [{} for _ in model.data.resources]
            self.added: set[int] = set()
            self.add(rows)

    # -- totals -------------------------------------------------------------

    def _totals(self) -> None:
        """One variable per total the fit conditions read (spend, count, each
        group's count and money, each resource), so that every condition has a
        few terms instead of one per candidate."""
        m, cp, data = self.m, self.cp, self.m.data
        top_money = int(m.hi[m.rows].sum()) if len(m.rows) else 0
        n = len(m.rows)

        def total(name: str, expression, top: int) -> cp_model.IntVar:
            var = cp.new_int_var(0, max(top, 0), name)
            cp.add(var == expression)
            return var

        self.spend_total = total("spend_total", m.spend, top_money)
        self.count_total = total("count_total", m.count, n)
        self.group_count_total = [
            total(f"count_total[{k}]", m._sum(g.members), n) for k, g in enumerate(data.groups)
        ]
        self.group_money_total = [
            total(f"money_total[{k}]", m._money(g.members), top_money)
            for k, g in enumerate(data.groups)
        ]
        self.usage_total = [
            total(f"use_total[{r}]", m._sum(m.rows, usage), int(usage[m.rows].sum()))
            for r, (_, usage) in enumerate(data.resources)
        ]

    def _suffix_sums(self) -> None:
        """What the selected ranked below each row *in its cell* use: money,
        places, each resource (chains of integer variables, linear in size)."""
        m, cp, data = self.m, self.cp, self.m.data
        self.below_spend: dict[int, object] = {}
        self.below_count: dict[int, object] = {}
        self.below_use: list[dict[int, object]] = [{} for _ in data.resources]
        total = int(m.hi[m.rows].sum()) if len(m.rows) else 0
        for rows in self.by_cell.values():
            spend, count, use, previous = 0, 0, [0] * len(data.resources), None
            for i in reversed(rows):
                if previous is not None:
                    # The sums over the rows after i in the cell: previous row's plus its own.
                    new_spend = cp.new_int_var(0, total, f"spend_below[{i}]")
                    cp.add(new_spend == spend + m._amount(previous))
                    new_count = cp.new_int_var(0, len(rows), f"count_below[{i}]")
                    cp.add(new_count == count + m.x[previous])
                    spend, count = new_spend, new_count
                    for r, (_, usage) in enumerate(data.resources):
                        new_use = cp.new_int_var(0, int(usage[rows].sum()), f"use{r}_below[{i}]")
                        cp.add(new_use == use[r] + int(usage[previous]) * m.x[previous])
                        use[r] = new_use
                self.below_spend[i], self.below_count[i] = spend, count
                for r in range(len(data.resources)):
                    self.below_use[r][i] = use[r]
                previous = i

    # -- the rule -----------------------------------------------------------

    def _clauses(self) -> None:
        # Rank order: within a cell, a candidate is passed over for a
        # lower-ranked one only if it does not fit (see reasons). below[i] is
        # 1 when some candidate of i's cell ranked below i is selected; then
        # x[i] or a reason not to fit holds.
        m, cp = self.m, self.cp
        self.checked: dict[int, cp_model.IntVar] = {}  # row -> literal enforcing its clause
        for rows in self.by_cell.values():
            below = None  # "someone after this row in the cell is selected"
            for i in reversed(rows):
                if below is not None:
                    # checked[i] is fixed to 1 here; the lazy solve (see
                    # AllocationModel._solve_lazy) frees it or fixes it to 0 in copies.
                    checked = cp.new_int_var(1, 1, f"rank_checked[{i}]")
                    self.checked[i] = checked
                    cp.add_bool_or([m.x[i], below.Not(), *self.reasons(i)]).only_enforce_if(
                        [self.on, checked])
                here = cp.new_bool_var(f"at_or_below[{i}]")
                cp.add_implication(m.x[i], here)
                if below is not None:
                    cp.add_implication(below, here)
                below = here
        self._share_order()

    def reasons(self, i: int) -> list[cp_model.IntVar]:
        """Literals each of which, when true, proves that candidate i does not fit.

        A candidate does not fit when (a) it would not fit in what is left even
        if every selected candidate of its cell ranked below it gave back its
        place and money: the budget (with its smallest grant), the count
        maximum, the maximum count of one of its groups, a resource; or an
        application of its organisation, or one incompatible with it, is
        selected (and is not one of those); or (b) adding it to the selection
        would break a share: the maximum share of one of its groups, or the
        minimum share of another group. Soft rules never stop it from fitting.

        The count maximum and the maximum count of i's own group get no
        literal: they cannot hold while a candidate below i is selected (the
        only time the rule asks for a reason). Proof: such a candidate is in
        the cell, so in every group of i; the place it gives back makes
        ``kept <= total - 1 <= bound - 1`` whenever the bound is enforced
        (count <= count.max, count_g <= max_count), so ``kept + 1 <= bound``:
        i fits. A reason literal implies that its rule is enforced, so a
        relaxed rule gives no reason either.
        """
        m, cp, data, config = self.m, self.cp, self.m.data, self.m.config
        add = int(m.lo[i])
        reasons = []

        def reason(name: str, constraint_key: Key) -> cp_model.IntVar:
            literal = cp.new_bool_var(f"no_fit[{i}]{name}")
            reasons.append(literal)
            # The reason counts only while its constraint is in force.
            cp.add_implication(literal, m.literal[constraint_key])
            return literal

        spend, total_count = self.spend_total, self.count_total
        kept_spend = spend - self.below_spend[i]
        if ("budget",) in m.literal:
            no_fit = reason("budget", ("budget",))
            cp.add(kept_spend + add >= config.budget + 1).only_enforce_if(no_fit)
            self._dominated(i, no_fit)
        for k, group in enumerate(data.groups):
            if group.penalty is not None:
                continue
            inside = bool(self._member[k][i])
            count, amount = self.group_count_total[k], self.group_money_total[k]
            for name in config.groups[group.rule].bounds:
                key = ("group", group.rule, group.value, name)
                bound = group.bound(name)
                if not isinstance(bound, Fraction) or inside != name.startswith("max"):
                    continue  # counts: see above; a share of i's own group caps, another's floors
                n_, d_ = bound.numerator, bound.denominator
                # A share reason reads the totals and i's smallest grant only:
                # one literal per (rule, grant), shared (see _share_order).
                level = add if "money" in name else 0
                shared = self._shared.get((key, level))
                if shared is None:
                    shared = cp.new_bool_var(f"no_fit{key}[{level}]")
                    cp.add_implication(shared, m.literal[key])
                    self._shared[(key, level)] = shared
                    if name == "max_count_share":
                        # d * (count_g + 1) > n * (count + 1)
                        cp.add(d_ * count - n_ * total_count >= n_ - d_ + 1).only_enforce_if(shared)
                    elif name == "max_money_share":
                        cp.add(d_ * amount - n_ * spend >= (n_ - d_) * add + 1).only_enforce_if(shared)
                    elif name == "min_count_share":
                        # d * count_h < n * (count + 1)
                        cp.add(n_ * total_count - d_ * count >= 1 - n_).only_enforce_if(shared)
                    else:  # min_money_share
                        cp.add(n_ * spend - d_ * amount >= 1 - n_ * add).only_enforce_if(shared)
                reasons.append(shared)
        for r, (rule, usage) in enumerate(data.resources):
            used = self.usage_total[r] - self.below_use[r][i] + int(usage[i])
            cp.add(used >= rule.capacity + 1).only_enforce_if(reason("resource", ("resource", r)))
        cell = data.cell[i]

        def given_back(j: int) -> bool:
            return j > i and data.cell[j] == cell

        if data.organisation is not None and data.organisation[i] is not None:
            others = [j for j in m._by_organisation()[data.organisation[i]]
                      if j != i and not given_back(j)]
            if others:
                cp.add(m._sum(others) >= 1).only_enforce_if(reason("one_per", ("one_per",)))
        for a, b in data.pairs:
            other = b if i == a else a if i == b else None
            if other is not None and not given_back(other) and m.in_model[a] and m.in_model[b]:
                key = ("incompatible", str(data.ids[a]), str(data.ids[b]))
                cp.add(m.x[other] == 1).only_enforce_if(reason("pair", key))
        return reasons

    # -- the lazy solve -----------------------------------------------------

    def add(self, rows: Iterable[int]) -> None:
        """Write the clauses of ``rows`` (a model built with ``rows``).

        The same clause as :meth:`_clauses` writes, with ``below[i]`` and the
        sums below i written as sums over the rows below i in its cell: the
        literal is forced true when one of them is selected (and may be true
        otherwise, as ``at_or_below`` may: that only asks for more).
        """
        m, cp, data = self.m, self.cp, self.m.data
        position = {}
        for cell_rows in self.by_cell.values():
            position.update((i, p) for p, i in enumerate(cell_rows))
        for i in sorted(set(map(int, rows)) - self.added):
            self.added.add(i)
            cell_rows = self.by_cell[int(data.cell[i])]
            below = cell_rows[position[i] + 1:]
            if not below:
                continue  # the last of its cell: no clause
            total = int(m.hi[below].sum())
            self.below_spend[i] = cp.new_int_var(0, total, f"spend_below[{i}]")
            cp.add(self.below_spend[i] == m._money(below))
            self.below_count[i] = cp.new_int_var(0, len(below), f"count_below[{i}]")
            cp.add(self.below_count[i] == m._sum(below))
            for r, (_, usage) in enumerate(data.resources):
                self.below_use[r][i] = cp.new_int_var(0, int(usage[below].sum()), f"use{r}_below[{i}]")
                cp.add(self.below_use[r][i] == m._sum(below, usage))
            someone = cp.new_bool_var(f"below[{i}]")
            cp.add(self.below_count[i] == 0).only_enforce_if(someone.Not())
            cp.add_bool_or([m.x[i], someone.Not(), *self.reasons(i)]).only_enforce_if(self.on)
        self._share_order()

    def violations(self, values: Mapping[cp_model.IntVar, int],
                   settings: SolverSettings) -> list[int] | None:
        """The rows whose clause the selection ``values`` (every x; under
        ``partial``, every grant too, or the x alone for "some grants")
        breaks, in rank order; None when CP-SAT finds no answer in time.

        The whole model with x fixed, each clause softened (its literal
        ``checked[i]`` free) and as many of them held as possible. With x fixed
        the clauses are independent (each has reason literals of its own, or
        shared ones that read only the totals), so the ones left false are
        exactly those that cannot hold. An empty list is a proof that the
        selection satisfies every clause: the solution found holds them all.
        """
        model = self.cp.clone()
        for var, value in values.items():
            _fix(model, var, int(value))
        free = list(self.checked.values())
        for literal in free:
            _fix(model, literal, 0, 1)
        model.clear_objective()
        model.maximize(cp_model.LinearExpr.sum(free) if free else 0)
        solver = self.m.solver(settings)
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        solution = solver.response_proto.solution
        return sorted(i for i, literal in self.checked.items() if not solution[literal.index])

    # -- implied constraints ------------------------------------------------

    def _share_order(self) -> None:
        """A money share that a grant of v breaks, a grant of w > v breaks too.

        ``no_fit{key}[v]`` stands for ``d * amount - n * spend >= (n - d) * v + 1``
        (maximum share, n < d: the right side falls as v grows) or
        ``n * spend - d * amount >= 1 - n * v`` (minimum share: likewise).
        So ``no_fit[v] -> no_fit[w]`` for v < w adds no constraint on the
        selection: a literal that may be true is only ever needed true.
        """
        by_key: dict[tuple, list[tuple[int, cp_model.IntVar]]] = {}
        for (key, level), literal in self._shared.items():
            by_key.setdefault(key, []).append((level, literal))
        for key, levels in by_key.items():
            if self._ordered.get(key) == len(levels):
                continue  # written already (the lazy solve adds rows: see add)
            self._ordered[key] = len(levels)
            levels.sort(key=lambda pair: pair[0])
            for (_, low), (_, high) in zip(levels, levels[1:]):
                self.cp.add_implication(low, high)
            if key[-1] in ("max_money_share", "min_money_share"):
                self._order_encoding(key, levels)

    def _order_encoding(self, key: tuple, levels: list[tuple[int, cp_model.IntVar]]) -> None:
        """The share literals of one rule as one linear constraint (a tighter LP).

        ``no_fit[v]`` stands for ``H <= c * v - 1``, with ``H = n * spend - d *
        amount`` and ``c = d - n`` (maximum share of i's group) or ``H = d *
        amount - n * spend`` and ``c = n`` (minimum share of another). The
        literals are ordered (``no_fit[v_k] -> no_fit[v_k+1]``), so when the
        first true one is ``v_k``, the statements they make together are
        ``H <= U_k = c * v_k - 1``; with none true, ``H <= U_top``, a bound H
        always has. That is ``H <= U_top - sum_k (U_k+1 - U_k) * no_fit[v_k]``,
        exactly, given the order: the same statements, one row for the LP.
        """
        m, cp, data = self.m, self.cp, self.m.data
        _, rule, value, name = key
        k = next(k for k, g in enumerate(data.groups) if g.rule == rule and g.value == value)
        bound = data.groups[k].bound(name)
        n_, d_ = bound.numerator, bound.denominator
        amount, spend = self.group_money_total[k], self.spend_total
        top = int(m.hi[m.rows].sum()) if len(m.rows) else 0
        if name == "max_money_share":
            h, c, u_top = n_ * spend - d_ * amount, d_ - n_, n_ * top
        else:
            h, c, u_top = d_ * amount - n_ * spend, n_, d_ * top
        u = [c * v - 1 for v, _ in levels] + [max(u_top, c * levels[-1][0] - 1)]
        cp.add(h <= u[-1] - sum((u[q + 1] - u[q]) * lit for q, (_, lit) in enumerate(levels)))

    def _dominated(self, i: int, no_fit: cp_model.IntVar) -> None:
        """Implied by the budget reason of i: nothing selected below i in its
        cell takes as much as i's smallest grant, and what they take together
        is less than it.

        Proof. The reason says ``spend - below_spend[i] + lo[i] >= budget + 1``
        and implies the budget literal, so ``spend <= budget`` holds: hence
        ``below_spend[i] <= lo[i] - 1``. Every selected j gets at least
        ``lo[j]``, so no selected j below i in its cell has ``lo[j] >= lo[i]``.
        The second statement is a clause per level of grant: ``no_fit -> not
        w``, where ``w`` is true when a selected candidate below i has a
        smallest grant at least the level (a level at least ``lo[i]``).
        """
        m, cp = self.m, self.cp
        cp.add(self.below_spend[i] <= max(int(m.lo[i]) - 1, 0)).only_enforce_if(no_fit)
        if self.lazy:
            # The second statement as one sum over the rows below i (the
            # chains are over whole cells: see the class).
            cell_rows = self.by_cell[int(m.data.cell[i])]
            larger = [j for j in cell_rows[cell_rows.index(i) + 1:] if m.lo[j] >= m.lo[i]]
            if larger:
                cp.add(m._sum(larger) == 0).only_enforce_if(no_fit)
            return
        chains = self._chains()
        w = chains.get(i)
        if w is not None:
            cp.add_bool_or([no_fit.Not(), w.Not()])

    def _chains(self) -> dict[int, cp_model.IntVar]:
        """Per row i: a literal forced true when a selected candidate of i's
        cell ranked below i has ``lo >= level(i)`` (``level(i) >= lo[i]``:
        ``lo[i]`` rounded up to one of at most MAX_LEVELS values of its cell).
        Built once, bottom-up: ``w[level]`` of a row is implied by the
        ``w[level]`` of the row below and by that row's x when its lo reaches
        the level (only forced up, so it is at least the OR it stands for)."""
        if self._w is not None:
            return self._w
        m, cp = self.m, self.cp
        self._w = {}
        for rows in self.by_cell.values():
            lo = np.array([int(m.lo[i]) for i in rows], dtype=np.int64)
            values = np.unique(lo)
            if len(values) > MAX_LEVELS:
                values = np.unique(np.quantile(values, np.linspace(0, 1, MAX_LEVELS),
                                               method="higher"))
            level = values[np.searchsorted(values, lo)]  # lo rounded up to a level
            first_reader: dict[int, int] = {}  # level -> the topmost row that reads it
            for p, v in enumerate(map(int, level)):
                first_reader.setdefault(v, p)
            current: dict[int, cp_model.IntVar] = {}
            for p in range(len(rows) - 1, -1, -1):
                i = rows[p]
                if int(level[p]) in current:
                    self._w[i] = current[int(level[p])]
                # i joins the chains of the levels its lo reaches, for the rows above that read them.
                for v in map(int, values):
                    if v > lo[p] or first_reader.get(v, len(rows)) >= p:
                        continue
                    w = cp.new_bool_var(f"w[{i}][{v}]")
                    cp.add_implication(m.x[i], w)
                    if v in current:
                        cp.add_implication(current[v], w)
                    current[v] = w
        return self._w


def _fix(model: cp_model.CpModel, var: cp_model.IntVar, low: int, high: int | None = None) -> None:
    """Set the domain of a variable of a copy to ``[low, high]`` (``[low, low]``)."""
    domain = model.proto.variables[var.index].domain
    domain.clear()
    domain.extend([low, low if high is None else high])
