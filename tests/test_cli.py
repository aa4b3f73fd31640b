"""The command line: exact error text for a user's mistakes, and documented commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, edit

from selection.cli import EXIT_INFEASIBLE, EXIT_INPUT, build_parser, main


@pytest.fixture(autouse=True)
def numpy_advice_restored():
    """main() sets numpy's huge-page advice for its process: not for the tests after."""
    from numpy._core import multiarray

    before = multiarray._set_madvise_hugepage(True)
    multiarray._set_madvise_hugepage(before)
    yield
    multiarray._set_madvise_hugepage(before)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_on_small_program(capsys, small_program, tmp_path):
    code, out, err = cli(capsys, "run", str(small_program), "--out", str(tmp_path / "out"))
    assert (code, err) == (0, "")
    assert "grants : 2 subventions, 100\u202f000 MAD sur 100\u202f000 MAD" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "allocation.csv", "manifest.json", "scores.csv", "summary.json",
    ]


def test_bad_yaml_key(capsys, small_program, tmp_path):
    edit(small_program / "program.yaml", "      budget: 100000", "      budjet: 100000")
    code, out, err = cli(capsys, "run", str(small_program), "--out", str(tmp_path / "out"))
    assert code == EXIT_INPUT
    assert err == (
        f"error: {small_program / 'program.yaml'}, line 21, field 'stages[1].select.budjet': "
        "unknown key. Suggestion: did you mean 'budget'?\n"
    )
    assert not (tmp_path / "out").exists()


def test_unknown_region(capsys, small_program):
    edit(small_program / "applications.csv", "Tifawin,Souss-Massa", "Tifawin,Sous-Masa")
    code, _, err = cli(capsys, "validate", str(small_program))
    assert code == EXIT_INPUT
    assert err == (
        f"error: {small_program / 'applications.csv'}, row 3, field 'Région': unknown region 'Sous-Masa'. "
        "Suggestion: did you mean 'Souss-Massa'? Otherwise add 'Sous-Masa' to the aliases of a region "
        "in the program file\n"
    )


def test_duplicate_application_id(capsys, small_program):
    edit(small_program / "applications.csv", "A2,Coopérative", "A1,Coopérative")
    code, _, err = cli(capsys, "validate", str(small_program))
    assert code == EXIT_INPUT
    assert err == (
        f"error: {small_program / 'applications.csv'}, row 3, field 'N° dossier': identifier 'A1' is used "
        "twice (first on row 2). Suggestion: identifiers must be unique; remove or renumber the duplicate\n"
    )


def test_missing_column(capsys, small_program):
    edit(small_program / "applications.csv", "Montant demandé", "Montant")
    code, _, err = cli(capsys, "validate", str(small_program))
    assert code == EXIT_INPUT
    assert err == (
        f"error: {small_program / 'applications.csv'}, row 1, field 'Montant demandé': column "
        "'Montant demandé' (mapped to requested_amount) is missing. Suggestion: did you mean 'Montant'?\n"
    )


def test_amount_that_is_not_a_number(capsys, small_program):
    edit(small_program / "applications.csv", "Souss-Massa,60000", "Souss-Massa,soixante mille")
    code, _, err = cli(capsys, "validate", str(small_program))
    assert code == EXIT_INPUT
    assert err == (
        f"error: {small_program / 'applications.csv'}, row 3, field 'Montant demandé': 'soixante mille' "
        "is not an amount. Suggestion: write digits only, e.g. 45000\n"
    )


def test_several_problems_reported_together(capsys, small_program):
    edit(small_program / "applications.csv", "Souss-Massa,60000", "Sous-Masa,soixante mille")
    code, _, err = cli(capsys, "validate", str(small_program))
    assert code == EXIT_INPUT
    assert err.startswith("error: 2 problems found:\n")
    assert "unknown region 'Sous-Masa'" in err and "'soixante mille' is not an amount" in err


def test_unknown_name_in_rule_points_at_the_rubric(capsys, small_program):
    edit(small_program / "rubric.yaml", "rule: requested_amount >= 20000", "rule: requested_amont >= 20000")
    code, _, err = cli(capsys, "validate", str(small_program))
    assert code == EXIT_INPUT
    assert err == (
        f"error: {small_program / 'rubric.yaml'}, line 5, field 'eligibility[0].rule': unknown name "
        "'requested_amont' in \"requested_amont >= 20000 and requested_amount <= 100000\". "
        "Suggestion: did you mean 'requested_amount'?\n"
    )


def test_infeasible_stage_is_explained(capsys, small_program, tmp_path):
    edit(small_program / "program.yaml", "          min_count: 1", "          min_count: 3")
    code, _, err = cli(capsys, "run", str(small_program), "--out", str(tmp_path / "out"))
    assert code == EXIT_INFEASIBLE
    assert err.startswith(f"error: {small_program / 'program.yaml'}, line 18, field 'stages[1]': stage 'grants': ")
    assert "L'Oriental" in err and "at least 3" in err
    assert not (tmp_path / "out").exists()


def test_missing_program_folder(capsys, tmp_path):
    code, _, err = cli(capsys, "validate", str(tmp_path / "nowhere"))
    assert code == EXIT_INPUT
    assert err == (
        f"error: {tmp_path / 'nowhere'}: file not found. Suggestion: give a program folder holding "
        "program.yaml, or the path of a program file\n"
    )


def test_output_folder_that_is_not_a_run_is_not_overwritten(capsys, small_program, tmp_path):
    out = tmp_path / "documents"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    code, _, err = cli(capsys, "run", str(small_program), "--out", str(out))
    assert code == EXIT_INPUT
    assert "not empty and does not hold an earlier run" in err
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_score_then_allocate_from_scores(capsys, small_program, tmp_path):
    code, out, _ = cli(capsys, "score", str(small_program), "--out", str(tmp_path / "scores"))
    assert code == 0 and "3 eligible of 4 applications" in out
    config = tmp_path / "allocation.yaml"
    config.write_text("budget: 70000\ngrant: {min: 20000, max: 100000}\n", encoding="utf-8")
    code, out, err = cli(
        capsys, "allocate", str(tmp_path / "scores" / "scores.csv"), "--config", str(config),
        "--out", str(tmp_path / "alloc"),
    )
    assert (code, err) == (0, "")
    assert out.startswith("OPTIMAL: 2 selected, 70,000 MAD, objective total_merit ")
    summary = json.loads((tmp_path / "alloc" / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "OPTIMAL"


def test_allocate_config_error_names_the_file(capsys, small_program, tmp_path):
    config = tmp_path / "allocation.yaml"
    config.write_text("budget: 70000\ncount: {max: 2, maxi: 3}\n", encoding="utf-8")
    code, _, err = cli(
        capsys, "allocate", str(small_program / "applications.csv"), "--config", str(config),
        "--out", str(tmp_path / "alloc"),
    )
    assert code == EXIT_INPUT
    assert err == f"error: {config}, line 2, field 'count.maxi': unknown key. Suggestion: did you mean 'max'?\n"


def test_every_command_is_documented_with_an_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for name, sub in commands.items():
        assert f"selection {name}" in readme, f"README does not document 'selection {name}'"
        assert "example:" in (sub.epilog or ""), f"'selection {name} --help' has no example"


def test_python_dash_m_works():
    result = subprocess.run(
        [sys.executable, "-m", "selection", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0 and result.stdout.startswith("selection ")


@pytest.mark.parametrize("args", [["run"], ["allocate", "x.csv"], ["frobnicate"]])
def test_usage_errors_exit_non_zero(args, capsys):
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2


def test_review_by_an_unknown_reviewer(capsys, small_program):
    (small_program / "reviewers.csv").write_text(
        "reviewer_id,name,capacity,regions,domains,conflicts\nR1,Amina Alaoui,10,,,\n", encoding="utf-8"
    )
    edit(small_program / "program.yaml", "  reviews: reviews.csv\n", "  reviews: reviews.csv\n  reviewers: reviewers.csv\n")
    code, _, err = cli(capsys, "validate", str(small_program))
    assert code == EXIT_INPUT
    assert err == (
        f"error: 2 problems found:\n"
        f"  - {small_program / 'reviews.csv'}, row 6, field 'reviewer_id': reviewer 'R2' is not in the "
        "reviewers table. Suggestion: expected one of 'R1'\n"
        f"  - {small_program / 'reviews.csv'}, row 7, field 'reviewer_id': reviewer 'R2' is not in the "
        "reviewers table. Suggestion: expected one of 'R1'\n"
    )


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_progress_shows_on_a_terminal_and_stays_quiet_when_piped():
    from selection.cli import _Progress

    terminal, pipe = _Stream(True), _Stream(False)
    for stream in (terminal, pipe):
        progress = _Progress("fr", stream)
        for step in ("read", "scoring", "incubation", "write"):
            progress(step)
        progress.done()
    assert pipe.text == ""
    assert "… lecture des fichiers" in terminal.text and "… étape incubation" in terminal.text
    assert terminal.text.endswith("\r\x1b[K")


def test_allocate_from_the_example_scores(capsys, tmp_path):
    # scores.csv holds ineligible applications from regions outside the programme:
    # they are not candidates, so "at least 2 per region" concerns the five regions.
    code, _, _ = cli(capsys, "score", str(ROOT / "examples" / "tamuri"), "--out", str(tmp_path / "scores"))
    assert code == 0
    config = tmp_path / "allocation.yaml"
    config.write_text(
        "objective: rank_order\nbudget: 850000\ngrant: {min: 20000, max: 100000}\ncount: {max: 19}\n"
        "min_merit: 70.5\ngroups:\n  - {column: region, min_count: 2, max_money_share: 0.40}\n",
        encoding="utf-8",
    )
    code, out, err = cli(capsys, "allocate", str(tmp_path / "scores" / "scores.csv"), "--config", str(config),
                         "--out", str(tmp_path / "alloc"))
    assert (code, err) == (0, "")
    assert out.startswith("OPTIMAL: 19 selected, 843,000 MAD, objective rank_order ")


def test_the_command_line_stops_numpy_advising_huge_pages(monkeypatch):
    from numpy._core import multiarray

    from selection.cli import without_hugepage_advice

    multiarray._set_madvise_hugepage(True)
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    assert without_hugepage_advice() is False  # the user's choice stands
    assert multiarray._set_madvise_hugepage(True) is True
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
    assert without_hugepage_advice() is True
    assert multiarray._set_madvise_hugepage(True) is False  # it was off
