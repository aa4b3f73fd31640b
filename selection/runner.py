"""Programs on disk: read a program folder, run it, write one output folder.

This is the edge the command line stands on: each command calls one function
here. Outputs are written to a temporary folder and moved into place at the
end, with a ``manifest.json`` holding the sha256 of every input and output,
the versions of the packages used, the seed and the command line. Only the
manifest's ``created_at`` and ``timings`` fields depend on the clock.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from selection.allocation import AllocationConfig, AllocationResult, allocate
from selection.configfile import load_model
from selection.errors import InputDataError, SelectionError
from selection.funnel import RunResult, run, score_applications
from selection.io import MANIFEST, output_folder, read_table, sha256_of, write_csv, write_json
from selection.program import Program, load_program
from selection.report import summary
from selection.validate import REVIEW_COLUMNS, check_reviewer_ids, parse_candidates, prepare_reviewers

__all__ = [
    "ProgramInputs",
    "read_inputs",
    "run_program",
    "score_program",
    "validate_program",
    "allocate_file",
    "PACKAGES",
    "package_versions",
]

#: Packages whose versions every manifest records.
PACKAGES = ("selection", "numpy", "pandas", "scipy", "scikit-learn", "ortools", "pydantic", "PyYAML",
            "openpyxl", "pyarrow")


@dataclass(frozen=True)
class ProgramInputs:
    """The tables a program names, read from disk, and where they came from."""

    applications: pd.DataFrame
    reviews: pd.DataFrame
    reviewers: pd.DataFrame | None
    paths: Mapping[str, Path]


def _located(read: Callable[[], pd.DataFrame], path: Path) -> pd.DataFrame:
    try:
        return read()
    except SelectionError as exc:
        raise exc.with_file(str(path)) from None


def read_inputs(program: Program) -> ProgramInputs:
    """Read the program's input files (paths relative to the program file)."""
    base = Path(program.source).parent
    names = program.config.inputs
    paths: dict[str, Path] = {
        "program": Path(program.source),
        "rubric": Path(program.rubric_source),
        "applications": base / names.applications,
    }
    if names.reviews:
        paths["reviews"] = base / names.reviews
        # Review ids, criteria and scores repeat (18 rows per application in
        # TAMURI's format): read as categories, they are checked once per value.
        # Scores that are all plain numbers are read as numbers (nothing to check
        # per cell but the scale, which scoring does).
        # The reviews are read in a thread while this one reads the
        # applications: pyarrow parses without the interpreter lock, and a
        # file of one block is parsed on one core (both files of TAMURI's
        # size in 12.5-13 ms instead of 14.5; the same at 100,000). A problem
        # with the applications is still the one reported first.
        with ThreadPoolExecutor(max_workers=1) as pool:  # on leaving: waits for the reviews
            reading = pool.submit(read_table, paths["reviews"], categories=REVIEW_COLUMNS, numbers=("score",))
            applications = read_table(paths["applications"])
        reviews = reading.result()  # raises the reviews' problem, if any
    else:
        applications = read_table(paths["applications"])
        reviews = pd.DataFrame(columns=["application_id", "reviewer_id", "criterion", "score"])
    reviewers = None
    if names.reviewers:
        paths["reviewers"] = base / names.reviewers
        reviewers = _located(lambda: prepare_reviewers(read_table(paths["reviewers"])), paths["reviewers"])
        _located(lambda: check_reviewer_ids(reviews, reviewers), paths.get("reviews", paths["reviewers"]))
    return ProgramInputs(applications, reviews, reviewers, paths)


def _sources(inputs: ProgramInputs) -> dict[str, str]:
    return {name: str(path) for name, path in inputs.paths.items()}


def validate_program(path: str | Path) -> tuple[Program, ProgramInputs, RunResult]:
    """Load a program and its inputs and check everything a run would (without writing)."""
    program = load_program(path)
    inputs = read_inputs(program)
    result = run(program, inputs.applications, inputs.reviews, sources=_sources(inputs))
    return program, inputs, result


def run_program(
    path: str | Path,
    out: str | Path,
    *,
    command: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the whole funnel of the program at ``path`` and write the output folder ``out``.

    ``progress`` is called with each step as it starts: ``"read"``,
    ``"scoring"``, each stage id, then ``"write"``.
    """
    report = progress or (lambda step: None)
    started = time.perf_counter()
    report("read")
    program = load_program(path)
    inputs = read_inputs(program)
    read_done = time.perf_counter()
    result = run(program, inputs.applications, inputs.reviews, sources=_sources(inputs), progress=progress)
    run_done = time.perf_counter()
    report("write")
    with output_folder(out) as folder:
        write_csv(result.scores(), folder / "scores.csv")
        write_csv(result.allocation(), folder / "allocation.csv")
        write_json(summary(result), folder / "summary.json")
        timings = {
            "read_seconds": round(read_done - started, 3),
            "run_seconds": round(run_done - read_done, 3),
            "solver_seconds": {
                s.stage.id: round(s.allocation.wall_time, 3) for s in result.stages if s.allocation is not None
            },
        }
        _write_manifest(folder, inputs.paths, program.config.seed, command, timings)
    return result


def score_program(path: str | Path, out: str | Path, *, command: Sequence[str] = ()) -> pd.DataFrame:
    """Check eligibility and score the program's applications; write ``scores.csv``."""
    program = load_program(path)
    inputs = read_inputs(program)
    apps, eligibility, scoring = score_applications(
        program, inputs.applications, inputs.reviews, sources=_sources(inputs)
    )
    identity = apps[["application_id", "organisation", "region", "domain", "requested_amount"]]
    scores = pd.concat(
        [identity, eligibility.table.drop(columns="application_id"), scoring.table.drop(columns="application_id")],
        axis=1,
    )
    with output_folder(out) as folder:
        write_csv(scores, folder / "scores.csv")
        _write_manifest(folder, inputs.paths, program.config.seed, command, {})
    return scores


def allocate_file(
    candidates_path: str | Path,
    config_path: str | Path,
    out: str | Path,
    *,
    currency: str = "MAD",
    command: Sequence[str] = (),
) -> AllocationResult:
    """Allocate from a candidates table and an allocation YAML (a stage's ``select`` block).

    A ``ranked`` column, when the table has one (as ``scores.csv`` does), keeps
    unranked rows out of the selection. Rows are taken in ``rank`` order when
    there is a ``rank`` column, otherwise in file order.
    """
    candidates_path, config_path = Path(candidates_path), Path(config_path)
    config = load_model(config_path, AllocationConfig)
    table = read_table(candidates_path)
    try:
        candidates = parse_candidates(table, config)
        result = allocate(candidates, config, currency=currency)
    except InputDataError as exc:
        raise exc.with_file(str(candidates_path)) from None
    except SelectionError as exc:
        # Infeasibility and solver limits concern the allocation file's constraints.
        raise exc.with_file(str(config_path)) from None
    with output_folder(out) as folder:
        write_csv(result.table, folder / "allocation.csv")
        write_json(result.to_summary(), folder / "summary.json")
        _write_manifest(
            folder,
            {"candidates": candidates_path, "config": config_path},
            config.solver.seed,
            command,
            {"solver_seconds": round(result.wall_time, 3)},
        )
    return result


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Python's version and each package's ("not installed" when absent)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _write_manifest(
    folder: Path,
    inputs: Mapping[str, Path],
    seed: int,
    command: Sequence[str],
    timings: Mapping[str, Any],
) -> None:
    outputs = {p.name: sha256_of(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST}
    manifest = {
        "inputs": {name: {"path": str(path), "sha256": sha256_of(path)} for name, path in inputs.items()},
        "outputs": outputs,
        "versions": package_versions(),
        "seed": seed,
        "command": list(command) if command else list(sys.argv),
        # Clock fields: the only ones that differ between two runs of the same inputs.
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "timings": dict(timings),
    }
    write_json(manifest, folder / MANIFEST)
