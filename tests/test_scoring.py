"""Tests of selection.scoring: hand-computed totals, flags, ranks, validation."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from selection.errors import ConfigError, InputDataError
from selection.rubric import Rubric, load_rubric
from selection.scoring import ScoringResult, reviews_to_long, score

ROOT = Path(__file__).resolve().parents[1]


def label(text: str) -> dict[str, str]:
    return {"fr": text, "en": text}


def make_rubric(**overrides: object) -> Rubric:
    """Toy rubric: criterion a (weight 2) and b (weight 1), scored 1-5 by reviewers."""
    data: dict[str, object] = {
        "id": "toy",
        "title": label("Toy"),
        "criteria": [
            {"id": "a", "label": label("A"), "weight": 2},
            {"id": "b", "label": label("B"), "weight": 1},
        ],
        "min_reviews": 2,
        "disagreement": {"threshold": 25},
    }
    data.update(overrides)
    return Rubric.model_validate(data)


def make_applications(ids: list[str] | None = None, **columns: list[object]) -> pd.DataFrame:
    ids = ids or ["A1", "A2", "A3"]
    table = pd.DataFrame(
        {
            "application_id": ids,
            "region": columns.pop("region", ["Souss-Massa"] * len(ids)),
            "requested_amount": [50_000] * len(ids),
        }
    )
    for name, values in columns.items():
        table[name] = values
    return table


def long_reviews(scores: dict[tuple[str, str], dict[str, float]]) -> pd.DataFrame:
    """{(application, reviewer): {criterion: score}} as a long table."""
    rows = [
        (app, reviewer, criterion, value)
        for (app, reviewer), given in scores.items()
        for criterion, value in given.items()
    ]
    return pd.DataFrame(rows, columns=["application_id", "reviewer_id", "criterion", "score"])


# A1: 3 reviewers, A2: 2 reviewers, A3: 5 reviewers.
TOY = {
    ("A1", "r1"): {"a": 5, "b": 2},
    ("A1", "r2"): {"a": 4, "b": 3},
    ("A1", "r3"): {"a": 1, "b": 5},
    ("A2", "r1"): {"a": 2, "b": 4},
    ("A2", "r2"): {"a": 3, "b": 4},
    ("A3", "r1"): {"a": 1, "b": 3},
    ("A3", "r2"): {"a": 2, "b": 3},
    ("A3", "r3"): {"a": 4, "b": 4},
    ("A3", "r4"): {"a": 5, "b": 4},
    ("A3", "r5"): {"a": 5, "b": 5},
}


def run(rubric: Rubric | None = None, reviews: dict | None = None, **kwargs) -> ScoringResult:
    return score(
        kwargs.pop("applications", make_applications()),
        long_reviews(reviews or TOY),
        rubric or make_rubric(),
        **kwargs,
    )


# ---------------------------------------------------------------------------
# Aggregation, hand-computed


def test_columns_and_types() -> None:
    table = run().table
    assert list(table.columns) == [
        "application_id", "n_reviews", "a", "b", "score", "disagreement",
        "ranked", "rank", "rank_in_region", "flags",
    ]
    assert table["n_reviews"].dtype == np.int64
    assert table["ranked"].dtype == bool
    assert str(table["rank"].dtype) == "Int64"
    assert str(table["rank_in_region"].dtype) == "Int64"
    assert table["n_reviews"].tolist() == [3, 2, 5]


def test_mean() -> None:
    # A1: a mean 10/3 -> 58.33, b 10/3 -> 58.33; A2: a 2.5 -> 37.5, b 4 -> 75;
    # A3: a 3.4 -> 60, b 3.8 -> 70; score = (2a + b) / 3.
    table = run().table
    assert table["a"].tolist() == pytest.approx([175 / 3, 37.5, 60])
    assert table["b"].tolist() == pytest.approx([175 / 3, 75, 70])
    assert table["score"].tolist() == [58.33, 50.0, 63.33]
    assert table["rank"].tolist() == [2, 3, 1]


def test_median() -> None:
    # A1: a 4 -> 75, b 3 -> 50; A2: two reviewers, the mean; A3: a 4, b 4 -> 75.
    table = run(make_rubric(aggregation={"method": "median"})).table
    assert table["a"].tolist() == [75, 37.5, 75]
    assert table["b"].tolist() == [50, 75, 75]
    assert table["score"].tolist() == [66.67, 50.0, 75.0]


def test_trimmed_mean_cuts_nothing_below_five_reviewers_at_trim_02() -> None:
    # int(0.2 * 3) = int(0.2 * 2) = 0: A1 and A2 as the mean. A3 (5 reviewers):
    # one cut at each end: a [2, 4, 5] -> 11/3, b [3, 4, 4] -> 11/3 -> 66.67.
    table = run(make_rubric(aggregation={"method": "trimmed_mean", "trim": 0.2})).table
    assert table["score"].tolist() == [58.33, 50.0, 66.67]
    assert table["a"].iloc[2] == pytest.approx(200 / 3)


def test_trimmed_mean_with_a_large_trim_is_the_median_of_three() -> None:
    # int(0.4 * 3) = 1 cut at each end of three; int(0.4 * 5) = 2 of five.
    table = run(make_rubric(aggregation={"method": "trimmed_mean", "trim": 0.4})).table
    assert table["score"].tolist() == [66.67, 50.0, 75.0]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(1, 5).map(float), min_size=1, max_size=9), min_size=1, max_size=4
    ),
    st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.34, 0.4, 0.49]),
)
def test_trimmed_mean_agrees_with_scipy(groups: list[list[float]], trim: float) -> None:
    rubric = make_rubric(
        criteria=[{"id": "a", "label": label("A"), "weight": 1}],
        aggregation={"method": "trimmed_mean", "trim": trim},
        min_reviews=1,
    )
    ids = [f"A{i}" for i in range(len(groups))]
    reviews = {
        (app, f"r{j}"): {"a": value}
        for app, values in zip(ids, groups)
        for j, value in enumerate(values)
    }
    table = run(rubric, reviews, applications=make_applications(ids)).table
    expected = [(scipy.stats.trim_mean(v, trim) - 1) / 4 * 100 for v in groups]
    assert table["a"].tolist() == pytest.approx(expected, abs=1e-9)


def test_formula_criterion_from_application_fields_is_clipped() -> None:
    rubric = make_rubric(
        criteria=[
            {"id": "a", "label": label("A"), "weight": 1},
            {
                "id": "age",
                "label": label("Age"),
                "weight": 1,
                "source": "formula",
                "formula": "call_year - founded_year",
                "scale": {"min": 0, "max": 10},
            },
        ]
    )
    applications = make_applications(
        ["A1", "A2", "A3", "A4"], founded_year=[2016.0, 1990.0, 2030.0, np.nan]
    )
    reviews = {(app, r): {"a": 3} for app in ["A1", "A2", "A3", "A4"] for r in ("r1", "r2")}
    table = run(rubric, reviews, applications=applications, constants={"call_year": 2022}).table
    # 6 years -> 60; 32 clipped to 10 -> 100; -8 clipped to 0 -> 0; missing -> NaN.
    assert table["age"].tolist()[:3] == [60.0, 100.0, 0.0]
    assert np.isnan(table["age"].iloc[3])
    assert table["score"].tolist()[:3] == [55.0, 75.0, 25.0]
    assert np.isnan(table["score"].iloc[3])
    assert table["flags"].tolist() == ["", "", "", "missing_criterion"]
    assert table["ranked"].tolist() == [True, True, True, False]
    assert table["rank"].tolist() == [2, 1, 3, pd.NA]


# ---------------------------------------------------------------------------
# Disagreement and flags


def test_disagreement_value_and_flag() -> None:
    # Reviewer totals (2a + b)/3 on 0-100. A1: 75, 66.67, 33.33 -> 41.67;
    # A2: 41.67, 58.33 -> 16.67; A3: 16.67 .. 100 -> 83.33.
    table = run().table
    assert table["disagreement"].tolist() == [41.67, 16.67, 83.33]
    assert table["flags"].tolist() == ["disagreement", "", "disagreement"]


def test_disagreement_uses_only_the_criteria_a_reviewer_scored() -> None:
    reviews = {("A1", "r1"): {"a": 5, "b": 5}, ("A1", "r2"): {"a": 4}}
    table = run(reviews=reviews, applications=make_applications(["A1"])).table
    # r1: 100; r2 scored only a: 75. The criterion b rests on r1 alone.
    assert table["disagreement"].tolist() == [25.0]
    assert table["flags"].tolist() == [""]  # 25 is not above the threshold 25
    assert table["score"].tolist() == [91.67]  # a (5 + 4) / 2 -> 87.5, b 5 -> 100


def test_one_reviewer_has_no_disagreement_and_insufficient_reviews_is_not_ranked() -> None:
    reviews = dict(TOY)
    del reviews[("A2", "r2")]
    table = run(reviews=reviews).table
    row = table.iloc[1]
    assert row["n_reviews"] == 1
    assert np.isnan(row["disagreement"])
    assert row["score"] == 41.67  # still computed: a 2 -> 25, b 4 -> 75
    assert row["flags"] == "insufficient_reviews"
    assert not row["ranked"]
    assert row["rank"] is pd.NA and row["rank_in_region"] is pd.NA
    assert table["rank"].tolist() == [2, pd.NA, 1]


def test_missing_criterion() -> None:
    reviews = {key: {"a": value["a"]} if key[0] == "A2" else value for key, value in TOY.items()}
    table = run(reviews=reviews).table
    assert np.isnan(table["b"].iloc[1]) and np.isnan(table["score"].iloc[1])
    assert table["a"].iloc[1] == 37.5
    assert table["flags"].tolist() == ["disagreement", "missing_criterion", "disagreement"]
    assert table["ranked"].tolist() == [True, False, True]


def test_flags_in_fixed_order() -> None:
    reviews = {("A1", "r1"): {"a": 5}}
    table = run(reviews=reviews, applications=make_applications(["A1", "A2"])).table
    assert table["flags"].tolist() == [
        "insufficient_reviews;missing_criterion",
        "insufficient_reviews;missing_criterion",
    ]
    assert table["n_reviews"].tolist() == [1, 0]


def test_ineligible_applications_are_not_scored_and_their_reviews_are_counted() -> None:
    eligible = pd.Series([True, False, True])
    result = run(eligible=eligible)
    table = result.table
    assert result.ignored_reviews == 4  # A2: two reviewers, two criteria
    assert table["n_reviews"].tolist() == [3, 0, 5]
    assert table[["a", "b", "score", "disagreement"]].iloc[1].isna().all()
    assert table["flags"].tolist() == ["disagreement", "", "disagreement"]
    assert table["ranked"].tolist() == [True, False, True]
    assert table["rank"].tolist() == [2, pd.NA, 1]
    # The scores of the others do not change.
    assert table["score"].tolist()[0::2] == [58.33, 63.33]
    assert len(result.reviews) == 16 and "A2" not in set(result.reviews["application_id"])


def test_ineligible_without_reviews_gets_no_flag() -> None:
    reviews = {key: value for key, value in TOY.items() if key[0] != "A2"}
    table = run(reviews=reviews, eligible=pd.Series([True, False, True])).table
    assert table["flags"].tolist()[1] == ""


def test_eligible_must_be_aligned() -> None:
    with pytest.raises(ValueError, match="same index"):
        run(eligible=pd.Series([True, True, True], index=[1, 2, 3]))


@pytest.mark.parametrize(
    "eligible",
    [
        pd.Series([True, None, True], dtype="boolean"),  # a nullable boolean may hold NA
        pd.Series([True, None, True], dtype=object),
    ],
)
def test_eligible_must_not_have_missing_values(eligible: pd.Series) -> None:
    with pytest.raises(ValueError, match="missing values"):
        run(eligible=eligible)


def test_eligible_as_nullable_boolean_without_missing_values() -> None:
    plain = run(eligible=pd.Series([True, False, True])).table
    nullable = run(eligible=pd.Series([True, False, True], dtype="boolean")).table
    pd.testing.assert_frame_equal(plain, nullable)


# ---------------------------------------------------------------------------
# Ranking


def tie_rubric() -> Rubric:
    return make_rubric(
        criteria=[{"id": "a", "label": label("A"), "weight": 1}],
        min_reviews=1,
        tie_breakers=[
            {"column": "score", "order": "desc"},
            {"column": "submitted_at", "order": "asc"},
            {"column": "application_id", "order": "asc"},
        ],
    )


def test_tie_breaking_by_submitted_at_then_application_id() -> None:
    applications = make_applications(
        ["E", "D", "C", "B", "A"],
        region=["Souss-Massa", "L'Oriental", "Souss-Massa", "L'Oriental", "Souss-Massa"],
        submitted_at=pd.to_datetime(
            ["2022-03-01", "2022-03-02", "2022-03-01", "2022-02-01", "2022-03-01"]
        ),
    )
    # E, D, C, A score 3 (50); B scores 2 (25). Among the 50s: E, C, A were
    # submitted first (ties among them broken by id: A, C, E), then D.
    reviews = {(app, "r1"): {"a": 2 if app == "B" else 3} for app in "EDCBA"}
    table = run(tie_rubric(), reviews, applications=applications).table
    assert table["score"].tolist() == [50, 50, 50, 25, 50]
    assert table["rank"].tolist() == [3, 4, 2, 5, 1]
    # Souss-Massa: A, C, E; L'Oriental: D, B.
    assert table["rank_in_region"].tolist() == [3, 1, 2, 2, 1]


def test_ranks_follow_the_rounded_score() -> None:
    # B is a hair better (66.67 vs 66.6667) but both show as 66.67: tied, so the id decides.
    rubric = make_rubric(
        criteria=[{"id": "a", "label": label("A"), "weight": 1}],
        scale={"min": 0, "max": 300},
        min_reviews=1,
    )
    reviews = {("B", "r1"): {"a": 200.01}, ("A", "r1"): {"a": 200.0}}
    table = run(rubric, reviews, applications=make_applications(["B", "A"])).table
    assert table["score"].tolist() == [66.67, 66.67]
    assert table["rank"].tolist() == [2, 1]


def test_unknown_tie_breaker_is_a_config_error() -> None:
    rubric = make_rubric(tie_breakers=[{"column": "submited_at", "order": "asc"}])
    applications = make_applications(submitted_at=pd.to_datetime(["2022-01-01"] * 3))
    with pytest.raises(ConfigError) as info:
        run(rubric, applications=applications)
    assert str(info.value) == (
        "field 'tie_breakers': tie-breaker column 'submited_at' is neither a column of the "
        "scoring table nor of the applications. Suggestion: did you mean 'submitted_at'?"
    )


# ---------------------------------------------------------------------------
# Input forms and determinism


def test_wide_sheet_gives_the_same_result_as_long() -> None:
    long = long_reviews(TOY)
    wide = long.pivot(index=["application_id", "reviewer_id"], columns="criterion", values="score")
    wide = wide.reset_index()
    wide.columns.name = None
    wide["comment"] = "ok"
    wide = wide[["application_id", "reviewer_id", "comment", "b", "a"]]
    converted = reviews_to_long(wide, make_rubric())
    assert list(converted.columns) == [
        "application_id", "reviewer_id", "criterion", "score", "comment"
    ]
    assert len(converted) == len(long)
    expected = score(make_applications(), long, make_rubric())
    got = score(make_applications(), wide, make_rubric())
    pd.testing.assert_frame_equal(got.table, expected.table)


def test_wide_sheet_as_text_with_blank_cells() -> None:
    wide = pd.DataFrame(
        {
            "application_id": ["A1", "A1"],
            "reviewer_id": ["r1", "r2"],
            "a": ["5", " 3,5 "],
            "b": ["4", "  "],
        }
    )
    long = reviews_to_long(wide, make_rubric())
    assert long[["reviewer_id", "criterion"]].values.tolist() == [
        ["r1", "a"], ["r1", "b"], ["r2", "a"]
    ]
    table = score(make_applications(["A1"]), wide, make_rubric()).table
    assert table["a"].tolist() == [81.25]  # mean of 5 and 3.5


def test_long_form_is_returned_unchanged() -> None:
    long = long_reviews(TOY)
    assert reviews_to_long(long, make_rubric()) is long


@settings(max_examples=25, deadline=None)
@given(
    st.permutations(range(20)),
    st.lists(st.floats(1, 5, allow_nan=False), min_size=20, max_size=20),
    st.sampled_from(["mean", "median", "trimmed_mean"]),
)
def test_row_order_of_reviews_does_not_matter(
    permutation: list[int], values: list[float], method: str
) -> None:
    long = long_reviews(TOY)
    long["score"] = values
    rubric = make_rubric(aggregation={"method": method, "trim": 0.2})
    expected = score(make_applications(), long, rubric)
    shuffled = score(make_applications(), long.iloc[permutation].reset_index(drop=True), rubric)
    pd.testing.assert_frame_equal(shuffled.table, expected.table, check_exact=True)
    pd.testing.assert_frame_equal(
        shuffled.reviewer_stats(), expected.reviewer_stats(), check_exact=True
    )


# ---------------------------------------------------------------------------
# Validation: every problem kind, with its exact text


def bad(rows: list[tuple[object, ...]], rubric: Rubric | None = None) -> InputDataError:
    reviews = pd.DataFrame(rows, columns=["application_id", "reviewer_id", "criterion", "score"])
    with pytest.raises(InputDataError) as info:
        score(make_applications(), reviews, rubric or make_rubric())
    return info.value


def formula_rubric() -> Rubric:
    return make_rubric(
        criteria=[
            {"id": "impact", "label": label("Impact"), "weight": 1},
            {"id": "ancrage", "label": label("Ancrage"), "weight": 1, "source": "formula",
             "formula": "members / 10"},
        ]
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("A11", "r1", "a", 3),
         "row 2, field 'application_id': review of unknown application_id 'A11'. "
         "Suggestion: did you mean 'A1'?"),
        ((None, "r1", "a", 3),
         "row 2, field 'application_id': application_id is missing. "
         "Suggestion: give the id of the application reviewed"),
        (("A1", None, "a", 3),
         "row 2, field 'reviewer_id': reviewer_id is missing. "
         "Suggestion: give the id of the reviewer"),
        (("A1", "r1", "aa", 3),
         "row 2, field 'criterion': unknown criterion 'aa'. Suggestion: did you mean 'a'?"),
        (("A1", "r1", None, 3),
         "row 2, field 'criterion': criterion is missing. Suggestion: expected one of 'a', 'b'"),
        (("A1", "r1", "a", 7),
         "row 2, field 'score': score 7 is outside the scale 1-5 of criterion 'a'. "
         "Suggestion: give a score from 1 to 5"),
        (("A1", "r1", "a", 0.5),
         "row 2, field 'score': score 0.5 is outside the scale 1-5 of criterion 'a'. "
         "Suggestion: give a score from 1 to 5"),
        (("A1", "r1", "a", None),
         "row 2, field 'score': score is missing. "
         "Suggestion: give a score from 1 to 5 or remove the row"),
        (("A1", "r1", "a", "beaucoup"),
         "row 2, field 'score': score 'beaucoup' is not a number. "
         "Suggestion: give a score from 1 to 5"),
    ],
)
def test_each_problem_kind(row: tuple, expected: str) -> None:
    err = bad([row])
    assert str(err) == expected
    assert err.with_file("reviews.csv").file == "reviews.csv"


def test_review_of_a_formula_criterion() -> None:
    err = bad([("A1", "r1", "ancrage", 3)], formula_rubric())
    assert str(err) == (
        "row 2, field 'criterion': criterion 'ancrage' is computed by a formula; reviewers do "
        "not score it. Suggestion: remove this score"
    )
    assert err.code == "formula_criterion"


def test_same_score_given_twice_names_the_first_row() -> None:
    err = bad([("A1", "r1", "a", 3), ("A1", "r2", "a", 3), ("A1", "r1", "a", 4)])
    assert str(err) == (
        "row 4, field 'score': reviewer 'r1' scores criterion 'a' of application 'A1' a second "
        "time (first in row 2). Suggestion: keep one of the two scores"
    )
    assert err.code == "duplicate"


def test_several_problems_reported_together_in_row_order() -> None:
    err = bad(
        [
            ("A1", "r1", "a", 3),
            ("A1", "r1", "b", 9),
            ("A4", "r1", "c", 3),
            ("A1", "r1", "a", 3),
        ]
    )
    assert str(err) == "\n".join(
        [
            "4 problems found:",
            "  - row 3, field 'score': score 9 is outside the scale 1-5 of criterion 'b'. "
            "Suggestion: give a score from 1 to 5",
            "  - row 4, field 'application_id': review of unknown application_id 'A4'. "
            "Suggestion: expected one of 'A1', 'A2', 'A3'",
            "  - row 4, field 'criterion': unknown criterion 'c'. "
            "Suggestion: expected one of 'a', 'b'",
            "  - row 5, field 'score': reviewer 'r1' scores criterion 'a' of application 'A1' a "
            "second time (first in row 2). Suggestion: keep one of the two scores",
        ]
    )
    assert [p.row for p in err.problems] == [3, 4, 4, 5]
    assert all(p.file is None for p in err.problems)


def test_problem_list_is_capped_at_twenty() -> None:
    err = bad([("A1", f"r{i}", "a", 6) for i in range(30)])
    assert len(err.problems) == 21
    assert [p.row for p in err.problems[:20]] == list(range(2, 22))
    assert str(err.problems[-1]) == (
        "10 more problems not listed. "
        "Suggestion: fix the problems above and run again to see the rest"
    )


def test_problems_in_reviews_of_ineligible_applications_are_still_reported() -> None:
    reviews = long_reviews({("A2", "r1"): {"a": 8}})
    with pytest.raises(InputDataError, match="score 8 is outside"):
        score(make_applications(), reviews, make_rubric(), eligible=pd.Series([True, False, True]))


def test_wide_sheet_problems_name_the_sheet_row_and_column() -> None:
    wide = pd.DataFrame(
        {
            "application_id": ["A1", "A9", "A2"],
            "reviewer_id": ["r1", "r1", "r1"],
            "a": [3, 4, 6],
            "bb": [1, 1, 1],
        }
    )
    with pytest.raises(InputDataError) as info:
        score(make_applications(), wide, make_rubric())
    assert [str(p) for p in info.value.problems] == [
        "row 1, field 'bb': column 'bb' is not a criterion of rubric 'toy'. "
        "Suggestion: did you mean 'b'?",
        "row 3, field 'application_id': review of unknown application_id 'A9'. "
        "Suggestion: expected one of 'A1', 'A2', 'A3'",
        "row 4, field 'a': score 6 is outside the scale 1-5 of criterion 'a'. "
        "Suggestion: give a score from 1 to 5",
    ]


def test_unknown_id_suggestion_on_a_large_table() -> None:
    ids = [f"TAM-{i:05d}" for i in range(12_000)]  # above the exact-search limit
    reviews = pd.DataFrame(
        {"application_id": ["TAM-O1234"], "reviewer_id": ["r1"], "criterion": ["a"], "score": [3]}
    )
    with pytest.raises(InputDataError) as info:
        score(make_applications(ids), reviews, make_rubric())
    assert info.value.first.message == "review of unknown application_id 'TAM-O1234'"
    # Several ids are equally close ('TAM-01234', 'TAM-19234', ...): any of them.
    found = re.fullmatch(r"did you mean '(TAM-\d{5})'\?", info.value.suggestion or "")
    assert found is not None

    def ratio(other: str) -> float:
        return difflib.SequenceMatcher(None, "tam-o1234", other.lower()).ratio()

    assert ratio(found.group(1)) == max(ratio(i) for i in ids)


def test_wide_sheet_with_a_formula_criterion_column() -> None:
    wide = pd.DataFrame(
        {"application_id": ["A1"], "reviewer_id": ["r1"], "impact": [3], "ancrage": [4]}
    )
    with pytest.raises(InputDataError) as info:
        score(make_applications(), wide, formula_rubric())
    assert str(info.value) == (
        "row 2, field 'ancrage': criterion 'ancrage' is computed by a formula; reviewers do "
        "not score it. Suggestion: remove this score"
    )


def test_criterion_named_like_an_output_column_is_a_config_error() -> None:
    rubric = make_rubric(criteria=[{"id": "rank", "label": label("Rank"), "weight": 1}])
    with pytest.raises(ConfigError, match="criterion id 'rank' is also the name of a column"):
        run(rubric)


def test_missing_review_column() -> None:
    reviews = long_reviews(TOY).rename(columns={"score": "scor"})
    with pytest.raises(InputDataError) as info:
        score(make_applications(), reviews, make_rubric())
    assert str(info.value) == (
        "row 1, field 'score': the reviews have no column 'score'. Suggestion: did you mean 'scor'?"
    )


# ---------------------------------------------------------------------------
# Reviewer statistics


def test_reviewer_stats() -> None:
    without_a3 = {key: value for key, value in TOY.items() if key[0] != "A3"}
    stats = run(reviews=without_a3).reviewer_stats()
    assert stats["reviewer_id"].tolist() == ["r1", "r2", "r3"]
    assert stats["n_applications"].tolist() == [2, 2, 1]
    # r1 scored 5, 2, 2, 4; r2 4, 3, 3, 4; r3 1, 5.
    assert stats["mean_score"].tolist() == pytest.approx([3.25, 3.5, 3.0])
    # r1 on A1: a 5 - 2.5 = 2.5, b 2 - 4 = -2; on A2: a 2 - 3 = -1, b 0.
    # r2: 1 - 0.5 + 1 + 0; r3: 1 - 4.5 and 5 - 2.5.
    assert stats["mean_deviation"].tolist() == pytest.approx([-0.125, 0.375, -0.5])


# ---------------------------------------------------------------------------
# The real TAMURI rubric


def test_tamuri_rubric_on_a_small_table() -> None:
    rubric = load_rubric(ROOT / "rubrics" / "tamuri.yaml")
    rng = np.random.default_rng(2022)
    ids = [f"T-{i:03d}" for i in range(12)]
    applications = make_applications(
        ids,
        region=["Casablanca-Settat", "Souss-Massa", "L'Oriental"] * 4,
        founded_year=rng.integers(2000, 2021, len(ids)),
        members=rng.integers(5, 200, len(ids)),
        submitted_at=pd.date_range("2022-03-01", periods=len(ids), freq="D"),
    )
    reviewer_criteria = [c.id for c in rubric.reviewer_criteria]
    reviews = pd.DataFrame(
        [
            (app, f"rev{r}", criterion, int(rng.integers(1, 6)))
            for app in ids[:-1]  # the last application is not reviewed
            for r in range(3)
            for criterion in reviewer_criteria
        ],
        columns=["application_id", "reviewer_id", "criterion", "score"],
    )
    result = score(applications, reviews, rubric, constants={"call_year": 2022})
    table = result.table
    assert list(table.columns) == [
        "application_id", "n_reviews", "pertinence", "faisabilite", "impact", "capacite",
        "durabilite", "ancrage", "score", "disagreement", "ranked", "rank", "rank_in_region",
        "flags",
    ]
    assert table["n_reviews"].tolist() == [3] * 11 + [0]
    assert table["ranked"].tolist() == [True] * 11 + [False]
    assert sorted(table["rank"].dropna().tolist()) == list(range(1, 12))
    assert table["flags"].iloc[-1] == "insufficient_reviews;missing_criterion"
    ancrage = np.clip(
        1 + (2022 - applications["founded_year"]) / 4 + applications["members"] / 60, 1, 5
    )
    assert table["ancrage"].tolist() == pytest.approx(((ancrage - 1) / 4 * 100).tolist())
    weights = {c.id: c.weight for c in rubric.criteria}
    expected = sum(w * table[c] for c, w in weights.items()) / sum(weights.values())
    assert table["score"].iloc[:11].tolist() == pytest.approx(expected.iloc[:11].round(2).tolist())
    ranked = table[table["ranked"]].sort_values("rank")
    assert ranked["score"].is_monotonic_decreasing
    assert len(result.reviewer_stats()) == 3


# ---------------------------------------------------------------------------
# Reviews read from a file as categories (selection.io, selection.runner):
# the same scores and the same errors as when every cell is text.

_TOY_ROWS = [(app, reviewer, c, v) for (app, reviewer), given in TOY.items() for c, v in given.items()]


@pytest.mark.parametrize(
    "rows",
    [
        _TOY_ROWS,
        _TOY_ROWS[::-1],  # out of order: the pairs are hashed, not merged
        [(f" {a} ", f"{r} ", f" {c}", f" {v} ") for a, r, c, v in _TOY_ROWS],  # blanks around
        [*_TOY_ROWS, ("A1", "r1", "a", 3)],  # a second score
        [*_TOY_ROWS[:3], ("A1", "r9", "a", "beaucoup"), ("A1", "r9", "b", "3,5")],
        [*_TOY_ROWS[:3], ("A1", "r9", "a", "nan")],
        [*_TOY_ROWS[:3], ("A4", "r9", "c", 9), ("A1", "  ", "a", 2), ("", "r1", "a", 3), ("A2", "r1", "b", 0)],
        [*_TOY_ROWS, ("A1", "r9", "a", "3,5"), ("A2", "r9", "b", "4.0")],
    ],
)
def test_reviews_read_as_categories_give_what_text_gives(tmp_path: Path, rows: list[tuple]) -> None:
    from selection.io import read_table
    from selection.validate import REVIEW_COLUMNS, prepare_reviews

    path = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=list(REVIEW_COLUMNS)).to_csv(path, index=False)
    outcomes = []
    # As text, as categories, and with the scores as numbers when they all are (as the runner reads them).
    for categories, numbers in (((), ()), (REVIEW_COLUMNS, ()), (REVIEW_COLUMNS, ("score",))):
        table = read_table(path, categories=categories, numbers=numbers)
        assert isinstance(table["reviewer_id"].dtype, pd.CategoricalDtype) == bool(categories)
        try:
            result = score(make_applications(), prepare_reviews(table), make_rubric())
        except InputDataError as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append(
                (result.table.to_csv(), result.reviews.to_csv(), result.reviewer_stats().to_csv(),
                 list(result.reviews["reviewer_id"].cat.categories))
            )
    assert outcomes[0] == outcomes[1] == outcomes[2]


# ---------------------------------------------------------------------------
# The fast path for reviews read from a file (pair runs, selection.scoring._parse_runs)
# and the general path it falls back to: the same outcome, row for row.


def _outcomes_by_path(
    path: Path, rows: list[tuple], monkeypatch: pytest.MonkeyPatch, **kwargs: object
) -> tuple[list[object], list[bool]]:
    """The outcome of scoring the rows read as text and read as the runner reads
    them, and whether each reading went through the fast path."""
    import selection.scoring as scoring
    from selection.io import read_table
    from selection.validate import REVIEW_COLUMNS, prepare_reviews

    fast: list[bool] = []
    parse_runs = scoring._parse_runs

    def spy(*args: object, **keywords: object) -> object:
        parsed = parse_runs(*args, **keywords)
        fast.append(parsed is not None)
        return parsed

    monkeypatch.setattr(scoring, "_parse_runs", spy)
    pd.DataFrame(rows, columns=list(REVIEW_COLUMNS)).to_csv(path, index=False)
    outcomes: list[object] = []
    for categories, numbers in (((), ()), (REVIEW_COLUMNS, ("score",))):
        table = read_table(path, categories=categories, numbers=numbers)
        used = len(fast)
        applications = kwargs.get("applications", make_applications(["A1", "A2", "A3", "A4"]))
        # Ids and regions as Python strings, and as funnel scores them (pandas'
        # str, read in Arrow): the outcome is the same.
        as_objects = applications.astype({"application_id": object, "region": object})
        seen = []
        for these in (as_objects, applications.astype({"application_id": "str", "region": "str"})):
            try:
                result = score(
                    these,
                    prepare_reviews(table),
                    kwargs.get("rubric", make_rubric()),
                    eligible=kwargs.get("eligible"),
                )
            except InputDataError as exc:
                seen.append(str(exc))
            else:
                seen.append(
                    (result.table.to_csv(), result.reviews.to_csv(), result.reviewer_stats().to_csv(),
                     result.ignored_reviews)
                )
        assert seen[0] == seen[1]
        outcomes.append(seen[0])
        if len(fast) == used:  # _parse_runs not reached (a column check failed first)
            fast.append(False)
        assert len(set(fast[used:])) == 1  # both scorings took the same path
        del fast[used + 1:]  # one answer per reading
    return outcomes, fast


def _pair(app: str, reviewer: str, criteria: str = "ab", scores: tuple[int, ...] = (4, 2)) -> list[tuple]:
    return [(app, reviewer, c, v) for c, v in zip(criteria, scores)]


_RUNS = {  # name: (rows, whether the fast path takes them)
    "in order": (_TOY_ROWS, True),
    "criteria in another order than the rubric's": (
        [(a, r, c, v) for (a, r), given in TOY.items() for c, v in reversed(given.items())], True),
    "reviewers not sorted within an application": (
        [row for (a, r), given in reversed(TOY.items()) for row in _pair(a, r, "ab", tuple(given.values()))], True),
    "applications interleaved, each pair in one run": (
        _pair("A2", "r1") + _pair("A1", "r2") + _pair("A2", "r2", "ab", (1, 5)) + _pair("A1", "r1"), True),
    "a criterion not scored": (_pair("A1", "r1") + _pair("A1", "r2", "a", (3,)) + _pair("A2", "r1"), True),
    "criteria in several orders": (
        _pair("A1", "r2", "ba", (3, 5)) + _pair("A1", "r1") + _pair("A2", "r1", "b", (1,)), True),
    "a pair in two runs": (
        _pair("A1", "r1", "a", (2,)) + _pair("A1", "r2") + _pair("A1", "r1", "b", (5,)), False),
    "a score given twice in a run": (_pair("A1", "r1") + _pair("A1", "r1", "a", (3,)), False),
    "a score given twice, far apart": (_pair("A1", "r1") + _pair("A2", "r1") + _pair("A1", "r1", "b", (1,)), False),
    "a blank score": (_pair("A1", "r1") + [("A1", "r2", "a", None)], False),
    "scores outside the scale": (_pair("A1", "r1", "ab", (0, 6)), False),
    "an unknown application": (_pair("A1", "r1") + _pair("A9", "r1"), False),
    "an unknown criterion": (_pair("A1", "r1", "ax", (2, 3)), False),
    "a missing reviewer": (_pair("A1", "r1") + _pair("A1", None), False),
}


@pytest.mark.parametrize("name", list(_RUNS))
def test_pair_runs_and_the_general_path_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    rows, fast = _RUNS[name]
    outcomes, used = _outcomes_by_path(tmp_path / "reviews.csv", rows, monkeypatch)
    assert used == [False, fast]  # text always takes the general path
    assert outcomes[0] == outcomes[1]


def test_pair_runs_check_each_criterion_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rubric = make_rubric(criteria=[
        {"id": "a", "label": label("A"), "weight": 2},
        {"id": "b", "label": label("B"), "weight": 1, "scale": {"min": 0, "max": 10}},
    ])
    valid = _pair("A1", "r1", "ab", (5, 0)) + _pair("A1", "r2", "ab", (1, 10))
    outcomes, used = _outcomes_by_path(tmp_path / "reviews.csv", valid, monkeypatch, rubric=rubric)
    assert used == [False, True] and outcomes[0] == outcomes[1]
    assert not isinstance(outcomes[0], str)
    # 7 is within 0-10 but not within a's 1-5.
    invalid = valid + _pair("A2", "r1", "ab", (7, 3))
    outcomes, used = _outcomes_by_path(tmp_path / "reviews.csv", invalid, monkeypatch, rubric=rubric)
    assert used == [False, False] and outcomes[0] == outcomes[1]
    assert "score 7 is outside the scale 1-5 of criterion 'a'" in outcomes[0]


def test_pair_runs_leave_out_ineligible_applications(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [row for (a, r), given in TOY.items() for row in _pair(a, r, "ab", tuple(given.values()))][::-1]
    eligible = pd.Series([True, False, True, False])
    outcomes, used = _outcomes_by_path(tmp_path / "reviews.csv", rows, monkeypatch, eligible=eligible)
    assert used == [False, True] and outcomes[0] == outcomes[1]
    assert outcomes[1][3] == 4  # A2's two reviewers' scores


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_pair_runs_agree_with_the_general_path_on_any_reviews(data: st.DataObject) -> None:
    import tempfile

    pairs = data.draw(st.lists(st.tuples(st.sampled_from(["A1", "A2", "A3"]), st.sampled_from(["r1", "r2", "r3"])),
                               min_size=1, max_size=6))
    rows = []
    for app, reviewer in pairs:
        criteria = data.draw(st.permutations("ab"))[: data.draw(st.integers(1, 2))]
        rows += [(app, reviewer, c, data.draw(st.integers(1, 5))) for c in criteria]
    if data.draw(st.booleans()):
        rows = data.draw(st.permutations(rows))
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as monkeypatch:
        outcomes, _used = _outcomes_by_path(Path(folder) / "reviews.csv", rows, monkeypatch)
    assert outcomes[0] == outcomes[1]


# ---------------------------------------------------------------------------
# Ranking without pandas' sort: the order and counts pandas gives.


_SORT_COLUMNS = {
    "float": st.lists(st.sampled_from([1.5, 2.0, 71.43, np.nan, -3.0, 0.0]), min_size=8, max_size=8),
    "int": st.lists(st.integers(-3, 3), min_size=8, max_size=8),
    "date": st.lists(st.sampled_from(["2022-03-01", "2022-03-02", "2021-12-31"]), min_size=8, max_size=8),
    "date_nat": st.lists(st.sampled_from(["2022-03-01", None]), min_size=8, max_size=8),
    "text": st.lists(st.sampled_from(["a", "b", "é", None]), min_size=8, max_size=8),
    "ids": st.just([f"T-{i}" for i in range(8)]),
    "arrow_ids": st.just([f"T-{i}" for i in range(8)]),
    "arrow_text": st.lists(st.sampled_from(["b", "a", None]), min_size=8, max_size=8),
}


def _sort_column(kind: str, values: list[object]) -> pd.Series:
    if kind.startswith("date"):
        return pd.Series(pd.to_datetime(values))
    if kind.startswith("arrow"):
        return pd.Series(values, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    return pd.Series(values, dtype=object if kind in ("text", "ids") else None)


@settings(max_examples=80, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(list(_SORT_COLUMNS)), min_size=1, max_size=3),
    ascending=st.lists(st.booleans(), min_size=3, max_size=3),
    data=st.data(),
)
def test_sort_order_is_pandas_sort(kinds: list[str], ascending: list[bool], data: st.DataObject) -> None:
    from selection.scoring import _sort_order

    columns = [_sort_column(kind, data.draw(_SORT_COLUMNS[kind])) for kind in kinds]
    rows = np.flatnonzero(data.draw(st.lists(st.booleans(), min_size=8, max_size=8)))
    frame = pd.DataFrame({f"k{i}": c.iloc[rows].reset_index(drop=True) for i, c in enumerate(columns)})
    expected = frame.sort_values(list(frame.columns), ascending=ascending[: len(kinds)], kind="stable",
                                 na_position="last").index.to_numpy()
    assert _sort_order(columns, ascending[: len(kinds)], rows).tolist() == expected.tolist()


@given(st.lists(st.sampled_from(["Souss-Massa", "Oriental", None, "Drâa-Tafilalet"]), max_size=12))
def test_cumcount_is_pandas_cumcount(regions: list[object]) -> None:
    from selection.scoring import _cumcount

    values = pd.Series(regions, dtype=object)
    expected = values.groupby(values, dropna=False, sort=False).cumcount()
    assert _cumcount(values).tolist() == expected.tolist()
    # Regions read from Arrow (the text view funnel passes) go in as their
    # codes, missing ones -1: the same counts.
    codes = pd.factorize(values.astype("str").array)[0]
    assert _cumcount(codes).tolist() == expected.tolist()


# ---------------------------------------------------------------------------
# Ids and regions read from Arrow (pandas' str) or as Python strings: the same table


def _as_objects(applications: pd.DataFrame) -> pd.DataFrame:
    return applications.astype({"application_id": object, "region": object})


def _as_str(applications: pd.DataFrame) -> pd.DataFrame:
    return applications.astype({"application_id": "str", "region": "str"})


def test_ids_and_regions_in_arrow_give_the_same_table_and_ranks_in_region() -> None:
    applications = make_applications(
        ["E", "D", "C", "B", "A"],
        region=["Souss-Massa", "L'Oriental", "Souss-Massa", "L'Oriental", "Souss-Massa"],
        submitted_at=pd.to_datetime(["2022-03-01", "2022-03-02", "2022-03-01", "2022-02-01", "2022-03-01"]),
    )
    reviews = long_reviews({(app, "r1"): {"a": 2 if app == "B" else 3} for app in "EDCBA"})
    as_objects = score(_as_objects(applications), reviews, tie_rubric())
    arrow = _as_str(applications)
    in_arrow = score(arrow, reviews, tie_rubric())
    assert in_arrow.table["application_id"].dtype == "str"
    pd.testing.assert_frame_equal(in_arrow.table, as_objects.table, check_exact=True, check_dtype=False)
    assert in_arrow.table.to_csv() == as_objects.table.to_csv()
    assert in_arrow.table["rank_in_region"].tolist() == [3, 1, 2, 2, 1]
    assert in_arrow.reviews.to_csv() == as_objects.reviews.to_csv()
    # The table's ids are its own array: changing them leaves the applications alone.
    in_arrow.table.loc[0, "application_id"] = "Z"
    assert arrow["application_id"].tolist() == ["E", "D", "C", "B", "A"]


def test_ids_in_arrow_in_the_error_for_an_unknown_application() -> None:
    applications = make_applications()
    reviews = long_reviews({**TOY, ("A9", "r1"): {"a": 3, "b": 3}})
    messages = []
    for these in (_as_objects(applications), _as_str(applications)):
        with pytest.raises(InputDataError) as caught:
            score(these, reviews, make_rubric())
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "unknown application_id 'A9'" in messages[1]
