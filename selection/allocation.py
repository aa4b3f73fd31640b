"""Allocation: choose who is selected, and for how much, with OR-Tools CP-SAT.

A stage's ``select:`` block of the program file parses into an
:class:`AllocationConfig`; :func:`allocate` takes the ranked candidates of the
stage and returns an :class:`AllocationResult` that carries the selection, the
amounts, the solver's proof (status, bound, gap) and a reason, in French and in
English, for every candidate.

The model is the one DESIGN.md describes ("The optimiser"): one boolean per
candidate who can be selected, integer money everywhere, merit scaled to
integers by :data:`MERIT_SCALE` before CP-SAT sees it, exact integer arithmetic
for money shares, and an explicit tie-break solved as a second stage.

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

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from selection.errors import (
    ConfigError,
    InfeasibleError,
    InputDataError,
    Problem,
    SolverLimitError,
    did_you_mean,
)

__all__ = [
    "MERIT_SCALE",
    "REASON_CODES",
    "Bounds",
    "GrantBounds",
    "GroupRule",
    "SolverSettings",
    "AllocationConfig",
    "AllocationResult",
    "allocate",
]

MERIT_SCALE = 1000
"""Merit (a 0-100 score) is multiplied by this and rounded to an int for CP-SAT."""

MAX_SHARE_DECIMALS = 6
"""Money shares are exact fractions with at most this many decimal places, so
that the share constraints keep small integer coefficients."""

REASON_CODES = (
    "selected",
    "not_ranked",
    "below_min_merit",
    "amount_out_of_bounds",
    "capacity",
    "group_cap",
    "budget",
    "outranked",
)
"""Every reason code a candidate can receive, in the order they are checked."""

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# ---------------------------------------------------------------------------
# Configuration: the `select:` block of a stage
# ---------------------------------------------------------------------------


class Bounds(BaseModel):
    """An optional minimum and maximum of a count, both included."""

    model_config = _MODEL_CONFIG

    min: int | None = Field(default=None, ge=0)
    """Smallest allowed value; no minimum when absent."""

    max: int | None = Field(default=None, ge=0)
    """Largest allowed value; no maximum when absent."""

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Bounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class GrantBounds(BaseModel):
    """What one grant may be: a request outside these bounds cannot be funded."""

    model_config = _MODEL_CONFIG

    min: int | None = Field(default=None, ge=0)
    """Smallest grant, in the programme currency; no minimum when absent."""

    max: int | None = Field(default=None, ge=0)
    """Largest grant, in the programme currency; no maximum when absent."""

    step: int = Field(default=1, ge=1)
    """Every grant is a multiple of this amount (1: any whole amount)."""

    @model_validator(mode="after")
    def _min_not_above_max(self) -> GrantBounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self

    @property
    def is_set(self) -> bool:
        """True when any bound differs from the default (no bounds, step 1)."""
        return self.min is not None or self.max is not None or self.step != 1


class GroupRule(BaseModel):
    """Limits on the selected candidates of each value of a categorical column.

    Every bound applies to each listed value separately: ``column: region,
    min_count: 2`` asks for at least two selected in every region.
    """

    model_config = _MODEL_CONFIG

    column: str = Field(min_length=1)
    """Candidate column that holds the group (region, domain, women_led, ...)."""

    values: list[str] | None = None
    """Values the bounds apply to. None: every value the caller declares for
    this column (``group_values``) or, failing that, every value present."""

    min_count: int | None = Field(default=None, ge=0)
    """At least this many selected in each value."""

    max_count: int | None = Field(default=None, ge=0)
    """At most this many selected in each value."""

    min_money_share: float | None = Field(default=None, ge=0, le=1)
    """Each value receives at least this fraction of the money spent (needs a budget)."""

    max_money_share: float | None = Field(default=None, ge=0, le=1)
    """Each value receives at most this fraction of the money spent (needs a budget)."""

    @field_validator("values")
    @classmethod
    def _values_listed_once(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        if not values:
            raise ValueError("values must not be empty; leave it out to mean every value")
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise ValueError(f"value '{value}' is listed twice")
            seen.add(value)
        return values

    @field_validator("min_money_share", "max_money_share")
    @classmethod
    def _share_is_exact(cls, share: float | None) -> float | None:
        if share is not None and Fraction(str(share)).denominator > 10**MAX_SHARE_DECIMALS:
            raise ValueError(
                f"a money share must have at most {MAX_SHARE_DECIMALS} decimal places; "
                f"got {share}"
            )
        return share

    @model_validator(mode="after")
    def _min_not_above_max(self) -> GroupRule:
        if (
            self.min_count is not None
            and self.max_count is not None
            and self.min_count > self.max_count
        ):
            raise ValueError(
                f"min_count ({self.min_count}) must not exceed max_count ({self.max_count})"
            )
        if (
            self.min_money_share is not None
            and self.max_money_share is not None
            and self.min_money_share > self.max_money_share
        ):
            raise ValueError(
                f"min_money_share ({self.min_money_share}) must not exceed "
                f"max_money_share ({self.max_money_share})"
            )
        return self

    @property
    def has_money_share(self) -> bool:
        return self.min_money_share is not None or self.max_money_share is not None


class SolverSettings(BaseModel):
    """How CP-SAT runs. One worker with a fixed seed is repeatable."""

    model_config = _MODEL_CONFIG

    time_limit: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    """Seconds allowed to each of the two solves (merit, then tie-break)."""

    seed: int = 0
    """CP-SAT's random seed."""

    workers: int = Field(default=1, ge=1)
    """CP-SAT search workers; more than one may be faster but is not repeatable."""


class AllocationConfig(BaseModel):
    """The ``select:`` block of a stage: what to maximise under which limits.

    >>> AllocationConfig(budget=1_300_000, grant={"min": 20_000, "max": 100_000},
    ...                  count={"max": 19}).count.max
    19
    """

    model_config = _MODEL_CONFIG

    merit: str = Field(default="score", min_length=1)
    """Candidate column holding merit (a 0-100 score; missing: not ranked)."""

    objective: Literal["total_merit"] = "total_merit"
    """What is maximised: ``total_merit`` is the sum of the merit of the selected."""

    budget: int | None = Field(default=None, ge=0)
    """Money to allocate, in the programme currency. Absent: a count-only
    selection (places), where no money is allocated."""

    amount: Literal["requested"] = "requested"
    """Amount policy: ``requested`` grants the requested amount or nothing."""

    grant: GrantBounds = GrantBounds()
    """Bounds on one grant (needs a budget)."""

    count: Bounds = Bounds()
    """Bounds on the number selected (for example at most 110 places)."""

    min_merit: float | None = Field(default=None, allow_inf_nan=False)
    """Candidates with a lower merit cannot be selected."""

    groups: list[GroupRule] = []
    """Limits per value of categorical columns (region, domain, ...)."""

    solver: SolverSettings = SolverSettings()
    """How CP-SAT runs."""

    @model_validator(mode="after")
    def _money_needs_budget(self) -> AllocationConfig:
        if self.budget is not None:
            return self
        if self.grant.is_set:
            raise ValueError(
                "grant bounds need a budget: set budget, or remove grant for a "
                "count-only selection"
            )
        for rule in self.groups:
            if rule.has_money_share:
                raise ValueError(
                    f"money shares (group '{rule.column}') need a budget: set budget, "
                    "or use min_count/max_count for a count-only selection"
                )
        return self

    @property
    def allocates_money(self) -> bool:
        return self.budget is not None


# ---------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AllocationResult:
    """What :func:`allocate` decided, with the proof and the reasons.

    ``table`` has one row per candidate, in the input (rank) order:
    ``application_id``, ``selected`` (bool), ``amount`` (int64, 0 when not
    selected or when no money is allocated), ``reason`` (a code of
    :data:`REASON_CODES`), ``reason_fr`` and ``reason_en``.

    ``objective`` and ``best_bound`` are in merit units (the sum of the merit
    of the selected, each merit rounded to 1/MERIT_SCALE); ``gap`` is the
    relative distance between them, 0.0 when the optimum is proven.
    ``groups`` maps each group column to ``{value: {"count", "money",
    "candidates"}}`` where ``candidates`` counts every candidate of the value.
    ``tie_break`` is the status of the tie-break solve ("OPTIMAL" when the
    rank-order preference is proven among the sets of best merit).
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
            "objective": self.objective,
            "best_bound": self.best_bound,
            "gap": self.gap,
            "tie_break": self.tie_break,
            "budget": self.budget,
            "currency": self.currency,
            "spend": self.spend,
            "count": self.count,
            "candidates": len(self.table),
            "groups": {
                column: {value: dict(stats) for value, stats in values.items()}
                for column, values in self.groups.items()
            },
            "reasons": {code: int(reasons.get(code, 0)) for code in REASON_CODES},
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
    """Select the candidates that maximise total merit under the constraints.

    ``candidates`` has one row per candidate, best first: ``application_id``,
    the merit column (NaN: not ranked, never selected), ``requested_amount``
    (integer; needed when a budget is set) and every column a group rule
    names. ``group_values`` declares the values of group columns (for rules
    without ``values``), so that a value with no candidate still gets its
    minimum checked.

    Tie-break rule: among the selections of maximal total merit, the one that
    maximises ``sum(N - i for selected i)`` is returned, where ``i`` is the
    0-based row position and ``N`` the number of rows; this prefers candidates
    earlier in rank order. It is solved as a second CP-SAT solve with total
    merit held at least at the first solve's value. (Not yet a full
    lexicographic key: two sets with equal merit and equal sum of positions
    remain tied, and the fixed seed decides.)

    Raises :class:`InputDataError` for missing or malformed columns,
    :class:`InfeasibleError` with an explanation when the constraints cannot
    all hold, and :class:`SolverLimitError` when no solution is found in time.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"application_id": ["a", "b", "c"],
    ...                    "score": [80.0, 80.0, 60.0], "region": ["N", "N", "S"]})
    >>> config = AllocationConfig(count={"max": 2},
    ...                           groups=[{"column": "region", "min_count": 1}])
    >>> allocate(df, config).selected_ids
    ['a', 'c']
    """
    started = time.perf_counter()
    data = _prepare(candidates, config, group_values or {}, currency)
    _check_feasibility(data, config, currency)
    model = _AllocationModel(data, config)
    solution = model.solve(config.solver, currency)
    result = _result(data, config, solution, currency, time.perf_counter() - started)
    return result


# ---------------------------------------------------------------------------
# Data: the candidates as arrays, the groups, and who cannot be selected
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """One value of one group rule, with its bounds as exact numbers."""

    rule: int
    column: str
    value: str
    members: np.ndarray  # row positions of the candidates with this value
    min_count: int | None
    max_count: int | None
    min_share: Fraction | None
    max_share: Fraction | None

    @property
    def label(self) -> str:
        return f"{self.column} '{self.value}'"

    @property
    def label_fr(self) -> str:
        return f"{self.column} « {self.value} »"


@dataclass(frozen=True)
class _Data:
    """The candidates as arrays indexed by row position (0 = best ranked)."""

    ids: list[Any]
    merit: np.ndarray  # float, NaN when not ranked
    merit_scaled: np.ndarray  # int64, merit * MERIT_SCALE rounded; 0 when not ranked
    amount: np.ndarray  # int64, the request; zeros in a count-only selection
    blocked: list[tuple[str, str, str] | None]  # (code, fr, en) when not selectable
    selectable: np.ndarray  # bool
    groups: tuple[_Group, ...]
    labels: dict[str, np.ndarray]  # group column -> value per row (None when missing)

    @property
    def n(self) -> int:
        return len(self.ids)

    def cheapest(self, rows: np.ndarray, k: int) -> int:
        """Sum of the k smallest requests among the selectable of ``rows``."""
        requests = np.sort(self.amount[rows[self.selectable[rows]]])
        return int(requests[:k].sum())


def _prepare(
    candidates: pd.DataFrame,
    config: AllocationConfig,
    group_values: Mapping[str, Sequence[str]],
    currency: str,
) -> _Data:
    _check_columns(candidates, config)
    n = len(candidates)
    ids = _application_ids(candidates)
    merit = _merit(candidates, config.merit)
    if config.allocates_money:
        amount = _requested_amounts(candidates)
    else:
        amount = np.zeros(n, dtype=np.int64)
    merit_scaled = np.where(np.isnan(merit), 0, np.rint(merit * MERIT_SCALE)).astype(np.int64)

    blocked = [_blocked_reason(merit[i], int(amount[i]), config, currency) for i in range(n)]
    selectable = np.array([reason is None for reason in blocked], dtype=bool)

    labels: dict[str, np.ndarray] = {}
    for rule in config.groups:
        if rule.column not in labels:
            labels[rule.column] = np.array(
                [None if _missing(v) else str(v) for v in candidates[rule.column]],
                dtype=object,
            )
    groups = tuple(_groups(config, labels, group_values))
    return _Data(ids, merit, merit_scaled, amount, blocked, selectable, groups, labels)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _check_columns(candidates: pd.DataFrame, config: AllocationConfig) -> None:
    needed = {"application_id": "the application id", config.merit: "the merit column"}
    if config.allocates_money:
        needed["requested_amount"] = "needed when a budget is set"
    for rule in config.groups:
        needed.setdefault(rule.column, "named by a group rule")
    available = [str(c) for c in candidates.columns]
    shown = ", ".join(f"'{c}'" for c in available) or "none"
    problems = [
        Problem(
            message=f"missing column '{column}' ({why}); the columns are {shown}",
            field=column,
            suggestion=did_you_mean(column, available),
            code="missing_column",
        )
        for column, why in needed.items()
        if column not in candidates.columns
    ]
    if problems:
        raise InputDataError(problems=problems)


def _some(values: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(f"'{v}'" for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _application_ids(candidates: pd.DataFrame) -> list[Any]:
    column = candidates["application_id"]
    if column.isna().any():
        raise InputDataError(
            f"{int(column.isna().sum())} candidate(s) have no application_id",
            field="application_id",
        )
    duplicated = column[column.duplicated()].astype(str).unique().tolist()
    if duplicated:
        raise InputDataError(
            f"application_id must be unique; repeated: {_some(duplicated)}",
            field="application_id",
        )
    return column.tolist()


def _merit(candidates: pd.DataFrame, name: str) -> np.ndarray:
    raw = candidates[name]
    numeric = pd.to_numeric(raw, errors="coerce")
    bad = numeric.isna() & raw.notna()
    if bad.any():
        ids = candidates.loc[bad, "application_id"].astype(str).tolist()
        raise InputDataError(
            f"merit must be a number (or empty when not ranked); not a number for {_some(ids)}",
            field=name,
        )
    merit = numeric.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(merit).any():
        ids = candidates.loc[np.isinf(merit), "application_id"].astype(str).tolist()
        raise InputDataError(f"merit must be finite; infinite for {_some(ids)}", field=name)
    return merit


def _requested_amounts(candidates: pd.DataFrame) -> np.ndarray:
    raw = candidates["requested_amount"]
    numeric = pd.to_numeric(raw, errors="coerce")
    if pd.api.types.is_integer_dtype(numeric.dtype) and not numeric.isna().any():
        values = numeric.to_numpy(dtype=np.int64)
    else:
        as_float = numeric.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(as_float) | (as_float != np.round(as_float))
        if bad.any():
            ids = candidates.loc[bad, "application_id"].astype(str).tolist()
            raise InputDataError(
                "requested_amount must be a whole amount of money; "
                f"missing or not whole for {_some(ids)}",
                field="requested_amount",
            )
        values = as_float.astype(np.int64)
    if (values < 0).any():
        ids = candidates.loc[values < 0, "application_id"].astype(str).tolist()
        raise InputDataError(
            f"requested_amount must not be negative; negative for {_some(ids)}",
            field="requested_amount",
        )
    return values


def _groups(
    config: AllocationConfig,
    labels: Mapping[str, np.ndarray],
    group_values: Mapping[str, Sequence[str]],
) -> list[_Group]:
    groups = []
    for r, rule in enumerate(config.groups):
        column_labels = labels[rule.column]
        declared = group_values.get(rule.column)
        if rule.values is not None:
            values = list(rule.values)
            if declared is not None:
                for value in values:
                    if value not in declared:
                        raise ConfigError(
                            f"group rule on '{rule.column}' names value '{value}', "
                            "which is not one of its declared values",
                            field=f"groups[{r}].values",
                            suggestion=did_you_mean(value, declared),
                        )
        elif declared is not None:
            values = list(dict.fromkeys(str(v) for v in declared))
        else:
            values = sorted({v for v in column_labels if v is not None})
        for value in values:
            groups.append(
                _Group(
                    rule=r,
                    column=rule.column,
                    value=value,
                    members=np.flatnonzero(column_labels == value),
                    min_count=rule.min_count,
                    max_count=rule.max_count,
                    min_share=_fraction(rule.min_money_share),
                    max_share=_fraction(rule.max_money_share),
                )
            )
    return groups


def _fraction(share: float | None) -> Fraction | None:
    # Fraction(str(0.4)) is 2/5 exactly; Fraction(0.4) would be the binary float.
    return None if share is None else Fraction(str(share))


def _blocked_reason(
    merit: float, amount: int, config: AllocationConfig, currency: str
) -> tuple[str, str, str] | None:
    """Why a candidate cannot be selected at all, or None when it can."""
    if math.isnan(merit):
        return (
            "not_ranked",
            "Non retenu : aucune note de mérite.",
            "Not selected: no merit score.",
        )
    if config.min_merit is not None and merit < config.min_merit:
        return (
            "below_min_merit",
            f"Non retenu : le mérite {_num(merit, 'fr')} est inférieur au minimum de "
            f"{_num(config.min_merit, 'fr')}.",
            f"Not selected: merit {_num(merit, 'en')} is below the minimum of "
            f"{_num(config.min_merit, 'en')}.",
        )
    grant = config.grant
    if not config.allocates_money:
        return None
    fr_request = f"Non retenu : la demande de {_money(amount, currency, 'fr')}"
    en_request = f"Not selected: the request of {_money(amount, currency, 'en')}"
    if grant.min is not None and amount < grant.min:
        return (
            "amount_out_of_bounds",
            f"{fr_request} est inférieure à la subvention minimale de "
            f"{_money(grant.min, currency, 'fr')}.",
            f"{en_request} is below the minimum grant of {_money(grant.min, currency, 'en')}.",
        )
    if grant.max is not None and amount > grant.max:
        return (
            "amount_out_of_bounds",
            f"{fr_request} est supérieure à la subvention maximale de "
            f"{_money(grant.max, currency, 'fr')}.",
            f"{en_request} is above the maximum grant of {_money(grant.max, currency, 'en')}.",
        )
    if amount % grant.step:
        return (
            "amount_out_of_bounds",
            f"{fr_request} n'est pas un multiple de {_money(grant.step, currency, 'fr')}.",
            f"{en_request} is not a multiple of {_money(grant.step, currency, 'en')}.",
        )
    return None


# ---------------------------------------------------------------------------
# Infeasibility: cheap necessary checks that name the culprit
# ---------------------------------------------------------------------------


def _check_feasibility(data: _Data, config: AllocationConfig, currency: str) -> None:
    """Raise InfeasibleError when a necessary condition visibly fails.

    Each check is a *necessary* condition of feasibility (a failed check proves
    that no selection exists), so running them before the solver never rejects
    a feasible instance; the solver still decides every case they miss.
    """

    def fail(message: str, suggestion: str, code: str) -> None:
        raise InfeasibleError(message, suggestion=suggestion, code=code)

    def money(amount: int) -> str:
        return _money(amount, currency, "en")

    everyone = np.arange(data.n)
    n_selectable = int(data.selectable.sum())
    count_min = config.count.min or 0
    by_rule: dict[int, list[_Group]] = {}
    for group in data.groups:
        by_rule.setdefault(group.rule, []).append(group)

    # Enough selectable candidates overall and in every group.
    if count_min > n_selectable:
        fail(
            f"at least {count_min} must be selected but {_can_be_selected(n_selectable)}",
            "lower count.min, or see the reasons of the candidates that cannot be selected",
            "count_min",
        )
    for group in data.groups:
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
            f"at least {required} grants of at least {money(config.grant.min)} need "
            f"{money(required * config.grant.min)}; the budget is {money(budget)}",
            "raise the budget, or lower grant.min or the minimum counts",
            "budget_below_minimum_grants",
        )
    cost = data.cheapest(everyone, count_min)
    if cost > budget:
        fail(
            f"at least {count_min} must be selected, and the {count_min} smallest requests "
            f"add up to {money(cost)}; the budget is {money(budget)}",
            "raise the budget or lower count.min",
            "budget_below_count_min",
        )
    for rule, groups in by_rule.items():
        column = config.groups[rule].column
        cost = sum(data.cheapest(g.members, g.min_count or 0) for g in groups)
        if cost > budget:
            fail(
                f"the minimums for {column} need at least {money(cost)} (the smallest "
                f"requests of each value); the budget is {money(budget)}",
                f"raise the budget or lower min_count for '{column}'",
                "budget_below_group_minimums",
            )

    # A group's own minimum count against its maximum share of the budget.
    for group in data.groups:
        if group.max_share is None or not group.min_count:
            continue
        cost = data.cheapest(group.members, group.min_count)
        share = group.max_share
        if cost * share.denominator > share.numerator * budget:
            fail(
                f"{group.label} needs at least {group.min_count} selected, which costs at "
                f"least {money(cost)}, more than its maximum share ({_percent(share, 'en')}) "
                f"of the budget of {money(budget)}",
                f"raise max_money_share for '{group.column}' or the budget, or lower its "
                "min_count",
                "group_share_below_minimum",
            )

    # Money shares, once some money must be spent.
    selectable_requests = data.amount[data.selectable]
    if required == 0 or not len(selectable_requests) or selectable_requests.min() == 0:
        return
    for group in data.groups:
        if group.min_share and not data.selectable[group.members].any():
            fail(
                f"{group.label} must receive at least {_percent(group.min_share, 'en')} of "
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
                f"{_percent(total_share, 'en')}, more than all of the money spent",
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
                    f"{_percent(total_share, 'en')}, less than all of the money spent",
                    f"raise max_money_share for '{column}'",
                    "group_max_shares_below_all",
                )


def _covers(data: _Data, groups: Sequence[_Group], *, positive_only: bool) -> bool:
    """True when every selectable candidate (with a positive request, if asked)
    belongs to one of these groups."""
    inside = np.zeros(data.n, dtype=bool)
    for group in groups:
        inside[group.members] = True
    concerned = data.selectable & (data.amount > 0) if positive_only else data.selectable
    return bool(inside[concerned].all())


def _can_be_selected(k: int) -> str:
    if k == 0:
        return "no candidate can be selected"
    if k == 1:
        return "only 1 candidate can be selected"
    return f"only {k} candidates can be selected"


def _constraints_in_force(config: AllocationConfig, currency: str) -> list[str]:
    """The constraints of a configuration, in words, for an infeasibility message."""

    def money(amount: int) -> str:
        return _money(amount, currency, "en")

    described = []
    if config.budget is not None:
        described.append(f"budget of {money(config.budget)}")
    grant = config.grant
    if grant.min is not None:
        described.append(f"grants of at least {money(grant.min)}")
    if grant.max is not None:
        described.append(f"grants of at most {money(grant.max)}")
    if grant.step != 1:
        described.append(f"grants in steps of {money(grant.step)}")
    if config.min_merit is not None:
        described.append(f"merit of at least {_num(config.min_merit, 'en')}")
    if config.count.min is not None:
        described.append(f"at least {config.count.min} selected")
    if config.count.max is not None:
        described.append(f"at most {config.count.max} selected")
    for rule in config.groups:
        parts = []
        if rule.min_count is not None:
            parts.append(f"at least {rule.min_count} selected")
        if rule.max_count is not None:
            parts.append(f"at most {rule.max_count} selected")
        if rule.min_money_share is not None:
            share = _percent(_fraction(rule.min_money_share), "en")
            parts.append(f"at least {share} of the money")
        if rule.max_money_share is not None:
            share = _percent(_fraction(rule.max_money_share), "en")
            parts.append(f"at most {share} of the money")
        if parts:
            scope = (
                "each value"
                if rule.values is None
                else "each of " + ", ".join(f"'{v}'" for v in rule.values)
            )
            described.append(f"{rule.column} ({scope}): {', '.join(parts)}")
    return described


# ---------------------------------------------------------------------------
# The CP-SAT model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Solution:
    selected: np.ndarray  # bool per row
    status: str
    merit_scaled: int
    best_bound_scaled: float
    tie_break: str


def _solver_for(settings: SolverSettings) -> cp_model.CpSolver:
    """A CP-SAT solver with the parameters chosen for this model.

    ``keep_all_feasible_solutions_in_presolve`` with ``cp_model_probing_level=0``
    is kept because it measured fastest. Synthetic TAMURI-like instances (five
    regions, min 2 per region, max money share 0.4, budget for ~2%; one
    worker, 2 cores), seconds for the merit solve + the tie-break solve, all
    OPTIMAL: 2,400 candidates 0.2-0.4 + 0.15-0.2 (default presolve 0.8-1.2 +
    0.8-1.0); 20,000 candidates 2-3 + 1.4-1.9 (default 10-12 + 8-11, which
    the default 10 s limit would cut). Either setting alone is in between.
    """
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = settings.time_limit
    solver.parameters.num_workers = settings.workers
    solver.parameters.random_seed = settings.seed
    solver.parameters.keep_all_feasible_solutions_in_presolve = True
    solver.parameters.cp_model_probing_level = 0
    return solver


class _AllocationModel:
    """One boolean per selectable candidate and the constraints over them.

    Built in sections as in the OR-Tools samples: variables, constraints,
    objective; :meth:`solve` runs the merit solve then the tie-break solve.
    Candidates that cannot be selected get no variable.
    """

    def __init__(self, data: _Data, config: AllocationConfig) -> None:
        self.data = data
        self.config = config
        self.model = cp_model.CpModel()
        self.model.name = "allocation"

        # Variables: x[i] is 1 when candidate i (row position) is selected.
        self.rows = np.flatnonzero(data.selectable)
        self.x: dict[int, cp_model.IntVar] = {
            int(i): self.model.new_bool_var(f"x[{i}]({data.ids[i]})") for i in self.rows
        }
        self.variables = [self.x[int(i)] for i in self.rows]
        self.spend = cp_model.LinearExpr.weighted_sum(
            self.variables, data.amount[self.rows].tolist()
        )

        self._add_budget()
        self._add_count()
        self._add_groups()

        # Objective: maximise the total scaled merit of the selected.
        self.merit = cp_model.LinearExpr.weighted_sum(
            self.variables, data.merit_scaled[self.rows].tolist()
        )
        self.model.maximize(self.merit)

    def _sum(self, rows: np.ndarray, weights: np.ndarray | None = None) -> cp_model.LinearExpr:
        rows = rows[self.data.selectable[rows]]
        variables = [self.x[int(i)] for i in rows]
        if weights is None:
            return cp_model.LinearExpr.sum(variables)
        return cp_model.LinearExpr.weighted_sum(variables, weights[rows].tolist())

    def _add_budget(self) -> None:
        # Budget: the requested amounts of the selected fit in the budget.
        if self.config.budget is not None:
            self.model.add(self.spend <= self.config.budget)

    def _add_count(self) -> None:
        # Count: the number selected within its bounds.
        count = cp_model.LinearExpr.sum(self.variables)
        if self.config.count.min is not None:
            self.model.add(count >= self.config.count.min)
        if self.config.count.max is not None:
            self.model.add(count <= self.config.count.max)

    def _add_groups(self) -> None:
        # Groups: count bounds per value, and money shares as exact fractions,
        # share = N/D:  D * money_g <= N * spend  (max)  and  >= (min).
        for group in self.data.groups:
            count = self._sum(group.members)
            if group.min_count is not None:
                self.model.add(count >= group.min_count)
            if group.max_count is not None:
                self.model.add(count <= group.max_count)
            if group.min_share is None and group.max_share is None:
                continue
            money = self._sum(group.members, self.data.amount)
            if group.min_share is not None:
                share = group.min_share
                self.model.add(share.denominator * money >= share.numerator * self.spend)
            if group.max_share is not None:
                share = group.max_share
                self.model.add(share.denominator * money <= share.numerator * self.spend)

    def solve(self, settings: SolverSettings, currency: str) -> _Solution:
        """Maximise merit, then, merit held, prefer rows earlier in rank order.

        Call once: the tie-break solve adds the merit floor to the model.
        """
        # Solve 1: total merit.
        solver = _solver_for(settings)
        status = solver.solve(self.model)
        if status == cp_model.INFEASIBLE:
            constraints = "; ".join(_constraints_in_force(self.config, currency))
            raise InfeasibleError(
                f"no selection satisfies all the constraints together ({constraints})",
                suggestion="relax one of them: raise the budget or a maximum, or lower a "
                "minimum or a minimum share",
                code="infeasible",
            )
        if status == cp_model.UNKNOWN:
            raise SolverLimitError(
                f"the solver found no selection within the time limit of "
                f"{settings.time_limit:g} s",
                field="solver.time_limit",
                suggestion="raise solver.time_limit",
                code="time_limit",
            )
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            # MODEL_INVALID would be a bug of this module, not a user mistake.
            raise RuntimeError(
                f"CP-SAT returned {solver.status_name(status)}: {self.model.validate()}"
            )
        first = self._values(solver)
        merit_found = int(round(solver.objective_value))
        bound = float(solver.best_objective_bound)

        # Solve 2: tie-break. Merit at least what solve 1 found, then maximise
        # sum(N - i) over the selected, i the row position.
        self.model.add(self.merit >= merit_found)
        n = self.data.n
        self.model.maximize(
            cp_model.LinearExpr.weighted_sum(self.variables, (n - self.rows).tolist())
        )
        for var, value in zip(self.variables, first[self.rows]):
            self.model.add_hint(var, bool(value))
        solver = _solver_for(settings)
        tie_status = solver.solve(self.model)
        if tie_status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            selected = self._values(solver)
            tie_break = solver.status_name(tie_status)
        else:
            # Time ran out before the tie-break found a solution: keep solve 1's.
            selected = first
            tie_break = "NOT_SOLVED"
        merit = int(self.data.merit_scaled[selected].sum())
        proven = status == cp_model.OPTIMAL or merit >= bound
        return _Solution(
            selected=selected,
            status="OPTIMAL" if proven else "FEASIBLE",
            merit_scaled=merit,
            best_bound_scaled=float(merit) if proven else bound,
            tie_break=tie_break,
        )

    def _values(self, solver: cp_model.CpSolver) -> np.ndarray:
        selected = np.zeros(self.data.n, dtype=bool)
        if len(self.rows):
            values = solver.boolean_values(self.variables)
            selected[self.rows] = np.asarray(values, dtype=bool)
        return selected


# ---------------------------------------------------------------------------
# Result: amounts, group totals and a reason for every candidate
# ---------------------------------------------------------------------------


def _result(
    data: _Data,
    config: AllocationConfig,
    solution: _Solution,
    currency: str,
    wall_time: float,
) -> AllocationResult:
    selected = solution.selected
    amount = np.where(selected, data.amount, 0).astype(np.int64)
    spend = int(amount.sum())
    count = int(selected.sum())

    group_count = [int(selected[g.members].sum()) for g in data.groups]
    group_money = [int(amount[g.members].sum()) for g in data.groups]
    memberships: list[list[int]] = [[] for _ in range(data.n)]
    for k, group in enumerate(data.groups):
        for i in group.members:
            memberships[int(i)].append(k)

    reasons = []
    for i in range(data.n):
        reasons.append(
            _reason(i, data, config, selected, spend, count, group_count, group_money,
                    memberships[i], currency)
        )
    table = pd.DataFrame(
        {
            "application_id": pd.Series(data.ids, dtype=object),
            "selected": pd.Series(selected, dtype=bool),
            "amount": pd.Series(amount, dtype=np.int64),
            "reason": [r[0] for r in reasons],
            "reason_fr": [r[1] for r in reasons],
            "reason_en": [r[2] for r in reasons],
        }
    )

    groups: dict[str, dict[str, dict[str, int]]] = {}
    for k, group in enumerate(data.groups):
        groups.setdefault(group.column, {})[group.value] = {
            "count": group_count[k],
            "money": group_money[k],
            "candidates": len(group.members),
        }

    bound = solution.best_bound_scaled
    gap = 0.0 if solution.status == "OPTIMAL" or bound == 0 else (
        abs(bound - solution.merit_scaled) / abs(bound)
    )
    return AllocationResult(
        table=table,
        status=solution.status,
        objective=solution.merit_scaled / MERIT_SCALE,
        best_bound=bound / MERIT_SCALE,
        gap=gap,
        spend=spend,
        count=count,
        budget=config.budget,
        currency=currency,
        groups=groups,
        tie_break=solution.tie_break,
        wall_time=wall_time,
    )


def _reason(
    i: int,
    data: _Data,
    config: AllocationConfig,
    selected: np.ndarray,
    spend: int,
    count: int,
    group_count: Sequence[int],
    group_money: Sequence[int],
    memberships: Sequence[int],
    currency: str,
) -> tuple[str, str, str]:
    """(code, French, English) for one candidate, checked in REASON_CODES order."""
    blocked = data.blocked[i]
    if blocked is not None:
        return blocked
    merit_fr, merit_en = _num(data.merit[i], "fr"), _num(data.merit[i], "en")
    request = int(data.amount[i])
    if selected[i]:
        if config.allocates_money:
            return (
                "selected",
                f"Retenu : subvention de {_money(request, currency, 'fr')} (mérite {merit_fr}).",
                f"Selected: grant of {_money(request, currency, 'en')} (merit {merit_en}).",
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
        if group.max_count is not None and group_count[k] >= group.max_count:
            return (
                "group_cap",
                f"Non retenu : {group.label_fr} a déjà son maximum de "
                f"{group.max_count} retenus.",
                f"Not selected: {group.label} already has its maximum of "
                f"{group.max_count} selected.",
            )
        share = group.max_share
        if share is not None and (group_money[k] + request) * share.denominator > (
            share.numerator * (spend + request)
        ):
            return (
                "group_cap",
                f"Non retenu : ses {_money(request, currency, 'fr')} porteraient "
                f"{group.label_fr} au-delà de sa part maximale de {_percent(share, 'fr')} "
                "du montant attribué.",
                f"Not selected: its {_money(request, currency, 'en')} would take "
                f"{group.label} above its maximum share of {_percent(share, 'en')} of the "
                "money.",
            )
    if config.budget is not None and config.budget - spend < request:
        left = config.budget - spend
        if left == 0:
            return (
                "budget",
                f"Non retenu : le budget de {_money(config.budget, currency, 'fr')} est "
                f"entièrement attribué (demande : {_money(request, currency, 'fr')}).",
                f"Not selected: the budget of {_money(config.budget, currency, 'en')} is "
                f"fully allocated (request: {_money(request, currency, 'en')}).",
            )
        return (
            "budget",
            f"Non retenu : sa demande de {_money(request, currency, 'fr')} dépasse les "
            f"{_money(left, currency, 'fr')} restants du budget.",
            f"Not selected: its request of {_money(request, currency, 'en')} exceeds the "
            f"{_money(left, currency, 'en')} left in the budget.",
        )
    return (
        "outranked",
        f"Non retenu : il respecte les limites restantes, mais la sélection de plus grand "
        f"mérite total ne l'inclut pas (mérite {merit_fr}).",
        f"Not selected: it fits within the remaining limits, but the selection with the "
        f"highest total merit leaves it out (merit {merit_en}).",
    )


# ---------------------------------------------------------------------------
# Formatting numbers in French and English
# ---------------------------------------------------------------------------


def _money(amount: int, currency: str, lang: Literal["fr", "en"]) -> str:
    """35000 -> "35 000 MAD" (fr) or "35,000 MAD" (en)."""
    digits = f"{amount:,}"
    if lang == "fr":
        digits = digits.replace(",", " ")
    return f"{digits} {currency}"


def _num(value: float, lang: Literal["fr", "en"]) -> str:
    """A score with at most two decimals: 84.5 -> "84.5" (en), "84,5" (fr)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "fr" else text


def _percent(share: Fraction | None, lang: Literal["fr", "en"]) -> str:
    """2/5 -> "40%" (en), "40 %" (fr)."""
    value = _num(float((share or Fraction(0)) * 100), lang)
    return f"{value} %" if lang == "fr" else f"{value}%"
