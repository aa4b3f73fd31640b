"""The candidates of an allocation as arrays: merit, amounts, groups, and who cannot be selected.

:func:`prepare` checks the candidates table against an
:class:`~selection.allocation_config.AllocationConfig` (every problem found is
reported with its column and the ids concerned), turns merit into integers
(``MERIT_SCALE``), applies the amount policy to every request (integer money),
and records, for every candidate who cannot be selected, why (in French and in
English). The words used by every allocation sentence live here too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd

from selection.allocation_config import MERIT_SCALE, AllocationConfig, ResourceRule
from selection.errors import ConfigError, InputDataError, Problem, did_you_mean

__all__ = ["Group", "Data", "prepare", "money", "number", "percent"]

Reason = tuple[str, str, str]  # (code, French, English)


# ---------------------------------------------------------------------------
# Words: numbers, money and shares in French and English
# ---------------------------------------------------------------------------


# money and percent are cached: the reasons of 100,000 candidates ask for the
# same few amounts and shares hundreds of thousands of times (1.4 s uncached).
# typed: 1 and 1.0 are one key but two texts; number is not cached: 0.0 and
# -0.0 are one key but two texts.
@functools.lru_cache(maxsize=4096, typed=True)
def money(amount: int, currency: str, lang: Literal["fr", "en"]) -> str:
    """35000 -> "35 000 MAD" (fr) or "35,000 MAD" (en)."""
    digits = f"{amount:,}"
    if lang == "fr":
        digits = digits.replace(",", " ")
    return f"{digits} {currency}"


def number(value: float, lang: Literal["fr", "en"], digits: int = 2) -> str:
    """A score with at most ``digits`` decimals: 84.5 -> "84.5" (en), "84,5" (fr)."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "fr" else text


@functools.lru_cache(maxsize=1024, typed=True)
def percent(share: Fraction | None, lang: Literal["fr", "en"]) -> str:
    """2/5 -> "40%" (en), "40 %" (fr)."""
    value = number(float((share or Fraction(0)) * 100), lang)
    return f"{value} %" if lang == "fr" else f"{value}%"


def some(values: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(f"'{v}'" for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


# ---------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One value of one group rule, with its bounds as exact numbers."""

    rule: int
    column: str
    value: str
    members: np.ndarray  # row positions of the candidates with this value
    min_count: int | None
    max_count: int | None
    min_count_share: Fraction | None
    max_count_share: Fraction | None
    min_share: Fraction | None  # of the money
    max_share: Fraction | None
    penalty: int | None  # scaled merit per unit of violation; None: a hard rule

    @property
    def label(self) -> str:
        return f"{self.column} '{self.value}'"

    @property
    def label_fr(self) -> str:
        return f"{self.column} « {self.value} »"

    def bound(self, name: str) -> Any:
        return {
            "min_count": self.min_count,
            "max_count": self.max_count,
            "min_count_share": self.min_count_share,
            "max_count_share": self.max_count_share,
            "min_money_share": self.min_share,
            "max_money_share": self.max_share,
        }[name]


@dataclass(frozen=True)
class Data:
    """The candidates as arrays indexed by row position (0 = best ranked).

    ``lo`` and ``hi`` are the smallest and largest grant each candidate can
    receive under the amount policy (equal for every policy but ``partial``;
    zeros in a count-only selection). ``free_lo``/``free_hi`` are the same
    with the grant bounds ignored (used to explain infeasibility), and
    ``filters`` names, per row, the relaxable rules that block it.
    """

    ids: list[Any]
    merit: np.ndarray  # float, NaN when not ranked
    merit_scaled: np.ndarray  # int64, merit * MERIT_SCALE rounded; 0 when not ranked
    request: np.ndarray  # int64, the request; zeros in a count-only selection
    lo: np.ndarray  # int64
    hi: np.ndarray  # int64
    blocked: list[Reason | None]
    selectable: np.ndarray  # bool
    groups: tuple[Group, ...]
    labels: dict[str, np.ndarray]  # group column -> value per row (None when missing)
    resources: tuple[tuple[ResourceRule, np.ndarray], ...]
    organisation: np.ndarray | None  # value of the one_per column per row
    pairs: tuple[tuple[int, int], ...]  # incompatible row pairs
    include: tuple[int, ...]  # rows the committee requires
    cell: np.ndarray  # int per row: rows with equal values in every group column
    filters: list[tuple[str, ...]]  # per row: relaxable rules that block it
    free_lo: np.ndarray
    free_hi: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def row_of(self) -> dict[str, int]:
        return {str(v): i for i, v in enumerate(self.ids)}

    def cheapest(self, rows: np.ndarray, k: int) -> int:
        """Sum of the k smallest grants among the selectable of ``rows``."""
        amounts = np.sort(self.lo[rows[self.selectable[rows]]])
        return int(amounts[:k].sum())


def prepare(
    candidates: pd.DataFrame,
    config: AllocationConfig,
    group_values: Mapping[str, Sequence[str]],
    currency: str,
) -> Data:
    """Check and convert the candidates; raise InputDataError/ConfigError on mistakes."""
    _check_columns(candidates, config)
    n = len(candidates)
    ids = _application_ids(candidates)
    merit = _merit(candidates, config.merit)
    money_policy = config.allocates_money and config.amount != "proportional"
    request = _requested_amounts(candidates) if money_policy else np.zeros(n, dtype=np.int64)
    merit_scaled = np.where(np.isnan(merit), 0, np.rint(merit * MERIT_SCALE)).astype(np.int64)
    reviews = None
    if config.min_reviews is not None:
        reviews = _whole_column(candidates, config.reviews_column, "the number of reviews")
    named = bool(config.exclude or config.include or config.incompatible)
    row_of = {str(v): i for i, v in enumerate(ids)} if named else {}
    excluded = {row_of[x] for x in _known_ids(config.exclude, row_of, "exclude")}
    include = tuple(row_of[x] for x in _known_ids(config.include, row_of, "include"))
    pairs = tuple(
        (row_of[a], row_of[b])
        for k, pair in enumerate(config.incompatible)
        for a, b in [_known_ids(list(pair), row_of, f"incompatible[{k}]")]
    )

    lo, hi, free_lo, free_hi, refusals = _amount_arrays(request, config, currency)
    blocked, filters = _blocked(merit, excluded, reviews, refusals, config)
    selectable = np.array([reason is None for reason in blocked], dtype=bool)

    labels: dict[str, np.ndarray] = {}
    for rule in config.groups:
        if rule.column not in labels:
            labels[rule.column] = _labels(candidates[rule.column])
    groups = tuple(_groups(config, labels, group_values))
    resources = tuple(
        (rule, _whole_column(candidates, rule.column, f"resource '{rule.column}'"))
        for rule in config.resources
    )
    organisation = _labels(candidates[config.one_per]) if config.one_per else None
    cell = _cells(labels, n)
    return Data(
        ids=ids, merit=merit, merit_scaled=merit_scaled, request=request, lo=lo, hi=hi,
        blocked=blocked, selectable=selectable, groups=groups, labels=labels,
        resources=resources, organisation=organisation, pairs=pairs, include=include,
        cell=cell, filters=filters, free_lo=free_lo, free_hi=free_hi,
    )


def _amount_arrays(request: np.ndarray, config: AllocationConfig, currency: str):
    """(lo, hi, free_lo, free_hi, refusals) for every row: the policy's bounds
    worked out once per distinct request (a few dozen amounts for 100,000
    candidates), then spread; ``refusals`` maps a row whose request cannot be
    funded to the reason why."""
    n = len(request)
    zeros = np.zeros(n, dtype=np.int64)
    if not config.allocates_money:
        return zeros, zeros.copy(), zeros.copy(), zeros.copy(), {}
    distinct, which = np.unique(request, return_inverse=True)
    which = which.reshape(-1)
    amounts = [_amounts(int(r), config) for r in distinct]
    free = [_free_amounts(int(r), config) for r in distinct]

    def spread(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64).reshape(-1)[which] if n else zeros.copy()

    refusal = {k: a[2](currency) for k, a in enumerate(amounts) if a[2] is not None}
    refused = np.flatnonzero(np.isin(which, list(refusal)))
    return (
        spread([a[0] for a in amounts]), spread([a[1] for a in amounts]),
        spread([f[0] for f in free]), spread([f[1] for f in free]),
        {int(i): refusal[int(which[i])] for i in refused},
    )


def _blocked(
    merit: np.ndarray,
    excluded: set[int],
    reviews: np.ndarray | None,
    refusals: Mapping[int, Reason],
    config: AllocationConfig,
) -> tuple[list[Reason | None], list[tuple[str, ...]]]:
    """Per row: why it cannot be selected (the first relaxable rule that
    blocks it, or not ranked; None when selectable) and every relaxable rule
    that blocks it. Rows are visited only where a rule bites."""
    n = len(merit)
    blocked: list[Reason | None] = [None] * n
    filters: list[tuple[str, ...]] = [()] * n
    ranked = ~np.isnan(merit)
    hits: dict[int, list[tuple[str, Reason]]] = {}

    def note(rows: Any, key: str, why: Any, by: np.ndarray | None = None) -> None:
        """Record rule ``key`` for ``rows``; ``why(i)`` is worked out once per
        distinct ``by[i]`` (the value the sentence shows)."""
        texts: dict[Any, Reason] = {}
        for i in rows:
            i = int(i)
            if by is None:
                reason = why(i)
            else:
                reason = texts.get(by[i]) or texts.setdefault(by[i], why(i))
            hits.setdefault(i, []).append((key, reason))

    note(sorted(i for i in excluded if ranked[i]), "exclude", lambda i: (
        "excluded",
        "Non retenu : exclu par décision du comité.",
        "Not selected: excluded by the committee.",
    ))
    if config.min_merit is not None:
        low = np.flatnonzero(ranked & (merit < config.min_merit))
        note(low, "min_merit", lambda i: (
            "below_min_merit",
            f"Non retenu : le mérite {number(merit[i], 'fr')} est inférieur au minimum "
            f"de {number(config.min_merit, 'fr')}.",
            f"Not selected: merit {number(merit[i], 'en')} is below the minimum of "
            f"{number(config.min_merit, 'en')}.",
        ), by=merit.view(np.int64))  # by the bits: 0.0 and -0.0 read differently
    if reviews is not None:
        few = np.flatnonzero(ranked & (reviews < (config.min_reviews or 0)))
        note(few, "min_reviews", lambda i: (
            "below_min_reviews",
            f"Non retenu : {reviews[i]} évaluation(s), moins que le minimum de "
            f"{config.min_reviews}.",
            f"Not selected: {reviews[i]} review(s), fewer than the minimum of "
            f"{config.min_reviews}.",
        ), by=reviews)
    note(sorted(i for i in refusals if ranked[i]), "grant", refusals.__getitem__)
    for i, found in hits.items():  # in the order the rules were noted
        blocked[i] = found[0][1]
        filters[i] = tuple(key for key, _ in found)
    not_ranked = ("not_ranked", "Non retenu : aucune note de mérite.", "Not selected: no merit score.")
    for i in np.flatnonzero(~ranked):
        blocked[int(i)] = not_ranked
    return blocked, filters


def _labels(column: pd.Series) -> np.ndarray:
    """The value of every row as text, None when missing."""
    if not isinstance(column.dtype, pd.StringDtype) and (
        pd.api.types.infer_dtype(column, skipna=True) != "string"
    ):
        return np.array([None if _missing(v) else str(v) for v in column], dtype=object)
    # Texts (the usual case): each distinct text converted once and shared (a
    # loop over every row took 0.5 s at 100,000); only the rows pandas sees as
    # missing are looked at one by one.
    codes, uniques = pd.factorize(column)
    texts = np.array([str(u) for u in uniques] + [None], dtype=object)
    labels = texts[codes]  # code -1 (missing): the None at the end, for now
    missing = np.flatnonzero(codes < 0)
    labels[missing] = [None if _missing(v) else str(v) for v in column.iloc[missing].tolist()]
    return labels


def _cells(labels: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Rows with the same value in every group column share a cell (for rank order)."""
    if not labels:
        return np.zeros(n, dtype=np.int64)
    # Numbered in order of first appearance, one column at a time: the codes
    # of the columns so far, paired with the next column's, numbered again.
    cell = np.zeros(n, dtype=np.int64)
    for values in labels.values():
        codes, uniques = pd.factorize(values, use_na_sentinel=True)  # None -> -1
        pair = cell * (len(uniques) + 1) + (codes + 1)
        cell = pd.factorize(pair)[0].astype(np.int64)
    return cell


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _ceil_step(value: Fraction | int, step: int) -> int:
    return -(-math.ceil(value) // step) * step


def _amounts(request: int, config: AllocationConfig):
    """(lo, hi, None) for a fundable request, or (0, 0, reason maker) when the
    amount policy cannot fund it within the grant bounds."""
    grant = config.grant
    step = grant.step
    low = grant.min if grant.min is not None else 0
    high = grant.max if grant.max is not None else request

    def refuse(fr: str, en: str):
        return 0, 0, lambda currency: (
            "amount_out_of_bounds",
            f"Non retenu : la demande de {money(request, currency, 'fr')} {fr(currency)}.",
            f"Not selected: the request of {money(request, currency, 'en')} {en(currency)}.",
        )

    def below(amount: int):
        return refuse(
            lambda c: f"est inférieure à la subvention minimale de {money(amount, c, 'fr')}",
            lambda c: f"is below the minimum grant of {money(amount, c, 'en')}",
        )

    policy = config.amount
    if policy == "proportional":
        return int(grant.min or 0), int(grant.max or config.budget or 0), None
    if policy == "requested":
        if grant.min is not None and request < grant.min:
            return below(grant.min)
        if grant.max is not None and request > grant.max:
            return refuse(
                lambda c: "est supérieure à la subvention maximale de "
                f"{money(grant.max, c, 'fr')}",
                lambda c: f"is above the maximum grant of {money(grant.max, c, 'en')}",
            )
        if request % step:
            return refuse(
                lambda c: f"n'est pas un multiple de {money(step, c, 'fr')}",
                lambda c: f"is not a multiple of {money(step, c, 'en')}",
            )
        return request, request, None
    if policy == "capped":
        amount = min(request, high)
        amount -= amount % step
        if amount < low:
            return below(low)
        return amount, amount, None
    if policy == "tiers":
        fitting = [t for t in config.tiers or [] if t <= request]
        if not fitting:
            smallest = (config.tiers or [0])[0]
            return refuse(
                lambda c: f"est inférieure au plus petit palier de {money(smallest, c, 'fr')}",
                lambda c: f"is below the smallest tier of {money(smallest, c, 'en')}",
            )
        return fitting[-1], fitting[-1], None
    # partial: any multiple of the step between min_fraction x request and the request.
    fraction = Fraction(str(config.min_fraction))
    top = min(request, high)
    top -= top % step
    bottom = _ceil_step(max(Fraction(low), fraction * request), step)
    if bottom > top:
        return refuse(
            lambda c: "ne permet aucune subvention partielle dans les bornes "
            f"({percent(fraction, 'fr')} de la demande au moins)",
            lambda c: "leaves no partial grant within the bounds "
            f"(at least {percent(fraction, 'en')} of the request)",
        )
    return bottom, top, None


def _free_amounts(request: int, config: AllocationConfig) -> tuple[int, int]:
    """The amounts with the grant bounds ignored (for explaining infeasibility)."""
    if config.amount == "proportional":
        return int(config.grant.min or 0), int(config.grant.max or config.budget or 0)
    if config.amount == "tiers":
        fitting = [t for t in config.tiers or [] if t <= request] or (config.tiers or [0])[:1]
        return fitting[-1], fitting[-1]
    if config.amount == "partial":
        return math.ceil(Fraction(str(config.min_fraction)) * request), request
    return request, request


def _check_columns(candidates: pd.DataFrame, config: AllocationConfig) -> None:
    needed = {"application_id": "the application id", config.merit: "the merit column"}
    if config.allocates_money and config.amount != "proportional":
        needed["requested_amount"] = "needed when a budget is set"
    for rule in config.groups:
        needed.setdefault(rule.column, "named by a group rule")
    for rule in config.resources:
        needed.setdefault(rule.column, "named by a resource")
    if config.min_reviews is not None:
        needed.setdefault(config.reviews_column, "needed by min_reviews")
    if config.one_per:
        needed.setdefault(config.one_per, "named by one_per")
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


def _known_ids(ids: Sequence[str], row_of: Mapping[str, int], field: str) -> list[str]:
    for value in ids:
        if str(value) not in row_of:
            raise ConfigError(
                f"{field} names application '{value}', which is not among the candidates",
                field=field,
                suggestion=did_you_mean(str(value), list(row_of)),
                code="unknown_application",
            )
    return [str(v) for v in ids]


def _application_ids(candidates: pd.DataFrame) -> list[Any]:
    column = candidates["application_id"]
    if column.isna().any():
        raise InputDataError(
            f"{int(column.isna().sum())} candidate(s) have no application_id",
            field="application_id",
        )
    # is_unique first: 0.1 ms against 0.7 ms for duplicated() at 2,400 rows.
    duplicated = [] if column.is_unique else (
        column[column.duplicated()].astype(str).unique().tolist())
    if duplicated:
        raise InputDataError(
            f"application_id must be unique; repeated: {some(duplicated)}",
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
            f"merit must be a number (or empty when not ranked); not a number for {some(ids)}",
            field=name,
        )
    merit = numeric.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(merit).any():
        ids = candidates.loc[np.isinf(merit), "application_id"].astype(str).tolist()
        raise InputDataError(f"merit must be finite; infinite for {some(ids)}", field=name)
    return merit


def _whole_column(candidates: pd.DataFrame, name: str, what: str) -> np.ndarray:
    """A column of whole numbers >= 0 (missing or negative: an error naming the ids)."""
    numeric = pd.to_numeric(candidates[name], errors="coerce")
    values = numeric.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
    if bad.any():
        ids = candidates.loc[bad, "application_id"].astype(str).tolist()
        raise InputDataError(
            f"{what} must be a whole number, 0 or more; missing or not whole for {some(ids)}",
            field=name,
            suggestion="use a smaller unit to make decimals whole (e.g. minutes for hours)",
        )
    return values.astype(np.int64)


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
                f"missing or not whole for {some(ids)}",
                field="requested_amount",
            )
        values = as_float.astype(np.int64)
    if (values < 0).any():
        ids = candidates.loc[values < 0, "application_id"].astype(str).tolist()
        raise InputDataError(
            f"requested_amount must not be negative; negative for {some(ids)}",
            field="requested_amount",
        )
    return values


def _groups(
    config: AllocationConfig,
    labels: Mapping[str, np.ndarray],
    group_values: Mapping[str, Sequence[str]],
) -> list[Group]:
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
        penalty = None
        if rule.penalty is not None:
            penalty = int(Fraction(str(rule.penalty)) * MERIT_SCALE)
        for value in values:
            groups.append(
                Group(
                    rule=r,
                    column=rule.column,
                    value=value,
                    members=np.flatnonzero(column_labels == value),
                    min_count=rule.min_count,
                    max_count=rule.max_count,
                    min_count_share=fraction(rule.min_count_share),
                    max_count_share=fraction(rule.max_count_share),
                    min_share=fraction(rule.min_money_share),
                    max_share=fraction(rule.max_money_share),
                    penalty=penalty,
                )
            )
    return groups


def fraction(share: float | None) -> Fraction | None:
    # Fraction(str(0.4)) is 2/5 exactly; Fraction(0.4) would be the binary float.
    return None if share is None else Fraction(str(share))
