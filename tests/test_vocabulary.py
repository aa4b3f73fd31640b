"""Region and domain values matched to canonical names through folding and aliases."""

import pandas as pd
import pytest

from selection.errors import ConfigError
from selection.vocabulary import Vocabulary, fold

REGIONS = Vocabulary(
    {
        "Tanger-Tétouan-Al Hoceïma": ["TTA"],
        "L'Oriental": ["Oriental", "الشرق"],
        "Béni Mellal-Khénifra": ["BMK"],
        "Casablanca-Settat": [],
    },
    kind="region",
)


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("Tanger-Tetouan-Al Hoceima", "Tanger-Tétouan-Al Hoceïma"),
        ("TANGER TÉTOUAN AL HOCEÏMA", "Tanger-Tétouan-Al Hoceïma"),
        ("tta", "Tanger-Tétouan-Al Hoceïma"),
        ("oriental", "L'Oriental"),
        ("l’Oriental", "L'Oriental"),
        ("الشرق", "L'Oriental"),
        ("  beni-mellal khenifra ", "Béni Mellal-Khénifra"),
    ],
)
def test_spellings_match(raw, canonical):
    assert REGIONS.match_one(raw) == canonical


def test_fold_keeps_arabic_letters():
    assert fold("الشرق") == "الشرق"
    assert fold("Béni-Mellal") == "beni mellal"


def test_unknown_value_names_row_and_suggests():
    values = pd.Series(["TTA", "Casablanka-Setat", None, "Mars"])
    matched, problems = REGIONS.match(values, field="Région")
    assert matched.tolist() == ["Tanger-Tétouan-Al Hoceïma", None, None, None]
    by_row = {p.row: p for p in problems}
    assert str(by_row[3]) == (
        "row 3, field 'Région': unknown region 'Casablanka-Setat'. Suggestion: did you mean "
        "'Casablanca-Settat'? Otherwise add 'Casablanka-Setat' to the aliases of a region in the program file"
    )
    assert by_row[4].code == "missing_region"
    assert by_row[5].message == "unknown region 'Mars'"


def test_missing_allowed_for_optional_columns():
    matched, problems = REGIONS.match(pd.Series([None, "BMK"]), field="x", allow_missing=True)
    assert problems == []
    assert matched.tolist() == [None, "Béni Mellal-Khénifra"]


def test_alias_shared_by_two_names_is_refused():
    with pytest.raises(ConfigError, match="is also a spelling of"):
        Vocabulary({"A": ["x"], "B": ["X"]})


def test_fold_gives_the_same_answer_again_and_for_non_text():
    from selection.vocabulary import fold

    assert fold("Béni-Mellal") == fold("Béni-Mellal") == "beni mellal"
    assert fold(2022) == "2022"
    assert fold("ـالشرق") == fold("الشرق")  # tatweel folded, cached or not
