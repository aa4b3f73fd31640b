"""The program file: currency, vocabularies, column mapping, rubric and funnel.

A program describes one call for applications: which regions and domains it
knows (with the spellings real exports use), how the export's columns map onto
`selection`'s names, which rubric scores it, and the stages of its funnel
(screening, incubation, funding...). Each stage takes what the stage it comes
``from`` kept, optionally ``filter``s it with a rule, and optionally
``select``s the best set under constraints with the optimiser.

>>> program = load_program("examples/tamuri")
>>> [stage.id for stage in program.config.stages]
['screening', 'incubation', 'funding_eligible', 'grants']
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from selection.allocation import AllocationConfig
from selection.configfile import Loc, dotted, line_of, load_model_with_lines
from selection.errors import ConfigError, Problem, did_you_mean
from selection.expr import Expression, parse_expression
from selection.rubric import Rubric, Text
from selection.vocabulary import Vocabulary

__all__ = [
    "CANONICAL_COLUMNS",
    "RESERVED_CONSTANTS",
    "NamedValue",
    "Inputs",
    "StageConfig",
    "ProgramConfig",
    "Program",
    "load_program",
    "PROGRAM_FILE",
]

PROGRAM_FILE = "program.yaml"

#: The columns every applications table has after mapping (domain may be empty).
CANONICAL_COLUMNS = (
    "application_id",
    "organisation",
    "region",
    "domain",
    "requested_amount",
    "title",
    "summary",
)

#: Constants every rule can use, derived from the program.
RESERVED_CONSTANTS = ("programme_regions", "programme_domains")

ColumnType = Literal["int", "float", "bool", "str", "date"]
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class NamedValue(BaseModel):
    """A canonical region or domain name, the other spellings it is known by,
    and whether the programme covers it."""

    model_config = _FROZEN
    name: str = Field(min_length=1)
    aliases: list[str] = []
    in_programme: bool = True


class Inputs(BaseModel):
    """Input files, relative to the program file."""

    model_config = _FROZEN
    applications: str
    reviews: str | None = None
    reviewers: str | None = None


class StageConfig(BaseModel):
    """One stage of the funnel."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    label: Text | None = None
    from_: str | None = Field(default=None, alias="from")
    eligibility: bool = False
    filter: str | None = None
    select: AllocationConfig | None = None

    @field_validator("filter")
    @classmethod
    def _filter_parses(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                parse_expression(text)
            except ConfigError as exc:
                raise ValueError(exc.first.message) from None
        return text

    @model_validator(mode="after")
    def _does_something(self) -> StageConfig:
        if not (self.eligibility or self.filter or self.select):
            raise ValueError(
                f"stage '{self.id}' does nothing: give it 'eligibility: true', a 'filter' or a 'select'"
            )
        return self

    @property
    def filter_expression(self) -> Expression | None:
        return parse_expression(self.filter) if self.filter else None

    def title(self, lang: str = "fr") -> str:
        if self.label is None:
            return self.id
        return self.label.fr if lang == "fr" else self.label.en


class ProgramConfig(BaseModel):
    """The program file, validated."""

    model_config = _FROZEN
    name: str
    currency: str = Field(default="MAD", pattern=r"^[A-Z]{3}$")
    rubric: str
    seed: int = 0
    inputs: Inputs
    constants: dict[str, int | float | bool | str] = {}
    columns: dict[str, str] = {}
    types: dict[str, ColumnType] = {}
    regions: list[NamedValue] = Field(min_length=1)
    domains: list[NamedValue] = []
    stages: list[StageConfig] = Field(min_length=1)

    @field_validator("constants")
    @classmethod
    def _not_reserved(cls, constants: dict) -> dict:
        for name in constants:
            if name in RESERVED_CONSTANTS:
                raise ValueError(f"'{name}' is computed from the program; do not set it in constants")
        return constants

    @field_validator("columns")
    @classmethod
    def _sources_unique(cls, columns: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for name, source in columns.items():
            if source in seen:
                raise ValueError(f"column '{source}' is mapped to both '{seen[source]}' and '{name}'")
            seen[source] = name
        return columns


@dataclass(frozen=True)
class Program:
    """A validated program with its rubric, ready to run.

    ``source`` and ``rubric_source`` remember which file and line each key came
    from, so later checks (a rule naming an unknown column) can point at it.
    """

    config: ProgramConfig
    rubric: Rubric
    source: str = "program.yaml"
    rubric_source: str = "rubric.yaml"
    lines: Mapping[Loc, int] = field(default_factory=dict)
    rubric_lines: Mapping[Loc, int] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.config.currency

    @property
    def programme_regions(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.config.regions if r.in_programme)

    @property
    def programme_domains(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.config.domains if d.in_programme)

    @property
    def constants(self) -> dict[str, object]:
        """Named constants for rules: the program's own plus the derived ones."""
        return {
            **self.config.constants,
            "programme_regions": self.programme_regions,
            "programme_domains": self.programme_domains,
        }

    # The vocabularies are built once per program, when it is loaded (folding
    # every spelling again cost a fifth of preparing 2,400 applications); the
    # program is immutable.

    def regions(self) -> Vocabulary:
        return self._regions

    def domains(self) -> Vocabulary | None:
        return self._domains

    @functools.cached_property
    def _regions(self) -> Vocabulary:
        return Vocabulary({r.name: r.aliases for r in self.config.regions}, kind="region")

    @functools.cached_property
    def _domains(self) -> Vocabulary | None:
        if not self.config.domains:
            return None
        return Vocabulary({d.name: d.aliases for d in self.config.domains}, kind="domain")

    def stage(self, stage_id: str) -> StageConfig:
        for stage in self.config.stages:
            if stage.id == stage_id:
                return stage
        raise ConfigError(
            f"no stage '{stage_id}'",
            file=self.source,
            field="stages",
            suggestion=did_you_mean(stage_id, [s.id for s in self.config.stages]),
            code="unknown_stage",
        )

    def problem_at(self, loc: Loc, message: str, *, suggestion: str | None = None,
                   rubric: bool = False, code: str = "invalid") -> Problem:
        """A problem located at key ``loc`` of the program (or rubric) file."""
        lines = self.rubric_lines if rubric else self.lines
        return Problem(
            message,
            file=self.rubric_source if rubric else self.source,
            line=line_of(loc, dict(lines)),
            field=dotted(loc),
            suggestion=suggestion,
            code=code,
        )


def resolve_program_path(path: str | Path) -> Path:
    """The program file for ``path``: the file itself, or ``program.yaml`` in a folder."""
    path = Path(path)
    if path.is_dir():
        path = path / PROGRAM_FILE
    if not path.exists():
        raise ConfigError(
            "file not found",
            file=str(path),
            suggestion=f"give a program folder holding {PROGRAM_FILE}, or the path of a program file",
            code="not_found",
        )
    return path


def load_program(path: str | Path) -> Program:
    """Load and validate a program (a folder holding ``program.yaml``, or the file).

    The rubric named by the program is read relative to the program file.
    Every problem in either file is reported at once.
    """
    program_path = resolve_program_path(path)
    config, lines = load_model_with_lines(program_path, ProgramConfig)
    rubric_path = (program_path.parent / config.rubric).resolve()
    if not rubric_path.exists():
        raise ConfigError(
            f"rubric file '{config.rubric}' not found (looked for {rubric_path})",
            file=str(program_path),
            line=line_of(("rubric",), lines),
            field="rubric",
            suggestion="the rubric path is relative to the program file",
            code="not_found",
        )
    rubric, rubric_lines = load_model_with_lines(rubric_path, Rubric)
    _check_funnel(config, str(program_path), lines)
    program = Program(
        config=config,
        rubric=rubric,
        source=str(program_path),
        rubric_source=_display_path(rubric_path),
        lines=lines,
        rubric_lines=rubric_lines,
    )
    _check_vocabularies(program, str(program_path), lines)
    return program


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _check_funnel(config: ProgramConfig, file: str, lines: Mapping[Loc, int]) -> None:
    """The stages form a chain: unique ids, each ``from`` an earlier stage, one eligibility stage."""
    problems = []

    def problem(loc: Loc, message: str, suggestion: str | None = None) -> None:
        problems.append(Problem(message, file=file, line=line_of(loc, dict(lines)), field=dotted(loc),
                                suggestion=suggestion, code="funnel"))

    seen: list[str] = []
    for index, stage in enumerate(config.stages):
        if stage.id in seen:
            problem(("stages", index, "id"), f"stage id '{stage.id}' is used twice", "give each stage its own id")
        if index == 0 and stage.from_ is not None:
            problem(("stages", index, "from"), f"the first stage '{stage.id}' takes every application",
                    "remove its 'from'")
        elif index > 0 and stage.from_ is None:
            problem(("stages", index), f"stage '{stage.id}' does not say which stage it comes from",
                    f"add 'from: {seen[-1]}' (or another earlier stage)")
        elif stage.from_ is not None and stage.from_ not in seen:
            problem(("stages", index, "from"), f"'{stage.from_}' is not an earlier stage",
                    did_you_mean(stage.from_, seen))
        seen.append(stage.id)
    eligibility = [i for i, s in enumerate(config.stages) if s.eligibility]
    for index in eligibility[1:]:
        problem(("stages", index, "eligibility"), "only one stage may apply eligibility",
                f"stage '{config.stages[eligibility[0]].id}' already does")
    if problems:
        raise ConfigError(problems=problems)


def _check_vocabularies(program: Program, file: str, lines: Mapping[Loc, int]) -> None:
    """Build the program's vocabularies (kept for preparing its tables); an
    ambiguous alias is reported at its key."""
    for key, build in (("regions", program.regions), ("domains", program.domains)):
        try:
            build()
        except ConfigError as exc:
            raise ConfigError(
                exc.first.message,
                file=file,
                line=line_of((key,), dict(lines)),
                field=key,
                suggestion=exc.first.suggestion,
                code=exc.first.code,
            ) from None
