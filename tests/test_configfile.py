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


# --- the one-walk reader against PyYAML's constructor and the line index ----

import yaml  # noqa: E402

from selection import configfile  # noqa: E402


def _reference(text):
    """What read_yaml gave before its one-walk reader: PyYAML's data, then the lines."""
    loader = configfile._LOADER(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    lines, problems = {}, []
    if root is not None:
        configfile._index_lines(root, (), lines, problems, "f.yaml")
    return data, lines, problems


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [x, 2, 3.5, true, null, 2022-03-29]\nc:\n  d: {e: f}\n  levels:\n    1: un\n    2: deux\n",
        "- a\n- {b: 1}\n- [c, d]\n",
        "name: 'quoted'\nblock: |\n  two\n  lines\nempty:\nother: ~\n",
        "base: &b {x: 1}\nfirst: *b\nsecond: *b\n",  # aliases of a mapping: PyYAML builds it
        "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",  # a merge key: PyYAML builds it
        "s: !!set {a, b}\nt: !!str 12\n",  # other tags
        "? [a, b]\n: 1\n",  # a key that is not a scalar
        "",
        "just text\n",
    ],
)
def test_one_walk_gives_pyyaml_data_and_the_lines(text):
    try:
        expected = _reference(text)
    except yaml.YAMLError:
        with pytest.raises(ConfigError):
            configfile.read_yaml(text, file="f.yaml")
        return
    data, lines = configfile.read_yaml(text, file="f.yaml")
    assert (data, lines) == expected[:2]
    assert type(data) is type(expected[0])


def test_one_walk_reports_repeated_keys_as_the_index_did():
    text = "a: 1\nb:\n  c: 2\n  c: 3\na:\n  d: 4\n  d: 5\n"
    problems = _reference(text)[2]
    with pytest.raises(ConfigError) as caught:
        configfile.read_yaml(text, file="f.yaml")
    assert [(p.message, p.line, p.field) for p in caught.value.problems] == [
        (p.message, p.line, p.field) for p in problems
    ]


def test_one_walk_builds_the_value_of_a_repeated_key():
    # PyYAML builds every value before the repeated key is reported: a value
    # it cannot build is the error reported, as before.
    with pytest.raises(ConfigError) as caught:
        configfile.read_yaml("a: 1\na: !unknown x\n", file="f.yaml")
    assert caught.value.first.code == "yaml_syntax"
