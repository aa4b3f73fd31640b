"""The rubric: eligibility gates and weighted criteria, read from YAML.

A rubric says which applications may be considered (gates: a rule and a
reason in French and English) and how the eligible ones are scored (criteria
with a weight and a scale, scored by reviewers or computed by a formula),
how reviewers' scores are combined and how ties are broken.

>>> rubric = load_rubric("rubrics/tamuri.yaml")
>>> [c.id for c in rubric.criteria][:3]
['pertinence', 'faisabilite', 'impact']
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from selection.configfile import load_model
from selection.errors import ConfigError
from selection.expr import Expression, parse_expression

__all__ = [
    "Text",
    "Scale",
    "Gate",
    "Criterion",
    "Aggregation",
    "Disagreement",
    "TieBreaker",
    "Rubric",
    "load_rubric",
]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Text(BaseModel):
    """A sentence in French and English."""

    model_config = _FROZEN
    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Scale(BaseModel):
    """The range of a criterion's scores, for example 1 to 5."""

    model_config = _FROZEN
    min: float = 1
    max: float = 5

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max:g}) must be greater than min ({self.min:g})")
        return self


def _check_expression(text: str) -> str:
    try:
        parse_expression(text)
    except ConfigError as exc:
        raise ValueError(exc.first.message) from None
    return text


class Gate(BaseModel):
    """An eligibility gate: an application passes when ``rule`` holds."""

    model_config = _FROZEN
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    rule: str
    reason: Text

    _rule = field_validator("rule")(_check_expression)

    @property
    def expression(self) -> Expression:
        return parse_expression(self.rule)


class Criterion(BaseModel):
    """A weighted criterion, scored by reviewers or computed by a formula."""

    model_config = _FROZEN
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    label: Text
    weight: float = Field(gt=0)
    source: Literal["reviewers", "formula"] = "reviewers"
    formula: str | None = None
    scale: Scale | None = None
    levels: dict[int, str] = {}

    @field_validator("formula")
    @classmethod
    def _formula_parses(cls, text: str | None) -> str | None:
        return None if text is None else _check_expression(text)

    @model_validator(mode="after")
    def _formula_matches_source(self) -> Criterion:
        if self.source == "formula" and not self.formula:
            raise ValueError(f"criterion '{self.id}' has source 'formula' but no 'formula' key")
        if self.source != "formula" and self.formula:
            raise ValueError(
                f"criterion '{self.id}' has a 'formula' but its source is '{self.source}'; "
                "set source: formula"
            )
        return self

    @property
    def expression(self) -> Expression | None:
        return parse_expression(self.formula) if self.formula else None


class Aggregation(BaseModel):
    """How the scores of several reviewers on one criterion are combined."""

    model_config = _FROZEN
    method: Literal["mean", "median", "trimmed_mean"] = "mean"
    trim: float = Field(default=0.2, ge=0, lt=0.5)


class Disagreement(BaseModel):
    """When reviewers disagree enough to flag an application for discussion.

    The disagreement of an application is the range (largest minus smallest)
    of its reviewers' total scores on the 0-100 scale.
    """

    model_config = _FROZEN
    threshold: float = Field(default=25, ge=0, le=100)


class TieBreaker(BaseModel):
    """One key of the ranking order."""

    model_config = _FROZEN
    column: str
    order: Literal["asc", "desc"] = "asc"


class Rubric(BaseModel):
    """A complete rubric. Build it with :func:`load_rubric` or ``Rubric.model_validate``."""

    model_config = _FROZEN
    id: str
    title: Text
    scale: Scale = Scale()
    eligibility: list[Gate] = []
    criteria: list[Criterion] = Field(min_length=1)
    aggregation: Aggregation = Aggregation()
    min_reviews: int = Field(default=2, ge=1)
    disagreement: Disagreement = Disagreement()
    tie_breakers: list[TieBreaker] = [
        TieBreaker(column="score", order="desc"),
        TieBreaker(column="application_id", order="asc"),
    ]

    @model_validator(mode="after")
    def _unique_ids(self) -> Rubric:
        for kind, ids in (
            ("gate", [g.id for g in self.eligibility]),
            ("criterion", [c.id for c in self.criteria]),
        ):
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{kind} id '{repeated[0]}' is used more than once")
        return self

    def scale_of(self, criterion: Criterion) -> Scale:
        return criterion.scale or self.scale

    @property
    def reviewer_criteria(self) -> list[Criterion]:
        return [c for c in self.criteria if c.source == "reviewers"]

    @property
    def formula_criteria(self) -> list[Criterion]:
        return [c for c in self.criteria if c.source == "formula"]


def load_rubric(path: str | Path) -> Rubric:
    """Read and validate a rubric YAML file; every problem is reported at once."""
    return load_model(path, Rubric)
