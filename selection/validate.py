"""Turn raw tables into the canonical, typed tables the core works on.

Columns are renamed through the program's mapping, cells are typed (money as
integers from the moment it is read), regions and domains are matched to the
program's canonical names. Every problem found is reported in one pass, each
with its row and column, rather than stopping at the first.

>>> from selection.program import load_program
>>> from selection.io import read_table
>>> program = load_program("examples/tamuri")
>>> apps = prepare_applications(read_table("examples/tamuri/applications.csv"), program)
>>> apps["requested_amount"].dtype
Int64Dtype()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from selection.allocation import AllocationConfig
from selection.errors import InputDataError, Problem, did_you_mean
from selection.io import TEXT, is_arrow_text
from selection.program import CANONICAL_COLUMNS, Program
from selection.vocabulary import Vocabulary

__all__ = [
    "REQUIRED_APPLICATION_COLUMNS",
    "REVIEW_COLUMNS",
    "REVIEWER_COLUMNS",
    "prepare_applications",
    "prepare_reviews",
    "prepare_reviewers",
    "parse_integers",
    "parse_candidates",
]

REQUIRED_APPLICATION_COLUMNS = ("application_id", "organisation", "region", "requested_amount")
REVIEW_COLUMNS = ("application_id", "reviewer_id", "criterion", "score")
REVIEWER_COLUMNS = ("reviewer_id",)
MAX_PROBLEMS = 20

_TRUE = {"oui", "yes", "true", "vrai", "1", "o", "y", "x", "نعم"}
_FALSE = {"non", "no", "false", "faux", "0", "n", "لا"}
# Thousands separators people type in amounts: spaces (plain, no-break, thin) and
# apostrophes; "45 000", "45 000" and "45'000" are all 45000.
# The class spells out every character Python's \s matches (str.isspace) rather
# than using \s: pandas then runs it with pyarrow's RE2 kernel, in which \s is
# ASCII only, with the same result; a compiled pattern made pandas fall back to
# re.sub cell by cell (6 s for three integer columns of a million rows).
_THOUSANDS = (
    "["
    + "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())
    + "\u00a0\u202f'’]"
)


def _raise_if_any(problems: list[Problem]) -> None:
    if not problems:
        return
    problems = sorted(problems, key=lambda p: (p.row or 0, p.field or ""))
    if len(problems) > MAX_PROBLEMS:
        extra = len(problems) - MAX_PROBLEMS
        problems = problems[:MAX_PROBLEMS] + [
            Problem(f"... and {extra} more problems of the same kinds", code="more")
        ]
    raise InputDataError(problems=problems)


def _rows(mask: pd.Series) -> list[int]:
    """Spreadsheet row numbers (header = row 1) of the true cells of ``mask``."""
    return [int(i) + 2 for i in np.flatnonzero(mask.to_numpy(dtype=bool))]


def _text(column: pd.Series, *, keep_strings: bool = False) -> pd.Series:
    """Strings with surrounding blanks removed; blank cells become missing (None).

    With ``keep_strings`` the result stays a pyarrow-backed string column
    (missing: ``pd.NA``) instead of Python objects: the reviews table has 18
    rows per application, and making a Python object of each of its ids cost
    more than the whole of scoring (and scoring turns them back into Arrow).
    A Categorical (how io reads a reviews table's ids) is worked on once per
    category and, with ``keep_strings``, stays one.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        return _text_categorical(column, keep_strings=keep_strings)
    if not keep_strings and (cells := _arrow_cells(column)) is not None:
        return pd.Series(_python_text(cells), index=column.index, dtype=object, name=column.name, copy=False)
    text = column.astype("string")
    if getattr(text.dtype, "storage", None) == "pyarrow":
        # The same as below in one pass of pyarrow kernels (pandas' str.strip
        # on pyarrow strings is utf8_trim_whitespace): 3x faster on large tables.
        trimmed = pc.utf8_trim_whitespace(pa.array(text.array))
        if keep_strings:
            return pd.Series(pd.array(_blank_to_null(trimmed), dtype=text.dtype), index=column.index, name=column.name)
        return pd.Series(_python_text(trimmed), index=column.index, dtype=object, name=column.name, copy=False)
    text = text.str.strip()
    return text.mask(text.eq("")).astype(object).where(text.notna() & text.ne(""), None)


def _text_categorical(column: pd.Series, *, keep_strings: bool) -> pd.Series:
    """:func:`_text` of a Categorical, worked out once per category.

    With ``keep_strings`` the result stays a Categorical (categories trimmed,
    those left blank removed, those trimmed to the same text merged)."""
    if not keep_strings:
        return _text_repeated(column)
    if _trimmed_already(column.cat.categories):
        return column  # nothing to trim: the usual case
    codes = column.cat.codes.to_numpy()
    cleaned = _text(pd.Series(column.cat.categories), keep_strings=True)
    if _same_cells(cleaned, column.cat.categories):
        return column  # nothing to trim: the usual case
    recode, categories = pd.factorize(cleaned)  # blank categories get -1
    recode = np.append(recode, -1)
    values = pd.Categorical.from_codes(recode[codes], categories=pd.Index(categories), validate=False)
    return pd.Series(values, index=column.index, name=column.name)


def _trimmed_already(categories: pd.Index) -> bool:
    """Whether Arrow text ``categories`` have no blanks to trim and none left
    blank: what :func:`_same_cells` finds of their :func:`_text`, in three Arrow
    kernels instead of a dozen pandas steps (a third of preparing a reviews
    table of 43,200 rows). False for categories stored otherwise, left to it."""
    if not is_arrow_text(categories.dtype):
        return False
    cells = pa.array(categories.array)
    if cells.null_count:
        return False
    trimmed = pc.utf8_trim_whitespace(cells)
    return trimmed.equals(cells) and not pc.any(pc.equal(trimmed, "")).as_py()


def _same_cells(cleaned: pd.Series, original: pd.Index) -> bool:
    """Whether ``cleaned`` holds exactly the (distinct, present) cells of ``original``."""
    if cleaned.isna().any():
        return False
    try:  # compared in Arrow: no Python string per cell
        return pa.array(cleaned.array).equals(pa.array(original.array))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return bool((cleaned.to_numpy(dtype=object) == original.to_numpy(dtype=object)).all())


def _text_repeated(column: pd.Series) -> pd.Series:
    """:func:`_text` of a column whose values repeat (regions, domains), worked
    out once per distinct value; the cells share their Python strings."""
    found = _distinct(column)
    if found is None:
        return _text(column)
    distinct, codes = found
    cleaned = np.append(_text(distinct).to_numpy(dtype=object), None)  # code -1: missing
    return pd.Series(cleaned[codes], index=column.index, dtype=object, name=column.name, copy=False)


def _distinct(column: pd.Series) -> tuple[pd.Series, np.ndarray] | None:
    """The distinct cells of a text column and the code of each cell into them
    (-1: missing), or None for a column of another kind (or with no value).

    The distinct cells are exactly the values the column holds: a parser
    applied to them decides as it would on the whole column (pyarrow or
    pandas, one date unit or another)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()  # int8 to int32: a few bytes a cell
        distinct = pd.Series(column.cat.categories)
        present = codes if codes.min(initial=0) >= 0 else codes[codes >= 0]
        seen = np.bincount(present, minlength=len(distinct)) > 0
        if not seen.all():  # categories no cell holds
            recode = np.append(np.cumsum(seen) - 1, -1)
            codes, distinct = recode[codes], distinct[seen].reset_index(drop=True)
    elif getattr(column.dtype, "storage", None) == "pyarrow" and pd.api.types.is_string_dtype(column.dtype):
        encoded = pc.dictionary_encode(pa.array(column.array))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.unify_dictionaries().combine_chunks()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        distinct = pd.Series(pd.array(encoded.dictionary, dtype=column.dtype))
    elif column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "string":
        codes, uniques = pd.factorize(column)
        distinct = pd.Series(uniques, dtype=object)
    else:
        return None
    if len(distinct) == 0:
        return None
    return distinct, codes


def _arrow_cells(column: pd.Series) -> pa.Array | None:
    """The cells of a pyarrow-backed text column as one Arrow array (nulls
    missing), or None for a column stored otherwise (object, Categorical, numbers)."""
    if not is_arrow_text(column.dtype):
        return None
    cells = pa.array(column.array)
    return cells.combine_chunks() if isinstance(cells, pa.ChunkedArray) else cells


def _python_text(cells: pa.Array) -> np.ndarray:
    """Arrow strings as :func:`_text` gives them: trimmed Python strings, None
    for blank or missing cells (an object array)."""
    trimmed = pc.utf8_trim_whitespace(cells)
    values = trimmed.to_numpy(zero_copy_only=False).astype(object, copy=False)  # nulls: None
    blank = pc.equal(trimmed, "")
    if pc.any(blank).as_py():
        values[blank.fill_null(False).to_numpy(zero_copy_only=False)] = None
    return values


@dataclass(frozen=True)
class _Encoded:
    """An Arrow text column as its distinct cells and, per cell, the code of
    its value among them (-1: missing). Parsers that decide once per
    distinct cell start from this: one hash pass over the column, then work
    on a few dozen values."""

    values: pa.Array
    codes: np.ndarray

    @classmethod
    def of(cls, column: pd.Series) -> _Encoded | None:
        """The encoding of a pyarrow-backed text column; None for any other column."""
        cells = _arrow_cells(column)
        if cells is None:
            return None
        encoded = pc.dictionary_encode(cells)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return cls(encoded.dictionary, codes.astype(np.intp, copy=False))

    def spread(self, values: np.ndarray, missing: object) -> np.ndarray:
        """Per-distinct ``values`` spread to the cells; ``missing`` where a cell is."""
        return np.append(values, np.array([missing], dtype=values.dtype))[self.codes]


def _spread_integers(encoded: _Encoded, values: pa.Array, index: pd.Index) -> pd.Series:
    """Int64 cells from one Arrow integer per distinct cell (null: missing)."""
    data = encoded.spread(values.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64), 0)
    mask = encoded.spread(values.is_null().to_numpy(zero_copy_only=False), True)
    return pd.Series(pd.arrays.IntegerArray(data, mask), index=index, copy=False)


def _by_distinct(
    column: pd.Series, parse: Callable[[pd.Series], tuple[pd.Series, pd.Series]]
) -> tuple[pd.Series, pd.Series]:
    """``parse`` (cells to values and a mask of bad cells) run once per distinct
    cell of a text column and spread to its cells (missing cells: missing values).

    Most typed columns repeat a few values (years, yes/no, dates, scores 1-5):
    parsing 100,000 cells one by one cost more than reading them.
    """
    found = _distinct(column)
    if found is None:
        return parse(column)
    distinct, codes = found
    values, bad = parse(distinct)
    if isinstance(values.dtype, (pd.Int64Dtype, pd.BooleanDtype)):
        # Data and mask taken in numpy: pandas' reindex and take cost more
        # than the rest of a column of 2,400 cells.
        kind = np.int64 if isinstance(values.dtype, pd.Int64Dtype) else np.bool_
        data = np.append(values.to_numpy(dtype=kind, na_value=kind(0)), kind(0))[codes]
        mask = np.append(values.isna().to_numpy(), True)[codes]
        array = pd.arrays.IntegerArray(data, mask) if kind is np.int64 else pd.arrays.BooleanArray(data, mask)
        flags = np.append(bad.fillna(False).to_numpy(dtype=bool), False)
        return pd.Series(array, index=column.index, copy=False), pd.Series(flags[codes], index=column.index, copy=False)
    extended = values.reset_index(drop=True).reindex(pd.RangeIndex(len(distinct) + 1))  # last: missing
    if isinstance(extended.dtype, np.dtype):  # float64, datetime64: numpy takes with any int codes
        spread = pd.Series(extended.to_numpy()[codes], index=column.index, copy=False)
    else:
        spread = extended.take(codes)  # code -1 takes the added last row
        spread.index = column.index
    flags = np.append(bad.fillna(False).to_numpy(dtype=bool), False)
    return spread, pd.Series(flags[codes], index=column.index, copy=False)


def _arrow_numbers(text: pd.Series, *, integers: bool = False) -> pd.Series | None:
    """``text`` parsed by pyarrow (blank cells missing), or None when a cell does
    not parse; the caller then falls back to ``pd.to_numeric``, which is about
    ten times slower on pyarrow strings (1.3 s for 1.8 million review scores).
    With ``integers``, whole numbers come out as Int64, exactly."""
    try:
        values = pc.utf8_trim_whitespace(pa.array(text.array, type=pa.string()))
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        if integers:
            try:
                whole = pc.cast(values, pa.int64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
            else:
                data = pc.fill_null(whole, 0).to_numpy(zero_copy_only=False)
                mask = whole.is_null().to_numpy(zero_copy_only=False)
                return pd.Series(pd.arrays.IntegerArray(data, mask), index=text.index)
        numbers = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return pd.Series(numbers.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _bad_cells(column: pd.Series, bad: pd.Series, *, field: str, expected: str,
               suggestion: str, code: str) -> list[Problem]:
    """One problem per cell where ``bad`` holds: "'<cell>' is not <expected>"."""
    return [
        Problem(f"'{column.iloc[row - 2]}' is not {expected}", row=row, field=field,
                suggestion=suggestion, code=code)
        for row in _rows(bad.fillna(False))
    ]


def parse_integers(column: pd.Series, *, field: str, what: str = "a whole number") -> tuple[pd.Series, list[Problem]]:
    """Parse cells as integers (Int64, missing kept); one problem per bad cell.

    Thousands separators (spaces, apostrophes) are accepted; decimals are
    accepted only when they are whole ("45000.0"); anything else is an error.
    """
    if pd.api.types.is_integer_dtype(column):
        return column.astype("Int64"), []
    plain = _plain_integers(column)
    if plain is not None:
        return plain, []
    encoded = _Encoded.of(column)
    if encoded is not None and (values := _separated_integers(encoded.values)) is not None:
        return _spread_integers(encoded, values, column.index), []
    numbers, bad = _by_distinct(column, _integer_cells)
    problems = _bad_cells(column, bad, field=field, expected=what,
                          suggestion="write digits only, e.g. 45000", code="not_a_number")
    return numbers, problems


def _plain_integers(column: pd.Series) -> pd.Series | None:
    """An Arrow string column whose present cells are all plain integers
    ("45000", "-3"), as Int64 in one cast; None for any other column.

    Such a cell has nothing for :func:`_integer_cells` to remove (a blank or
    a separator makes the cast fail), which would then cast the same text:
    the same values, without its two dozen pandas steps per column (a third of
    preparing 2,400 applications).
    """
    if not (getattr(column.dtype, "storage", None) == "pyarrow" and pd.api.types.is_string_dtype(column.dtype)):
        return None
    try:
        whole = pc.cast(pa.array(column.array), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if isinstance(whole, pa.ChunkedArray):
        whole = whole.combine_chunks()
    data = pc.fill_null(whole, 0).to_numpy(zero_copy_only=False)
    mask = whole.is_null().to_numpy(zero_copy_only=False)
    return pd.Series(pd.arrays.IntegerArray(data, mask), index=column.index, copy=False)


def _separated_integers(cells: pa.Array) -> pa.Array | None:
    """Arrow text cells that are all whole numbers once their thousands
    separators are removed ("45 000") or blank, as int64 (blank: null); None
    when one is anything else, left to :func:`_integer_cells`.

    The same kernels as that function's first steps (pandas' regex
    ``str.replace`` on Arrow strings is ``replace_substring_regex``), which
    end there for such cells, without its pandas steps (about 3 ms a column).
    """
    if len(cells) == 0:
        return None
    text = pc.replace_substring_regex(cells, pattern=_THOUSANDS, replacement="")
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    try:
        return pc.cast(text, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _integer_cells(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = column.astype("string").str.replace(_THOUSANDS, "", regex=True)
    numbers = _arrow_numbers(text, integers=True)
    if numbers is None:
        numbers = pd.to_numeric(text, errors="coerce")
    # "inf" is not whole either (inf % 1 is missing, not non-zero, in Float64).
    infinite = numbers.isin([np.inf, -np.inf])
    bad = text.notna() & text.ne("") & (numbers.isna() | (numbers % 1 != 0) | infinite)
    return numbers.where(~bad.fillna(False)).round().astype("Int64"), bad


def _parse_floats(column: pd.Series, *, field: str) -> tuple[pd.Series, list[Problem]]:
    if column.dtype == np.float64:
        return column, []  # what astype gives, without its pandas steps
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.astype("float64"), []
    numbers, bad = _by_distinct(column, _float_cells)
    return numbers, _bad_cells(column, bad, field=field, expected="a number",
                               suggestion="write a number, e.g. 3.5", code="not_a_number")


def _float_cells(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Cells as float64 (a decimal comma accepted) and which non-blank cells are not numbers."""
    text = column.astype("string").str.strip().str.replace(",", ".", regex=False)
    numbers = _arrow_numbers(text)
    if numbers is None:
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = text.notna() & text.ne("") & numbers.isna()
    return numbers, bad


def _parse_booleans(column: pd.Series, *, field: str) -> tuple[pd.Series, list[Problem]]:
    if pd.api.types.is_bool_dtype(column):
        return column.astype("boolean"), []
    plain = _plain_booleans(column)
    if plain is not None:
        return plain, []
    values, bad = _by_distinct(column, _boolean_cells)
    return values, _bad_cells(column, bad, field=field, expected="yes or no",
                              suggestion="write oui/non (or yes/no, true/false, 1/0)", code="not_a_boolean")


def _plain_booleans(column: pd.Series) -> pd.Series | None:
    """An Arrow string column whose present cells are all yes or no words, as
    booleans, worked out in Arrow once per distinct cell; None for any other
    column (a blank or an unknown word included), left to :func:`_boolean_cells`.

    The same kernels as that function's pandas steps (``str.strip`` and
    ``str.lower`` on Arrow strings are ``utf8_trim_whitespace`` and
    ``utf8_lower``), without their overhead: a tenth of preparing 2,400
    applications went on three yes/no columns. The few words are then
    looked up in Python.
    """
    encoded = _Encoded.of(column)
    if encoded is None:
        return None
    words = pc.utf8_lower(pc.utf8_trim_whitespace(encoded.values)).to_pylist()
    true = np.array([word in _TRUE for word in words], dtype=bool)
    if not all(word in _TRUE or word in _FALSE for word in words):
        return None
    values = pd.arrays.BooleanArray(encoded.spread(true, False), encoded.codes < 0)
    return pd.Series(values, index=column.index, copy=False)


def _boolean_cells(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    folded = column.astype("string").str.strip().str.lower()
    values = pd.Series(pd.NA, index=column.index, dtype="boolean")
    values[folded.isin(_TRUE).fillna(False)] = True
    values[folded.isin(_FALSE).fillna(False)] = False
    bad = folded.notna() & folded.ne("") & values.isna()
    return values, bad


def _parse_dates(column: pd.Series, *, field: str) -> tuple[pd.Series, list[Problem]]:
    if pd.api.types.is_datetime64_any_dtype(column):
        return column, []
    encoded = _Encoded.of(column)
    if encoded is not None and (days := _iso_days(encoded.values)) is not None:
        return pd.Series(encoded.spread(days, np.datetime64("NaT", "us")), index=column.index, copy=False), []
    dates, bad = _by_distinct(column, _date_cells)
    return dates, _bad_cells(column, bad, field=field, expected="a date",
                             suggestion="write dates as YYYY-MM-DD or DD/MM/YYYY", code="not_a_date")


#: A plain ISO date of years 1000-2999, the form of nearly every export.
_ISO_DAY = r"^[12][0-9]{3}-[0-9]{2}-[0-9]{2}$"


def _iso_days(cells: pa.Array) -> np.ndarray | None:
    """Arrow text cells that are all plain ISO dates ("2022-03-29", blanks
    around allowed) as datetime64[us], what :func:`_date_cells` makes of them;
    None for any other set of cells (a French date, a blank, an impossible
    date), left to that function.

    numpy reads such dates exactly and refuses impossible ones, without
    two ``pd.to_datetime`` passes and their masks (4 ms a column).
    """
    text = pc.utf8_trim_whitespace(cells)
    if len(text) == 0 or text.null_count or not pc.all(pc.match_substring_regex(text, _ISO_DAY)).as_py():
        return None
    try:
        days = np.array(text.to_pylist(), dtype="datetime64[D]")
    except ValueError:
        return None
    return days.astype("datetime64[us]")


def _date_cells(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = column.astype("string").str.strip()
    iso = pd.to_datetime(text, errors="coerce", format="ISO8601")
    french = pd.to_datetime(text, errors="coerce", format="%d/%m/%Y")
    dates = iso.fillna(french)
    bad = text.notna() & text.ne("") & dates.isna()
    return dates, bad


_PARSERS = {
    "float": _parse_floats,
    "bool": _parse_booleans,
    "date": _parse_dates,
}


def _rename(raw: pd.DataFrame, mapping: dict[str, str], required: Sequence[str],
            problems: list[Problem]) -> pd.DataFrame:
    """Rename source columns to canonical names; report the missing ones."""
    present = list(raw.columns)
    renames = {}
    for name, source in mapping.items():
        if source in raw.columns:
            renames[source] = name
        elif name not in raw.columns and name in required:
            problems.append(
                Problem(
                    f"column '{source}' (mapped to {name}) is missing",
                    row=1,
                    field=source,
                    suggestion=did_you_mean(source, present),
                    code="missing_column",
                )
            )
    # The same labels as raw.rename(columns=renames), without its index machinery.
    labels = pd.Index([renames.get(c, c) for c in raw.columns], name=raw.columns.name, tupleize_cols=False)
    table = raw.set_axis(labels, axis=1)
    for name in required:
        if name not in table.columns and name not in mapping:
            problems.append(
                Problem(
                    f"required column '{name}' is missing",
                    row=1,
                    field=name,
                    suggestion=did_you_mean(name, present)
                    + f" (map an existing column to '{name}' under 'columns:' in the program file)",
                    code="missing_column",
                )
            )
    return table


#: Odd 64-bit multipliers that mix the words of an identifier into one hash.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _distinct_same_width(trimmed: pa.Array) -> bool:
    """Whether trimmed Arrow identifiers are all present, non-blank and
    distinct, shown in numpy when they all have the same width in bytes (as
    exports number them: "TAM-B-0000001"); False when that does not show it
    (a blank or missing cell, widths that differ, two equal hashes), for
    :func:`_check_unique_ids` to decide exactly.

    Equal identifiers have equal bytes and so equal hashes: distinct hashes
    prove distinct identifiers. A set of a million Python strings took 0.3 s.
    """
    rows = len(trimmed)
    if rows == 0 or trimmed.null_count or not (pa.types.is_string(trimmed.type) or pa.types.is_large_string(trimmed.type)):
        return False
    offset_type = np.int64 if pa.types.is_large_string(trimmed.type) else np.int32
    offsets = np.frombuffer(trimmed.buffers()[1], dtype=offset_type)[trimmed.offset : trimmed.offset + rows + 1]
    width = int(offsets[1] - offsets[0])
    if width == 0 or int(offsets[-1] - offsets[0]) != width * rows or not (np.diff(offsets) == width).all():
        return False
    data = np.frombuffer(trimmed.buffers()[2], dtype=np.uint8, count=width * rows, offset=int(offsets[0]))
    words = -(-width // 8)
    padded = np.zeros((rows, words * 8), dtype=np.uint8)
    padded[:, :width] = data.reshape(rows, width)
    keys = padded.view(np.uint64)  # (rows, words): exact when an id fits in 8 bytes
    hashes = keys[:, 0].copy()
    for word in range(1, words):
        hashes *= _MIX
        hashes ^= keys[:, word]
    hashes.sort()  # a sort beat pandas' hash table: 30 ms instead of 130 for a million
    return not (hashes[1:] == hashes[:-1]).any()


def _check_unique_ids(ids: pd.Series, *, field: str, problems: list[Problem]) -> None:
    """Report empty and repeated identifiers; ``ids`` as :func:`_text` gives
    them (strings, None where empty)."""
    if ids.dtype == object:
        # The usual answer, nothing to report, from one set of the strings
        # (pandas' isna and duplicated cost 2 ms for 2,400 ids).
        distinct = set(ids.to_numpy())
        if len(distinct) == len(ids) and None not in distinct:
            return
    blank = ids.isna()
    for row in _rows(blank):
        problems.append(Problem("the identifier is empty", row=row, field=field,
                                suggestion="give every row an identifier", code="missing_id"))
    repeated = ids.duplicated(keep="first") & ~blank
    if repeated.any():
        first_row = {value: int(i) + 2 for i, value in ids[~ids.duplicated(keep="first")].items()}
        for row in _rows(repeated):
            value = ids.iloc[row - 2]
            problems.append(
                Problem(
                    f"identifier '{value}' is used twice (first on row {first_row[value]})",
                    row=row,
                    field=field,
                    suggestion="identifiers must be unique; remove or renumber the duplicate",
                    code="duplicate_id",
                )
            )


def prepare_applications(raw: pd.DataFrame, program: Program) -> pd.DataFrame:
    """The canonical applications table: mapped, typed, matched; every problem at once.

    Columns come out as :data:`~selection.program.CANONICAL_COLUMNS` first, then
    the other mapped columns in the program's order, then any other column of
    the export unchanged. ``requested_amount`` is an integer (Int64) column.
    The text columns (the identifier, organisation, title, summary, region,
    domain and the columns typed ``str``) are pandas' ``str`` columns, held
    in Arrow: trimmed, blank cells missing (NaN).
    """
    config = program.config
    problems: list[Problem] = []
    mapping = dict(config.columns)
    table = _rename(raw, mapping, REQUIRED_APPLICATION_COLUMNS, problems)
    _raise_if_any(problems)
    source_of = {name: mapping.get(name, name) for name in table.columns}
    # Columns are worked on apart and put together once at the end: each
    # assignment into a DataFrame cost more than parsing a column of 2,400 cells.
    columns = dict(table.items()) if table.columns.is_unique else {name: table[name] for name in table.columns}

    for name in CANONICAL_COLUMNS:
        if name not in columns:
            columns[name] = pd.Series(None, index=table.index, dtype=object)
    cells = _arrow_cells(columns["application_id"])
    if cells is not None:
        trimmed = pc.utf8_trim_whitespace(cells)
        columns["application_id"] = _str_series(_blank_to_null(trimmed), columns["application_id"])
        distinct = _distinct_same_width(trimmed)
    else:
        columns["application_id"] = _str_text(columns["application_id"])
        distinct = False
    if not distinct:
        _check_unique_ids(columns["application_id"], field=source_of["application_id"], problems=problems)
    for name in ("organisation", "title", "summary"):
        columns[name] = _str_text(columns[name])

    columns["requested_amount"], found = parse_integers(
        columns["requested_amount"], field=source_of["requested_amount"], what="an amount"
    )
    problems += found
    columns["region"], found = _match(columns["region"], program.regions(), field=source_of["region"])
    problems += found
    domains = program.domains()
    if domains is not None:
        columns["domain"], found = _match(
            columns["domain"], domains, field=source_of.get("domain", "domain"), allow_missing=True
        )
        problems += found
    else:
        columns["domain"] = _str_text(columns["domain"])

    for name, kind in config.types.items():
        if name not in columns:
            problems.append(
                Problem(
                    f"column '{mapping.get(name, name)}' (typed as {kind}) is missing",
                    row=1,
                    field=mapping.get(name, name),
                    suggestion=did_you_mean(mapping.get(name, name), list(raw.columns)),
                    code="missing_column",
                )
            )
            continue
        field = source_of.get(name, name)
        if kind == "int":
            columns[name], found = parse_integers(columns[name], field=field)
        elif kind == "str":
            columns[name], found = _str_text(columns[name]), []
        else:
            columns[name], found = _PARSERS[kind](columns[name], field=field)
        problems += found
    _raise_if_any(problems)

    mapped = [c for c in mapping if c not in CANONICAL_COLUMNS and c in columns]
    others = [c for c in columns if c not in CANONICAL_COLUMNS and c not in mapped]
    order = list(CANONICAL_COLUMNS) + mapped + others
    # concat along columns keeps each column's array as it is (a DataFrame
    # built from a dict copied the text columns into one block: 0.1 s a million rows).
    prepared = pd.concat([columns[name] for name in order], axis=1, keys=pd.Index(order, dtype=table.columns.dtype))
    index = prepared.index
    if not (type(index) is pd.RangeIndex and index.name is None and index.equals(pd.RangeIndex(len(prepared)))):
        prepared = prepared.set_axis(pd.RangeIndex(len(prepared)))
    return prepared


def _str_series(cells: pa.Array | pa.ChunkedArray, like: pd.Series) -> pd.Series:
    """Arrow text (missing: null) as a ``str`` column with the index and name of ``like``."""
    return pd.Series(pd.array(cells.cast(pa.large_string()), dtype=TEXT), index=like.index, name=like.name, copy=False)


def _str_text(column: pd.Series) -> pd.Series:
    """:func:`_text` of a column as a ``str`` column (blank cells missing:
    NaN): worked on in Arrow when the column is Arrow text (as read from a
    CSV file), without a Python string per cell (a quarter of preparing a
    million applications' text); otherwise through :func:`_text`."""
    cells = _arrow_cells(column)
    if cells is not None:
        return _str_series(_blank_to_null(pc.utf8_trim_whitespace(cells)), column)
    return _text(column).astype(TEXT)


def _blank_to_null(trimmed: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Trimmed Arrow text with its blank cells missing: :func:`_python_text` in Arrow."""
    blank = pc.equal(trimmed, "")
    return pc.if_else(blank, pa.scalar(None, trimmed.type), trimmed) if pc.any(blank).as_py() else trimmed


def _match(
    column: pd.Series, vocabulary: Vocabulary, *, field: str, allow_missing: bool = False
) -> tuple[pd.Series, list[Problem]]:
    """:meth:`Vocabulary.match` of the trimmed cells, decided once per distinct
    cell, as a ``str`` column (missing: NaN).

    When every distinct cell matches (or, with ``allow_missing``, is blank),
    their canonical names are spread to the cells in Arrow; otherwise the
    whole column goes through :meth:`~Vocabulary.match`, which words the
    problems. Matching a million regions through it cost 0.1 s.
    """
    encoded = _Encoded.of(column)
    if encoded is not None:
        cells = _python_text(encoded.values)
        names = [vocabulary.match_one(cell) if cell is not None else None for cell in cells]
        unknown = any(name is None and cell is not None for name, cell in zip(names, cells))
        blank = any(cell is None for cell in cells) or (encoded.codes < 0).any()
        if not unknown and (allow_missing or not blank):
            known = pa.array([*names, None], type=pa.large_string())
            spread = known.take(pa.array(np.where(encoded.codes < 0, len(names), encoded.codes)))
            return _str_series(spread, column), []
    matched, problems = vocabulary.match(_text_repeated(column), field=field, allow_missing=allow_missing)
    return matched.astype(TEXT), problems


def prepare_reviews(raw: pd.DataFrame) -> pd.DataFrame:
    """Check the columns of a long reviews table and type its scores.

    Per-criterion checks (known application, known criterion, score within
    the scale) belong to scoring, which knows the rubric. A wide sheet (one
    column per criterion) is passed through for scoring to convert.
    """
    problems: list[Problem] = []
    # Columns are replaced, never written into (``table[name] = ...`` makes a
    # new column): a shallow copy leaves ``raw`` as it was without a second
    # copy of 18 million rows.
    table = raw.copy(deep=False)
    for name in ("application_id", "reviewer_id"):
        if name not in table.columns:
            problems.append(
                Problem(f"required column '{name}' is missing", row=1, field=name,
                        suggestion=did_you_mean(name, list(table.columns)), code="missing_column")
            )
    _raise_if_any(problems)
    for name in ("application_id", "reviewer_id", "criterion", "comment"):
        if name in table.columns:
            column = table[name]
            cleaned = _text(column, keep_strings=True)
            if cleaned is not column:  # a Categorical with nothing to trim comes back as it was
                table[name] = cleaned
    if "criterion" in table.columns:
        if "score" not in table.columns:
            problems.append(
                Problem("required column 'score' is missing", row=1, field="score",
                        suggestion=did_you_mean("score", list(table.columns)), code="missing_column")
            )
            _raise_if_any(problems)
        table["score"], found = _parse_floats(table["score"], field="score")
        problems += found
    _raise_if_any(problems)
    return table


def prepare_reviewers(raw: pd.DataFrame) -> pd.DataFrame:
    """Reviewers: unique ids; capacity as an integer; list columns split on ';'."""
    problems: list[Problem] = []
    table = raw.copy()
    if "reviewer_id" not in table.columns:
        problems.append(
            Problem("required column 'reviewer_id' is missing", row=1, field="reviewer_id",
                    suggestion=did_you_mean("reviewer_id", list(table.columns)), code="missing_column")
        )
        _raise_if_any(problems)
    table["reviewer_id"] = _text(table["reviewer_id"])
    _check_unique_ids(table["reviewer_id"], field="reviewer_id", problems=problems)
    if "capacity" in table.columns:
        table["capacity"], found = parse_integers(table["capacity"], field="capacity")
        problems += found
    for name in ("name", "regions", "domains", "conflicts"):
        if name in table.columns:
            table[name] = _text(table[name])
    _raise_if_any(problems)
    return table


def parse_candidates(raw: pd.DataFrame, config: AllocationConfig) -> pd.DataFrame:
    """Type a candidates table for :func:`selection.allocation.allocate`.

    ``application_id`` unique; the merit column as numbers; ``requested_amount``
    as integers when money is allocated (except under ``amount:
    proportional``); resource columns and the reviews column (with
    ``min_reviews``) as integers; group and ``one_per`` columns as text. A
    ``ranked`` column (as in ``scores.csv``) keeps unranked rows out: they are
    not candidates. Rows are put in ``rank`` order when there is a ``rank``
    column (unranked last).
    """
    problems: list[Problem] = []
    required = ["application_id", config.merit]
    if config.budget is not None and config.amount != "proportional":
        required.append("requested_amount")
    required += [g.column for g in config.groups]
    integers = [r.column for r in config.resources]
    if config.min_reviews is not None:
        integers.append(config.reviews_column)
    required += integers
    if config.one_per:
        required.append(config.one_per)
    for name in dict.fromkeys(required):
        if name not in raw.columns:
            problems.append(
                Problem(f"required column '{name}' is missing", row=1, field=name,
                        suggestion=did_you_mean(name, list(raw.columns)), code="missing_column")
            )
    _raise_if_any(problems)
    table = raw.copy()
    table["application_id"] = _text(table["application_id"])
    _check_unique_ids(table["application_id"], field="application_id", problems=problems)
    table[config.merit], found = _parse_floats(table[config.merit], field=config.merit)
    problems += found
    if "requested_amount" in table.columns:
        table["requested_amount"], found = parse_integers(
            table["requested_amount"], field="requested_amount", what="an amount"
        )
        problems += found
    for column in dict.fromkeys(integers):
        if column != "requested_amount":
            table[column], found = parse_integers(table[column], field=column)
            problems += found
    for column in dict.fromkeys([g.column for g in config.groups] + [config.one_per or ""]):
        if column:
            table[column] = _text(table[column])
    if "ranked" in table.columns:
        ranked, found = _parse_booleans(table["ranked"], field="ranked")
        problems += found
    if "rank" in table.columns:
        table["rank"], found = parse_integers(table["rank"], field="rank")
        problems += found
    _raise_if_any(problems)
    if "ranked" in table.columns:
        # Unranked rows (ineligible, too few reviews) are not candidates at all, so
        # that group rules apply to the values of those that are.
        table = table[ranked.fillna(False).astype(bool).to_numpy()]
    if "rank" in table.columns:
        order = table["rank"].astype("Float64").fillna(np.inf).to_numpy()
        table = table.iloc[np.argsort(order, kind="stable")]
    return table.reset_index(drop=True)


def check_reviewer_ids(reviews: pd.DataFrame, reviewers: pd.DataFrame) -> None:
    """Every reviewer named in the reviews must be in the reviewers table."""
    if "reviewer_id" not in reviews.columns or reviews.empty:
        return
    known = set(reviewers["reviewer_id"].dropna())
    ids = reviews["reviewer_id"].astype("string").str.strip()
    unknown = (ids.notna() & ~ids.isin(known)).fillna(False)
    problems = [
        Problem(
            f"reviewer '{ids.iloc[row - 2]}' is not in the reviewers table",
            row=row,
            field="reviewer_id",
            suggestion=did_you_mean(str(ids.iloc[row - 2]), known),
            code="unknown_reviewer",
        )
        for row in _rows(unknown)
    ]
    _raise_if_any(problems)
