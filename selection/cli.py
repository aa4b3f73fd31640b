"""The ``selection`` command: a thin layer over the library.

Each command parses its arguments, calls one library function and prints its
result; a :class:`~selection.errors.SelectionError` is printed as one
paragraph (file, line or row, field, what was expected, a suggestion) with a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from selection import __version__
from selection.errors import InfeasibleError, SelectionError, SolverLimitError
from selection.report import format_money, format_summary

__all__ = ["main", "build_parser", "without_hugepage_advice", "EXIT_INPUT", "EXIT_INFEASIBLE"]

#: Exit code for a mistake in the inputs or the configuration.
EXIT_INPUT = 2
#: Exit code when the constraints cannot hold or the solver ran out of time.
EXIT_INFEASIBLE = 3

_RUN_EXAMPLE = """example:
  selection run examples/tamuri --out runs/tamuri

Reads PROGRAM/program.yaml, its rubric and input files, runs every stage of
the funnel and writes scores.csv, allocation.csv, summary.json and
manifest.json into the output folder (replaced if it holds an earlier run)."""

_VALIDATE_EXAMPLE = """example:
  selection validate examples/tamuri

Checks the program, the rubric and every input table (all problems at once)
and runs the funnel without writing anything."""

_SCORE_EXAMPLE = """example:
  selection score examples/tamuri --out runs/tamuri-scores

Checks eligibility and scores every application; writes scores.csv and
manifest.json."""

_ALLOCATE_EXAMPLE = """example:
  selection allocate runs/tamuri-scores/scores.csv --config allocation.yaml --out runs/alloc

ALLOCATION.yaml holds the same keys as a stage's `select:` block of a program
(merit, budget, grant, count, groups, solver). CANDIDATES is a .csv, .xlsx or
.parquet table with application_id, the merit column and requested_amount when
money is allocated; a `ranked` column (as in scores.csv) keeps unranked rows
out. Writes allocation.csv, summary.json and manifest.json."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selection",
        description="Score grant applications and allocate seed grants: fair scoring, "
        "provably optimal allocation, every decision explained.",
    )
    parser.add_argument("--version", action="version", version=f"selection {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=help, epilog=example,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    run = command("run", "Run the whole funnel of a program and write its outputs.", _RUN_EXAMPLE)
    run.add_argument("program", metavar="PROGRAM", help="program folder (holding program.yaml) or file")
    run.add_argument("--out", required=True, metavar="DIR", help="output folder")
    run.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the summary (default: fr)")
    run.add_argument("--quiet", action="store_true", help="print nothing on success")

    validate = command("validate", "Check a program and its inputs without writing anything.",
                       _VALIDATE_EXAMPLE)
    validate.add_argument("program", metavar="PROGRAM", help="program folder or file")
    validate.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the report")

    score = command("score", "Check eligibility and score the applications of a program.", _SCORE_EXAMPLE)
    score.add_argument("program", metavar="PROGRAM", help="program folder or file")
    score.add_argument("--out", required=True, metavar="DIR", help="output folder")

    allocate = command("allocate", "Select and allocate from a candidates table under constraints.",
                       _ALLOCATE_EXAMPLE)
    allocate.add_argument("candidates", metavar="CANDIDATES", help="candidates table (.csv, .xlsx, .parquet)")
    allocate.add_argument("--config", required=True, metavar="ALLOCATION.yaml", help="allocation block")
    allocate.add_argument("--out", required=True, metavar="DIR", help="output folder")
    allocate.add_argument("--currency", default="MAD", help="currency shown in sentences (default: MAD)")
    return parser


class _Progress:
    """Step names on one refreshed line of a terminal's stderr; silent when piped."""

    _STEPS = {
        "fr": {"read": "lecture des fichiers", "scoring": "éligibilité et notation", "write": "écriture des résultats"},
        "en": {"read": "reading files", "scoring": "eligibility and scoring", "write": "writing outputs"},
    }

    def __init__(self, lang: str, stream: TextIO) -> None:
        self.lang, self.stream = lang, stream
        self.active = stream.isatty()

    def __call__(self, step: str) -> None:
        if self.active:
            label = self._STEPS[self.lang].get(step, ("étape " if self.lang == "fr" else "stage ") + step)
            self.stream.write(f"\r\033[K… {label}")
            self.stream.flush()

    def done(self) -> None:
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _run(args: argparse.Namespace, argv: Sequence[str]) -> None:
    from selection.runner import run_program

    progress = _Progress(args.lang, sys.stderr)
    try:
        result = run_program(args.program, args.out, command=["selection", *argv], progress=progress)
    finally:
        progress.done()
    if not args.quiet:
        print(format_summary(result, args.lang))
        print()
        print(("Résultats écrits dans " if args.lang == "fr" else "Outputs written to ") + str(args.out))


def _validate(args: argparse.Namespace, argv: Sequence[str]) -> None:
    from selection.runner import validate_program

    program, inputs, result = validate_program(args.program)
    fr = args.lang == "fr"
    counts = {
        "applications": len(inputs.applications),
        "reviews": len(inputs.reviews),
        "reviewers": 0 if inputs.reviewers is None else len(inputs.reviewers),
    }
    if fr:
        print(f"{program.source} : valide — {counts['applications']} candidatures, {counts['reviews']} "
              f"lignes d'évaluation, {counts['reviewers']} évaluateurs, {len(program.config.stages)} étapes.")
    else:
        print(f"{program.source}: valid — {counts['applications']} applications, {counts['reviews']} "
              f"review rows, {counts['reviewers']} reviewers, {len(program.config.stages)} stages.")
    print(format_summary(result, args.lang))


def _score(args: argparse.Namespace, argv: Sequence[str]) -> None:
    from selection.runner import score_program

    scores = score_program(args.program, args.out, command=["selection", *argv])
    print(f"{int(scores['eligible'].sum())} eligible of {len(scores)} applications, "
          f"{int(scores['ranked'].sum())} ranked; scores written to {args.out}")


def _allocate(args: argparse.Namespace, argv: Sequence[str]) -> None:
    from selection.runner import allocate_file

    result = allocate_file(args.candidates, args.config, args.out, currency=args.currency,
                           command=["selection", *argv])
    spent = f", {format_money(result.spend, args.currency, 'en')}" if result.budget is not None else ""
    print(f"{result.status}: {result.count} selected{spent}, "
          f"objective {result.objective_name} {result.objective:.3f} "
          f"(bound {result.best_bound:.3f}); written to {args.out}")


_COMMANDS = {"run": _run, "validate": _validate, "score": _score, "allocate": _allocate}


def without_hugepage_advice() -> bool:
    """Stop numpy advising huge pages for its large arrays in this process,
    unless ``NUMPY_MADVISE_HUGEPAGE`` says otherwise; True when it is stopped.

    On Linux, numpy asks for transparent huge pages for every large array.
    Where the kernel's ``transparent_hugepage/defrag`` is ``madvise`` (a
    common default), each page fault in such an array may then wait for the
    kernel to compact memory. Reading and scoring a million applications
    allocates a few gigabytes of short-lived arrays: over ten runs each, in
    turns, 6.2-8.8 s (median 7.5) with the advice and 5.3-8.2 s (median 6.0)
    without, with half as much time in the kernel. At 100,000 it made no
    difference. The command line owns its process, so it decides; the
    library leaves numpy's setting to the programs that import it (set the
    variable to 0 there).
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False  # the user's choice, which numpy read at import
    from numpy._core import multiarray

    advise = getattr(multiarray, "_set_madvise_hugepage", None)
    if advise is None:  # pragma: no cover - not in this numpy
        return False
    advise(False)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``selection`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    without_hugepage_advice()
    try:
        _COMMANDS[args.command](args, argv)
    except (InfeasibleError, SolverLimitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except SelectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        # The reader went away (``selection validate ... | head``): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
