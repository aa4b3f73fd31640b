"""The funnel on a small program whose answer is worked out by hand."""

import pytest
from conftest import edit

import selection
from selection.errors import InfeasibleError
from selection.io import read_table


@pytest.fixture
def tables(small_program):
    return read_table(small_program / "applications.csv"), read_table(small_program / "reviews.csv")


def test_small_funnel_by_hand(small_program, tables):
    # Scores (weights 3 and 1 on 1-5): A1 (5,4) → 93.75, A2 (3,3) → 50, A3 (4,5) → 81.25.
    # A4 asks 150,000: ineligible. Budget 100,000, at least one per region:
    # A1 (40k) + A3 (30k) = 70k leaves no region for Souss-Massa, so A2 (60k) must be in;
    # with A2 in, 40k remain: A1 (93.75) beats A3 (81.25).
    program = selection.load_program(small_program)
    result = selection.run(program, *tables)
    scores = result.scores().set_index("application_id")
    assert scores.loc[["A1", "A2", "A3"], "score"].tolist() == [93.75, 50.0, 81.25]
    assert scores.loc[["A1", "A3", "A2"], "rank"].tolist() == [1, 2, 3]
    allocation = result.allocation().set_index("application_id")
    assert allocation["selected"].to_dict() == {"A1": True, "A2": True, "A3": False, "A4": False}
    assert allocation["amount"].to_dict() == {"A1": 40000, "A2": 60000, "A3": 0, "A4": 0}
    assert allocation.loc["A4", "reason"] == "ineligible"
    assert allocation.loc["A4", "reason_en"] == "Not eligible: Amount out of bounds."
    assert allocation.loc["A3", "reason"] == "budget"
    assert allocation.loc["A3", "stage_reached"] == "screening"
    assert result.final.allocation.status == "OPTIMAL"


def test_canonical_column_names_work_too(small_program, tables):
    program = selection.load_program(small_program)
    applications = tables[0].rename(columns={"N° dossier": "application_id", "Région": "region",
                                             "Montant demandé": "requested_amount",
                                             "Organisation": "organisation"})
    result = selection.run(program, applications, tables[1])
    assert result.final.kept_count == 2


def test_filter_stage(small_program, tables):
    edit(small_program / "program.yaml", "  - id: grants\n    from: screening\n",
         "  - id: shortlist\n    from: screening\n    filter: score >= 80\n  - id: grants\n    from: shortlist\n")
    edit(small_program / "program.yaml", "          min_count: 1", "          max_count: 2")
    program = selection.load_program(small_program)
    result = selection.run(program, *tables)
    assert [s.kept_count for s in result.stages] == [3, 2, 2]
    allocation = result.allocation().set_index("application_id")
    assert allocation.loc["A2", "reason"] == "filtered"
    assert allocation.loc["A2", "reason_en"] == "Does not meet the condition of stage 'shortlist': score >= 80."


def test_infeasible_stage_names_the_stage(small_program, tables):
    edit(small_program / "program.yaml", "          min_count: 1", "          min_count: 2")
    program = selection.load_program(small_program)
    with pytest.raises(InfeasibleError) as caught:
        selection.run(program, *tables)
    assert caught.value.field == "stages[1]"
    assert caught.value.first.message.startswith("stage 'grants': ")


def test_sources_name_the_files_in_data_errors(small_program, tables):
    program = selection.load_program(small_program)
    reviews = tables[1].copy()
    reviews.loc[0, "application_id"] = "A9"
    with pytest.raises(selection.InputDataError) as caught:
        selection.run(program, tables[0], reviews, sources={"reviews": "reviews.csv"})
    assert caught.value.file == "reviews.csv"
    assert caught.value.row == 2



def test_scoring_reads_ids_and_regions_from_arrow_with_the_same_result(small_program, tables):
    # The prepared ids and regions are pandas' str (Arrow): scoring reads them
    # there, and gives the table it gives for the same values as Python strings.
    import pandas as pd

    from selection.funnel import score_applications
    from selection.scoring import score
    from selection.validate import prepare_applications, prepare_reviews

    program = selection.load_program(small_program)
    apps, eligibility, scoring = score_applications(program, *tables)
    assert apps["application_id"].dtype == "str" and apps["region"].dtype == "str"
    as_objects = prepare_applications(tables[0], program).astype({"application_id": object, "region": object})
    alone = score(
        as_objects, prepare_reviews(tables[1]), program.rubric,
        constants=program.constants, eligible=eligibility.eligible,
    )
    pd.testing.assert_frame_equal(scoring.table, alone.table, check_exact=True, check_dtype=False)
    assert scoring.table.to_csv() == alone.table.to_csv()
    assert scoring.reviews.to_csv() == alone.reviews.to_csv()
