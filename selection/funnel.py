"""The whole funnel: eligibility, scoring, then each stage of the program.

Every stage takes the applications kept by the stage it comes ``from`` (all of
them for the first), keeps the eligible ones if it applies eligibility, those
that satisfy its ``filter`` rule, and, if it has a ``select`` block, the set
chosen by the optimiser under its constraints. Each application leaves the
funnel with the reason it went no further, in French and English.

>>> from selection.program import load_program
>>> from selection.io import read_table
>>> program = load_program("examples/tamuri")
>>> result = run(program, read_table("examples/tamuri/applications.csv"),
...              read_table("examples/tamuri/reviews.csv"))
>>> [stage.kept_count for stage in result.stages][-1]
19
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from selection.allocation import AllocationConfig, AllocationResult, allocate
from selection.eligibility import EligibilityResult, check_eligibility
from selection.errors import ConfigError, InputDataError, Problem, SelectionError, did_you_mean
from selection.program import Program, StageConfig
from selection.scoring import ScoringResult, score
from selection.validate import prepare_applications, prepare_reviews

__all__ = ["StageResult", "RunResult", "run", "check_references", "score_applications"]

T = TypeVar("T")

#: Columns of the scores table that scoring adds beside the criteria.
SCORE_COLUMNS = ("n_reviews", "score", "disagreement", "ranked", "rank", "rank_in_region", "flags")


@dataclass(frozen=True)
class StageResult:
    """What one stage did: who entered, who was kept, and why the others were not."""

    stage: StageConfig
    entered: pd.Series  # bool, aligned with the applications
    kept: pd.Series  # bool
    reason: pd.Series  # code for those that entered and were not kept, "" otherwise
    reason_fr: pd.Series
    reason_en: pd.Series
    allocation: AllocationResult | None = None

    @property
    def entered_count(self) -> int:
        return int(self.entered.sum())

    @property
    def kept_count(self) -> int:
        return int(self.kept.sum())


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced; :mod:`selection.report` turns it into files."""

    program: Program
    applications: pd.DataFrame
    eligibility: EligibilityResult
    scoring: ScoringResult
    stages: tuple[StageResult, ...]

    @property
    def final(self) -> StageResult:
        return self.stages[-1]

    def scores(self) -> pd.DataFrame:
        """The scores table: identity, eligibility with reasons, criteria, total, ranks, flags."""
        apps = self.applications
        identity = apps[["application_id", "organisation", "region", "domain", "requested_amount"]]
        eligibility = self.eligibility.table.drop(columns="application_id")
        scoring = self.scoring.table.drop(columns="application_id")
        return pd.concat([identity, eligibility, scoring], axis=1)

    def allocation(self) -> pd.DataFrame:
        """One row per application: the stages it passed, the grant, and the reason.

        For an application left out by a stage that selects, ``merit_needed``
        and ``extra_budget`` say what would have changed that stage's answer
        (empty, with ``counterfactual_note`` saying why, when not computed).
        """
        apps = self.applications
        table = apps[["application_id", "organisation", "region", "domain", "requested_amount"]].copy()
        table["score"] = self.scoring.table["score"]
        table["rank"] = self.scoring.table["rank"]
        reached = pd.Series("", index=apps.index, dtype=object)
        reason = pd.Series("", index=apps.index, dtype=object)
        reason_fr = reason.copy()
        reason_en = reason.copy()
        amount = pd.Series(0, index=apps.index, dtype="int64")
        merit_needed = pd.Series(np.nan, index=apps.index, dtype="float64")
        extra_budget = pd.Series(pd.NA, index=apps.index, dtype="Int64")
        note = pd.Series("", index=apps.index, dtype=object)
        for result in self.stages:
            table[result.stage.id] = result.kept
            reached = reached.mask(result.kept, result.stage.id)
            dropped = result.entered & ~result.kept
            reason = reason.mask(dropped, result.reason)
            reason_fr = reason_fr.mask(dropped, result.reason_fr)
            reason_en = reason_en.mask(dropped, result.reason_en)
            if result.allocation is None:
                continue
            chosen = result.allocation.table.set_index("application_id")
            ids = apps["application_id"]
            merit_needed = merit_needed.mask(dropped, ids.map(chosen["merit_needed"]).astype("float64"))
            extra_budget = extra_budget.mask(dropped, ids.map(chosen["extra_budget"]).astype("Int64"))
            note = note.mask(dropped, ids.map(chosen["counterfactual_note"]).fillna(""))
            if result.allocation.budget is not None:
                amount = ids.map(chosen["amount"]).fillna(0).astype("int64").where(result.kept, 0)
        final = self.final
        table["stage_reached"] = reached
        table["selected"] = final.kept
        table["amount"] = amount
        selected_reason = _selected_reason(final)
        table["reason"] = reason.mask(final.kept, "selected")
        table["reason_fr"] = reason_fr.mask(final.kept, selected_reason[0])
        table["reason_en"] = reason_en.mask(final.kept, selected_reason[1])
        table["merit_needed"] = merit_needed
        table["extra_budget"] = extra_budget
        table["counterfactual_note"] = note
        return table


def _selected_reason(stage: StageResult) -> tuple[str, str]:
    fr = f"Retenu à l'étape « {stage.stage.title('fr')} »."
    en = f"Selected at stage '{stage.stage.title('en')}'."
    return fr, en


def _available_columns(columns: Iterable[str], program: Program) -> list[str]:
    criteria = [c.id for c in program.rubric.criteria]
    return [*columns, "eligible", *criteria, *SCORE_COLUMNS]


def check_references(program: Program, columns: Iterable[str]) -> None:
    """Every name a rule, formula, tie-breaker or stage uses must exist; all problems at once."""
    rubric = program.rubric
    application_columns = list(columns)
    constants = list(program.constants)
    scored = _available_columns(application_columns, program)
    problems: list[Problem] = []

    def check(expression, available, loc, *, in_rubric):
        for name, suggestion in expression.unknown_names(available):
            problems.append(
                program.problem_at(
                    loc, f"unknown name '{name}' in \"{expression.text}\"",
                    suggestion=suggestion, rubric=in_rubric, code="unknown_name",
                )
            )

    for i, gate in enumerate(rubric.eligibility):
        check(gate.expression, application_columns + constants, ("eligibility", i, "rule"), in_rubric=True)
    for i, criterion in enumerate(rubric.criteria):
        if criterion.expression is not None:
            check(criterion.expression, application_columns + constants, ("criteria", i, "formula"), in_rubric=True)
    for i, tie in enumerate(rubric.tie_breakers):
        if tie.column not in scored:
            problems.append(program.problem_at(
                ("tie_breakers", i, "column"), f"unknown column '{tie.column}'",
                suggestion=did_you_mean(tie.column, scored), rubric=True, code="unknown_name"))
    for i, stage in enumerate(program.config.stages):
        if stage.filter_expression is not None:
            check(stage.filter_expression, scored + constants, ("stages", i, "filter"), in_rubric=False)
        if stage.select is not None:
            names = [("merit", stage.select.merit)] + [
                (("groups", j, "column"), g.column) for j, g in enumerate(stage.select.groups)
            ]
            for key, column in names:
                loc = ("stages", i, "select") + (key if isinstance(key, tuple) else (key,))
                if column not in scored:
                    problems.append(program.problem_at(
                        loc, f"unknown column '{column}'", suggestion=did_you_mean(column, scored),
                        code="unknown_name"))
    if problems:
        raise ConfigError(problems=problems)


def _from(table_name: str, action: Callable[[], T]) -> T:
    """Run ``action``; name ``table_name`` in any data problem that names no file."""
    try:
        return action()
    except InputDataError as exc:
        raise exc.with_file(table_name) from None


def score_applications(
    program: Program,
    applications: pd.DataFrame,
    reviews: pd.DataFrame,
    *,
    sources: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, EligibilityResult, ScoringResult]:
    """Validate the inputs, check eligibility and score: the part of a run before the stages.

    ``sources`` names the applications and reviews tables in error messages
    (the runner passes their file paths).
    """
    names = {"applications": "applications table", "reviews": "reviews table", **(sources or {})}
    apps = _from(names["applications"], lambda: prepare_applications(applications, program))
    check_references(program, apps.columns)
    eligibility = check_eligibility(apps, program.rubric, program.constants)
    long_reviews = _from(names["reviews"], lambda: prepare_reviews(reviews))
    scoring = _from(
        names["reviews"],
        lambda: score(
            apps,
            long_reviews,
            program.rubric,
            constants=program.constants,
            eligible=eligibility.eligible,
        ),
    )
    return apps, eligibility, scoring


def run(
    program: Program,
    applications: pd.DataFrame,
    reviews: pd.DataFrame,
    *,
    sources: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the whole funnel of ``program`` on raw or canonical tables.

    ``applications`` may use the export's column names (the program maps them)
    or the canonical ones; ``reviews`` is in long form (or a wide sheet).
    ``progress``, when given, is called with the id of each stage as it starts
    (``"scoring"`` first), for a caller that shows progress.
    Raises a :class:`~selection.errors.SelectionError` for any mistake in the
    inputs and :class:`~selection.errors.InfeasibleError` when a stage's
    constraints cannot hold.
    """
    report = progress or (lambda step: None)
    report("scoring")
    apps, eligibility, scoring = score_applications(program, applications, reviews, sources=sources)
    table = pd.concat(
        [apps, eligibility.table[["eligible"]], scoring.table.drop(columns="application_id")], axis=1
    )
    results: dict[str, StageResult] = {}
    for stage in program.config.stages:
        report(stage.id)
        entered = (
            pd.Series(True, index=apps.index) if stage.from_ is None else results[stage.from_].kept
        )
        try:
            results[stage.id] = _run_stage(stage, entered, table, eligibility, program)
        except SelectionError as exc:
            raise _in_stage(exc, stage, program) from None
    return RunResult(
        program=program,
        applications=apps,
        eligibility=eligibility,
        scoring=scoring,
        stages=tuple(results.values()),
    )


def _in_stage(exc: SelectionError, stage: StageConfig, program: Program) -> SelectionError:
    """Say which stage of which program file an error comes from."""
    index = program.config.stages.index(stage)
    problems = [
        p if p.file else program.problem_at(
            ("stages", index), f"stage '{stage.id}': {p.message}", suggestion=p.suggestion, code=p.code
        )
        for p in exc.problems
    ]
    return type(exc)(problems=problems)


def _run_stage(
    stage: StageConfig,
    entered: pd.Series,
    table: pd.DataFrame,
    eligibility: EligibilityResult,
    program: Program,
) -> StageResult:
    kept = entered.copy()
    reason = pd.Series("", index=table.index, dtype=object)
    reason_fr = reason.copy()
    reason_en = reason.copy()

    if stage.eligibility:
        failed = kept & ~eligibility.eligible
        reason = reason.mask(failed, "ineligible")
        reason_fr = reason_fr.mask(failed, "Non éligible : " + eligibility.table["reasons_fr"])
        reason_en = reason_en.mask(failed, "Not eligible: " + eligibility.table["reasons_en"])
        kept &= eligibility.eligible

    if stage.filter_expression is not None:
        passes = stage.filter_expression.evaluate_bool(table, program.constants).astype(bool)
        failed = kept & ~passes
        reason = reason.mask(failed, "filtered")
        reason_fr = reason_fr.mask(
            failed, f"Ne remplit pas la condition de l'étape « {stage.title('fr')} » : {stage.filter}."
        )
        reason_en = reason_en.mask(
            failed, f"Does not meet the condition of stage '{stage.title('en')}': {stage.filter}."
        )
        kept &= passes

    allocation = None
    if stage.select is not None:
        allocation = _select(stage.select, kept, table, program)
        chosen = allocation.table.set_index("application_id")
        ids = table["application_id"]
        selected = ids.map(chosen["selected"]).fillna(False).astype(bool) & kept
        failed = kept & ~selected
        reason = reason.mask(failed, ids.map(chosen["reason"]))
        reason_fr = reason_fr.mask(failed, f"{stage.title('fr')} — " + ids.map(chosen["reason_fr"]))
        reason_en = reason_en.mask(failed, f"{stage.title('en')} — " + ids.map(chosen["reason_en"]))
        kept = selected

    return StageResult(stage, entered, kept, reason, reason_fr, reason_en, allocation)


def _select(
    config: AllocationConfig, pool: pd.Series, table: pd.DataFrame, program: Program
) -> AllocationResult:
    """Candidates in rank order (unranked last, in file order) to the optimiser."""
    candidates = table[pool.to_numpy()].copy()
    candidates[config.merit] = candidates[config.merit].where(candidates["ranked"].astype(bool), np.nan)
    order = candidates["rank"].astype("Float64").fillna(np.inf).to_numpy()
    candidates = candidates.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    group_values = {"region": program.programme_regions}
    if program.programme_domains:
        group_values["domain"] = program.programme_domains
    return allocate(candidates, config, group_values=group_values, currency=program.currency)
