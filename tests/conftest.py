"""Shared fixtures: the bundled TAMURI example and small programs written on the fly."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays the same examples every run (a failure there is reproducible, never
# luck); on a developer's machine hypothesis explores new examples each time.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tamuri"
RUBRIC = ROOT / "rubrics" / "tamuri.yaml"


@pytest.fixture(autouse=True)
def _run_from_root(monkeypatch):
    """Tests see paths as a user at the project root does."""
    monkeypatch.chdir(ROOT)


SMALL_RUBRIC = """\
id: small
title: {fr: Petite grille, en: Small rubric}
eligibility:
  - id: montant
    rule: requested_amount >= 20000 and requested_amount <= 100000
    reason: {fr: Montant hors bornes., en: Amount out of bounds.}
criteria:
  - id: qualite
    label: {fr: Qualité, en: Quality}
    weight: 3
  - id: impact
    label: {fr: Impact, en: Impact}
    weight: 1
min_reviews: 1
"""

SMALL_PROGRAM = """\
name: Petit programme
currency: MAD
rubric: rubric.yaml
inputs:
  applications: applications.csv
  reviews: reviews.csv
columns:
  application_id: "N° dossier"
  organisation: Organisation
  region: "Région"
  requested_amount: "Montant demandé"
regions:
  - {name: "L'Oriental", aliases: [Oriental]}
  - {name: "Souss-Massa"}
stages:
  - id: screening
    eligibility: true
  - id: grants
    from: screening
    select:
      budget: 100000
      grant: {min: 20000, max: 100000}
      groups:
        - column: region
          min_count: 1
"""

SMALL_APPLICATIONS = """\
N° dossier,Organisation,Région,Montant demandé,Titre du projet,Résumé
A1,Association Amal,Oriental,40000,Santé,Un projet.
A2,Coopérative Tifawin,Souss-Massa,60000,Eau,Un projet.
A3,جمعية الأمل,L'Oriental,30000,التعليم,مشروع.
A4,Fondation Nour,Souss-Massa,150000,Trop cher,Un projet.
"""

SMALL_REVIEWS = """\
application_id,reviewer_id,criterion,score,comment
A1,R1,qualite,5,Très bien
A1,R1,impact,4,
A2,R1,qualite,3,
A2,R1,impact,3,
A3,R2,qualite,4,
A3,R2,impact,5,
"""


@pytest.fixture
def small_program(tmp_path) -> Path:
    """A four-application program folder; tests edit its files to make mistakes."""
    folder = tmp_path / "small"
    folder.mkdir()
    for name, text in {
        "rubric.yaml": SMALL_RUBRIC,
        "program.yaml": SMALL_PROGRAM,
        "applications.csv": SMALL_APPLICATIONS,
        "reviews.csv": SMALL_REVIEWS,
    }.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


