"""The ``select:`` block of a stage (also the content of an allocation file).

Every key is declared here, with its meaning in its docstring; unknown keys are
errors with a "did you mean" suggestion (pydantic ``extra="forbid"``), and the
combinations that make no sense are refused with a message that says what to
change. :mod:`selection.allocation` re-exports these classes.

>>> AllocationConfig(budget=1_300_000, grant={"min": 20_000, "max": 100_000},
...                  count={"max": 19}, objective="rank_order").objective
'rank_order'
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "MERIT_SCALE",
    "MAX_SHARE_DECIMALS",
    "OBJECTIVES",
    "AMOUNT_POLICIES",
    "Bounds",
    "GrantBounds",
    "GroupRule",
    "ResourceRule",
    "SolverSettings",
    "ExplainSettings",
    "AllocationConfig",
]

MERIT_SCALE = 1000
"""Merit (a 0-100 score) is multiplied by this and rounded to an int for CP-SAT."""

MAX_SHARE_DECIMALS = 6
"""Shares are exact fractions with at most this many decimal places, so that the
share constraints keep small integer coefficients."""

OBJECTIVES = ("total_merit", "merit_per_money", "rank_order")
"""The objective policies, in the order the summary compares them."""

AMOUNT_POLICIES = ("requested", "capped", "partial", "tiers", "proportional")

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _exact_share(share: float | None, what: str = "a share") -> float | None:
    if share is not None and Fraction(str(share)).denominator > 10**MAX_SHARE_DECIMALS:
        raise ValueError(
            f"{what} must have at most {MAX_SHARE_DECIMALS} decimal places; got {share}"
        )
    return share


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
    """Balance over a categorical column: limits on the selected of each value.

    Every bound applies to each listed value separately: ``column: region,
    min_count: 2`` asks for at least two selected in every region. With a
    ``penalty`` the rule is soft: it may be broken, and each unit of violation
    costs ``penalty`` merit points in the objective (a unit is one selected
    candidate for count bounds and count shares, one unit of money for money
    shares). Without it the rule is hard.
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

    min_count_share: float | None = Field(default=None, ge=0, le=1)
    """Each value has at least this fraction of the number selected."""

    max_count_share: float | None = Field(default=None, ge=0, le=1)
    """Each value has at most this fraction of the number selected."""

    min_money_share: float | None = Field(default=None, ge=0, le=1)
    """Each value receives at least this fraction of the money spent (needs a budget)."""

    max_money_share: float | None = Field(default=None, ge=0, le=1)
    """Each value receives at most this fraction of the money spent (needs a budget)."""

    penalty: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Soft rule: merit points lost per unit of violation. Absent: a hard rule."""

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
    def _money_share_is_exact(cls, share: float | None) -> float | None:
        return _exact_share(share, "a money share")

    @field_validator("min_count_share", "max_count_share")
    @classmethod
    def _count_share_is_exact(cls, share: float | None) -> float | None:
        return _exact_share(share, "a count share")

    @field_validator("penalty")
    @classmethod
    def _penalty_is_exact(cls, penalty: float | None) -> float | None:
        if penalty is not None and (Fraction(str(penalty)) * MERIT_SCALE).denominator != 1:
            raise ValueError(
                f"a penalty must be a multiple of 1/{MERIT_SCALE} merit point; got {penalty}"
            )
        return penalty

    @model_validator(mode="after")
    def _min_not_above_max(self) -> GroupRule:
        for low, high in (
            ("min_count", "max_count"),
            ("min_count_share", "max_count_share"),
            ("min_money_share", "max_money_share"),
        ):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low} ({a}) must not exceed {high} ({b})")
        if self.penalty is not None and not self.bounds:
            raise ValueError(
                "a penalty needs a bound to soften: add min_count, max_count or a share"
            )
        return self

    @property
    def bounds(self) -> list[str]:
        """The names of the bounds this rule sets."""
        names = ("min_count", "max_count", "min_count_share", "max_count_share",
                 "min_money_share", "max_money_share")
        return [name for name in names if getattr(self, name) is not None]

    @property
    def has_money_share(self) -> bool:
        return self.min_money_share is not None or self.max_money_share is not None

    @property
    def soft(self) -> bool:
        return self.penalty is not None


class ResourceRule(BaseModel):
    """A numeric column consumed by the selected against a capacity.

    >>> ResourceRule(column="coaching_hours", capacity=400).capacity
    400
    """

    model_config = _MODEL_CONFIG

    column: str = Field(min_length=1)
    """Candidate column holding what each candidate consumes (whole numbers >= 0)."""

    capacity: int = Field(ge=0)
    """The selected consume at most this much in total."""


class SolverSettings(BaseModel):
    """How CP-SAT runs. One worker with a fixed seed is repeatable; the
    tie-break makes the selection the same with any seed or worker count."""

    model_config = _MODEL_CONFIG

    time_limit: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    """Seconds allowed to each solve (the objective, each tie-break step, each
    explanation re-solve)."""

    seed: int = 0
    """CP-SAT's random seed."""

    workers: int = Field(default=1, ge=1)
    """CP-SAT search workers; more may be faster on large stages."""

    tie_break: Literal["lexicographic", "rank_points"] = "lexicographic"
    """``lexicographic``: ties are broken down to a unique selection, proven
    (the same whatever the seed or workers). ``rank_points``: stop after the
    rank points (one solve less, faster on large stages; a remaining tie, rare,
    may then depend on the seed); ``tie_break`` then reads ``RANK_POINTS``."""

    reduce: Literal["auto", "always", "never"] = "auto"
    """Fix the candidates that every optimal selection takes, or that none
    takes, from the LP bound before the search (the answer is the same; see
    :mod:`selection.allocation_reduce`). ``auto``: on stages of 200 candidates
    or more (the whole model is searched when no trial is conclusive);
    ``always``: on every stage; ``never``: always search the whole model."""


class ExplainSettings(BaseModel):
    """How much explaining :func:`~selection.allocation.allocate` does after the solve.

    Reasons and the extra-budget counterfactual are cheap and always given.
    The rest costs exact re-solves: the merit counterfactual one per
    candidate (for the ``counterfactuals`` best-ranked candidates not
    selected), the constraint costs one per constraint group, the comparison
    of objectives one full solve per other objective. Switch everything off
    (``counterfactuals: 0, costs: false, compare_objectives: false``) to time
    the selection alone.
    """

    model_config = _MODEL_CONFIG

    counterfactuals: int = Field(default=30, ge=0)
    """The merit counterfactual is computed for at most this many candidates
    not selected, the best ranked first (those closest to the line); the
    others get an empty value and a note saying why."""

    exact_up_to: int = Field(default=100, ge=0)
    """``costs`` and ``compare_objectives`` left unset are on in stages with at
    most this many selectable candidates, off in larger ones."""

    costs: bool | None = None
    """Compute the cost of each constraint group and the price of balance.
    None: on in stages of at most ``exact_up_to`` selectable candidates."""

    compare_objectives: bool | None = None
    """Also solve with the other objectives and report what they would fund.
    None: on in stages of at most ``exact_up_to`` selectable candidates."""


class AllocationConfig(BaseModel):
    """The ``select:`` block of a stage: what to maximise under which limits.

    >>> AllocationConfig(budget=1_300_000, grant={"min": 20_000, "max": 100_000},
    ...                  count={"max": 19}).count.max
    19
    """

    model_config = _MODEL_CONFIG

    merit: str = Field(default="score", min_length=1)
    """Candidate column holding merit (a 0-100 score; missing: not ranked)."""

    objective: Literal["total_merit", "merit_per_money", "rank_order"] = "total_merit"
    """What is maximised: ``total_merit`` (sum of the merit of the selected),
    ``merit_per_money`` (sum of merit x amount / budget: each unit of the
    budget counts the merit of the grant it pays for), ``rank_order`` (total
    merit among the selections that respect rank order within each group)."""

    budget: int | None = Field(default=None, ge=0)
    """Money to allocate, in the programme currency. Absent: a count-only
    selection (places), where no money is allocated."""

    min_spend: int | None = Field(default=None, ge=0)
    """Spend floor: at least this much money is allocated."""

    min_spend_share: float | None = Field(default=None, ge=0, le=1)
    """Spend floor as a fraction of the budget (0.95: spend at least 95%)."""

    amount: Literal["requested", "capped", "partial", "tiers", "proportional"] = "requested"
    """Amount policy: ``requested`` (all or nothing), ``capped``
    (min(request, grant.max)), ``partial`` (between ``min_fraction`` of the
    request and the request), ``tiers`` (the largest tier not above the
    request), ``proportional`` (proportional to merit, the budget spent)."""

    min_fraction: float | None = Field(default=None, gt=0, le=1)
    """With ``amount: partial``: the smallest fraction of the request granted."""

    tiers: list[int] | None = None
    """With ``amount: tiers``: the fixed amounts a grant can be."""

    grant: GrantBounds = GrantBounds()
    """Bounds on one grant (needs a budget)."""

    count: Bounds = Bounds()
    """Bounds on the number selected (for example at most 110 places)."""

    min_merit: float | None = Field(default=None, allow_inf_nan=False)
    """Candidates with a lower merit cannot be selected."""

    min_reviews: int | None = Field(default=None, ge=0)
    """Candidates with fewer reviews (column ``reviews_column``) cannot be selected."""

    reviews_column: str = Field(default="n_reviews", min_length=1)
    """Candidate column holding the number of reviews."""

    groups: list[GroupRule] = []
    """Balance: limits per value of categorical columns (region, domain, ...)."""

    resources: list[ResourceRule] = []
    """Numeric columns consumed against a capacity (places, coaching hours, ...)."""

    include: list[str] = []
    """Application ids the committee requires to be selected."""

    exclude: list[str] = []
    """Application ids the committee excludes."""

    one_per: str | None = Field(default=None, min_length=1)
    """Column (e.g. ``organisation``): at most one selected per value."""

    incompatible: list[tuple[str, str]] = []
    """Pairs of application ids that cannot both be selected."""

    solver: SolverSettings = SolverSettings()
    """How CP-SAT runs."""

    explain: ExplainSettings = ExplainSettings()
    """How much explaining is done after the solve."""

    @field_validator("min_spend_share")
    @classmethod
    def _spend_share_is_exact(cls, share: float | None) -> float | None:
        return _exact_share(share)

    @field_validator("tiers")
    @classmethod
    def _tiers_are_amounts(cls, tiers: list[int] | None) -> list[int] | None:
        if tiers is None:
            return None
        if not tiers:
            raise ValueError("tiers must list at least one amount")
        if any(t <= 0 for t in tiers):
            raise ValueError("every tier must be a positive amount")
        if len(set(tiers)) != len(tiers):
            raise ValueError("a tier is listed twice")
        return sorted(tiers)

    @field_validator("incompatible")
    @classmethod
    def _pairs_of_two(cls, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for a, b in pairs:
            if a == b:
                raise ValueError(f"an incompatible pair names '{a}' twice")
        return pairs

    @model_validator(mode="after")
    def _consistent(self) -> AllocationConfig:
        money = self.budget is not None
        if not money:
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
            for key in ("min_spend", "min_spend_share"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} needs a budget")
            if self.amount != "requested":
                raise ValueError(f"amount: {self.amount} needs a budget")
            if self.objective == "merit_per_money":
                raise ValueError(
                    "objective merit_per_money needs a budget; use total_merit or "
                    "rank_order for a count-only selection"
                )
        if self.budget is not None and self.min_spend is not None and self.min_spend > self.budget:
            raise ValueError(
                f"min_spend ({self.min_spend}) must not exceed the budget ({self.budget})"
            )
        if (self.amount == "partial") != (self.min_fraction is not None):
            raise ValueError(
                "amount: partial needs min_fraction (e.g. 0.5), and min_fraction is "
                "only used with amount: partial"
            )
        if (self.amount == "tiers") != (self.tiers is not None):
            raise ValueError(
                "amount: tiers needs tiers (a list of amounts), and tiers are only "
                "used with amount: tiers"
            )
        if self.tiers is not None:
            for tier in self.tiers:
                low, high = self.grant.min, self.grant.max
                if (low is not None and tier < low) or (high is not None and tier > high) or (
                    tier % self.grant.step
                ):
                    raise ValueError(
                        f"tier {tier} is outside the grant bounds (min, max, step)"
                    )
        if self.amount == "proportional":
            if not self.grant.min:
                raise ValueError(
                    "amount: proportional needs grant.min (at least 1) so that the "
                    "number of grants the budget pays for is bounded"
                )
            for bound in (self.grant.min, self.grant.max):
                if bound is not None and bound % self.grant.step:
                    raise ValueError(
                        "with amount: proportional, grant.min and grant.max must be "
                        f"multiples of grant.step ({self.grant.step})"
                    )
            if any(rule.has_money_share for rule in self.groups) or (
                self.min_spend is not None or self.min_spend_share is not None
            ):
                raise ValueError(
                    "with amount: proportional the money follows merit and the whole "
                    "budget is spent: money shares and spend floors do not apply; use "
                    "count bounds or count shares"
                )
            if self.objective == "merit_per_money":
                raise ValueError(
                    "objective merit_per_money needs amounts decided by the optimiser; "
                    "with amount: proportional use total_merit or rank_order"
                )
        overlap = sorted(set(self.include) & set(self.exclude))
        if overlap:
            raise ValueError(f"'{overlap[0]}' is both included and excluded")
        return self

    @property
    def allocates_money(self) -> bool:
        return self.budget is not None

    @property
    def spend_floor(self) -> int | None:
        """The larger of ``min_spend`` and ``min_spend_share`` x budget (rounded up)."""
        floors = []
        if self.min_spend is not None:
            floors.append(self.min_spend)
        if self.min_spend_share is not None and self.budget is not None:
            share = Fraction(str(self.min_spend_share))
            floors.append(-(-share.numerator * self.budget // share.denominator))
        return max(floors) if floors else None
