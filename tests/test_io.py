"""Reading tables in every format and encoding; writing outputs atomically."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selection.errors import InputDataError, SelectionError
from selection.io import output_folder, read_table

ROWS = "N° dossier;Région;Montant demandé;Résumé\nA1;Béni Mellal-Khénifra;45 000;Projet d'éducation\nA2;الشرق;20000;مشروع\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_csv_utf8_with_and_without_bom(tmp_path, encoding):
    path = tmp_path / "apps.csv"
    path.write_text(ROWS, encoding=encoding)
    table = read_table(path)
    assert list(table.columns) == ["N° dossier", "Région", "Montant demandé", "Résumé"]
    assert table.loc[1, "Région"] == "الشرق"
    assert table.loc[0, "Montant demandé"] == "45 000"  # typed later, by validation


def test_csv_latin1(tmp_path):
    path = tmp_path / "apps.csv"
    path.write_bytes("id,Région\nA1,Béni Mellal-Khénifra\n".encode("latin-1"))
    table = read_table(path)
    assert table.loc[0, "Région"] == "Béni Mellal-Khénifra"


def test_comma_and_tab_separators(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "b.tsv").write_text("a\tb\n1\t2\n", encoding="utf-8")
    assert read_table(tmp_path / "a.csv").to_dict("list") == {"a": ["1"], "b": ["2"]}
    assert read_table(tmp_path / "b.tsv").to_dict("list") == {"a": ["1"], "b": ["2"]}


def test_xlsx_and_parquet_round_trip_arabic(tmp_path):
    frame = pd.DataFrame({"id": ["A1", "A2"], "title": ["Santé à Oujda", "التعليم للجميع"], "amount": [45000, 20000]})
    frame.to_excel(tmp_path / "t.xlsx", index=False)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    excel = read_table(tmp_path / "t.xlsx")
    assert excel["title"].tolist() == ["Santé à Oujda", "التعليم للجميع"]
    assert excel["amount"].tolist() == ["45000", "20000"]
    parquet = read_table(tmp_path / "t.parquet")
    assert parquet["title"].tolist() == ["Santé à Oujda", "التعليم للجميع"]


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "x.ods").write_text("", encoding="utf-8")
    with pytest.raises(InputDataError, match="unsupported file type '.ods'"):
        read_table(tmp_path / "x.ods")
    with pytest.raises(InputDataError, match="file not found"):
        read_table(tmp_path / "missing.csv")


def test_repeated_header_column(tmp_path):
    (tmp_path / "a.csv").write_text("id,id\n1,2\n", encoding="utf-8")
    with pytest.raises(InputDataError) as caught:
        read_table(tmp_path / "a.csv")
    assert str(caught.value) == (
        f"{tmp_path / 'a.csv'}, row 1, field 'id': column 'id' appears more than once in the header. "
        "Suggestion: rename or remove one of them"
    )


def test_output_folder_is_atomic(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with output_folder(out) as folder:
            (folder / "half.csv").write_text("x", encoding="utf-8")
            raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_output_folder_replaces_an_earlier_run_only(tmp_path):
    out = tmp_path / "run"
    with output_folder(out) as folder:
        (folder / "manifest.json").write_text("{}", encoding="utf-8")
        (folder / "old.csv").write_text("x", encoding="utf-8")
    with output_folder(out) as folder:
        (folder / "manifest.json").write_text("{}", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.docx").write_text("precious", encoding="utf-8")
    with pytest.raises(SelectionError, match="not empty and does not hold an earlier run"):
        with output_folder(other):
            pass
    assert (other / "thesis.docx").read_text(encoding="utf-8") == "precious"


REVIEWS = (
    "application_id,reviewer_id,criterion,score,comment\n"
    "A1,R1,qualite,4,\n"
    "A1, R2 ,qualite,,\"deux\nlignes\"\n"
    "A2,R1,impact,4,\"\"\n"
)


def test_categories_hold_the_same_cells_as_text(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(REVIEWS, encoding="utf-8")
    text = read_table(path)
    coded = read_table(path, categories=["application_id", "reviewer_id", "criterion", "score", "absent"])
    for name in ["application_id", "reviewer_id", "criterion", "score"]:
        assert isinstance(coded[name].dtype, pd.CategoricalDtype)
        assert coded[name].astype(object).tolist() == text[name].astype(object).tolist()
    assert coded["score"].isna().tolist() == [False, True, False]
    assert coded["comment"].tolist() == text["comment"].tolist()  # not asked for: text
    assert text["comment"].isna().tolist() == [True, False, True]
    assert text["comment"][1] == "deux\nlignes"


def test_categories_without_quotes_in_the_data(tmp_path):
    # No quote after the header: pyarrow may split the file at any line end.
    path = tmp_path / "reviews.csv"
    path.write_text('"application_id","score"\n' + "".join(f"A{i % 7},{i % 5}\n" for i in range(5000)), encoding="utf-8")
    table = read_table(path, categories=["application_id", "score"])
    assert len(table) == 5000
    assert table["application_id"].astype(object).tolist() == [f"A{i % 7}" for i in range(5000)]
    assert sorted(table["score"].cat.categories) == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("content", [
    "id,Région\nA1,B\xe9ni Mellal\n".encode("latin-1"),  # not UTF-8: pandas reads it
    "id,Région\nA1,Béni\nA2\n".encode("utf-8"),  # a short row: pyarrow refuses it, pandas fills it
])
def test_files_pyarrow_refuses_are_read_as_text(tmp_path, content):
    path = tmp_path / "apps.csv"
    path.write_bytes(content)
    table = read_table(path, categories=["id", "Région"])
    assert table.loc[0, "Région"].startswith("Béni")
    assert not isinstance(table["id"].dtype, pd.CategoricalDtype)


def test_blank_file_and_blank_header(tmp_path):
    (tmp_path / "a.csv").write_text(" \n\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="the file is empty"):
        read_table(tmp_path / "a.csv", categories=["id"])


@pytest.mark.parametrize(
    ("scores", "as_numbers"),
    [
        (["4", "", "3.5", " 2 ", "1e0", "-0"], True),
        (["4", "3,5"], False),  # a decimal comma: text, for validation to read
        (["4", "nan"], False),  # pyarrow reads NaN; validation reports it
        (["4", "beaucoup"], False),
        (["", ""], True),
    ],
)
def test_numbers_read_as_float_only_when_every_cell_is_one(tmp_path, scores, as_numbers):
    path = tmp_path / "reviews.csv"
    path.write_text("application_id,score\n" + "".join(f'A{i},"{s}"\n' for i, s in enumerate(scores)), encoding="utf-8")
    text = read_table(path, categories=["application_id", "score"])
    table = read_table(path, categories=["application_id", "score"], numbers=["score", "absent"])
    assert (table["score"].dtype == "float64") == as_numbers
    if as_numbers:
        expected = [float(s) if s.strip() else None for s in scores]
        assert [None if pd.isna(v) else v for v in table["score"]] == expected
    else:
        assert isinstance(table["score"].dtype, pd.CategoricalDtype)
        assert table["score"].astype(object).tolist() == text["score"].astype(object).tolist()
    assert table["application_id"].astype(object).tolist() == text["application_id"].astype(object).tolist()


def test_categories_of_repeated_and_missing_cells(tmp_path):
    # Missing cells (quoted or not) stay missing; categories in order of appearance.
    cells = ["A1"] * 5 + ["", "A2", "A2", '""', "A1", "A3"] + ["A3"] * 4
    path = tmp_path / "reviews.csv"
    path.write_text("application_id,n\n" + "".join(f"{c},{i}\n" for i, c in enumerate(cells)), encoding="utf-8")
    table = read_table(path, categories=["application_id"])
    values = table["application_id"].astype(object).tolist()
    assert [None if pd.isna(v) else v for v in values] == [None if c in ("", '""') else c for c in cells]
    assert list(table["application_id"].cat.categories) == ["A1", "A2", "A3"]  # in order of appearance


def test_tables_read_are_the_callers_to_change(tmp_path):
    # The columns are handed over without a copy, but none is a read-only view of the file.
    path = tmp_path / "reviews.csv"
    path.write_text("application_id,reviewer_id,score\nA1,R1,4\nA2,R1,2.5\n", encoding="utf-8")
    table = read_table(path, categories=["application_id"], numbers=["score"])
    assert table["score"].dtype == "float64"
    table.loc[0, "score"] = 3.0
    table.loc[1, "application_id"] = "A1"
    table.loc[1, "reviewer_id"] = "R2"
    assert table["score"].tolist() == [3.0, 2.5]
    assert table["application_id"].astype(object).tolist() == ["A1", "A1"]
    assert table["reviewer_id"].tolist() == ["R1", "R2"]
    assert read_table(path, numbers=["score"])["score"].tolist() == [4.0, 2.5]


def _categorical_of_blocks(blocks):
    """What io makes of a column pyarrow read in these blocks (one dictionary
    per block, missing cells as nulls): (the Categorical, its cells, its text dtype)."""
    import numpy as np
    import pyarrow as pa

    from selection.io import TEXT, _categorical

    column = pa.chunked_array(
        [pa.array(block, type=pa.string()).dictionary_encode() for block in blocks],
        type=pa.dictionary(pa.int32(), pa.string()),
    )
    assert TEXT == pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str"
    return _categorical(column), [cell for block in blocks for cell in block], TEXT


def test_categorical_of_chunks_with_their_own_dictionaries():
    # As pyarrow reads a large file: one dictionary per block, missing cells as nulls.
    import numpy as np
    import pyarrow as pa

    from selection.io import _categorical

    blocks = [["A1", "A1", None, "A2"], [], ["A2", "A3", None], ["A3", "A1", "A4"]]
    values, cells, text = _categorical_of_blocks(blocks)
    assert [None if pd.isna(v) else v for v in values.astype(object)] == cells
    assert list(values.categories) == ["A1", "A2", "A3", "A4"]  # in order of appearance
    assert values.categories.dtype == text and values.codes.dtype == np.int8
    many = pa.chunked_array([pa.array([f"A{i}" for i in range(300)]).dictionary_encode()])
    assert _categorical(many).codes.dtype == np.int16  # as narrow as pandas keeps them


def test_block_size_grows_with_the_file():
    from selection.io import _MAX_BLOCK, _MIN_BLOCK, _block_size

    assert _block_size(1) == _MIN_BLOCK
    assert _block_size(3 * _MIN_BLOCK) == 3 * _MIN_BLOCK // 2
    assert _block_size(1 << 40) == _MAX_BLOCK


@pytest.mark.parametrize("quoted", [True, False])
def test_files_of_several_blocks_read_as_one(tmp_path, monkeypatch, quoted):
    # A file larger than a block is split at line ends, outside quoted values
    # (looked for only then); a file of one block is not split.
    import selection.io as io

    comment = '"deux\nlignes"' if quoted else "une"
    rows = "".join(f"A{i // 18},R{i % 3},c{i % 6},{i % 5},{comment if i % 7 == 0 else ''}\n" for i in range(3000))
    path = tmp_path / "reviews.csv"
    path.write_text("application_id,reviewer_id,criterion,score,comment\n" + rows, encoding="utf-8")
    options = {"categories": ["application_id", "reviewer_id", "criterion"], "numbers": ["score"]}
    whole = read_table(path, **options)
    monkeypatch.setattr(io, "_MIN_BLOCK", 1 << 12)
    monkeypatch.setattr(io, "_MAX_BLOCK", 1 << 12)
    blocks = read_table(path, **options)
    assert len(whole) == 3000
    pd.testing.assert_frame_equal(whole, blocks)
    assert whole["comment"][0] == ("deux\nlignes" if quoted else "une")
    assert whole["application_id"].cat.categories.tolist() == [f"A{i}" for i in range(167)]


def test_pyarrow_and_pandas_give_the_same_frame(tmp_path):
    # Names stripped, a 0..n-1 index, text columns: whichever reader reads the file.
    text = " id ,Région, montant\nA1,Béni Mellal,45 000\nA2,,20000\n"
    (tmp_path / "utf8.csv").write_text(text, encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes(text.encode("latin-1"))  # not UTF-8: pandas reads it
    arrow, pandas = read_table(tmp_path / "utf8.csv"), read_table(tmp_path / "latin1.csv")
    assert list(arrow.columns) == ["id", "Région", "montant"]
    pd.testing.assert_frame_equal(arrow, pandas)
    assert arrow.columns.dtype == pandas.columns.dtype
    assert isinstance(arrow.index, pd.RangeIndex) and arrow.index.equals(pd.RangeIndex(2))


def test_categorical_of_one_chunk_keeps_its_dictionary():
    import numpy as np
    import pyarrow as pa

    from selection.io import _categorical

    cells = ["B", None, "A", "B", None, "C"]
    column = pa.chunked_array([pa.array(cells, type=pa.string()).dictionary_encode()])
    values = _categorical(column)
    assert [None if pd.isna(v) else v for v in values.astype(object)] == cells
    assert list(values.categories) == ["B", "A", "C"]
    assert values.codes.tolist() == [0, -1, 1, 0, -1, 2]
    assert values.categories.dtype == pd.StringDtype("pyarrow", na_value=np.nan) and values.codes.dtype == np.int8


@pytest.mark.parametrize(
    "blocks",
    [
        [["A1", "A1", "A2"], ["A2", "A3"], [None], ["A3", None, "A4", "A4"], ["A5"]],  # in runs: the dictionaries joined
        [["A1", "A2"], ["A2"], ["A2", "A3"]],  # a block of the value the previous one ended with
        [["A1", "A2"], ["A3", "A1"]],  # A1 again: Arrow encodes them
        [["A1", "A2"], ["A2", "A1"]],
        [[None], [None, None]],
        [["A1", "A2"], ["A3"], ["A4", "A1"]],  # A1 again after two blocks: found, then encoded
        [["B2", "B1"], ["A9"], ["A1", "A0"]],  # joined though not in order: pandas finds them distinct
        [["A1", "A2", "A3"], ["A3", "A2"], ["A4"]],  # a block's entries not a run of categories
    ],
)
def test_categorical_of_chunks_joins_what_it_can(blocks):
    values, cells, text = _categorical_of_blocks(blocks)
    expected = pd.Categorical(cells, categories=pd.Index(list(dict.fromkeys(c for c in cells if c)), dtype=text))
    assert [None if pd.isna(v) else v for v in values.astype(object)] == cells
    assert values.categories.equals(expected.categories) and values.categories.dtype == text
    assert values.codes.tolist() == expected.codes.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.sampled_from(["A0", "A1", "A2", "B", "é", "ب"])), max_size=6), max_size=5))
def test_categorical_of_any_blocks_holds_their_cells(blocks):
    # Whatever the blocks hold (runs, repeats far apart, missing cells, blocks
    # of nothing), the Categorical holds the cells, categories in order of appearance.
    values, cells, text = _categorical_of_blocks(blocks)
    assert [None if pd.isna(v) else v for v in values.astype(object)] == cells
    assert values.categories.tolist() == list(dict.fromkeys(c for c in cells if c is not None))
    assert values.categories.is_unique and values.categories.dtype == text
