"""One exception hierarchy for every mistake a user can make.

Every error carries *where* (file, line or row, field) and *what to do*
(a suggestion), so the command line can print one paragraph and library
callers can inspect the same facts. Validation collects every problem it finds
into :class:`Problem` records and raises them together.

>>> err = InputDataError("unknown region 'Casablanka'", file="applications.csv",
...                      row=12, field="Région", suggestion="did you mean 'Casablanca-Settat'?")
>>> print(err)
applications.csv, row 12, field 'Région': unknown region 'Casablanka'. Suggestion: did you mean 'Casablanca-Settat'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

__all__ = [
    "Problem",
    "SelectionError",
    "ConfigError",
    "InputDataError",
    "InfeasibleError",
    "SolverLimitError",
    "closest",
    "did_you_mean",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place of one input.

    ``row`` is the 1-based data row of a table as a spreadsheet user counts it
    (the header is row 1, so the first data row is row 2); ``line`` is the
    1-based line of a text file such as a YAML configuration.
    """

    message: str
    file: str | None = None
    line: int | None = None
    row: int | None = None
    field: str | None = None
    suggestion: str | None = None
    code: str = "invalid"

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.suggestion:
            text = f"{text}. Suggestion: {self.suggestion}"
        return text


class SelectionError(Exception):
    """Base class of every error raised for a user's mistake.

    Build it from one message (with its location keywords) or from a list of
    :class:`Problem` records found in one validation pass.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        file: str | None = None,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
        suggestion: str | None = None,
        code: str = "invalid",
        problems: Sequence[Problem] | None = None,
    ) -> None:
        if problems:
            self.problems: tuple[Problem, ...] = tuple(problems)
        else:
            self.problems = (
                Problem(
                    message=message or "",
                    file=file,
                    line=line,
                    row=row,
                    field=field,
                    suggestion=suggestion,
                    code=code,
                ),
            )
        super().__init__(self._render())

    @property
    def first(self) -> Problem:
        return self.problems[0]

    # Convenience accessors for the common one-problem case.
    @property
    def file(self) -> str | None:
        return self.first.file

    @property
    def line(self) -> int | None:
        return self.first.line

    @property
    def row(self) -> int | None:
        return self.first.row

    @property
    def field(self) -> str | None:
        return self.first.field

    @property
    def suggestion(self) -> str | None:
        return self.first.suggestion

    @property
    def code(self) -> str:
        return self.first.code

    def with_file(self, file: str) -> SelectionError:
        """A copy of this error whose problems without a file name ``file``.

        The core works on DataFrames and does not know file names; the layer
        that read the file adds it.
        """
        problems = [p if p.file else replace(p, file=file) for p in self.problems]
        clone = type(self)(problems=problems)
        clone.__cause__ = self.__cause__
        return clone

    def _render(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems found:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class ConfigError(SelectionError):
    """A program, rubric or allocation configuration is wrong."""


class InputDataError(SelectionError):
    """An input table (applications, reviews, reviewers, candidates) is wrong."""


class InfeasibleError(SelectionError):
    """The constraints of a stage cannot all hold at once."""


class SolverLimitError(SelectionError):
    """The solver found no solution within its time limit."""


def closest(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The choice closest to ``word`` (case-insensitive), or None.

    >>> closest("budjet", ["budget", "stages"])
    'budget'
    """
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[match[0]] if match else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A suggestion sentence: "did you mean 'x'?" or the list of valid names."""
    choices = sorted(choices)
    match = closest(word, choices)
    if match is not None:
        return f"did you mean '{match}'?"
    shown = ", ".join(f"'{c}'" for c in choices[:12])
    more = ", ..." if len(choices) > 12 else ""
    return f"expected one of {shown}{more}"
