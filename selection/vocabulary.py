"""Match the messy values of an export onto a programme's canonical names.

Real exports spell one region five ways ("Tanger-Tetouan-Al Hoceima", "TTA",
"tanger tétouan al hoceïma"). A value matches a canonical name when, after
folding (case, accents, apostrophes, hyphens and spaces ignored), it equals
the name or one of its listed aliases. Arabic script is kept as it is (only
its spacing and tatweel are folded).

>>> v = Vocabulary({"Tanger-Tétouan-Al Hoceïma": ["TTA"], "L'Oriental": ["Oriental"]})
>>> v.match_one("tanger tetouan al hoceima"), v.match_one("tta"), v.match_one("l oriental")
('Tanger-Tétouan-Al Hoceïma', 'Tanger-Tétouan-Al Hoceïma', "L'Oriental")
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from selection.errors import ConfigError, Problem, closest

__all__ = ["fold", "Vocabulary"]

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_TATWEEL = "\u0640"


def fold(text: str) -> str:
    """Lower-case, strip Latin accents and punctuation; ``"Béni-Mellal"`` → ``"beni mellal"``."""
    return _fold(str(text))


@functools.lru_cache(maxsize=8192)
def _fold(text: str) -> str:
    # The same few spellings are folded again and again (each program load,
    # each table's distinct regions): a quarter of matching 2,400 regions.
    decomposed = unicodedata.normalize("NFKD", text.replace(_TATWEEL, ""))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", stripped.casefold()).strip()


class Vocabulary:
    """Canonical names with their aliases, matched after :func:`fold`."""

    def __init__(self, names: Mapping[str, Iterable[str]], *, kind: str = "value") -> None:
        self.kind = kind
        self.names: tuple[str, ...] = tuple(names)
        self._lookup: dict[str, str] = {}
        for name, aliases in names.items():
            for spelling in (name, *aliases):
                key = fold(spelling)
                owner = self._lookup.setdefault(key, name)
                if owner != name:
                    raise ConfigError(
                        f"the {kind} spelling '{spelling}' of '{name}' is also a spelling of '{owner}'",
                        suggestion="remove the alias from one of them",
                        code="ambiguous_alias",
                    )

    def match_one(self, value: str) -> str | None:
        return self._lookup.get(fold(value))

    def suggest(self, value: str) -> str | None:
        """The canonical name whose spelling is closest to ``value``, if any is close."""
        key = closest(fold(value), self._lookup, cutoff=0.5)
        return self._lookup[key] if key is not None else None

    def match(
        self, values: pd.Series, *, field: str, allow_missing: bool = False
    ) -> tuple[pd.Series, list[Problem]]:
        """Canonical names for ``values`` (index kept) and one problem per unknown value.

        Rows are reported as a spreadsheet counts them: data row i is row i + 2.
        Matching is done once per distinct value, so large files stay fast.
        """
        # Work on the distinct values (a handful), then spread by their codes:
        # a Python loop over every cell took 4 s for a million applications.
        codes, distinct = pd.factorize(values.astype(object), use_na_sentinel=True)
        cells = [v.strip() if isinstance(v, str) else None for v in distinct]
        cells = [v if v else None for v in cells] + [None]  # code -1: missing
        canonical = np.array([self.match_one(v) if v else None for v in cells], dtype=object)
        matched = pd.Series(canonical[codes], index=values.index, dtype=object)
        blank = pd.Series(np.array([v is None for v in cells])[codes], index=values.index)
        problems: list[Problem] = []
        unknown = matched.isna() & ~blank
        guesses: dict[str, str | None] = {}  # one fuzzy match per distinct value, not per row
        for position in unknown.to_numpy().nonzero()[0]:
            raw = str(values.iloc[position])
            if raw not in guesses:
                guesses[raw] = self.suggest(raw)
            guess = guesses[raw]
            suggestion = (
                f"did you mean '{guess}'? Otherwise add '{raw}' to the aliases of a {self.kind} "
                "in the program file"
                if guess
                else f"use one of the program's {self.kind}s ({', '.join(self.names)}) or add an alias"
            )
            problems.append(
                Problem(
                    f"unknown {self.kind} '{raw}'",
                    row=position + 2,
                    field=field,
                    suggestion=suggestion,
                    code=f"unknown_{self.kind}",
                )
            )
        if not allow_missing:
            for position in blank.to_numpy().nonzero()[0]:
                problems.append(
                    Problem(
                        f"the {self.kind} is empty",
                        row=position + 2,
                        field=field,
                        suggestion=f"fill in one of the program's {self.kind}s",
                        code=f"missing_{self.kind}",
                    )
                )
        problems.sort(key=lambda p: p.row or 0)
        return matched, problems
