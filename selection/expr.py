"""A small, whitelisted expression language for rules, filters and formulas.

Rubrics and programs write eligibility rules (``requested_amount <= 100000``),
filters and formula criteria (``clip(1 + members / 60, 1, 5)``) as text. This
module parses that text with :func:`ast.parse` and accepts only the constructs
listed below, which it interprets itself, vectorised over a pandas DataFrame.
Nothing is ever passed to ``eval``, ``exec`` or ``compile``.

>>> import pandas as pd
>>> table = pd.DataFrame({"region": ["Souss-Massa", "Rabat"],
...                       "requested_amount": [50_000, 150_000]})
>>> rule = parse_expression("region in regions and requested_amount <= 100000")
>>> rule.evaluate_bool(table, {"regions": ("Souss-Massa", "l'Oriental")}).tolist()
[True, False]

The language
------------
- Literals: numbers (``20000``, ``2.5``), text in quotes (``"Coopérative"``,
  ``'الشرق'``), ``true``/``false`` (or ``True``/``False``), and ``null`` (or
  ``None``) for a missing value. A list of literals, ``("a", "b")`` or
  ``[1, 2]``, may only follow ``in`` / ``not in``; its items are all text or
  all numbers.
- Names: a column of the table or a constant passed to ``evaluate`` (a number,
  text, true/false, null, or a tuple/list/set of numbers or of text). Names may
  contain accents. Python normalises identifiers (NFKC), so a column is found
  under the normalised spelling too.
- Arithmetic ``+ - * / // %`` and unary ``-``/``+`` on numbers (true/false count
  as 1/0). Numbers are computed as float64, exact for integers up to 2**53.
- Comparisons ``== != < <= > >=`` between two numbers or two texts, chained as in
  Python (``20000 <= x <= 100000``); ``in`` / ``not in`` a list.
- ``and``, ``or``, ``not``: their operands must be true/false (a number column
  holding only 0 and 1 counts); the result is always true/false.
- The functions of :data:`FUNCTIONS`: ``abs clip contains len lower max min
  missing present round``, with positional arguments only.

Anything else (attribute access, indexing, lambdas, comprehensions, keyword
arguments, ``**``, ``is``, other functions, f-strings, ``:=``, ...) is refused
when the text is parsed, with a :class:`~selection.errors.ConfigError` that says
what is allowed.

Missing values
--------------
A value is missing when it is ``null``/``None``, ``NaN`` or ``pd.NA``.
Text that is empty or only spaces is a value everywhere except in ``missing()``
and ``present()``, which treat it as missing.

- Arithmetic and ``abs``, ``min``, ``max``, ``clip``, ``round`` with a missing
  operand give missing (NaN). Division or remainder by zero gives missing too.
- A comparison or ``in`` / ``not in`` with a missing operand is false. So
  ``x != 5`` and ``x not in (1, 2)`` are false where ``x`` is missing, whereas
  ``not (x == 5)`` is true there.
- ``and``, ``or`` and ``not`` read a missing value as false: ``not x`` is true
  where ``x`` is missing.
- ``lower`` keeps missing values missing; ``len`` gives 0 and ``contains``
  gives false for them.

Results
-------
:meth:`Expression.evaluate` returns a Series on the table's index (scalars are
broadcast): ``bool`` for a true/false result (missing read as false), ``float64``
with NaN for numbers and for a bare ``null``, pandas ``string`` for text.
:meth:`Expression.evaluate_bool` (rules) and :meth:`Expression.evaluate_number`
(formulas) also check the kind of the result.

Character positions in error messages count from 0.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from selection.errors import ConfigError, InputDataError, closest, did_you_mean
from selection.io import is_arrow_text

__all__ = ["Expression", "Function", "FUNCTIONS", "parse_expression"]

# The kinds of value an expression handles, as messages name them.
NUMBER = "number"
BOOLEAN = "true/false"
TEXT = "text"
MISSING = "missing"
LIST = "list"
_NUMERIC = (NUMBER, BOOLEAN)  # true/false take part in arithmetic as 1/0

_LITERAL_NAMES: Mapping[str, object] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class _Value:
    """An intermediate result: its kind, its data, and how messages name it.

    ``data`` is a scalar (from a literal or a constant) or one item per row:
    NUMBER a float or float64 array (NaN missing); BOOLEAN a bool, a bool array,
    or a float64 array of 0/1/NaN (nullable columns); TEXT a str or a pandas
    ``string`` Series (NA missing); MISSING None; LIST a tuple of literals.
    """

    kind: str
    data: Any
    label: str


def _what(value: _Value) -> str:
    return f"{value.label} ({value.kind})"


def _nfkc(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


# --------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """One function that expressions may call (see :data:`FUNCTIONS`).

    >>> FUNCTIONS["clip"].signature
    'clip(x, lo, hi)'
    """

    name: str
    signature: str
    doc: str
    min_args: int
    max_args: int | None  # None: any number of arguments
    apply: Callable[[_Evaluation, Sequence[_Value], str], _Value] = field(repr=False)

    def arity(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args} arguments"
        if self.min_args == self.max_args == 1:
            return "1 argument"
        return f"{self.min_args} arguments"


def _missing(ev: _Evaluation, args: Sequence[_Value], label: str) -> _Value:
    return _Value(BOOLEAN, ev.missing_mask(args[0], blank_text=True), label)


def _present(ev: _Evaluation, args: Sequence[_Value], label: str) -> _Value:
    return _Value(BOOLEAN, ~ev.missing_mask(args[0], blank_text=True), label)


def _len(ev: _Evaluation, args: Sequence[_Value], label: str) -> _Value:
    text = ev.require_text(args[0], "len()")
    if text.kind == MISSING:
        return _Value(NUMBER, 0.0, label)
    if isinstance(text.data, str):
        return _Value(NUMBER, float(len(text.data)), label)
    return _Value(NUMBER, text.data.str.len().to_numpy(dtype=float, na_value=0.0), label)


def _lower(ev: _Evaluation, args: Sequence[_Value], label: str) -> _Value:
    text = ev.require_text(args[0], "lower()")
    if text.kind == MISSING:
        return _Value(MISSING, None, label)
    return _Value(TEXT, text.data.lower() if isinstance(text.data, str) else text.data.str.lower(), label)


def _contains(ev: _Evaluation, args: Sequence[_Value], label: str) -> _Value:
    text, part = ev.require_text(args[0], "contains()"), ev.require_text(args[1], "contains()")
    if isinstance(part.data, pd.Series):
        raise ev.fail(f"contains() needs fixed text as its second argument, got {_what(part)}")
    if MISSING in (text.kind, part.kind):
        return _Value(BOOLEAN, False, label)
    if isinstance(text.data, str):
        return _Value(BOOLEAN, part.data.lower() in text.data.lower(), label)
    found = text.data.str.contains(part.data, case=False, regex=False)
    return _Value(BOOLEAN, _bool_array(found), label)


def _numeric(name: str, compute: Callable[..., Any]) -> Callable[[_Evaluation, Sequence[_Value], str], _Value]:
    """A function of numbers, missing in, missing out (NaN propagates)."""

    def apply(ev: _Evaluation, args: Sequence[_Value], label: str) -> _Value:
        return _Value(NUMBER, compute(*(ev.floats(arg, f"{name}()") for arg in args)), label)

    return apply


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    return np.minimum(np.maximum(x, lo), hi)


FUNCTIONS: Mapping[str, Function] = MappingProxyType(
    {
        f.name: f
        for f in (
            Function("abs", "abs(x)", "Absolute value of a number.", 1, 1, _numeric("abs", np.abs)),
            Function(
                "clip",
                "clip(x, lo, hi)",
                "x limited to the range [lo, hi]: max(lo, min(x, hi)).",
                3,
                3,
                _numeric("clip", _clip),
            ),
            Function(
                "contains",
                "contains(x, text)",
                "True where text x contains the fixed text, ignoring case; false when x is missing.",
                2,
                2,
                _contains,
            ),
            Function("len", "len(x)", "Number of characters of text x; 0 when x is missing.", 1, 1, _len),
            Function("lower", "lower(x)", "Text x in lower case; missing stays missing.", 1, 1, _lower),
            Function(
                "max",
                "max(a, b, ...)",
                "Largest of the numbers, row by row; missing if any is missing.",
                2,
                None,
                _numeric("max", lambda *xs: functools.reduce(np.maximum, xs)),
            ),
            Function(
                "min",
                "min(a, b, ...)",
                "Smallest of the numbers, row by row; missing if any is missing.",
                2,
                None,
                _numeric("min", lambda *xs: functools.reduce(np.minimum, xs)),
            ),
            Function(
                "missing",
                "missing(x)",
                "True where x is missing: null, NaN, or text that is empty or only spaces.",
                1,
                1,
                _missing,
            ),
            Function("present", "present(x)", "The negation of missing(x).", 1, 1, _present),
            Function(
                "round",
                "round(x)",
                "x rounded to the nearest whole number, halves to even as in Python.",
                1,
                1,
                _numeric("round", np.round),
            ),
        )
    }
)
"""The whitelist of callable functions, by name.

>>> sorted(FUNCTIONS)
['abs', 'clip', 'contains', 'len', 'lower', 'max', 'min', 'missing', 'present', 'round']
>>> FUNCTIONS["missing"].doc
'True where x is missing: null, NaN, or text that is empty or only spaces.'
"""

_FUNCTION_LIST = ", ".join(sorted(FUNCTIONS))
_ALLOWED = (
    "allowed: names, numbers, text in quotes, true, false, null, + - * / // %, "
    f"== != < <= > >=, in, not in, and, or, not, and the functions {_FUNCTION_LIST}"
)

# --------------------------------------------------------------------------
# Parsing: Python's parser, then a whitelist of node kinds
# --------------------------------------------------------------------------

_ARITHMETIC: Mapping[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", np.add),
    ast.Sub: ("-", np.subtract),
    ast.Mult: ("*", np.multiply),
    ast.Div: ("/", np.true_divide),
    ast.FloorDiv: ("//", np.floor_divide),
    ast.Mod: ("%", np.mod),
}
_COMPARISONS: Mapping[type[ast.cmpop], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
}
_MEMBERSHIP = (ast.In, ast.NotIn)

_FORBIDDEN_NODES: Mapping[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Slice: "slicing",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.IfExp: "a conditional expression",
    ast.Dict: "a dictionary",
    ast.Set: "a set",
    ast.NamedExpr: "assignment",
    ast.JoinedStr: "an f-string",
    ast.Starred: "unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_FORBIDDEN_OPERATORS: Mapping[type[ast.AST], tuple[str, str | None]] = {
    ast.Pow: ("**", "write x * x"),
    ast.MatMult: ("@", None),
    ast.LShift: ("<<", None),
    ast.RShift: (">>", None),
    ast.BitAnd: ("&", "use 'and'"),
    ast.BitOr: ("|", "use 'or'"),
    ast.BitXor: ("^", None),
    ast.Invert: ("~", "use 'not'"),
    ast.Is: ("is", "use == or missing(x)"),
    ast.IsNot: ("is not", "use != or present(x)"),
}


class _Checker:
    """Walks a parsed tree and refuses every node outside the whitelist."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source = text, source

    def check(self, node: ast.AST) -> None:
        check = self._CHECKS.get(type(node))
        if check is None:
            what = _FORBIDDEN_NODES.get(type(node), type(node).__name__)
            raise self.refuse(f"{what} '{self.segment(node)}'")
        check(self, node)

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or type(node).__name__

    def refuse(self, what: str, suggestion: str | None = None) -> ConfigError:
        return ConfigError(f'{what} is not allowed in "{self.text}"; {_ALLOWED}', suggestion=suggestion)

    def refuse_operator(self, op: ast.AST) -> ConfigError:
        symbol, hint = _FORBIDDEN_OPERATORS.get(type(op), (type(op).__name__, None))
        return self.refuse(f"the operator '{symbol}'", hint)

    def constant(self, node: ast.Constant) -> None:
        value = node.value
        if value is None or isinstance(value, (bool, str)):
            return
        if isinstance(value, (int, float)):
            try:
                finite = math.isfinite(float(value))
            except OverflowError:
                finite = False
            if not finite:
                raise ConfigError(f'the number {self.segment(node)} is too large in "{self.text}"')
            return
        raise self.refuse(f"the literal {self.segment(node)}")

    def name(self, node: ast.Name) -> None:
        return

    def unary(self, node: ast.UnaryOp) -> None:
        if not isinstance(node.op, (ast.UAdd, ast.USub, ast.Not)):
            raise self.refuse_operator(node.op)
        self.check(node.operand)

    def binary(self, node: ast.BinOp) -> None:
        if type(node.op) not in _ARITHMETIC:
            raise self.refuse_operator(node.op)
        self.check(node.left)
        self.check(node.right)

    def boolean(self, node: ast.BoolOp) -> None:
        for value in node.values:
            self.check(value)

    def compare(self, node: ast.Compare) -> None:
        self.check(node.left)
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, _MEMBERSHIP) and isinstance(right, (ast.Tuple, ast.List)):
                items = tuple(self.list_item(item) for item in right.elts)
                _list_kind(items, lambda message: ConfigError(f'{message} in "{self.text}"'))
            elif type(op) in _COMPARISONS or isinstance(op, _MEMBERSHIP):
                self.check(right)
            else:
                raise self.refuse_operator(op)

    def list_item(self, node: ast.expr) -> object:
        for part in ast.walk(node):
            if isinstance(part, ast.Constant):
                self.constant(part)
        try:
            return _literal(node)
        except ValueError:
            raise ConfigError(
                f"a list after 'in' may only hold numbers and text in quotes, "
                f'not \'{self.segment(node)}\', in "{self.text}"'
            ) from None

    def call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            self.check(node.func)  # refuses x.f(), f()(), ...
            raise self.refuse(f"calling '{self.segment(node.func)}'")
        name = node.func.id
        function = FUNCTIONS.get(name)
        if function is None:
            match = closest(name, FUNCTIONS)
            raise ConfigError(
                f"'{name}' is not an allowed function in \"{self.text}\"; allowed: {_FUNCTION_LIST}",
                suggestion=f"did you mean '{match}'?" if match else None,
            )
        if node.keywords:
            keyword = node.keywords[0]
            raise self.refuse(f"the keyword argument '{self.segment(keyword)}'")
        for arg in node.args:
            self.check(arg)
        count = len(node.args)
        if count < function.min_args or (function.max_args is not None and count > function.max_args):
            raise ConfigError(
                f"{name}() takes {function.arity()}, {function.signature}, but got {count} "
                f'in "{self.text}"'
            )

    def bare_list(self, node: ast.Tuple | ast.List) -> None:
        raise self.refuse(f"the list '{self.segment(node)}' outside 'in'", "a list may only follow 'in' or 'not in'")

    _CHECKS: Mapping[type[ast.AST], Callable[[_Checker, Any], None]] = {
        ast.Constant: constant,
        ast.Name: name,
        ast.UnaryOp: unary,
        ast.BinOp: binary,
        ast.BoolOp: boolean,
        ast.Compare: compare,
        ast.Call: call,
        ast.Tuple: bare_list,
        ast.List: bare_list,
    }


def _literal(node: ast.expr) -> object:
    """The value of a literal list item: a constant, a signed number, true/false/null."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in _LITERAL_NAMES:
        return _LITERAL_NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = node.operand
        if isinstance(inner, ast.Constant) and type(inner.value) in (int, float):
            return -inner.value if isinstance(node.op, ast.USub) else inner.value
    raise ValueError("not a literal")


def _is_null(value: object) -> bool:
    """None, pd.NA or a float NaN (not a list, which pd.isna would map over)."""
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and bool(np.isnan(value)))


def _list_kind(items: Sequence[object], fail: Callable[[str], Exception]) -> str | None:
    """TEXT or NUMBER for a list of literals (None if empty); refuses mixtures and nulls."""
    kinds = set()
    for item in items:
        if isinstance(item, str):
            kinds.add(TEXT)
        elif _is_null(item):
            raise fail("a list after 'in' cannot hold null")
        elif isinstance(item, (bool, int, float, np.bool_, np.integer, np.floating)):
            kinds.add(NUMBER)
        else:
            raise fail(f"a list after 'in' cannot hold {type(item).__name__} values")
    if len(kinds) > 1:
        raise fail("a list after 'in' must hold only text or only numbers")
    return kinds.pop() if kinds else None


def _parse(text: str) -> tuple[ast.expr, str]:
    """The checked tree of ``text`` and the source it was parsed from.

    The text is parsed inside parentheses so that it may span lines (as YAML
    block scalars do) and start with spaces.
    """
    if not isinstance(text, str):
        raise ConfigError(f"an expression must be text, got {type(text).__name__} {text!r}")
    if not text.strip():
        raise ConfigError("the expression is empty")
    source = f"({text}\n)"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        position, message = _error_index(source, error) - 1, error.msg  # minus our "("
        if position < 0 or "comma" in message:
            # Our parentheses misled Python: it blamed an unclosed "(" on
            # ours, or guessed a forgotten comma inside them.
            position, message = _bare_error(text) or (position, message)
        raise _syntax_error(text, position, message) from None
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, deep nesting
        raise ConfigError(f'cannot parse expression "{text}": {error}') from None
    body = tree.body
    if (body.lineno, body.col_offset) == (1, 0):
        # Our "(" was closed inside the text, as in "a) or (b".
        position, message = _bare_error(text) or (0, "unmatched ')'")
        raise _syntax_error(text, position, message)
    if _depth(body) > _MAX_DEPTH:
        # The checker and the evaluator recurse; keep far from Python's limit.
        raise ConfigError(f'the expression "{text}" is nested too deeply (more than {_MAX_DEPTH} levels)')
    _Checker(text, source).check(body)
    return body, source


_MAX_DEPTH = 100


def _depth(tree: ast.AST) -> int:
    """How many levels deep the tree goes, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _error_index(source: str, error: SyntaxError) -> int:
    """0-based character index in ``source`` of a SyntaxError's line and offset."""
    lines = source.split("\n")
    lineno = min(max(error.lineno or 1, 1), len(lines))
    return sum(len(line) + 1 for line in lines[: lineno - 1]) + max((error.offset or 1) - 1, 0)


def _bare_error(text: str) -> tuple[int, str] | None:
    """Python's own error position and message for the text as it stands."""
    bare = text.lstrip()
    try:
        ast.parse(bare, mode="eval")
    except SyntaxError as error:
        if error.offset:
            return _error_index(bare, error) + len(text) - len(bare), error.msg
    except (ValueError, RecursionError, MemoryError):
        pass
    return None


def _syntax_error(text: str, position: int, message: str) -> ConfigError:
    position = min(max(position, 0), len(text))
    message = re.sub(r"\s*\((detected at|<unknown>).*?\)", "", message)
    if position >= len(text.rstrip()):
        reason = "unexpected end of expression"
    elif message.startswith("invalid syntax"):
        token = re.match(r"\S+", text[position:])
        reason = f"unexpected '{token.group() if token else text[position]}'"
        if "comma" in message:
            reason += " (a missing comma?)"
    else:
        reason = message
    return ConfigError(f'cannot parse expression "{text}" at character {position}: {reason}')


def _names(tree: ast.expr) -> tuple[str, ...]:
    """Every column or constant name the tree reads, in order of appearance."""
    seen: dict[str, None] = {}
    functions = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    nodes = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Name)),
        key=lambda node: (node.lineno, node.col_offset),
    )
    for node in nodes:
        if id(node) not in functions and node.id not in _LITERAL_NAMES:
            seen.setdefault(node.id, None)
    return tuple(seen)


# --------------------------------------------------------------------------
# Evaluation: one function per node kind, vectorised with numpy and pandas
# --------------------------------------------------------------------------


def arrow_strings(values: np.ndarray) -> pa.Array | None:
    """Python strings (an object array; missing: None or NaN) as one Arrow
    string array, built by pyarrow in one pass; None when the cells are not
    all text or missing (numbers, true/false, no value at all).

    pandas checks each cell in Python before the same conversion
    (``astype("string")``, a DataFrame of Python strings): 0.3 s for a column
    of a million summaries, four times pyarrow's conversion. Gates, the
    eligibility table and scoring use it.
    """
    try:
        cells = pa.array(values, type=None, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return None
    return cells if pa.types.is_string(cells.type) else None


def _arrow_text(values: np.ndarray) -> pd.arrays.ArrowStringArray | None:
    """Python strings as the pandas ``string`` array ``astype("string")``
    makes of them (:func:`arrow_strings`); None when they are not all text,
    which the caller then inspects."""
    cells = arrow_strings(values)
    if cells is None:
        return None
    return pd.arrays.ArrowStringArray(pa.chunked_array([cells.cast(pa.large_string())]))


def _text_cells(data: Any) -> pa.Array | pa.ChunkedArray | None:
    """The Arrow cells of a pandas ``string`` Series stored by pyarrow (no
    copy), or None for text held otherwise. Kernels on them give what the
    pandas methods give (those call the same kernels) without their steps:
    a third of a text rule's time on 2,400 rows."""
    if isinstance(data, pd.Series) and is_arrow_text(data.dtype):
        return pa.array(data.array)
    return None


def _bool_array(result: Any) -> Any:
    """A comparison result as numpy booleans, NA read as false."""
    if isinstance(result, pd.Series):
        return result.to_numpy(dtype=bool, na_value=False)
    return bool(result)


class _Evaluation:
    """The state of one evaluation: the table, the constants, a column cache."""

    def __init__(self, expression: Expression, table: pd.DataFrame, constants: Mapping[str, object]) -> None:
        self.text, self.source = expression.text, expression._source
        self._segments = expression._segments
        self.table = table
        self.constants = constants
        self._columns = {_nfkc(c): c for c in table.columns if isinstance(c, str)}
        self._constants = {_nfkc(c): c for c in constants}
        self._cache: dict[str, _Value] = {}
        for name in expression._ordered_names:
            in_table, in_constants = name in self._columns, name in self._constants
            if in_table and in_constants:
                raise self.fail(f"name '{name}' is both a column of the table and a constant")
            if not (in_table or in_constants):
                known = [*self._columns.values(), *self._constants.values()]
                raise ConfigError(
                    f'unknown name \'{name}\' in "{self.text}"',
                    suggestion=did_you_mean(name, known) if known else None,
                )

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f'{message} in "{self.text}"')

    def segment(self, node: ast.AST) -> str:
        return self._segments[id(node)]

    # Values of nodes ---------------------------------------------------

    def value(self, node: ast.expr) -> _Value:
        """The value of a node that must not be a list."""
        value = _EVALUATORS[type(node)](self, node)
        if value.kind == LIST:
            raise self.fail(f"{_what(value)} may only follow 'in' or 'not in'")
        return value

    def collection(self, node: ast.expr) -> _Value:
        """The value of the node on the right of ``in``, which must be a list."""
        value = _EVALUATORS[type(node)](self, node)
        if value.kind != LIST:
            raise self.fail(
                f"the right side of 'in' must be a list such as (\"a\", \"b\") or a constant list, "
                f"not {_what(value)}"
            )
        return value

    def name(self, name: str) -> _Value:
        if name not in self._cache:
            if name in self._constants:
                key = self._constants[name]
                self._cache[name] = self.scalar(self.constants[key], f"constant '{key}'", constant=key)
            else:
                column = self._columns[name]
                self._cache[name] = self.column(column)
        return self._cache[name]

    def scalar(self, value: object, label: str, constant: str | None = None) -> _Value:
        if isinstance(value, (tuple, list, set, frozenset)):
            items = tuple(value)
            _list_kind(items, self.fail)
            return _Value(LIST, items, label)
        if _is_null(value):
            return _Value(MISSING, None, label)
        if isinstance(value, (bool, np.bool_)):
            return _Value(BOOLEAN, bool(value), label)
        if isinstance(value, (int, float, np.integer, np.floating)):
            return _Value(NUMBER, float(value), label)
        if isinstance(value, str):
            return _Value(TEXT, value, label)
        raise self.fail(
            f"constant '{constant}' is a {type(value).__name__}; constants must be numbers, text, "
            "true/false, null, or lists of numbers or of text"
        )

    def column(self, name: str) -> _Value:
        series = self.table[name]
        label = f"column '{name}'"
        if isinstance(series, pd.DataFrame):
            raise InputDataError(f'the column \'{name}\' appears more than once, used in "{self.text}"', field=name)
        dtype = series.dtype
        if pd.api.types.is_bool_dtype(dtype):
            if dtype == np.bool_:
                return _Value(BOOLEAN, series.to_numpy(dtype=bool), label)
            return _Value(BOOLEAN, series.to_numpy(dtype=float, na_value=np.nan), label)
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
            return _Value(NUMBER, series.to_numpy(dtype=float, na_value=np.nan), label)
        if isinstance(dtype, pd.StringDtype):
            cells = _text_cells(series)
            if cells is not None:
                # What astype("string") makes of them (the same Arrow cells,
                # missing as NA), without its checks: a quarter of a text rule on 2,400 rows.
                chunks = cells if isinstance(cells, pa.ChunkedArray) else pa.chunked_array([cells])
                text = pd.arrays.ArrowStringArray(chunks.cast(pa.large_string()))
                return _Value(TEXT, pd.Series(text, index=series.index, copy=False), label)
            return _Value(TEXT, series.astype("string"), label)
        # Object, categorical and anything else: look at the values.
        values = series.to_numpy(dtype=object)
        text = _arrow_text(values) if dtype == object else None
        if text is not None:
            return _Value(TEXT, pd.Series(text, index=series.index), label)
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred == "string":
            return _Value(TEXT, series.astype("string"), label)
        if inferred == "boolean":
            return _Value(BOOLEAN, pd.array(values, dtype="boolean").to_numpy(dtype=float, na_value=np.nan), label)
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return _Value(NUMBER, pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan), label)
        if inferred == "empty":
            return _Value(MISSING, None, label)
        if inferred.startswith("mixed"):
            raise InputDataError(
                f"the column '{name}' mixes text, numbers or true/false in its values, "
                f'so "{self.text}" cannot use it',
                field=name,
            )
        raise self.fail(f"column '{name}' holds {inferred} values; expressions use numbers, text and true/false")

    # Conversions -------------------------------------------------------

    def floats(self, value: _Value, purpose: str) -> Any:
        """Numbers (float or float64 array, NaN missing) for arithmetic."""
        if value.kind == NUMBER:
            return value.data
        if value.kind == BOOLEAN:
            return np.asarray(value.data, dtype=float)
        if value.kind == MISSING:
            return np.nan
        raise self.fail(f"{purpose} needs numbers, got {_what(value)}")

    def truth(self, value: _Value) -> Any:
        """True/false (bool or bool array, no missing) where missing counts as false."""
        if value.kind == MISSING:
            return False
        if value.kind == BOOLEAN:
            data = np.asarray(value.data)
            return data if data.dtype == bool else data == 1.0
        if value.kind == NUMBER:
            data = np.asarray(value.data, dtype=float)
            if not np.all((data == 0.0) | (data == 1.0) | np.isnan(data)):
                raise self.fail(f"{_what(value)} is not true/false (it holds numbers other than 0 and 1)")
            return data == 1.0
        raise self.fail(f"{_what(value)} is not true/false")

    def missing_mask(self, value: _Value, blank_text: bool = False) -> Any:
        """Where the value is missing; with ``blank_text``, blank text counts as missing."""
        if value.kind == MISSING:
            return np.True_
        if value.kind in _NUMERIC:
            return np.isnan(self.floats(value, "missing()"))
        if value.kind == TEXT:
            if isinstance(value.data, str):
                return np.bool_(blank_text and not value.data.strip())
            cells = _text_cells(value.data)
            if cells is not None:
                missing = cells.is_null()
                if blank_text:  # true or null is true: a missing cell stays missing
                    missing = pc.or_kleene(missing, pc.equal(pc.utf8_trim_whitespace(cells), ""))
                return np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)
            mask = value.data.isna()
            if blank_text:
                mask = mask | value.data.str.strip().eq("")
            return mask.to_numpy(dtype=bool, na_value=True)
        raise self.fail(f"{_what(value)} may only follow 'in' or 'not in'")

    def require_text(self, value: _Value, purpose: str) -> _Value:
        if value.kind not in (TEXT, MISSING):
            raise self.fail(f"{purpose} needs text, got {_what(value)}")
        return value

    def series(self, value: _Value, kind: str | None = None) -> pd.Series:
        """The final result as a Series on the table's index."""
        index, rows = self.table.index, len(self.table)
        kind = kind or value.kind
        if kind == TEXT:
            if isinstance(value.data, pd.Series):
                return pd.Series(value.data.array, index=index, copy=True)
            return pd.Series(value.data, index=index, dtype="string")
        if kind == BOOLEAN:
            data, dtype = self.truth(value), bool
        else:
            data, dtype = self.floats(value, "a formula"), float
        return pd.Series(np.broadcast_to(np.asarray(data, dtype=dtype), (rows,)), index=index, copy=True)


def _eval_constant(ev: _Evaluation, node: ast.Constant) -> _Value:
    return ev.scalar(node.value, ev.segment(node))


def _eval_name(ev: _Evaluation, node: ast.Name) -> _Value:
    if node.id in _LITERAL_NAMES:
        return ev.scalar(_LITERAL_NAMES[node.id], node.id)
    return ev.name(node.id)


def _eval_unary(ev: _Evaluation, node: ast.UnaryOp) -> _Value:
    operand = ev.value(node.operand)
    if isinstance(node.op, ast.Not):
        return _Value(BOOLEAN, ~np.asarray(ev.truth(operand)), ev.segment(node))
    numbers = ev.floats(operand, f"'{'-' if isinstance(node.op, ast.USub) else '+'}'")
    return _Value(NUMBER, -numbers if isinstance(node.op, ast.USub) else +numbers, ev.segment(node))


def _eval_binary(ev: _Evaluation, node: ast.BinOp) -> _Value:
    symbol, compute = _ARITHMETIC[type(node.op)]
    left = ev.floats(ev.value(node.left), f"'{symbol}'")
    right = ev.floats(ev.value(node.right), f"'{symbol}'")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = compute(left, right)
    if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
        result = np.where(right == 0, np.nan, result)  # division by zero gives missing
    return _Value(NUMBER, result, ev.segment(node))


def _eval_boolean(ev: _Evaluation, node: ast.BoolOp) -> _Value:
    combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
    truths = [ev.truth(ev.value(value)) for value in node.values]
    return _Value(BOOLEAN, functools.reduce(combine, truths), ev.segment(node))


def _eval_compare(ev: _Evaluation, node: ast.Compare) -> _Value:
    # A chain a < b < c means (a < b) and (b < c), each operand evaluated once.
    left = ev.value(node.left)
    result: Any = True
    for op, right_node in zip(node.ops, node.comparators):
        if isinstance(op, _MEMBERSHIP):
            right = ev.collection(right_node)
            step = _membership(ev, left, right, negate=isinstance(op, ast.NotIn))
        else:
            right = ev.value(right_node)
            step = _comparison(ev, op, left, right)
        result = np.logical_and(result, step)
        left = right
    return _Value(BOOLEAN, result, ev.segment(node))


def _comparison(ev: _Evaluation, op: ast.cmpop, left: _Value, right: _Value) -> Any:
    _, compare = _COMPARISONS[type(op)]
    if left.kind == LIST or right.kind == LIST:
        listed = left if left.kind == LIST else right
        raise ev.fail(f"{_what(listed)} may only follow 'in' or 'not in'")
    if MISSING in (left.kind, right.kind):
        return False
    if left.kind in _NUMERIC and right.kind in _NUMERIC:
        a, b = ev.floats(left, "comparison"), ev.floats(right, "comparison")
        with np.errstate(invalid="ignore"):
            return compare(a, b) & ~np.isnan(a) & ~np.isnan(b)
    if left.kind == TEXT and right.kind == TEXT:
        return _bool_array(compare(left.data, right.data))
    raise ev.fail(f"cannot compare {_what(left)} with {_what(right)}")


def _membership(ev: _Evaluation, left: _Value, right: _Value, negate: bool) -> Any:
    items = right.data
    kind = _list_kind(items, ev.fail)
    if left.kind == LIST:
        raise ev.fail(f"{_what(left)} may only follow 'in' or 'not in'")
    if left.kind == MISSING:
        return False
    if kind is not None and (kind == TEXT) != (left.kind == TEXT):
        of = "text" if kind == TEXT else "numbers"
        raise ev.fail(f"cannot look for {_what(left)} in {right.label}, a list of {of}")
    if left.kind == TEXT:
        data = left.data
        cells = _text_cells(data)
        if isinstance(data, str):
            found = data in items
        elif cells is not None:  # a missing cell is not found (and is masked below)
            texts = pa.array([item for item in items if isinstance(item, str)], type=cells.type)
            found = np.asarray(pc.is_in(cells, value_set=texts).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        else:
            found = _bool_array(data.isin(items))
    else:
        found = np.isin(ev.floats(left, "in"), np.array(items, dtype=float))
    return (~np.asarray(found) if negate else found) & ~ev.missing_mask(left)


def _eval_call(ev: _Evaluation, node: ast.Call) -> _Value:
    function = FUNCTIONS[node.func.id]  # type: ignore[attr-defined]  # checked at parse time
    return function.apply(ev, [ev.value(arg) for arg in node.args], ev.segment(node))


def _eval_list(ev: _Evaluation, node: ast.Tuple | ast.List) -> _Value:
    # Only reached on the right of `in`; the parser checked every item.
    items = tuple(_literal(item) for item in node.elts)
    return _Value(LIST, items, ev.segment(node))


_EVALUATORS: Mapping[type[ast.AST], Callable[[_Evaluation, Any], _Value]] = {
    ast.Constant: _eval_constant,
    ast.Name: _eval_name,
    ast.UnaryOp: _eval_unary,
    ast.BinOp: _eval_binary,
    ast.BoolOp: _eval_boolean,
    ast.Compare: _eval_compare,
    ast.Call: _eval_call,
    ast.Tuple: _eval_list,
    ast.List: _eval_list,
}

# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression, ready to evaluate over tables.

    ``names`` holds every column or constant name it reads (in Python's NFKC
    spelling); ``true``, ``false``, ``null`` and function names are not names.

    >>> import pandas as pd
    >>> rule = Expression("call_year - founded_year >= 2")
    >>> sorted(rule.names)
    ['call_year', 'founded_year']
    >>> table = pd.DataFrame({"founded_year": [2015, 2021, None]})
    >>> rule.evaluate(table, {"call_year": 2022}).tolist()
    [True, False, False]
    """

    text: str
    names: frozenset[str] = field(init=False)
    _tree: ast.expr = field(init=False, repr=False, compare=False)
    _source: str = field(init=False, repr=False, compare=False)
    _ordered_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _segments: Mapping[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tree, source = _parse(self.text)
        ordered = _names(tree)
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_ordered_names", ordered)
        object.__setattr__(self, "names", frozenset(ordered))
        # The text of every node, for the labels of values and messages: found
        # once here rather than at each evaluation (ast splits the source each time).
        segments = {id(node): ast.get_source_segment(source, node) or type(node).__name__ for node in ast.walk(tree)}
        object.__setattr__(self, "_segments", MappingProxyType(segments))

    def evaluate(self, table: pd.DataFrame, constants: Mapping[str, object] | None = None) -> pd.Series:
        """The value for every row of ``table``, as a Series on its index.

        True/false results are ``bool`` (missing read as false), numbers
        ``float64`` (NaN missing), text pandas ``string``.

        >>> import pandas as pd
        >>> table = pd.DataFrame({"members": [30, None]})
        >>> parse_expression("members / 60").evaluate(table).tolist()
        [0.5, nan]
        """
        evaluation = _Evaluation(self, table, constants or {})
        return evaluation.series(evaluation.value(self._tree))

    def evaluate_bool(self, table: pd.DataFrame, constants: Mapping[str, object] | None = None) -> pd.Series:
        """True/false for every row (a rule), missing read as false.

        Raises ConfigError when the result is not true/false (a number column
        holding only 0 and 1 counts as true/false).

        >>> import pandas as pd
        >>> table = pd.DataFrame({"complete_file": [True, True, False],
        ...                       "summary": ["Projet", "  ", "Projet"]})
        >>> parse_expression("complete_file and not missing(summary)").evaluate_bool(table).tolist()
        [True, False, False]
        """
        evaluation = _Evaluation(self, table, constants or {})
        return evaluation.series(evaluation.value(self._tree), BOOLEAN)

    def evaluate_mask(self, table: pd.DataFrame, constants: Mapping[str, object] | None = None) -> np.ndarray:
        """:meth:`evaluate_bool` as a numpy bool array (one item per row), for
        callers that combine many rules: no Series made only to be taken apart.

        >>> import pandas as pd
        >>> parse_expression("x > 1").evaluate_mask(pd.DataFrame({"x": [1, 2]}))
        array([False,  True])
        """
        evaluation = _Evaluation(self, table, constants or {})
        truth = evaluation.truth(evaluation.value(self._tree))
        return np.array(np.broadcast_to(np.asarray(truth, dtype=bool), (len(table),)))

    def evaluate_number(self, table: pd.DataFrame, constants: Mapping[str, object] | None = None) -> pd.Series:
        """A float64 number for every row (a formula), NaN where missing.

        True/false results count as 1/0; text raises ConfigError.

        >>> import pandas as pd
        >>> table = pd.DataFrame({"members": [0, 120, 600]})
        >>> parse_expression("clip(1 + members / 60, 1, 5)").evaluate_number(table).tolist()
        [1.0, 3.0, 5.0]
        """
        evaluation = _Evaluation(self, table, constants or {})
        value = evaluation.value(self._tree)
        if value.kind == TEXT:
            raise evaluation.fail(f"{_what(value)} is not a number")
        return evaluation.series(value, NUMBER)

    def unknown_names(self, available: Iterable[str]) -> list[tuple[str, str]]:
        """The names this expression reads that are not ``available``, each
        with a suggestion, in order of appearance.

        >>> parse_expression("scor >= 60 and present(summary)").unknown_names(["score", "summary"])
        [('scor', "did you mean 'score'?")]
        """
        available = list(available)
        known = {_nfkc(name) for name in available}
        return [(name, did_you_mean(name, available)) for name in self._ordered_names if name not in known]


def parse_expression(text: str) -> Expression:
    """Parse and check ``text``; raise ConfigError if it is not a valid expression.

    >>> parse_expression("requested_amount >= 20000").names
    frozenset({'requested_amount'})
    >>> parse_expression("score >= ")
    Traceback (most recent call last):
    ...
    selection.errors.ConfigError: cannot parse expression "score >= " at character 9: unexpected end of expression
    """
    if not isinstance(text, str):
        return Expression(text)  # refused, with the message for it
    return _parsed(text)


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> Expression:
    # An Expression is immutable: rules and formulas, parsed when their file
    # is validated and again each time a gate's ``expression`` is read, share one.
    return Expression(text)
