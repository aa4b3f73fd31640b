"""Files in and out: the only module that touches the disk.

Tables are read as text (CSV in UTF-8, UTF-8 with BOM or Latin-1, with a comma,
semicolon or tab separator), from Excel workbooks (.xlsx) or Parquet files;
typing and checking happen in :mod:`selection.validate`, so a bad cell is
reported with its row instead of being silently coerced.

Outputs are written into a temporary folder beside the destination and moved
into place only when everything is written: a failed run never leaves a
half-written output folder.

>>> table = read_table("examples/tamuri/applications.csv")
>>> len(table)
2400
"""

from __future__ import annotations

import csv
import hashlib
import json
import mmap
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from selection.errors import InputDataError, SelectionError

__all__ = [
    "TABLE_SUFFIXES",
    "read_table",
    "write_csv",
    "write_json",
    "sha256_of",
    "output_folder",
]

TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".parquet")
_SEPARATORS = (",", ";", "\t")
MANIFEST = "manifest.json"

#: pandas' default text columns ("str", what ``dtype=str`` gives): Arrow
#: strings, missing cells NaN. The text of every table read and prepared.
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def is_arrow_text(dtype: object) -> bool:
    """Whether ``dtype`` is pandas' text stored by pyarrow (``str`` or ``string[pyarrow]``)."""
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def read_table(
    path: str | Path,
    *,
    sheet: str | int = 0,
    categories: Collection[str] = (),
    numbers: Collection[str] = (),
) -> pd.DataFrame:
    """Read a CSV, Excel or Parquet table; every cell of a text format stays a string.

    Empty cells are missing values. The index is a plain 0..n-1 range, so data
    row ``i`` is row ``i + 2`` of the file as a spreadsheet shows it.

    The columns named in ``categories`` (those present) of a CSV file read by
    pyarrow come out as pandas Categoricals of the same strings: meant for
    columns whose values repeat, such as a reviews table's ids, criteria and
    scores (18 rows per application), whose checks then run once per distinct
    value. Other readers leave them as text; both forms hold the same cells.

    The columns named in ``numbers`` (those present) of such a file come out
    as float64 when every cell of the column is a number written with a
    decimal point, or blank (missing): the values the text would be parsed
    to, without a string per cell. One cell that is anything else ("3,5",
    "nan", "beaucoup") and the column is read as if not named here, so that
    validation sees and reports the text.
    """
    path = Path(path)
    if not path.exists():
        raise InputDataError(
            "file not found", file=str(path), suggestion="check the path", code="not_found"
        )
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        table = _read_utf8_csv(path, frozenset(categories), frozenset(numbers))
        if table is not None:
            return table  # built with its final column names and index
        table = _read_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        table = _read_excel(path, sheet)
    elif suffix == ".parquet":
        table = _read_parquet(path)
    else:
        raise InputDataError(
            f"unsupported file type '{suffix or '(none)'}'",
            file=str(path),
            suggestion="save the table as .csv, .xlsx or .parquet",
            code="file_type",
        )
    table.columns = [str(c).strip() for c in table.columns]
    _check_header(list(table.columns), path)
    return table.reset_index(drop=True)


def _check_header(columns: list[str], path: Path) -> None:
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise InputDataError(
            f"column '{repeated[0]}' appears more than once in the header",
            file=str(path),
            row=1,
            field=repeated[0],
            suggestion="rename or remove one of them",
            code="duplicate_column",
        )


def _decode(raw: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _header(line: str) -> tuple[str, list[str]]:
    """The separator a header line uses and its column names."""
    separator = max(_SEPARATORS, key=line.count)
    return separator, next(csv.reader([line.rstrip("\r")], delimiter=separator))


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV file pyarrow does not read (not UTF-8, ...), read by pandas."""
    raw = path.read_bytes()
    text, encoding = _decode(raw)
    del raw
    # No copy of the whole text (strip() and split() each made one: 0.5 GB
    # apiece for a million applications' reviews), and none kept while pandas reads.
    if not text or text.isspace():
        raise InputDataError("the file is empty", file=str(path), code="empty_file")
    end = text.find("\n")
    header = text if end < 0 else text[:end]
    del text
    separator, names = _header(header)
    # pandas would silently rename a repeated column ("id.1"): check the header first.
    _check_header([c.strip() for c in names], path)
    try:
        return pd.read_csv(
            path,
            sep=separator,
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            quoting=csv.QUOTE_MINIMAL,
        )
    except pd.errors.ParserError as exc:
        raise InputDataError(
            f"the CSV cannot be read ({exc})",
            file=str(path),
            suggestion="check quoting and that every row has as many fields as the header",
            code="csv_syntax",
        ) from None


#: pyarrow's CSV blocks, parsed in parallel: half the file (one block per
#: core), within these bounds. Larger blocks cost less per block, smaller ones
#: share the work out better: a million applications' reviews (0.6 GB) take
#: 2.5 s in 16 MB blocks, 3.1 s in 4 MB and 3.6 s in 64 MB. A file of one
#: block is not split.
_MIN_BLOCK = 1 << 22
_MAX_BLOCK = 1 << 24


def _block_size(size: int) -> int:
    return min(max(size // 2, _MIN_BLOCK), _MAX_BLOCK)


def _read_utf8_csv(path: Path, categories: frozenset[str], numbers: frozenset[str]) -> pd.DataFrame | None:
    """The table as :func:`read_table` returns it, when its header is UTF-8
    and pyarrow reads the file; else None.

    pyarrow checks that every cell is UTF-8 (each byte of the file is in a
    cell, a quote, a separator or a line end), so a file it reads is one that
    decodes as UTF-8, as :func:`_read_csv` would have found. The file is
    mapped, not read into memory nor decoded first: each cost a copy of it
    (0.75 GB for a million applications' reviews) and a pass.
    """
    size = path.stat().st_size
    if size == 0:
        return None
    block = _block_size(size)
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            end = mapped.find(b"\n")
            line = mapped[: len(mapped) if end < 0 else end].decode("utf-8-sig")
            # Without a quote after the header no value can hold a line end,
            # and pyarrow may split the file into blocks at any line end (0.1-0.2 s
            # less for 1.8 million rows). A file of one block is not split: no
            # need to look.
            quoted = size <= block or (end >= 0 and mapped.find(b'"', end) >= 0)
    except (UnicodeDecodeError, OSError, ValueError):  # not UTF-8, or a file that cannot be mapped
        return None
    if not line.strip():
        return None
    separator, names = _header(line)
    # pandas would silently rename a repeated column ("id.1"): check the header first.
    _check_header([c.strip() for c in names], path)
    options = {"quoted": quoted, "block_size": block, "categories": categories}
    if numbers.intersection(c.strip() for c in names):
        table = _read_csv_arrow(path, separator, names, numbers=numbers, **options)
        if table is not None:
            return table
        # A cell of a number column is not a plain number (or the file is one
        # pyarrow refuses): read the column as text, as if not asked.
    return _read_csv_arrow(path, separator, names, **options)


def _read_csv_arrow(
    path: Path,
    separator: str,
    names: list[str],
    *,
    quoted: bool,
    block_size: int,
    categories: frozenset[str],
    numbers: frozenset[str] = frozenset(),
) -> pd.DataFrame | None:
    """The table pandas would read, read by pyarrow's CSV reader (column names
    stripped, a 0..n-1 index); None when pyarrow refuses the file (a row with
    another number of fields, a cell not in UTF-8, ...), which pandas then
    reads or reports.

    pandas' C parser with ``dtype=str`` builds a Python object per cell before
    its string columns: reading 100,000 applications' reviews (1.8 million
    rows) took 2.6 s this way against 0.3 s here. Every cell stays text, empty
    cells (quoted or not) are missing, quoted fields may hold newlines.
    Columns in ``categories`` are read dictionary-encoded (pyarrow hashes each
    cell as it reads it) and become Categoricals. Columns in ``numbers`` are
    read as float64; None when a cell is not a number, or is one that pyarrow
    reads as NaN ("nan"), which the text parsers report as not a number.
    """

    def column_type(name: str) -> pa.DataType:
        if name.strip() in numbers:
            return pa.float64()
        # large_string is what pandas' Arrow strings hold: no cast afterwards.
        return pa.dictionary(pa.int32(), pa.string()) if name.strip() in categories else pa.large_string()

    try:
        with pa.memory_map(str(path)) as source:  # the reader copies what it keeps
            table = pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(use_threads=True, block_size=block_size),
                parse_options=pacsv.ParseOptions(delimiter=separator, newlines_in_values=quoted),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: column_type(name) for name in names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if table.column_names != names:
        return None  # pyarrow saw the header otherwise: leave the file to pandas
    # Arrays, not Series: a Series per column and the frame's check of their
    # indexes cost 0.1 ms a column, as much as the rest of its conversion.
    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_float64(column.type):
            if pc.any(pc.is_nan(column)).as_py():
                return None
            values = column.to_numpy()  # one chunk: a read-only view of Arrow's buffer
            columns[name.strip()] = values if values.flags.writeable else values.copy()
        elif pa.types.is_dictionary(column.type):
            columns[name.strip()] = _categorical(column)
        elif pa.types.is_large_string(column.type):
            columns[name.strip()] = pd.array(column, dtype=TEXT)
        else:
            return None
    # Without copy=False pandas copies every column again (1.1 s for 18 million
    # rows), though nothing else holds them.
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows), copy=False)


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    """A dictionary-encoded column as a Categorical (missing cells: code -1).

    Each chunk (a block of the file) has its own dictionary, of distinct
    values. Encoding the chunks' dictionaries one after the other gives the
    categories in order of appearance, as ``unify_dictionaries`` does, and
    the code of every entry of each; each chunk's codes are then written
    once, straight into an array of the width pandas keeps (int8 under 127
    categories). Unifying, concatenating and narrowing each made a copy of
    every code (54 million for a million applications' reviews): 0.8 s
    there, 0.65 s this way, most of it now hashing the million ids and
    pandas' check that they are distinct. A column of one chunk keeps its
    dictionary and codes as they are (only narrowed).
    """
    chunks = column.chunks
    if not chunks:
        return pd.Categorical.from_codes([], categories=pd.Index([], dtype=TEXT))
    if len(chunks) == 1:
        chunk = chunks[0]
        indices = chunk.indices if chunk.null_count == 0 else pc.fill_null(chunk.indices, -1)
        codes = indices.to_numpy().astype(_code_width(len(chunk.dictionary)))
        return _from_distinct(codes, chunk.dictionary)
    categories, entry_codes = _joined_dictionaries([chunk.dictionary for chunk in chunks])
    width = _code_width(len(categories))
    codes = np.empty(len(column), dtype=width)
    row = entry = 0
    for chunk in chunks:
        entries = entry_codes[entry : entry + len(chunk.dictionary)]
        out = codes[row : row + len(chunk)]
        if chunk.null_count == 0 and len(entries) and (np.diff(entries) == 1).all():
            # The chunk's entries are a run of categories (an application's
            # ids, block after block): its codes are its indices moved on,
            # one pass instead of a lookup (line profile, blocks of 450,000
            # rows: 1.3 ms a block against 2.2 ms).
            np.add(chunk.indices.to_numpy(), entries[0], out=out, casting="unsafe")
        else:
            # Position -1 of the chunk's codes (a missing cell) stays -1.
            recode = np.append(entries, -1).astype(width)
            indices = chunk.indices if chunk.null_count == 0 else pc.fill_null(chunk.indices, -1)
            np.take(recode, indices.to_numpy(), out=out)
        row += len(chunk)
        entry += len(chunk.dictionary)
    return _from_distinct(codes, categories)


def _from_distinct(codes: np.ndarray, categories: pa.Array) -> pd.Categorical:
    """A Categorical of ``codes`` into ``categories``, which are known to be
    distinct (an Arrow dictionary's entries, or checked so), without pandas
    checking them again: hashing 100,000 ids to find them distinct cost 12-16
    ms, a third of turning a reviews table of 1.8 million rows into pandas.
    Through pandas' own unchecked constructor for categories; should a
    version of pandas lack it, through the checked one."""
    index = pd.Index(pd.array(categories, dtype=TEXT))
    unchecked = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    if unchecked is None:
        return pd.Categorical.from_codes(codes, categories=index, validate=False)
    return pd.Categorical.from_codes(codes, dtype=unchecked(index, False), validate=False)


def _joined_dictionaries(dictionaries: list[pa.Array]) -> tuple[pa.Array, np.ndarray]:
    """The distinct entries of the chunks' dictionaries, in order of
    appearance, and the code of every entry of each (one after the other).

    A table listed application by application gives blocks whose
    dictionaries share at most the value one block ends and the next begins
    with: leaving out that repeat, the entries are the categories as they
    are, once found distinct: in one comparison of neighbours when they are
    in ascending order (the usual case: ids numbered in the order of the
    file), else by pandas' hash table. No hashing of a million ids by Arrow
    (0.25 s). Any other table (values that recur from block to block, such
    as reviewer ids, seen in the first two blocks already) is encoded by Arrow.
    """
    kept: list[pa.Array] = []
    entry_codes = []
    size, last = 0, None  # categories so far; the last of them
    joinable = True
    for dictionary in dictionaries:
        if len(dictionary) == 0:
            continue
        repeat = dictionary[0].as_py() == last
        entry_codes.append(np.arange(size - repeat, size - repeat + len(dictionary)))
        piece = dictionary.slice(1) if repeat else dictionary
        if len(kept) == 1 and pc.any(pc.is_in(piece, value_set=kept[0])).as_py():
            joinable = False
            break
        kept.append(piece)
        size += len(piece)
        last = dictionary[-1].as_py() if len(piece) else last
    if joinable:
        joined = pa.concat_arrays(kept) if kept else pa.array([], pa.string())
        if _ascending(joined) or pd.Index(pd.array(joined)).is_unique:
            return joined, np.concatenate(entry_codes) if entry_codes else np.empty(0, dtype=np.int64)
    encoded = pc.dictionary_encode(pa.concat_arrays(dictionaries))
    return encoded.dictionary, encoded.indices.to_numpy()


def _ascending(values: pa.Array) -> bool:
    """Whether each of ``values`` (no nulls) is greater than the one before it."""
    if len(values) < 2:
        return True
    return pc.all(pc.less(values.slice(0, len(values) - 1), values.slice(1))).as_py()


def _code_width(n_categories: int) -> type[np.signedinteger]:
    """The integer type pandas keeps the codes of so many categories in."""
    return next(t for t in (np.int8, np.int16, np.int32, np.int64) if n_categories < np.iinfo(t).max)


def _read_excel(path: Path, sheet: str | int) -> pd.DataFrame:
    try:
        table = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
    except ValueError as exc:
        raise InputDataError(
            f"cannot read the workbook ({exc})",
            file=str(path),
            suggestion="name an existing sheet, or save the first sheet with the table",
            code="excel",
        ) from None
    # Cells as text, like CSV, so that validation treats both the same way;
    # whole numbers stored as floats by Excel lose their '.0'.
    return table.apply(lambda column: column.map(_excel_cell_text)).astype(object)


def _excel_cell_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputDataError(
            f"cannot read the Parquet file ({exc})", file=str(path), code="parquet"
        ) from None


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write a table as UTF-8 CSV, deterministically (``\\n`` line ends, no index)."""
    table.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def write_json(data: Mapping[str, Any], path: Path) -> None:
    """Write JSON with sorted keys and non-ASCII text kept readable."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=_json_default)
    path.write_text(text + "\n", encoding="utf-8")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def output_folder(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``destination``.

    ``destination`` may not exist yet, be empty, or hold an earlier run (it has
    a manifest.json); any other non-empty folder is refused rather than
    overwritten. On error the temporary folder is removed and the destination
    is left as it was.
    """
    destination = Path(destination)
    if destination.exists():
        if not destination.is_dir():
            raise SelectionError(
                "the output path exists and is not a folder",
                file=str(destination),
                suggestion="choose another --out",
                code="output_exists",
            )
        if any(destination.iterdir()) and not (destination / MANIFEST).exists():
            raise SelectionError(
                "the output folder is not empty and does not hold an earlier run",
                file=str(destination),
                suggestion="choose a new or empty folder for --out",
                code="output_exists",
            )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if destination.exists():
        shutil.rmtree(destination)
    staging.rename(destination)
