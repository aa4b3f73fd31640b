"""The examples in the docstrings and in the README run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re

import pytest
from conftest import ROOT

import selection

MODULES = sorted(
    info.name for info in pkgutil.iter_modules(selection.__path__, "selection.") if info.name != "selection.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


def test_readme_python_example_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["result"].final.kept_count == 19
    assert namespace["grants"].status == "OPTIMAL"


def test_readme_quickstart_has_exactly_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quickstart\n.*?```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert commands == [
        "pip install -e . && selection run examples/tamuri --out runs/tamuri",
        "pip install -e '.[test]' && pytest",
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install" in ci and "-e '.[test]'" in ci and "pytest" in ci
