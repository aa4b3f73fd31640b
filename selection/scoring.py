"""Scoring: turn committee reviewers' scores into a fair, explainable ranking.

Each reviewer gives every application he or she reviews a score per
reviewer-scored criterion, on the criterion's scale (1-5 unless the rubric says
otherwise). :func:`score` then, per application:

1. **aggregates** the reviewers' scores of each criterion with the rubric's
   method (``mean``, ``median`` or ``trimmed_mean``) and computes the
   formula criteria from the application's own fields, clipped to the
   criterion's scale;
2. **normalises** every criterion to 0-100: ``(value - min) / (max - min) * 100``;
3. **totals** them: ``score = sum(weight * criterion) / sum(weight)``, rounded to
   two decimals. Ranks follow that rounded score, the number the committee
   sees: two applications shown as 71.43 are tied, whatever the third decimal,
   and the rubric's tie-breakers decide between them;
4. **measures disagreement**: each reviewer's own total (the weighted mean, on
   0-100, of the reviewer-scored criteria he or she scored) is computed and the
   range (largest minus smallest) of those totals is the application's
   disagreement, rounded to two decimals (NaN with fewer than two reviewers);
5. **flags** what the committee should look at, in this fixed order:
   ``insufficient_reviews`` (fewer distinct reviewers than ``min_reviews``: the
   score is still computed when possible but the application is not ranked, so
   it is never ranked as if its review were complete), ``missing_criterion``
   (a criterion has no value: a reviewer criterion nobody scored, or a formula
   criterion whose inputs are missing; the score is then NaN) and
   ``disagreement`` (the rounded disagreement is above the rubric's threshold);
6. **ranks** the eligible applications with enough reviews and a score, by the
   rubric's tie-breakers with a stable sort (rows still tied after every
   tie-breaker keep the order of the applications table), overall and within
   each region.

Trimmed mean and few reviewers: ``trimmed_mean`` follows
:func:`scipy.stats.trim_mean`, which cuts ``int(trim * n)`` scores at each end
of the ``n`` scores of a criterion. With the default ``trim: 0.2`` nothing is cut
below five reviewers, so with the usual three reviewers it equals the mean; a
trim of 1/3 or more (at most 0.49) makes three reviewers' trimmed mean their
median.

Everything is vectorised (no Python loop over applications or reviews): the
reviews become a matrix with one row per (application, reviewer) pair and one
column per reviewer criterion. It is deterministic: the pairs are sorted by
application, then reviewer id, and every sum runs in that order, so the same
inputs give the same table, to the last bit, whatever the row order of
``reviews``.

>>> import pandas as pd
>>> from selection.rubric import Rubric
>>> rubric = Rubric.model_validate({
...     "id": "demo", "title": {"fr": "Démo", "en": "Demo"},
...     "criteria": [{"id": "impact", "label": {"fr": "Impact", "en": "Impact"}, "weight": 1}]})
>>> applications = pd.DataFrame({"application_id": ["A", "B"], "region": ["Souss-Massa"] * 2})
>>> reviews = pd.DataFrame({"application_id": ["A", "A", "B", "B"],
...                         "reviewer_id": ["r1", "r2", "r1", "r2"],
...                         "criterion": "impact", "score": [5, 4, 2, 3]})
>>> result = score(applications, reviews, rubric)
>>> result.table[["application_id", "score", "rank"]]
  application_id  score  rank
0              A   87.5     1
1              B   37.5     2
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from selection.errors import ConfigError, InputDataError, Problem, closest, did_you_mean
from selection.expr import arrow_strings
from selection.io import TEXT, is_arrow_text
from selection.rubric import Criterion, Rubric

__all__ = [
    "FLAGS",
    "MAX_PROBLEMS",
    "OUTPUT_COLUMNS",
    "ScoringResult",
    "reviews_to_long",
    "score",
]

#: Flag codes, in the order they appear in the ``flags`` column.
FLAGS = ("insufficient_reviews", "missing_criterion", "disagreement")

#: Columns of the scoring table besides one column per criterion, which comes
#: after ``n_reviews``.
OUTPUT_COLUMNS = (
    "application_id",
    "n_reviews",
    "score",
    "disagreement",
    "ranked",
    "rank",
    "rank_in_region",
    "flags",
)

#: At most this many problems are listed in one error, then how many more there were.
MAX_PROBLEMS = 20

_LONG_COLUMNS = ("application_id", "reviewer_id", "criterion", "score")
_WIDE_ID_COLUMNS = ("application_id", "reviewer_id", "comment")
_DECIMALS = 2


@dataclass(frozen=True)
class _PairScores:
    """The used reviews as a matrix: one row per (application, reviewer) pair,
    sorted by application then reviewer id, one column per reviewer criterion
    (the score as given; NaN when not scored)."""

    matrix: np.ndarray
    pair_app: np.ndarray  # position in the applications table
    pair_rev: np.ndarray  # code into reviewer_ids
    application_ids: pd.Index
    reviewer_ids: np.ndarray  # sorted; an Index only when asked (pd.Index infers their dtype: 0.1 ms)
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, eq=False)
class ScoringResult:
    """The scores and ranks of one scoring batch, with what explains them.

    ``table`` has one row per application, in the order of the applications
    table (see :func:`score` for its columns). ``ignored_reviews`` counts the
    review rows (one score each) of ineligible applications, which were left
    out. :attr:`reviews` gives the review rows that were used. Not comparable
    with ``==`` (it holds DataFrames).
    """

    table: pd.DataFrame
    rubric: Rubric
    ignored_reviews: int = 0
    _pairs: _PairScores | None = field(default=None, repr=False)

    @property
    def reviews(self) -> pd.DataFrame:
        """The review rows that were used, ordered by application, reviewer and
        criterion: ``application_id``, ``reviewer_id``, ``criterion`` (categorical)
        and ``score`` (as given)."""
        if self._pairs is None:
            return _empty_reviews()
        pairs = self._pairs
        pair, crit = np.nonzero(~np.isnan(pairs.matrix))
        return pd.DataFrame(
            {
                "application_id": pd.Categorical.from_codes(
                    pairs.pair_app[pair], categories=pairs.application_ids
                ),
                "reviewer_id": pd.Categorical.from_codes(
                    pairs.pair_rev[pair], categories=pd.Index(pairs.reviewer_ids)
                ),
                "criterion": pd.Categorical.from_codes(
                    crit, categories=pd.Index([c.id for c in pairs.criteria])
                ),
                "score": pairs.matrix[pair, crit],
            }
        )

    def reviewer_stats(self) -> pd.DataFrame:
        """One row per reviewer: how many applications, how high, how severe.

        Columns: ``reviewer_id``, ``n_applications`` (distinct applications
        reviewed), ``mean_score`` (mean of all his or her scores, brought to the
        rubric's scale, 1-5 by default) and ``mean_deviation``: for each score,
        the reviewer's score minus the mean score of the *other* reviewers of the
        same application and criterion, averaged over the reviewer's scores
        (rubric scale). Negative means more severe than colleagues on the same
        applications, positive more lenient; NaN when he or she never shared an
        application. It is a first severity measure, not a calibration: it does
        not correct for who the colleagues were.

        >>> from selection.rubric import Rubric
        >>> rubric = Rubric.model_validate({"id": "demo", "title": {"fr": "Démo", "en": "Demo"},
        ...     "criteria": [{"id": "impact", "label": {"fr": "Impact", "en": "Impact"},
        ...                   "weight": 1}]})
        >>> applications = pd.DataFrame({"application_id": ["A", "B"], "region": ["Oriental"] * 2})
        >>> reviews = pd.DataFrame({"application_id": ["A", "A", "B", "B"],
        ...                         "reviewer_id": ["r1", "r2", "r1", "r2"],
        ...                         "criterion": "impact", "score": [5, 4, 2, 3]})
        >>> score(applications, reviews, rubric).reviewer_stats()
          reviewer_id  n_applications  mean_score  mean_deviation
        0          r1               2         3.5             0.0
        1          r2               2         3.5             0.0
        """
        return _reviewer_stats(self._pairs, self.rubric)


def reviews_to_long(reviews: pd.DataFrame, rubric: Rubric) -> pd.DataFrame:
    """Reviews in long form: one row per (application, reviewer, criterion, score).

    A table with a ``criterion`` or a ``score`` column is taken to be in long
    form already and is returned unchanged. Otherwise it is a wide sheet: columns
    ``application_id``, ``reviewer_id``, optionally ``comment``, and one column per
    criterion named after the criterion's id. Each non-blank criterion cell
    becomes one long row (rows of the sheet in order, criteria in rubric order;
    the comment is repeated on each); a blank cell means "not scored". A column
    that is not a criterion is an error (a misspelt criterion would otherwise
    lose its scores silently).

    >>> rubric = Rubric.model_validate({"id": "demo", "title": {"fr": "Démo", "en": "Demo"},
    ...     "criteria": [{"id": "impact", "label": {"fr": "Impact", "en": "Impact"}, "weight": 1}]})
    >>> wide = pd.DataFrame({"application_id": ["A"], "reviewer_id": ["r1"], "impact": [4]})
    >>> reviews_to_long(wide, rubric)
      application_id reviewer_id criterion  score
    0              A          r1    impact      4
    """
    if _is_long(reviews):
        return reviews
    long, _rows, problems = _wide_to_long(reviews, rubric)
    if problems:
        raise InputDataError(problems=_capped(problems, len(problems)))
    return long


def score(
    applications: pd.DataFrame,
    reviews: pd.DataFrame,
    rubric: Rubric,
    *,
    constants: Mapping[str, object] | None = None,
    eligible: pd.Series | None = None,
) -> ScoringResult:
    """Score and rank the applications from their reviews and the rubric.

    ``reviews`` is in long form (``application_id, reviewer_id, criterion,
    score[, comment]``) or a wide sheet (see :func:`reviews_to_long`).
    ``eligible``, a boolean Series aligned with ``applications``, restricts
    scoring to the eligible applications: the others get NaN scores, no flags,
    ``n_reviews`` 0, and their reviews are ignored (counted in
    ``ignored_reviews``). ``constants`` are the named constants of formulas.
    ``application_id`` and ``region`` are read in Arrow when they are
    pandas' Arrow-backed ``str`` columns (as
    :func:`~selection.validate.prepare_applications` gives them), else as
    Python strings (converting a million of them to Arrow cost 0.2 s); the
    table is the same either way.

    The returned table has the columns ``application_id``, ``n_reviews``, one
    column per criterion (its id; 0-100), ``score`` (0-100, 2 decimals),
    ``disagreement`` (0-100, 2 decimals), ``ranked``, ``rank`` and
    ``rank_in_region`` (nullable integers, 1 = best) and ``flags``
    (``;``-joined codes of :data:`FLAGS`, "" when none).

    Every problem in the reviews is reported at once in one
    :class:`~selection.errors.InputDataError` (rows numbered as in a
    spreadsheet, header = row 1; the caller adds the file name with
    ``err.with_file(name)``). Reviews of ineligible applications are checked
    too: a broken sheet is broken whatever the eligibility stage decided.

    >>> rubric = Rubric.model_validate({"id": "demo", "title": {"fr": "Démo", "en": "Demo"},
    ...     "criteria": [{"id": "impact", "label": {"fr": "Impact", "en": "Impact"}, "weight": 1}],
    ...     "min_reviews": 1})
    >>> applications = pd.DataFrame({"application_id": ["A", "B"], "region": ["Souss-Massa"] * 2})
    >>> reviews = pd.DataFrame({"application_id": ["A", "B"], "reviewer_id": ["r1", "r1"],
    ...                         "criterion": "impact", "score": [5, 4]})
    >>> result = score(applications, reviews, rubric, eligible=pd.Series([True, False]))
    >>> result.table[["application_id", "impact", "score", "ranked", "rank"]]
      application_id  impact  score  ranked  rank
    0              A   100.0  100.0    True     1
    1              B     NaN    NaN   False  <NA>
    >>> result.table["flags"].tolist(), result.ignored_reviews
    (['', ''], 1)
    """
    _check_config(rubric, applications)
    n = len(applications)
    is_eligible = _eligible_mask(eligible, applications)
    arrow_ids = _arrow_column(applications, "application_id")
    criteria = list(rubric.criteria)
    reviewer_criteria = rubric.reviewer_criteria
    k = len(reviewer_criteria)

    # Reviews: validated, then one row per (application, reviewer) pair that
    # reviewed an eligible application and one column per reviewer criterion.
    # Pairs are sorted by application, then reviewer id: every sum below runs in
    # that order, so float results do not depend on the row order of the reviews.
    parsed = _parse_reviews(
        reviews, rubric, applications, id_keys=None if arrow_ids is None else _arrow_text(arrow_ids)
    )
    matrix = parsed.matrix
    kept = is_eligible[parsed.pair_app]
    pair_app, pair_rev = parsed.pair_app, parsed.pair_rev
    ignored = 0
    if not kept.all():
        ignored = int(np.count_nonzero(~np.isnan(matrix[~kept])))
        matrix, pair_app, pair_rev = matrix[kept], pair_app[kept], pair_rev[kept]
    n_reviews = np.bincount(pair_app, minlength=n).astype(np.int64)

    lows = np.array([rubric.scale_of(c).min for c in reviewer_criteria], dtype=float)
    highs = np.array([rubric.scale_of(c).max for c in reviewer_criteria], dtype=float)
    weights = np.array([c.weight for c in reviewer_criteria], dtype=float)
    # (matrix - lows) / (highs - lows) * 100, without temporaries; stored a
    # criterion after another (order="F"): the disagreement reads it column by
    # column, 0.1 s sooner for a million applications than across rows.
    normalised = np.subtract(matrix, lows, order="F")
    normalised /= highs - lows
    normalised *= 100.0

    # Reviewer criteria: aggregate across reviewers, then normalise to 0-100.
    method, trim = rubric.aggregation.method, rubric.aggregation.trim
    aggregated = np.empty((n, k))
    for j in range(k):  # a loop over the few criteria, not the applications
        aggregated[:, j] = _aggregate(pair_app, matrix[:, j], n, method, trim)
    normalised_reviewers = aggregated  # (aggregated - lows) / (highs - lows) * 100.0, in place
    normalised_reviewers -= lows
    normalised_reviewers /= highs - lows
    normalised_reviewers *= 100.0

    # Each reviewer's own total, and its range per application.
    disagreement = np.round(_disagreement(pair_app, normalised, weights, n_reviews), _DECIMALS)

    # Every criterion in rubric order: reviewer criteria from above, formula
    # criteria from the applications' fields.
    position = {c.id: i for i, c in enumerate(reviewer_criteria)}
    columns: dict[str, np.ndarray] = {}
    for criterion in criteria:
        if criterion.source == "formula":
            values = _formula_values(criterion, rubric, applications, constants)
            values[~is_eligible] = np.nan
        else:
            values = normalised_reviewers[:, position[criterion.id]]
        columns[criterion.id] = values

    total = np.zeros(n)
    for criterion in criteria:
        total = total + criterion.weight * columns[criterion.id]
    total = np.round(total / sum(c.weight for c in criteria), _DECIMALS)

    # Flags (only eligible applications get any) and who is ranked.
    insufficient = is_eligible & (n_reviews < rubric.min_reviews)
    missing = np.zeros(n, dtype=bool)
    for values in columns.values():  # no n x criteria copy
        missing |= np.isnan(values)
    missing &= is_eligible
    with np.errstate(invalid="ignore"):
        disagree = is_eligible & (disagreement > rubric.disagreement.threshold)
    ranked = is_eligible & ~insufficient & ~np.isnan(total)
    # The flags of each combination, taken by code in Arrow: no Python string per row.
    flags = _flag_texts().take(insufficient.astype(np.int8) + 2 * missing + 4 * disagree)

    # The ids as the frame holds them: pandas infers text ids' type once (7 ms
    # for 100,000; none when the view has them in Arrow already, which is
    # what it would infer), and the ranking's Series of them need not again.
    if arrow_ids is not None:
        application_id = arrow_ids.array.copy()  # a new array over the same immutable Arrow data
    else:
        application_id = pd.Series(applications["application_id"].array.copy(), copy=False).array
    output = {
        "application_id": application_id,
        "n_reviews": n_reviews.astype(np.int64),
        **columns,
        "score": total,
        "disagreement": disagreement,
        "ranked": ranked,
    }
    rank, rank_in_region = _rank(output, applications, rubric, ranked, _arrow_column(applications, "region"))
    # One frame of every column: adding a column to a frame costs 0.2-0.3 ms.
    table = pd.DataFrame(
        {
            **output,
            "rank": rank,
            "rank_in_region": rank_in_region,
            "flags": pd.array(flags, dtype=TEXT),
        },
        copy=False,  # the arrays are this function's own: no copy of each
    )

    pairs = _PairScores(
        matrix=matrix,
        pair_app=pair_app,
        pair_rev=pair_rev,
        application_ids=parsed.application_ids,
        reviewer_ids=parsed.reviewer_ids,
        criteria=tuple(reviewer_criteria),
    )
    return ScoringResult(table=table, rubric=rubric, ignored_reviews=ignored, _pairs=pairs)


# --------------------------------------------------------------------------
# Configuration and arguments


def _check_config(rubric: Rubric, applications: pd.DataFrame) -> None:
    """Checks that need both the rubric and the applications, before any work."""
    problems: list[Problem] = []
    for criterion in rubric.criteria:
        if criterion.id in OUTPUT_COLUMNS:
            problems.append(
                Problem(
                    f"criterion id '{criterion.id}' is also the name of a column of the "
                    "scoring table",
                    field="criteria",
                    suggestion="rename the criterion",
                    code="reserved_name",
                )
            )
    output = [*OUTPUT_COLUMNS, *(c.id for c in rubric.criteria)]
    for tie_breaker in rubric.tie_breakers:
        if tie_breaker.column not in output and tie_breaker.column not in applications.columns:
            problems.append(
                Problem(
                    f"tie-breaker column '{tie_breaker.column}' is neither a column of the "
                    "scoring table nor of the applications",
                    field="tie_breakers",
                    suggestion=did_you_mean(
                        tie_breaker.column, sorted({*output, *map(str, applications.columns)})
                    ),
                    code="unknown_column",
                )
            )
    if problems:
        raise ConfigError(problems=problems)
    missing = [c for c in ("application_id", "region") if c not in applications.columns]
    if missing:
        raise InputDataError(
            problems=[
                Problem(
                    f"the applications have no column '{c}'",
                    row=1,
                    field=c,
                    suggestion="map it in the program's 'columns'",
                    code="missing_column",
                )
                for c in missing
            ]
        )


def _arrow_column(table: pd.DataFrame, name: str) -> pd.Series | None:
    """Column ``name`` of ``table`` when it is one column of pandas' Arrow-backed text, else None."""
    if name not in table.columns or not isinstance(table.columns.get_loc(name), int):
        return None
    column = table[name]
    if not is_arrow_text(column.dtype):
        return None
    return column


def _eligible_mask(eligible: pd.Series | None, applications: pd.DataFrame) -> np.ndarray:
    if eligible is None:
        return np.ones(len(applications), dtype=bool)
    if not eligible.index.equals(applications.index):
        raise ValueError("'eligible' must have the same index as 'applications'")
    dtype = eligible.dtype
    numpy_bool = isinstance(dtype, np.dtype) and dtype.kind == "b"  # can hold no missing value
    if not numpy_bool and eligible.isna().any():
        raise ValueError("'eligible' must not have missing values")
    return eligible.to_numpy(dtype=bool)


def _formula_values(
    criterion: Criterion,
    rubric: Rubric,
    applications: pd.DataFrame,
    constants: Mapping[str, object] | None,
) -> np.ndarray:
    """A formula criterion on 0-100, computed from the applications' fields."""
    scale = rubric.scale_of(criterion)
    expression = criterion.expression
    assert expression is not None  # the rubric guarantees a formula for this source
    values = expression.evaluate_number(applications, constants)
    values = np.asarray(values, dtype=float).copy()
    if len(values) != len(applications):  # pragma: no cover - expr contract
        raise AssertionError("a formula returned a column of the wrong length")
    values = np.clip(values, scale.min, scale.max)  # NaN stays NaN
    return (values - scale.min) / (scale.max - scale.min) * 100.0


# --------------------------------------------------------------------------
# Reviews: long form, validation, encoding


def _is_long(reviews: pd.DataFrame) -> bool:
    return "criterion" in reviews.columns or "score" in reviews.columns


def _require_columns(present: list[str], needed: Sequence[str]) -> None:
    """Raise one error naming every column of ``needed`` the reviews lack."""
    absent = [c for c in needed if c not in present]
    if absent:
        raise InputDataError(
            problems=[
                Problem(
                    f"the reviews have no column '{c}'",
                    row=1,
                    field=c,
                    suggestion=did_you_mean(c, present) if present else "add it",
                    code="missing_column",
                )
                for c in absent
            ]
        )


def _wide_to_long(
    reviews: pd.DataFrame, rubric: Rubric
) -> tuple[pd.DataFrame, np.ndarray, list[Problem]]:
    """The long form of a wide sheet, the sheet row of each long row, and the
    problems with the sheet's columns."""
    columns = [str(c) for c in reviews.columns]
    _require_columns(columns, ("application_id", "reviewer_id"))
    criterion_ids = [c.id for c in rubric.criteria]
    scored = [c for c in criterion_ids if c in columns]
    scorable = [c.id for c in rubric.reviewer_criteria]
    problems = [
        Problem(
            f"column '{c}' is not a criterion of rubric '{rubric.id}'",
            row=1,
            field=c,
            suggestion=did_you_mean(c, scorable),
            code="unknown_column",
        )
        for c in columns
        if c not in _WIDE_ID_COLUMNS and c not in criterion_ids
    ]
    if not scored and not problems:
        problems.append(
            Problem(
                "the reviews have neither the 'criterion' and 'score' columns of the long "
                "form nor one column per criterion",
                row=1,
                suggestion="add one column per criterion: " + ", ".join(scorable),
                code="missing_column",
            )
        )

    n, k = len(reviews), len(scored)
    cells = reviews[scored].to_numpy().ravel()  # row by row, criteria in rubric order
    present = _filled(cells)
    rows = np.repeat(np.arange(n), k)[present]
    long = pd.DataFrame(
        {
            "application_id": reviews["application_id"].take(rows).array,
            "reviewer_id": reviews["reviewer_id"].take(rows).array,
            "criterion": pd.array(
                np.array(scored, dtype=object)[np.tile(np.arange(k), n)[present]], dtype="str"
            ),
            "score": pd.Series(cells[present]).infer_objects().array,
        }
    )
    if "comment" in columns:
        long["comment"] = reviews["comment"].take(rows).array
    return long, rows + 2, problems


def _filled(cells: np.ndarray) -> np.ndarray:
    """Which cells hold something: not missing and not only blanks."""
    filled = ~pd.isna(cells)
    if cells.dtype == object:
        text = pd.Series(cells[filled], dtype=object).astype("string").str.strip()
        filled[filled] = text.ne("").to_numpy(dtype=bool, na_value=False)
    return filled


@dataclass(frozen=True)
class _Parsed:
    """Valid reviews as a matrix and integer codes.

    One row per (application, reviewer) pair, sorted by application then
    reviewer: ``matrix`` (one column per reviewer criterion, the score as
    given, NaN when not scored), ``pair_app`` (position in the applications
    table) and ``pair_rev`` (code into the sorted ``reviewer_ids``).
    """

    matrix: np.ndarray
    pair_app: np.ndarray
    pair_rev: np.ndarray
    reviewer_ids: np.ndarray
    application_ids: pd.Index


def _parse_reviews(
    reviews: pd.DataFrame, rubric: Rubric, applications: pd.DataFrame, *, id_keys: pa.Array | None = None
) -> _Parsed:
    """Validate the reviews in one pass and encode them; raise every problem at once.

    ``id_keys``, when given, are the applications' ids in Arrow (the same values).
    """
    wide = not _is_long(reviews)
    if wide:
        long, rows, problems = _wide_to_long(reviews, rubric)
    else:
        _require_columns([str(c) for c in reviews.columns], _LONG_COLUMNS)
        long, problems = reviews, []

    ids = pd.Index(applications["application_id"])
    if not ids.is_unique:
        first = int(np.flatnonzero(ids.duplicated())[0])
        raise InputDataError(
            f"application_id '{ids[first]}' appears more than once",
            row=first + 2,
            field="application_id",
            suggestion="give each application its own id",
            code="duplicate",
        )
    if not wide:
        parsed = _parse_runs(long, rubric, ids, id_keys=id_keys)
        if parsed is not None:
            return parsed
        rows = np.arange(len(long)) + 2
    m = len(long)
    app_ids = long["application_id"]
    reviewer_ids = long["reviewer_id"]
    criterion_names = long["criterion"]

    app, app_missing = _lookup(ids, app_ids, keys=id_keys)
    rev, reviewer_uniques = _factorize_sorted(reviewer_ids)
    crit_all, crit_missing = _lookup(pd.Index([c.id for c in rubric.criteria]), criterion_names)
    reviewer_position = np.array(
        [
            rubric.reviewer_criteria.index(c) if c.source == "reviewers" else -1
            for c in rubric.criteria
        ]
        + [-2],  # index -1 (unknown criterion) lands here
        dtype=np.int64,
    )
    crit = reviewer_position[crit_all]
    scorable = crit >= 0

    raw_scores = long["score"]
    if pd.api.types.is_numeric_dtype(raw_scores) and not pd.api.types.is_bool_dtype(raw_scores):
        value = raw_scores.to_numpy(dtype=float, na_value=np.nan)
        score_missing = np.isnan(value)
        not_number = np.zeros(m, dtype=bool)
    else:  # text, as read from a file: "4", " 3,5 " (decimal comma) ...
        text = raw_scores.astype("string").str.strip().str.replace(",", ".", regex=False)
        score_missing = (text.isna() | text.eq("")).to_numpy(dtype=bool, na_value=True)
        value = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        not_number = ~score_missing & np.isnan(value)
    lows = np.array([rubric.scale_of(c).min for c in rubric.reviewer_criteria] + [np.nan])
    highs = np.array([rubric.scale_of(c).max for c in rubric.reviewer_criteria] + [np.nan])
    if len(set(lows[:-1])) == 1 and len(set(highs[:-1])) == 1:  # one scale: no gathers
        low, high = lows[0], highs[0]
    else:
        low, high = lows[crit], highs[crit]
    with np.errstate(invalid="ignore"):
        out_of_scale = scorable & ((value < low) | (value > high))  # NaN compares False

    # (application, reviewer) pairs, sorted; a cell is a pair and a criterion.
    keyed = (app >= 0) & (rev >= 0) & scorable
    n_rev = max(len(reviewer_uniques), 1)
    k = max(len(rubric.reviewer_criteria), 1)
    if keyed.all():  # the usual case: no copies
        pair, pair_keys = _factorize_sorted_integers(app * n_rev + rev)
        cell = pair * k + crit
        valid_cells = cell
    else:
        pair = np.full(m, -1, dtype=np.int64)
        pair[keyed], pair_keys = _factorize_sorted_integers(app[keyed] * n_rev + rev[keyed])
        cell = pair * k + crit
        valid_cells = cell[keyed]
    duplicate = np.zeros(m, dtype=bool)
    if np.bincount(valid_cells, minlength=len(pair_keys) * k).max(initial=0) > 1:
        duplicate[keyed] = pd.Series(valid_cells).duplicated(keep="first").to_numpy()

    # A wide row's id problems are reported once, not once per criterion cell.
    first_of_row = np.ones(m, dtype=bool)
    if wide:
        first_of_row[1:] = rows[1:] != rows[:-1]

    # Each check: its mask, and how to describe one of its rows.
    default_scale = rubric.scale

    def scale_words(i: int) -> tuple[float, float]:
        if crit[i] >= 0:
            return float(lows[crit[i]]), float(highs[crit[i]])
        return default_scale.min, default_scale.max

    def score_field(i: int) -> str:
        return str(criterion_names.iloc[i]) if wide else "score"

    def give(i: int) -> str:
        low, high = scale_words(i)
        return f"give a score from {low:g} to {high:g}"

    closest_id = _IdSuggester(ids)

    scorable_ids = [c.id for c in rubric.reviewer_criteria]
    checks: list[tuple[np.ndarray, Callable[[int], Problem]]] = [
        (
            app_missing & first_of_row,
            lambda i: Problem(
                "application_id is missing",
                field="application_id",
                suggestion="give the id of the application reviewed",
                code="missing_value",
            ),
        ),
        (
            (app < 0) & ~app_missing & first_of_row,
            lambda i: Problem(
                f"review of unknown application_id '{app_ids.iloc[i]}'",
                field="application_id",
                suggestion=closest_id(str(app_ids.iloc[i])),
                code="unknown_application",
            ),
        ),
        (
            (rev < 0) & first_of_row,
            lambda i: Problem(
                "reviewer_id is missing",
                field="reviewer_id",
                suggestion="give the id of the reviewer",
                code="missing_value",
            ),
        ),
        (
            crit_missing,
            lambda i: Problem(
                "criterion is missing",
                field="criterion",
                suggestion=did_you_mean("", scorable_ids),
                code="missing_value",
            ),
        ),
        (
            (crit_all < 0) & ~crit_missing,
            lambda i: Problem(
                f"unknown criterion '{criterion_names.iloc[i]}'",
                field="criterion",
                suggestion=did_you_mean(str(criterion_names.iloc[i]), scorable_ids),
                code="unknown_criterion",
            ),
        ),
        (
            crit == -1,
            lambda i: Problem(
                f"criterion '{criterion_names.iloc[i]}' is computed by a formula; "
                "reviewers do not score it",
                field=score_field(i) if wide else "criterion",
                suggestion="remove this score",
                code="formula_criterion",
            ),
        ),
        (
            score_missing,
            lambda i: Problem(
                "score is missing",
                field=score_field(i),
                suggestion=give(i) + " or remove the row",
                code="missing_value",
            ),
        ),
        (
            not_number,
            lambda i: Problem(
                f"score '{raw_scores.iloc[i]}' is not a number",
                field=score_field(i),
                suggestion=give(i),
                code="not_a_number",
            ),
        ),
        (
            out_of_scale,
            lambda i: Problem(
                f"score {value[i]:g} is outside the scale "
                f"{scale_words(i)[0]:g}-{scale_words(i)[1]:g} of criterion "
                f"'{criterion_names.iloc[i]}'",
                field=score_field(i),
                suggestion=give(i),
                code="out_of_scale",
            ),
        ),
        (
            duplicate,
            lambda i: Problem(
                f"reviewer '{reviewer_ids.iloc[i]}' scores criterion "
                f"'{criterion_names.iloc[i]}' of application '{app_ids.iloc[i]}' a second "
                f"time (first in row {rows[np.flatnonzero(keyed & (cell == cell[i]))[0]]})",
                field=score_field(i),
                suggestion="keep one of the two scores",
                code="duplicate",
            ),
        ),
    ]

    # Count every problem, describe only the first MAX_PROBLEMS (by row, then check).
    total = len(problems)
    candidates: list[tuple[int, int, int]] = []
    for kind, (mask, _describe) in enumerate(checks):
        if not mask.any():
            continue
        where = np.flatnonzero(mask)
        total += len(where)
        candidates += [(int(rows[i]), kind, int(i)) for i in where[:MAX_PROBLEMS]]
    if total:
        candidates.sort()
        for row, kind, i in candidates[: max(MAX_PROBLEMS - len(problems), 0)]:
            problem = checks[kind][1](i)
            problems.append(_at_row(problem, row))
        raise InputDataError(problems=_capped(problems, total))

    matrix = np.full((len(pair_keys), len(rubric.reviewer_criteria)), np.nan)
    matrix[pair, crit] = value
    return _Parsed(
        matrix=matrix,
        pair_app=pair_keys // n_rev,
        pair_rev=pair_keys % n_rev,
        reviewer_ids=np.asarray(reviewer_uniques, dtype=object),
        application_ids=ids,
    )


def _parse_runs(
    long: pd.DataFrame, rubric: Rubric, ids: pd.Index, *, id_keys: pa.Array | None = None
) -> _Parsed | None:
    """What :func:`_parse_reviews` returns for valid long reviews read as io
    reads them (ids and criteria Categoricals of text, scores numbers) whose
    rows come in runs, one per (application, reviewer) pair; None for any
    other table, valid or not, which the general path then parses or reports.

    A million applications' reviews are 18 million rows. The general path
    works on every row (an application lookup, a sort of 18 million pair
    keys for duplicates, a scatter into the matrix); here each check is a
    pass over the rows' small codes and the rest runs once per category or
    per run. The answer is the same:

    - every category (application id, criterion) is known and every cell
      present, so no row has an id or criterion problem; scores within the
      scale (their minimum and maximum; NaN fails both) leave none to report;
    - each pair key occurs in one run only (the sorted run keys strictly
      increase), and no run repeats a criterion (each run has as many
      distinct criterion bits as rows; checked once when every run lists
      the same criteria in the same order), so no cell is scored twice: the
      general path's pairs are the runs, sorted by the same (application,
      reviewer) key, and each cell holds the one score given for it.
    """
    app_ids, reviewer_ids, criteria = long["application_id"], long["reviewer_id"], long["criterion"]
    app_categories = _string_categories(app_ids)
    reviewer_categories = _string_categories(reviewer_ids)
    criterion_categories = _string_categories(criteria)
    raw_scores = long["score"]
    if (
        app_categories is None
        or reviewer_categories is None
        or criterion_categories is None
        or not pd.api.types.is_numeric_dtype(raw_scores)
        or pd.api.types.is_bool_dtype(raw_scores)
        or len(long) == 0
    ):
        return None
    reviewer_criteria = rubric.reviewer_criteria
    k = len(reviewer_criteria)
    if not 0 < k <= 64:  # criteria as bits of a uint64
        return None
    app = app_ids.array.codes  # the Categoricals' own codes: no Series of them
    rev = reviewer_ids.array.codes
    crit = criteria.array.codes
    if app.min() < 0 or rev.min() < 0 or crit.min() < 0:  # a missing cell
        return None

    # Per category: position in the applications table, column in the matrix.
    app_position = _lookup(ids, pd.Series(app_categories), keys=id_keys)[0]
    # A handful of criteria: a dict answers as Arrow's lookup does (the same strings), 20x sooner.
    criterion_column = {c.id: j for j, c in enumerate(reviewer_criteria)}
    column = np.array([criterion_column.get(name, -1) for name in criterion_categories.tolist()], dtype=np.int64)
    if app_position.min() < 0 or column.min() < 0:  # unknown id or criterion, formula criterion
        return None

    lows = np.array([rubric.scale_of(c).min for c in reviewer_criteria], dtype=float)
    highs = np.array([rubric.scale_of(c).max for c in reviewer_criteria], dtype=float)
    value = raw_scores.to_numpy(dtype=float, na_value=np.nan)
    if not (value.min() >= lows.min() and value.max() <= highs.max()):  # NaN fails both
        return None

    # Runs of rows of one (application, reviewer) pair.
    m = len(value)
    head = np.empty(m, dtype=bool)
    head[0] = True
    np.not_equal(app[1:], app[:-1], out=head[1:])
    head[1:] |= rev[1:] != rev[:-1]
    starts = np.flatnonzero(head)
    del head
    lengths = np.diff(starts, append=m)
    if lengths.max() > k:
        return None

    # Run keys, sorted by application then reviewer id; each pair in one run.
    recode, reviewer_uniques = _sorted_categories(
        reviewer_categories, np.bincount(rev[starts], minlength=len(reviewer_categories)) > 0
    )
    run_app = app_position[app[starts]]
    run_rev = recode[rev[starts]]
    keys = run_app * max(len(reviewer_uniques), 1) + run_rev
    order = None
    if not (keys[1:] > keys[:-1]).all():
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        if not (ordered[1:] > ordered[:-1]).all():  # a pair in two runs: the general path merges them
            return None
    del keys

    if (lengths == k).all() and (crit.reshape(-1, k) == crit[:k]).all():
        # Every run scores every criterion once, in the same order: the matrix
        # is the scores, k to a row, rows in key order, columns in rubric order.
        columns = column[crit[:k]]
        if len(np.unique(columns)) < k:
            return None
        matrix = value.reshape(-1, k)
        if order is not None:
            matrix = np.take(matrix, order, axis=0)  # whole rows copied: 5x faster than matrix[order]
        if (columns != np.arange(k)).any():
            matrix = np.take(matrix, np.argsort(columns), axis=1)
        elif order is None:
            matrix = matrix.copy()  # not a view of the caller's table
    else:
        # No criterion twice in a run: as many distinct criterion bits as rows.
        bit_type = np.dtype(f"uint{max(8, 1 << (k - 1).bit_length())}")
        bits = (np.ones(1, dtype=bit_type) << np.arange(k, dtype=bit_type))[column]
        scored = np.bitwise_or.reduceat(bits[crit], starts)
        if (np.bitwise_count(scored) != lengths).any():
            return None
        run = np.zeros(m, dtype=np.int64)  # the run of each row
        run[starts[1:]] = 1
        np.cumsum(run, out=run)
        if order is not None:
            run = np.argsort(order)[run]  # the row of its run in the matrix
        matrix = np.full((len(starts), k), np.nan)
        matrix[run, column[crit]] = value
        del run
    if order is not None:
        run_app, run_rev = run_app[order], run_rev[order]
    if len(set(lows)) > 1 or len(set(highs)) > 1:  # one scale per criterion: check each column
        with np.errstate(invalid="ignore"):
            low, high = np.fmin.reduce(matrix, axis=0), np.fmax.reduce(matrix, axis=0)
            if ((low < lows) | (high > highs)).any():  # NaN (a column nobody scored) compares False
                return None
    return _Parsed(
        matrix=matrix,
        pair_app=run_app,
        pair_rev=run_rev,
        reviewer_ids=reviewer_uniques,
        application_ids=ids,
    )


def _lookup(
    index: pd.Index, values: pd.Series, *, keys: pa.Array | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in ``index`` (-1 when absent) and which values are missing.

    Text goes through Arrow's hash lookup, several times faster than pandas'
    on millions of rows; anything else through pandas. ``keys``, when given,
    is ``index`` in Arrow (converting a million Python strings cost 0.1 s).
    """
    categories = _string_categories(values)
    if categories is not None:  # once per category, spread by the codes
        codes = values.cat.codes.to_numpy()
        positions = np.append(_lookup(index, pd.Series(categories), keys=keys)[0], -1)
        return positions[codes], codes < 0
    text = _arrow_text(values)
    if text is not None and keys is None:
        keys = _arrow_text(index)
    if text is not None and keys is not None and keys.null_count == 0:
        if len(text) == len(keys) and index.is_unique and text.equals(keys.cast(text.type)):
            # The values are the index itself (reviews' ids in the order of the
            # applications table): 0.3 s less than hashing a million ids.
            return np.arange(len(text), dtype=np.int64), np.zeros(len(text), dtype=bool)
        missing = pc.is_null(text).to_numpy(zero_copy_only=False)
        # Reviews usually come in runs of rows with the same id (one per
        # criterion): look up the first of each run only.
        head = np.ones(len(text), dtype=bool)
        if len(text) > 1:
            differs = pc.not_equal(text.slice(1), text.slice(0, len(text) - 1))
            head[1:] = differs.fill_null(True).to_numpy(zero_copy_only=False)
        run = _run_index(head)
        looked_up = text if run is None else pc.filter(text, pa.array(head))
        positions = pc.index_in(looked_up, value_set=keys.cast(text.type))
        positions = positions.fill_null(-1).to_numpy().astype(np.int64)
        return (positions if run is None else positions[run]), missing
    codes, uniques = pd.factorize(values)  # missing values get code -1
    positions = np.append(index.get_indexer(uniques), -1).astype(np.int64)
    return positions[codes], codes < 0


def _factorize_sorted(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the values (-1 when missing) into their sorted distinct values."""
    categories = _string_categories(values)
    if categories is not None:
        codes = values.cat.codes.to_numpy()
        present = codes if codes.min(initial=0) >= 0 else codes[codes >= 0]
        recode, distinct = _sorted_categories(categories, np.bincount(present, minlength=len(categories)) > 0)
        return recode[codes], distinct
    text = _arrow_text(values)
    if text is None:
        codes, uniques = pd.factorize(values, sort=True)
        return codes.astype(np.int64), np.asarray(uniques, dtype=object)
    encoded = pc.dictionary_encode(text)
    distinct = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(distinct, kind="stable")
    recode = np.empty(len(order) + 1, dtype=np.int64)
    recode[order] = np.arange(len(order))
    recode[-1] = -1  # missing
    indices = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
    return recode[indices], distinct[order]


def _sorted_categories(categories: pd.Index, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``used`` categories, sorted, and the code of each category into them
    (-1 for the unused ones and, as the last element, for code -1: missing)."""
    distinct = np.asarray(categories, dtype=object)[used]
    order = np.argsort(distinct, kind="stable")
    recode = np.full(len(categories) + 1, -1, dtype=np.int64)
    recode[np.flatnonzero(used)[order]] = np.arange(len(order))
    return recode, distinct[order]


def _factorize_sorted_integers(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of integer keys into their sorted distinct values.

    Keys that are nearly in order (reviews listed application by application)
    are sorted (a stable sort is a merge of the few ordered runs: linear);
    others are hashed, and only their distinct values sorted. Both give the
    same codes."""
    head = np.ones(len(keys), dtype=bool)  # runs of equal keys: work on the first only
    head[1:] = keys[1:] != keys[:-1]
    run = _run_index(head)
    firsts = keys if run is None else keys[head]
    if np.count_nonzero(firsts[1:] < firsts[:-1]) <= len(firsts) // 100:
        order = np.argsort(firsts, kind="stable")
        ordered = firsts[order]
        new = np.ones(len(ordered), dtype=bool)
        new[1:] = ordered[1:] != ordered[:-1]
        codes = np.empty(len(firsts), dtype=np.int64)
        codes[order] = np.cumsum(new.astype(np.int64)) - 1
        uniques = ordered[new].astype(np.int64)
    else:
        codes, hashed = pd.factorize(firsts)
        order = np.argsort(hashed)
        recode = np.empty(len(order), dtype=np.int64)
        recode[order] = np.arange(len(order))
        codes = recode[codes]
        uniques = np.asarray(hashed)[order].astype(np.int64)
    return (codes if run is None else codes[run]), uniques


def _run_index(head: np.ndarray) -> np.ndarray | None:
    """For each element, the number of its run (``head`` marks where runs
    start); None when runs are too short for working on runs to pay off."""
    if np.count_nonzero(head) > len(head) // 2:
        return None
    run = head.astype(np.int64)  # numpy's cumsum of booleans into int64 is 8x slower
    np.cumsum(run, out=run)
    run -= 1
    return run


def _string_categories(values: pd.Series) -> pd.Index | None:
    """The categories of a Categorical of strings (as io reads review ids), else None."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return None
    categories = values.cat.categories
    if not (pd.api.types.is_string_dtype(categories) and pd.api.types.infer_dtype(categories) == "string"):
        return None
    return categories


def _arrow_text(values: pd.Series | pd.Index) -> pa.Array | None:
    """The values as one Arrow string array, or None if they are not all text."""
    try:
        if isinstance(values.dtype, pd.StringDtype | pd.ArrowDtype):
            array = pa.array(values.array)
        elif values.dtype == object:
            array = arrow_strings(values.to_numpy())
        else:
            return None
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    if array is None:
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array


class _IdSuggester:
    """The "did you mean" of unknown application ids, remembered per id.

    difflib over every id takes seconds per id on a large table, so above
    ``exact_limit`` ids only the 200 ids that share the most characters in the
    same places with the unknown one (a typo usually leaves the others in
    place) go to difflib.
    """

    exact_limit = 10_000
    shortlist = 200

    def __init__(self, ids: pd.Index) -> None:
        self.ids = ids
        self.answers: dict[str, str] = {}
        self.chars: np.ndarray | None = None
        self.text: np.ndarray | None = None

    def __call__(self, word: str) -> str:
        if word not in self.answers:
            self.answers[word] = self._suggest(word)
        return self.answers[word]

    def _suggest(self, word: str) -> str:
        if len(self.ids) <= self.exact_limit:
            return did_you_mean(word, self.ids.astype(str))
        if self.text is None:
            self.text = np.asarray(self.ids.astype(str), dtype=str)
            width = self.text.dtype.itemsize // 4
            self.chars = self.text.view(np.uint32).reshape(len(self.text), width)
        assert self.chars is not None
        width = self.chars.shape[1]
        target = np.asarray([word[:width]], dtype=self.text.dtype).view(np.uint32)
        in_place = (self.chars == target).sum(axis=1)
        candidates = self.text[np.argpartition(-in_place, self.shortlist)[: self.shortlist]]
        match = closest(word, sorted(candidates))
        return f"did you mean '{match}'?" if match else "check it against the applications' ids"


def _at_row(problem: Problem, row: int) -> Problem:
    return Problem(
        problem.message,
        row=row,
        field=problem.field,
        suggestion=problem.suggestion,
        code=problem.code,
    )


def _capped(problems: Sequence[Problem], total: int) -> list[Problem]:
    """At most MAX_PROBLEMS problems, then one saying how many more there were."""
    shown = list(problems[:MAX_PROBLEMS])
    if total > len(shown):
        more = total - len(shown)
        shown.append(
            Problem(
                f"{more} more problem{'s' if more > 1 else ''} not listed",
                suggestion="fix the problems above and run again to see the rest",
                code="more_problems",
            )
        )
    return shown


# --------------------------------------------------------------------------
# Arithmetic (vectorised, on integer codes)


def _aggregate(
    group: np.ndarray, score: np.ndarray, n_groups: int, method: str, trim: float
) -> np.ndarray:
    """Per group, the mean, median or trimmed mean of its scores (NaN if none).

    ``group`` is sorted (scores of one group are contiguous) and canonical: sums
    run in that order. Missing scores (NaN) are left out.
    """
    present = ~np.isnan(score)
    if not present.all():  # no copies when every pair scored the criterion
        group, score = group[present], score[present]
    if method != "mean":
        order = np.lexsort((score, group))  # by group, then score
        group, score = group[order], score[order]
        counts = np.bincount(group, minlength=n_groups)
        start = np.cumsum(counts) - counts
        rank = np.arange(len(group)) - start[group]
        size = counts[group]
        if method == "median":
            keep = (rank == (size - 1) // 2) | (rank == size // 2)
        else:  # trimmed_mean, as scipy.stats.trim_mean: int(trim * n) cut at each end
            cut = (trim * size).astype(np.int64)
            keep = (rank >= cut) & (rank < size - cut)
        group, score = group[keep], score[keep]
    counts = np.bincount(group, minlength=n_groups)
    sums = np.bincount(group, weights=score, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _disagreement(
    pair_app: np.ndarray, normalised: np.ndarray, weights: np.ndarray, n_reviews: np.ndarray
) -> np.ndarray:
    """Range of the reviewers' own totals per application (NaN below two reviewers).

    ``normalised`` holds one row per (application, reviewer) pair, sorted by
    application, and one 0-100 column per reviewer criterion (NaN: not scored).
    """
    disagreement = np.full(len(n_reviews), np.nan)
    if len(pair_app) == 0:
        return disagreement
    weighted = np.zeros(len(pair_app))
    weight = np.zeros(len(pair_app))
    for j, w in enumerate(weights):  # a loop over the few criteria, in rubric order
        scored = ~np.isnan(normalised[:, j])
        if scored.all():  # the same sums, without the selections
            weighted += w * normalised[:, j]
            weight += w
            continue
        weighted += np.where(scored, w * normalised[:, j], 0.0)
        weight += np.where(scored, w, 0.0)
    totals = weighted / weight  # every pair scored at least one criterion
    starts = np.flatnonzero(np.r_[True, pair_app[1:] != pair_app[:-1]])
    spread = np.maximum.reduceat(totals, starts) - np.minimum.reduceat(totals, starts)
    reviewed = pair_app[starts]
    disagreement[reviewed] = np.where(n_reviews[reviewed] >= 2, spread, np.nan)
    return disagreement


def _join_flags(bits: int) -> str:
    return ";".join(code for i, code in enumerate(FLAGS) if bits & (1 << i))


@functools.cache
def _flag_texts() -> pa.Array:
    """The ``flags`` text of each combination of flags, by its bits."""
    return pa.array([_join_flags(bits) for bits in range(2 ** len(FLAGS))], type=pa.large_string())


def _rank(
    output: Mapping[str, np.ndarray | pd.api.extensions.ExtensionArray],
    applications: pd.DataFrame,
    rubric: Rubric,
    ranked: np.ndarray,
    arrow_regions: pd.Series | None = None,
) -> tuple[pd.arrays.IntegerArray, pd.arrays.IntegerArray]:
    """Overall and in-region ranks of the ranked rows, by the tie-breakers
    (columns of the scoring table, ``output``, before those of the applications).
    ``arrow_regions``: the applications' regions in Arrow, when the caller has them."""
    n = len(ranked)
    candidates = np.flatnonzero(ranked)
    columns = [
        pd.Series(output[t.column], copy=False) if t.column in output else applications[t.column]
        for t in rubric.tie_breakers
    ]
    ascending = [t.order == "asc" for t in rubric.tie_breakers]
    in_order = candidates[_sort_order(columns, ascending, candidates)]

    rank = np.zeros(n, dtype=np.int64)
    rank[in_order] = np.arange(1, len(in_order) + 1)
    rank_in_region = np.zeros(n, dtype=np.int64)
    if arrow_regions is None:
        # The region's values, not a Series of them: pd.factorize of a Series costs 0.2 ms more.
        regions = applications["region"].array.take(in_order)
    else:
        # Codes from Arrow's hash of the whole column (20 ms a million), then
        # taken: taking the text first cost 50 ms, hashing Python strings 90.
        regions = pd.factorize(arrow_regions.array)[0][in_order]
    rank_in_region[in_order] = _cumcount(regions) + 1
    return (
        pd.arrays.IntegerArray(rank, mask=~ranked),
        pd.arrays.IntegerArray(rank_in_region, mask=~ranked),
    )


def _sort_order(columns: Sequence[pd.Series], ascending: Sequence[bool], rows: np.ndarray) -> np.ndarray:
    """The order of ``rows`` (positions in the columns) by the columns, as
    pandas' stable ``sort_values`` with missing values last gives it.

    pandas turns each column into the codes of a sorted Categorical, then
    lexsorts the codes: 0.45 s for a million rows, most of it sorting the
    distinct values of each column. Numbers and dates are lexsorted as they
    are (an order that ties the same rows and puts NaN last as the codes do;
    descending: negated), and text already strictly increasing (ids in
    order) is its own order; any other column goes through pandas.
    """
    keys = []
    for column, asc in zip(columns, ascending):
        key = _sort_key(column, asc, rows)
        if key is None:
            frame = pd.DataFrame(
                {f"key{i}": c.iloc[rows].reset_index(drop=True) for i, c in enumerate(columns)},
                index=pd.RangeIndex(len(rows)),
            )
            frame = frame.sort_values(
                list(frame.columns), ascending=list(ascending), kind="stable", na_position="last"
            )
            return frame.index.to_numpy()
        keys.append(key)
    # lexsort is stable: a last key that is the rows' own order (ids already
    # in order) changes nothing, and each key costs a pass (5 ms for 50,000 rows).
    in_place = np.arange(len(rows))
    while keys and np.array_equal(keys[-1], in_place):
        keys.pop()
    if not keys:
        return in_place
    if len(keys) == 1:
        return np.argsort(keys[0], kind="stable")
    return np.lexsort(keys[::-1])


def _sort_key(column: pd.Series, ascending: bool, rows: np.ndarray) -> np.ndarray | None:
    """The ``rows`` of a column as a numpy sort key that orders and ties them
    as pandas' sort codes do, or None when this column needs pandas."""
    dtype = column.dtype
    if not isinstance(dtype, np.dtype):
        text = _arrow_text(column)
        if text is None or len(rows) < 2:
            return None
        text = text.take(pa.array(rows))
        increasing = pc.greater(text.slice(1), text.slice(0, len(text) - 1))
        if increasing.null_count or not pc.all(increasing).as_py():
            return None
        return _increasing_key(len(rows), ascending)
    values = column.to_numpy()[rows]
    if dtype.kind == "f":
        if (np.signbit(values) & (values == 0)).any():  # -0.0: left to pandas' ties
            return None
        return values if ascending else -values  # NaN sorts last either way
    if dtype.kind in "iu" or (dtype.kind == "M" and not np.isnat(values).any()):
        values = values.astype(np.int64, copy=False) if dtype.kind == "M" else values
        if dtype.kind == "u" and not ascending:
            return None
        return values if ascending else ~values  # ~x reverses the order without overflow
    if dtype == object and len(values) > 1:
        try:
            increasing = bool((values[1:] > values[:-1]).all())
        except TypeError:  # a missing value, or values that do not compare
            return None
        if increasing and isinstance(values[0], str):
            return _increasing_key(len(values), ascending)
    return None


def _increasing_key(n: int, ascending: bool) -> np.ndarray:
    """The sort key of ``n`` distinct values given in increasing order."""
    return np.arange(n) if ascending else np.arange(n - 1, -1, -1)


def _cumcount(values: pd.Series | pd.api.extensions.ExtensionArray | np.ndarray) -> np.ndarray:
    """For each element, how many equal elements come before it (missing
    values count as one group; so does code -1 when the values are integer
    codes): pandas' ``groupby(dropna=False).cumcount()`` without its groupby
    machinery (0.2 s for a million applications)."""
    codes, uniques = pd.factorize(values)
    codes[codes < 0] = len(uniques)  # missing: one more group
    if len(uniques) < np.iinfo(np.int16).max:
        codes = codes.astype(np.int16)  # numpy's stable sort of 16-bit integers is a radix sort
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    within = np.arange(len(codes)) - np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    counts = np.empty(len(codes), dtype=np.int64)
    counts[order] = within
    return counts


# --------------------------------------------------------------------------
# Used reviews and reviewer statistics


def _empty_reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "application_id": pd.Series(dtype="str"),
            "reviewer_id": pd.Series(dtype="str"),
            "criterion": pd.Series(dtype="str"),
            "score": pd.Series(dtype=float),
        }
    )


def _reviewer_stats(pairs: _PairScores | None, rubric: Rubric) -> pd.DataFrame:
    columns = {"reviewer_id": "str", "n_applications": "int64", "mean_score": float,
               "mean_deviation": float}
    if pairs is None or len(pairs.pair_app) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    n_apps, n_revs = len(pairs.application_ids), len(pairs.reviewer_ids)
    app, rev = pairs.pair_app, pairs.pair_rev

    # Scores on the rubric's scale, whatever each criterion's own scale.
    lows = np.array([rubric.scale_of(c).min for c in pairs.criteria])
    highs = np.array([rubric.scale_of(c).max for c in pairs.criteria])
    scale = rubric.scale
    value = scale.min + (pairs.matrix - lows) / (highs - lows) * (scale.max - scale.min)
    scored = ~np.isnan(value)

    # Deviation from the mean of the other reviewers of the same (application, criterion).
    deviation = np.full(value.shape, np.nan)
    for j in range(value.shape[1]):
        column = np.where(scored[:, j], value[:, j], 0.0)
        group_sum = np.bincount(app, weights=column, minlength=n_apps)[app]
        others = np.bincount(app, weights=scored[:, j], minlength=n_apps)[app] - 1
        shared = scored[:, j] & (others > 0)
        deviation[shared, j] = value[shared, j] - (
            group_sum[shared] - value[shared, j]
        ) / others[shared]
    compared = ~np.isnan(deviation)

    n_applications = np.bincount(rev, minlength=n_revs)
    n_scores = np.bincount(rev, weights=scored.sum(axis=1), minlength=n_revs)
    n_compared = np.bincount(rev, weights=compared.sum(axis=1), minlength=n_revs)
    score_sum = np.bincount(rev, weights=np.where(scored, value, 0.0).sum(axis=1), minlength=n_revs)
    deviation_sum = np.bincount(
        rev, weights=np.where(compared, deviation, 0.0).sum(axis=1), minlength=n_revs
    )
    present = n_applications > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_deviation = np.where(n_compared > 0, deviation_sum / n_compared, np.nan)
    return pd.DataFrame(
        {
            "reviewer_id": pd.Index(pairs.reviewer_ids)[present],
            "n_applications": n_applications[present].astype(np.int64),
            "mean_score": score_sum[present] / n_scores[present],
            "mean_deviation": mean_deviation[present],
        }
    )
