"""Every gate for every application, every failed reason kept in French and English."""

import pandas as pd

from selection.eligibility import check_eligibility
from selection.rubric import Rubric

RUBRIC = Rubric.model_validate({
    "id": "t",
    "title": {"fr": "T", "en": "T"},
    "eligibility": [
        {"id": "montant", "rule": "20000 <= requested_amount <= 100000",
         "reason": {"fr": "Montant hors bornes.", "en": "Amount out of bounds."}},
        {"id": "region", "rule": "region in programme_regions",
         "reason": {"fr": "Région hors programme.", "en": "Region outside the programme."}},
        {"id": "dossier", "rule": "complete_file and present(summary)",
         "reason": {"fr": "Dossier incomplet.", "en": "Incomplete file."}},
    ],
    "criteria": [{"id": "c", "label": {"fr": "C", "en": "C"}, "weight": 1}],
})
CONSTANTS = {"programme_regions": ("L'Oriental", "Souss-Massa")}


def test_all_failed_gates_are_kept():
    apps = pd.DataFrame({
        "application_id": ["A", "B", "C", "D"],
        "requested_amount": pd.array([50000, 150000, 50000, None], dtype="Int64"),
        "region": ["L'Oriental", "Rabat-Salé-Kénitra", "Souss-Massa", "Souss-Massa"],
        "complete_file": pd.array([True, False, True, True], dtype="boolean"),
        "summary": ["Projet", "Projet", "  ", "مشروع"],
    })
    result = check_eligibility(apps, RUBRIC, CONSTANTS)
    table = result.table
    assert table["eligible"].tolist() == [True, False, False, False]
    assert table["failed_gates"].tolist() == ["", "montant;region;dossier", "dossier", "montant"]
    assert table.loc[1, "reasons_fr"] == "Montant hors bornes. Région hors programme. Dossier incomplet."
    assert table.loc[1, "reasons_en"] == "Amount out of bounds. Region outside the programme. Incomplete file."
    # A missing amount fails the amount gate rather than passing silently.
    assert table.loc[3, "reasons_en"] == "Amount out of bounds."
    assert result.failures_by_gate() == {"montant": 2, "region": 1, "dossier": 2}


def test_no_gates_means_everyone_is_eligible():
    rubric = RUBRIC.model_copy(update={"eligibility": []})
    apps = pd.DataFrame({"application_id": ["A", "B"]})
    result = check_eligibility(apps, rubric)
    assert result.table["eligible"].tolist() == [True, True]
    assert result.table["failed_gates"].tolist() == ["", ""]


def test_combinations_of_many_gates_as_of_few():
    # Up to 16 gates the failed combinations are counted, past that sorted
    # (np.unique): both number them in the same order.
    gates = [
        {"id": f"g{i}", "rule": f"x % {i + 2} != 0", "reason": {"fr": f"G{i}.", "en": f"G{i}."}}
        for i in range(20)
    ]
    apps = pd.DataFrame({"application_id": [f"A{i}" for i in range(60)], "x": range(60)})

    def table(count):
        rubric = RUBRIC.model_copy(update={"eligibility": Rubric.model_validate(
            {**RUBRIC.model_dump(), "eligibility": gates[:count]}).eligibility})
        return check_eligibility(apps, rubric).table

    many, few = table(20), table(16)
    for row in range(60):
        failed = [f"g{i}" for i in range(20) if row % (i + 2) == 0]
        assert many.loc[row, "failed_gates"] == ";".join(failed)
        assert few.loc[row, "failed_gates"] == ";".join(g for g in failed if int(g[1:]) < 16)
        assert many.loc[row, "eligible"] == (not failed)


# --- the result table built in numpy and Arrow -------------------------------

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def _rubric(gates):
    return Rubric.model_validate({
        "id": "r", "title": {"fr": "R", "en": "R"},
        "eligibility": [{"id": f"g{i}", "rule": rule, "reason": {"fr": f"F{i}", "en": f"E{i}"}}
                        for i, rule in enumerate(gates)],
        "criteria": [{"id": "c", "label": {"fr": "C", "en": "C"}, "weight": 1}]})


@pytest.mark.parametrize(
    "ids",
    [
        np.array(["A", "B", None], dtype=object),  # text (and a missing id): pandas' str
        np.array([1, 2, 3], dtype=object),  # numbers kept as pandas keeps them
        np.array(["A", 2, "C"], dtype=object),  # a mixture
        np.array([None, None, None], dtype=object),
        pd.array(["A", "B", "C"], dtype="str"),
        np.array([7, 8, 9]),
    ],
)
def test_ids_in_the_table_as_a_dataframe_holds_them(ids):
    apps = pd.DataFrame({"application_id": ids, "x": [1, 5, 9]})
    table = check_eligibility(apps, _rubric(["x > 2"])).table
    expected = pd.DataFrame({"application_id": apps["application_id"].to_numpy()})["application_id"]
    pd.testing.assert_series_equal(table["application_id"], expected, check_exact=True)


@pytest.mark.parametrize("count", [0, 1, 5, 17, 63])
def test_eligible_and_failed_gates_with_any_number_of_gates(count):
    rng = np.random.default_rng(count)
    apps = pd.DataFrame({"application_id": [f"A{i}" for i in range(50)], "x": rng.integers(0, 100, 50)})
    gates = [f"x != {value}" for value in rng.integers(0, 100, count)]
    result = check_eligibility(apps, _rubric(gates))
    passes = np.column_stack([apps["x"] != int(rule.split()[-1]) for rule in gates]) if gates else np.ones((50, 0), bool)
    assert result.table["eligible"].tolist() == passes.all(axis=1).tolist()
    expected = [";".join(f"g{i}" for i in range(count) if not row[i]) for row in passes]
    assert result.table["failed_gates"].tolist() == expected
    assert list(result.gates.columns) == [f"g{i}" for i in range(count)]
    assert result.gates.to_numpy().tolist() == passes.tolist()
