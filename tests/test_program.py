"""Program and rubric files: validation with file, line and key; cross-checks."""

import pytest
from conftest import EXAMPLE, RUBRIC, edit

from selection.errors import ConfigError
from selection.program import load_program
from selection.rubric import load_rubric


def test_tamuri_program_loads():
    program = load_program(EXAMPLE)
    assert program.currency == "MAD"
    assert len(program.programme_regions) == 5
    assert [s.id for s in program.config.stages] == ["screening", "incubation", "funding_eligible", "grants"]
    grants = program.stage("grants").select
    assert grants.budget == 850_000 and grants.count.max == 19
    assert program.constants["call_year"] == 2022


def test_tamuri_rubric():
    rubric = load_rubric(RUBRIC)
    assert [g.id for g in rubric.eligibility] == ["region", "montant", "statut", "anciennete", "dossier"]
    assert sum(c.weight for c in rubric.criteria) == 100
    assert [c.id for c in rubric.formula_criteria] == ["ancrage"]
    assert all(c.levels for c in rubric.criteria)
    assert all(g.reason.fr and g.reason.en for g in rubric.eligibility)


def test_unknown_stage_key_with_suggestion(small_program):
    edit(small_program / "program.yaml", "    eligibility: true", "    eligibilty: true")
    with pytest.raises(ConfigError) as caught:
        load_program(small_program)
    first = caught.value.problems[0]
    assert (first.line, first.field, first.message, first.suggestion) == (
        17, "stages[0].eligibilty", "unknown key", "did you mean 'eligibility'?"
    )


def test_from_must_name_an_earlier_stage(small_program):
    edit(small_program / "program.yaml", "    from: screening", "    from: screenin")
    with pytest.raises(ConfigError) as caught:
        load_program(small_program)
    assert str(caught.value) == (
        f"{small_program / 'program.yaml'}, line 19, field 'stages[1].from': 'screenin' is not an earlier "
        "stage. Suggestion: did you mean 'screening'?"
    )


def test_rule_syntax_error_is_located_in_the_rubric(small_program):
    edit(small_program / "rubric.yaml", "requested_amount >= 20000 and", "requested_amount >= and")
    with pytest.raises(ConfigError) as caught:
        load_program(small_program)
    problem = caught.value.problems[0]
    assert problem.file.endswith("rubric.yaml")
    assert (problem.line, problem.field) == (5, "eligibility[0].rule")
    assert problem.message.startswith('cannot parse expression "requested_amount >= and')


def test_forbidden_construct_in_formula(small_program):
    edit(small_program / "rubric.yaml", "    weight: 1\n", "    weight: 1\n    source: formula\n    formula: __import__('os')\n")
    with pytest.raises(ConfigError, match="'__import__' is not an allowed function"):
        load_program(small_program)


def test_missing_rubric_file(small_program):
    edit(small_program / "program.yaml", "rubric: rubric.yaml", "rubric: grille.yaml")
    with pytest.raises(ConfigError) as caught:
        load_program(small_program)
    assert caught.value.field == "rubric" and caught.value.line == 3
    assert "rubric file 'grille.yaml' not found" in str(caught.value)


def test_alias_shared_by_two_regions(small_program):
    edit(small_program / "program.yaml", '{name: "Souss-Massa"}', '{name: "Souss-Massa", aliases: [oriental]}')
    with pytest.raises(ConfigError, match="is also a spelling of"):
        load_program(small_program)


def test_stage_that_does_nothing(small_program):
    edit(small_program / "program.yaml", "    eligibility: true", "    label: {fr: Rien, en: Nothing}")
    with pytest.raises(ConfigError, match="stage 'screening' does nothing"):
        load_program(small_program)


def test_vocabularies_are_built_once(small_program):
    program = load_program(small_program)
    assert program.regions() is program.regions()
    assert program.domains() is program.domains()


def test_inputs_are_read_together_and_problems_come_in_file_order(small_program):
    from selection.errors import InputDataError
    from selection.runner import read_inputs

    program = load_program(small_program)
    inputs = read_inputs(program)
    assert list(inputs.paths) == ["program", "rubric", "applications", "reviews"]
    assert len(inputs.applications) and len(inputs.reviews)
    assert str(inputs.reviews["application_id"].dtype) == "category"
    # A problem in the reviews (read in a thread) reaches the caller as it is.
    reviews = inputs.paths["reviews"]
    reviews.write_text('application_id,reviewer_id\n"A,R1\n', encoding="utf-8")
    with pytest.raises(InputDataError) as caught:
        read_inputs(program)
    assert caught.value.problems[0].file == str(reviews)
    # Both files wrong: the applications' problem is the one reported.
    inputs.paths["applications"].unlink()
    with pytest.raises(InputDataError) as caught:
        read_inputs(program)
    assert caught.value.problems[0].file == str(inputs.paths["applications"])
    assert caught.value.problems[0].code == "not_found"
