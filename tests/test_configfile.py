"""YAML configuration: every problem at once, located by file, line and key."""

import pytest
from pydantic import BaseModel, ConfigDict

from selection.configfile import load_model, load_model_text
from selection.errors import ConfigError


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: int | None = None
    max: int | None = None


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget: int
    grant: Inner = Inner()
    names: list[str] = []


def test_valid_text_gives_the_model():
    model = load_model_text("budget: 5\ngrant:\n  min: 1\n", Outer, file="x.yaml")
    assert model.budget == 5 and model.grant.min == 1


def test_unknown_nested_key_is_located_and_suggested():
    with pytest.raises(ConfigError) as caught:
        load_model_text("budget: 5\ngrant:\n  minn: 1\n", Outer, file="x.yaml")
    assert str(caught.value) == (
        "x.yaml, line 3, field 'grant.minn': unknown key. Suggestion: did you mean 'min'?"
    )


def test_every_problem_is_reported_in_file_order():
    text = "names: [a, b]\ngrant:\n  max: lots\nbudjet: 5\n"
    with pytest.raises(ConfigError) as caught:
        load_model_text(text, Outer, file="x.yaml")
    error = caught.value
    assert [(p.line, p.field) for p in error.problems] == [
        (1, "budget"),
        (3, "grant.max"),
        (4, "budjet"),
    ]
    assert error.problems[2].suggestion == "did you mean 'budget'?"
    assert str(error).startswith("3 problems found:\n  - x.yaml, line 1, field 'budget': required key is missing")


def test_repeated_key_is_an_error():
    with pytest.raises(ConfigError) as caught:
        load_model_text("budget: 5\nbudget: 6\n", Outer, file="x.yaml")
    assert str(caught.value) == (
        "x.yaml, line 2, field 'budget': key is given twice (first on line 1). "
        "Suggestion: keep one of the two"
    )


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(ConfigError) as caught:
        load_model_text("budget: 5\ngrant: [1, 2\n", Outer, file="x.yaml")
    assert caught.value.file == "x.yaml"
    assert caught.value.line == 3
    assert "not valid YAML" in str(caught.value)


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match="mapping of keys to values"):
        load_model_text("- 1\n- 2\n", Outer, file="x.yaml")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_model(tmp_path / "nope.yaml", Outer)
    assert caught.value.code == "not_found"
    assert str(caught.value).endswith("file not found. Suggestion: check the path; it is resolved from the current folder")


def test_yaml_is_never_executed():
    # The safe loader refuses python-specific tags instead of constructing objects.
    with pytest.raises(ConfigError):
        load_model_text("budget: !!python/object/apply:os.system ['true']\n", Outer, file="x.yaml")
