"""Raw tables into canonical typed tables, every problem reported at once."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from selection.allocation import AllocationConfig
from selection.errors import InputDataError
from selection.program import load_program
from selection.validate import parse_candidates, parse_integers, prepare_applications, prepare_reviews


@pytest.fixture
def program(small_program):
    return load_program(small_program)


def raw(**overrides):
    table = {
        "N° dossier": ["A1", "A2"],
        "Organisation": ["Association Amal", "جمعية الأمل"],
        "Région": ["oriental", "SOUSS MASSA"],
        "Montant demandé": ["45 000", "20000"],
    }
    table.update(overrides)
    return pd.DataFrame(table)


def test_mapping_typing_and_matching(program):
    apps = prepare_applications(raw(), program)
    assert list(apps.columns[:7]) == [
        "application_id", "organisation", "region", "domain", "requested_amount", "title", "summary",
    ]
    assert apps["region"].tolist() == ["L'Oriental", "Souss-Massa"]
    assert apps["requested_amount"].tolist() == [45000, 20000]
    assert str(apps["requested_amount"].dtype) == "Int64"
    assert apps["organisation"].tolist() == ["Association Amal", "جمعية الأمل"]


def test_canonical_tables_pass_through_unchanged(program):
    apps = prepare_applications(raw(), program)
    again = prepare_applications(apps, program)
    pd.testing.assert_frame_equal(apps, again)


@pytest.mark.parametrize(
    "cells, expected",
    [
        (["45000", "45 000", "45\u202f000", "45000.0", "45'000"], [45000] * 5),
        (["", None], [pd.NA, pd.NA]),
    ],
)
def test_integers_accept_thousands_separators(cells, expected):
    values, problems = parse_integers(pd.Series(cells, dtype=object), field="x")
    assert problems == []
    assert values.tolist() == expected


@pytest.mark.parametrize("cell", ["45k", "45000.5", "quarante mille", "12-3"])
def test_integers_reject_the_rest(cell):
    _, problems = parse_integers(pd.Series(["1", cell], dtype=object), field="Montant", what="an amount")
    assert [str(p) for p in problems] == [
        f"row 3, field 'Montant': '{cell}' is not an amount. Suggestion: write digits only, e.g. 45000"
    ]


def test_types_from_the_program(small_program):
    text = (small_program / "program.yaml").read_text(encoding="utf-8")
    text = text.replace("regions:", "types: {women_led: bool, founded: date, members: int}\nregions:", 1)
    (small_program / "program.yaml").write_text(text, encoding="utf-8")
    program = load_program(small_program)
    apps = prepare_applications(
        raw(women_led=["oui", "Non"], founded=["2019-03-01", "15/04/2020"], members=["12", ""]), program
    )
    assert apps["women_led"].tolist() == [True, False]
    assert apps["founded"].dt.strftime("%Y-%m-%d").tolist() == ["2019-03-01", "2020-04-15"]
    assert apps["members"].tolist() == [12, pd.NA]
    with pytest.raises(InputDataError) as caught:
        prepare_applications(raw(women_led=["peut-être", "oui"], founded=["hier", "2020-01-01"], members=["1", "2"]),
                             program)
    assert [p.code for p in caught.value.problems] == ["not_a_date", "not_a_boolean"]


def test_many_problems_are_capped_with_a_count(program):
    rows = 30
    table = pd.DataFrame({
        "N° dossier": [f"A{i}" for i in range(rows)],
        "Organisation": ["x"] * rows,
        "Région": ["Atlantis"] * rows,
        "Montant demandé": ["1000"] * rows,
    })
    with pytest.raises(InputDataError) as caught:
        prepare_applications(table, program)
    problems = caught.value.problems
    assert len(problems) == 21
    assert problems[-1].message == "... and 10 more problems of the same kinds"


def test_reviews_need_their_columns_and_numeric_scores():
    with pytest.raises(InputDataError) as caught:
        prepare_reviews(pd.DataFrame({"application_id": ["A1"], "criterion": ["q"], "score": ["4"]}))
    assert str(caught.value) == (
        "row 1, field 'reviewer_id': required column 'reviewer_id' is missing. "
        "Suggestion: expected one of 'application_id', 'criterion', 'score'"
    )
    with pytest.raises(InputDataError, match="'très bien' is not a number"):
        prepare_reviews(pd.DataFrame({"application_id": ["A1"], "reviewer_id": ["R1"], "criterion": ["q"],
                                      "score": ["très bien"]}))
    reviews = prepare_reviews(pd.DataFrame({"application_id": ["A1"], "reviewer_id": ["R1"], "criterion": ["q"],
                                            "score": ["3,5"]}))
    assert reviews["score"].tolist() == [3.5]


def test_candidates_in_rank_order_and_unranked_kept_out():
    config = AllocationConfig(budget=100000)
    table = pd.DataFrame({
        "application_id": ["A", "B", "C"],
        "score": ["60", "80", "90"],
        "requested_amount": ["20000", "30000", "40000"],
        "ranked": ["True", "True", "False"],
        "rank": ["2", "1", ""],
    })
    candidates = parse_candidates(table, config)
    assert candidates["application_id"].tolist() == ["B", "A"]


@pytest.mark.parametrize("storage", ["object", "arrow", "category"])
def test_typed_cells_parsed_once_per_distinct_value_as_one_by_one(small_program, storage):
    text = (small_program / "program.yaml").read_text(encoding="utf-8")
    text = text.replace("regions:", "types: {women_led: bool, founded: date, members: int, note: float}\nregions:", 1)
    (small_program / "program.yaml").write_text(text, encoding="utf-8")
    program = load_program(small_program)
    rows = 6

    def table(**cells):
        columns = {
            "N° dossier": [f"A{i}" for i in range(rows)],
            "Organisation": ["x"] * rows,
            "Région": ["oriental", " Souss-Massa "] * 3,
            "Montant demandé": ["45 000", "20000", "45 000", None, "20000", "20000"],
            "women_led": ["oui", "non", "oui", "", "non", "oui"],
            "founded": ["2019-03-01", "15/04/2020", "2019-03-01", None, "2019-03-01", "2019-03-01"],
            "members": ["12", "12", "3", "12", "3", "3"],
            "note": ["3,5", "4", "4", "3,5", None, "4"],
            **cells,
        }
        frame = pd.DataFrame(columns, dtype=object)
        if storage == "arrow":
            frame = frame.astype(pd.StringDtype("pyarrow", na_value=float("nan")))
        elif storage == "category":
            frame = frame.astype("category")
        return frame

    apps = prepare_applications(table(), program)
    assert apps["requested_amount"].tolist() == [45000, 20000, 45000, pd.NA, 20000, 20000]
    assert apps["region"].tolist() == ["L'Oriental", "Souss-Massa"] * 3
    assert apps["women_led"].tolist() == [True, False, True, pd.NA, False, True]
    assert apps["founded"].dt.strftime("%Y-%m-%d").fillna("").tolist() == [
        "2019-03-01", "2020-04-15", "2019-03-01", "", "2019-03-01", "2019-03-01"]
    assert apps["members"].tolist() == [12, 12, 3, 12, 3, 3]
    assert apps["note"].fillna(-1).tolist() == [3.5, 4, 4, 3.5, -1, 4]
    with pytest.raises(InputDataError) as caught:
        prepare_applications(
            table(members=["12", "douze", "3", "douze", "3", "3"], women_led=["oui", "peut-être"] * 3,
                  founded=["hier"] + ["2019-03-01"] * 5),
            program,
        )
    assert [(p.row, p.field, p.message) for p in caught.value.problems] == [
        (2, "founded", "'hier' is not a date"),
        (3, "members", "'douze' is not a whole number"),
        (3, "women_led", "'peut-être' is not yes or no"),
        (5, "members", "'douze' is not a whole number"),
        (5, "women_led", "'peut-être' is not yes or no"),
        (7, "women_led", "'peut-être' is not yes or no"),
    ]


@pytest.mark.parametrize(
    "cells",
    [
        ["45000", None, "-3", "007", "0x1F"],  # plain: one cast
        ["45 000", None, "-3", "45000.0"],  # separators, decimals: the general path
        [None, None],
        [],
    ],
)
def test_plain_integers_in_one_cast_as_the_general_path(cells):
    from selection.validate import _by_distinct, _integer_cells

    column = pd.Series(pd.array(cells, dtype=pd.StringDtype("pyarrow", na_value=float("nan"))), dtype=None)
    numbers, problems = parse_integers(column, field="f")
    expected, bad = _by_distinct(column, _integer_cells)
    assert problems == [] and not bad.any()
    assert numbers.dtype == expected.dtype == "Int64"
    assert numbers.equals(expected)


@pytest.mark.parametrize(
    "cells",
    [
        ["oui", "non", None, " OUI ", "Yes", "نعم", "لا", "1", "x"],  # all words: in Arrow
        ["oui", "", "non"],  # a blank cell: the general path
        [None, None],
        [],
    ],
)
def test_plain_booleans_in_arrow_as_the_general_path(cells):
    from selection.validate import _boolean_cells, _by_distinct, _parse_booleans

    column = pd.Series(pd.array(cells, dtype=pd.StringDtype("pyarrow", na_value=float("nan"))))
    values, problems = _parse_booleans(column, field="f")
    expected, bad = _by_distinct(column, _boolean_cells)
    assert problems == [] and not bad.any()
    assert values.dtype == expected.dtype == "boolean"
    assert values.equals(expected)


ARROW_TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))


def arrow_column(cells):
    return pd.Series(pd.array(cells, dtype=ARROW_TEXT))


@pytest.mark.parametrize(
    "cells, fast",
    [
        (["45 000", None, "20000", " 30\u202f000 ", "45'000", "", "-3"], True),  # separators: in Arrow
        (["45 000", "45000.0"], False),  # a decimal: the general path
        (["45 000", "0x1F"], True),  # Arrow's cast, as on the general path
        (["45 000", "douze"], False),
    ],
)
def test_separated_integers_in_arrow_as_the_general_path(cells, fast):
    from selection.validate import _by_distinct, _integer_cells, _separated_integers

    column = arrow_column(cells)
    assert (_separated_integers(pa.array(cells, pa.string())) is not None) == fast
    numbers, problems = parse_integers(column, field="f")
    expected, bad = _by_distinct(column, _integer_cells)
    assert numbers.dtype == expected.dtype == "Int64"
    assert numbers.equals(expected)
    assert len(problems) == int(bad.sum())


@pytest.mark.parametrize(
    "cells, fast",
    [
        (["2022-03-29", " 2022-04-01 ", None, "2022-03-29", "1999-12-31"], True),  # ISO dates: in numpy
        (["2022-03-29", "15/04/2022"], False),  # a French date: the general path
        (["2022-03-29", ""], False),  # a blank cell
        (["2022-02-30", "2022-03-29"], False),  # an impossible date
        (["0999-01-01"], False),
        (["hier", "2022-03-29"], False),
        ([None, None], False),
    ],
)
def test_iso_dates_in_numpy_as_the_general_path(cells, fast):
    from selection.validate import _by_distinct, _date_cells, _iso_days, _parse_dates

    column = arrow_column(cells)
    assert (_iso_days(pa.array([c for c in cells if c is not None], pa.string())) is not None) == fast
    dates, problems = _parse_dates(column, field="f")
    expected, bad = _by_distinct(column, _date_cells)
    assert dates.dtype == expected.dtype
    assert dates.equals(expected)
    assert len(problems) == int(bad.sum())


@pytest.mark.parametrize(
    "cells, allow_missing",
    [
        (["oriental", " SOUSS MASSA ", "Souss-Massa", None, "L'Oriental"], True),  # all known: spread in numpy
        (["oriental", " SOUSS MASSA ", "Souss-Massa", "L'Oriental"], False),
        (["oriental", None], False),  # a missing region: the problems of Vocabulary.match
        (["oriental", "  "], False),
        (["oriental", "Atlantis", "atlantis", "Atlantis"], True),  # unknown regions
        ([None, None], True),
    ],
)
def test_regions_matched_once_per_distinct_cell_as_by_vocabulary(program, cells, allow_missing):
    from selection.validate import _match, _text_repeated

    column = arrow_column(cells)
    vocabulary = program.regions()
    values, problems = _match(column, vocabulary, field="Région", allow_missing=allow_missing)
    expected, expected_problems = vocabulary.match(_text_repeated(column), field="Région", allow_missing=allow_missing)
    assert values.dtype == "str" and expected.dtype == object
    assert values.tolist() == expected.astype("str").tolist()
    assert problems == expected_problems


@pytest.mark.parametrize("cells", [["A1", " A2 ", "", None, "  ", "جمعية"], [None], []])
def test_text_of_arrow_cells_as_of_objects(cells):
    from selection.validate import _text

    fast = _text(arrow_column(cells))
    expected = _text(pd.Series(cells, dtype=object))
    assert fast.dtype == expected.dtype == object
    assert fast.tolist() == expected.tolist()


@pytest.mark.parametrize(
    "ids, rows",
    [
        (["A1", "A2", "A3"], []),  # unique: one set, nothing to report
        (["A1", "A2", "A1"], [4]),
        (["A1", None, "A2"], [3]),
        ([None], [2]),
    ],
)
def test_identifiers_empty_or_repeated(ids, rows):
    from selection.validate import _check_unique_ids

    problems = []
    _check_unique_ids(pd.Series(ids, dtype=object), field="id", problems=problems)
    assert [p.row for p in problems] == rows


def test_prepared_table_is_the_same_from_every_storage(program):
    rows = 40
    cells = {
        "N° dossier": [f"A{i}" for i in range(rows)],
        "Organisation": [" Association ", "", None, "جمعية"] * 10,
        "Région": ["oriental", " SOUSS MASSA ", "Souss-Massa", "L'Oriental"] * 10,
        "Montant demandé": ["45 000", "20000", None, "30\u00a0000"] * 10,
    }
    frames = [pd.DataFrame(cells, dtype=object), pd.DataFrame(cells, dtype=object).astype(ARROW_TEXT)]
    first, second = (prepare_applications(frame, program) for frame in frames)
    pd.testing.assert_frame_equal(first, second)
    assert [str(dtype) for dtype in first.dtypes] == ["str", "str", "str", "str", "Int64", "str", "str"]
    assert first["organisation"].tolist()[:4] == ["Association", np.nan, np.nan, "جمعية"]


# --- identifiers checked in numpy, categories checked in Arrow ---------------

from selection import validate  # noqa: E402


def _arrow_ids(ids):
    return pa.array(ids, type=pa.large_string())


@pytest.mark.parametrize(
    ("ids", "distinct"),
    [
        (["A1", "A2", "A3"], True),
        (["TAM-B-0000001", "TAM-B-0000002"], True),  # two words per id
        (["TAM-B-0000001", "TAM-B-0000001"], False),  # repeated
        (["TAM-C-0000001", "TAM-B-0000001", "TAM-B-0000001"], False),  # repeated in the second word
        (["A1", "A10"], False),  # widths differ: left to the exact check
        (["A1", None], False),  # missing
        (["", ""], False),  # blank
        ([], False),
    ],
)
def test_same_width_ids_are_shown_distinct_or_left_to_the_exact_check(ids, distinct):
    assert validate._distinct_same_width(_arrow_ids(ids)) is distinct
    assert validate._distinct_same_width(pa.array(ids, type=pa.string())) is distinct


def test_same_width_ids_of_a_slice():
    cells = _arrow_ids(["B1", "A1", "A2", "A1"])
    assert validate._distinct_same_width(cells.slice(0, 3))
    assert not validate._distinct_same_width(cells.slice(1, 3))


def test_equal_hashes_fall_back_to_the_exact_check(program, monkeypatch):
    # The numpy check only ever proves ids distinct; when it cannot, the
    # exact check decides and words the problems as before.
    table = raw(**{"N° dossier": pd.array(["A1 ", " A1"], dtype="str")})
    with pytest.raises(InputDataError) as caught:
        prepare_applications(table, program)
    assert [p.message for p in caught.value.problems] == ["identifier 'A1' is used twice (first on row 2)"]
    monkeypatch.setattr(validate, "_distinct_same_width", lambda trimmed: False)
    assert prepare_applications(raw(), program)["application_id"].tolist() == ["A1", "A2"]


@pytest.mark.parametrize("dtype", ["str", object])
def test_ids_come_out_the_same_whatever_their_storage(program, dtype):
    table = raw(**{"N° dossier": pd.array([" A1", "A2 "], dtype=dtype)})
    ids = prepare_applications(table, program)["application_id"]
    assert ids.dtype == "str" and ids.tolist() == ["A1", "A2"]


@pytest.mark.parametrize(
    ("categories", "kept"),
    [(["a", "b"], True), (["a", " b"], False), (["a", ""], False), (["a", "  "], False), ([], True)],
)
def test_categories_with_nothing_to_trim_are_kept_as_they_are(categories, kept):
    index = pd.Index(pd.array(categories, dtype="str"))
    assert validate._trimmed_already(index) is kept
    assert not validate._trimmed_already(pd.Index(categories, dtype=object))


def test_categorical_reviews_trimmed_as_before():
    categories = pd.Index(pd.array(["A1", " A2", "  "], dtype="str"))
    ids = pd.Categorical.from_codes([0, 1, 2, 1], categories=categories)
    reviews = pd.DataFrame({"application_id": ids, "reviewer_id": pd.Categorical(["r1"] * 4),
                            "criterion": ["c"] * 4, "score": [1.0, 2.0, 3.0, 4.0]})
    prepared = prepare_reviews(reviews)
    assert prepared["application_id"].tolist()[:2] == ["A1", "A2"] and pd.isna(prepared["application_id"][2])
    assert prepared["reviewer_id"] is not reviews["reviewer_id"] or prepared["reviewer_id"].tolist() == ["r1"] * 4
    assert prepared["score"].dtype == "float64" and prepared["score"].tolist() == [1.0, 2.0, 3.0, 4.0]


# --- text columns: pandas' str, the same whatever the storage read --------------

from selection.eligibility import check_eligibility  # noqa: E402


def _arrow_raw(**overrides):
    table = raw(**overrides)
    return table.astype({name: "str" for name in table.columns})


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"Organisation": ["  Association Amal ", "   "]},  # trimmed; blank is missing
        {"Région": ["L'Oriental", "souss massa"]},
        {"Organisation": ["جمعية الأمل", " Coopérative Tifaout "]},
    ],
)
def test_text_columns_are_str_from_arrow_and_python_strings_alike(program, overrides):
    from_arrow = prepare_applications(_arrow_raw(**overrides), program)
    from_objects = prepare_applications(raw(**overrides).astype(object), program)
    pd.testing.assert_frame_equal(from_arrow, from_objects)
    for name in ("application_id", "organisation", "title", "summary", "region", "domain"):
        assert from_arrow[name].dtype == "str", name
    cells = raw(**overrides)["Organisation"].tolist()
    expected = [cell.strip() if cell.strip() else np.nan for cell in cells]
    assert from_arrow["organisation"].tolist() == expected
    rubric = program.rubric
    assert check_eligibility(from_arrow, rubric, program.constants).table.equals(
        check_eligibility(from_objects, rubric, program.constants).table
    )


def test_unknown_region_raises_the_same_from_arrow_and_python_strings(program):
    tables = (_arrow_raw(**{"Région": ["oriental", "Atlantis"]}), raw(**{"Région": ["oriental", "Atlantis"]}).astype(object))
    found = []
    for table in tables:
        with pytest.raises(InputDataError) as caught:
            prepare_applications(table, program)
        found.append(caught.value.problems)
    assert found[0] == found[1] and [p.code for p in found[0]] == ["unknown_region"]


def test_matched_regions_in_arrow_are_the_matched_names(program):
    from selection.validate import _match

    column = pd.Series(["oriental", None, "SOUSS MASSA", "oriental"], dtype="str")
    values, problems = _match(column, program.regions(), field="Région", allow_missing=True)
    assert problems == [] and values.dtype == "str"
    assert values.tolist() == ["L'Oriental", np.nan, "Souss-Massa", "L'Oriental"]


@pytest.mark.parametrize(
    "index",
    [pd.RangeIndex(2), pd.RangeIndex(2, name="n"), pd.Index([0, 1]), pd.Index([5, 9]), pd.RangeIndex(1, 3)],
)
def test_prepared_rows_are_numbered_from_zero_whatever_the_index(program, index):
    apps = prepare_applications(raw().set_axis(index), program)
    assert type(apps.index) is pd.RangeIndex and apps.index.equals(pd.RangeIndex(2)) and apps.index.name is None


def test_canonical_text_column_typed_as_a_number(small_program):
    # A canonical text column typed as a number is a number, not text.
    path = small_program / "program.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\ntypes:\n  organisation: int\n", encoding="utf-8")
    program = load_program(small_program)
    table = prepare_applications(_arrow_raw(Organisation=["12", "13"]), program)
    assert str(table["organisation"].dtype) == "Int64" and table["organisation"].tolist() == [12, 13]
