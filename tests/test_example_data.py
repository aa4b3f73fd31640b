"""The TAMURI example data: reproducible from its generator, and true to its contract.

The files are read straight with pandas (not through ``selection.io``) so that
these tests check the data themselves, against ``program.yaml`` and the rubric.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tamuri"
RUBRIC = Path(__file__).resolve().parents[1] / "rubrics" / "tamuri.yaml"

# The five programme regions, from the most to the least applications.
REGIONS_BY_VOLUME = [
    "Casablanca-Settat",
    "Tanger-Tétouan-Al Hoceïma",
    "Souss-Massa",
    "L'Oriental",
    "Béni Mellal-Khénifra",
]
ELIGIBLE_STATUSES = {"Association", "Coopérative", "Fondation", "Réseau d'associations"}
ARABIC = re.compile(r"[\u0600-\u06FF]")


def fold(text: str) -> str:
    """Case, accents, punctuation and spaces folded away: "L’Oriental " -> "loriental"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", "", stripped.casefold())


def alias_table(entries: list[dict]) -> dict[str, str]:
    """Folded name or alias -> canonical name; fails on a folded name claimed twice."""
    table: dict[str, str] = {}
    for entry in entries:
        for spelling in [entry["name"], *entry.get("aliases", [])]:
            key = fold(spelling)
            assert table.setdefault(key, entry["name"]) == entry["name"], spelling
    return table


@pytest.fixture(scope="module")
def program() -> dict:
    return yaml.safe_load((EXAMPLE / "program.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def applications(program: dict) -> pd.DataFrame:
    apps = pd.read_csv(EXAMPLE / "applications.csv", keep_default_na=False)
    regions, domains = alias_table(program["regions"]), alias_table(program["domains"])
    apps["region"] = apps["Région"].map(lambda v: regions.get(fold(v)))
    apps["domain"] = apps["Domaine"].map(lambda v: domains.get(fold(v)))
    return apps


@pytest.fixture(scope="module")
def eligible(applications: pd.DataFrame, program: dict) -> pd.Series:
    """The rubric's five gates, recomputed from the export."""
    in_programme = {r["name"] for r in program["regions"] if r.get("in_programme", True)}
    apps = applications
    mask = (
        apps["region"].isin(in_programme)
        & apps["Montant demandé"].between(20000, 100000)
        & apps["Statut juridique"].isin(ELIGIBLE_STATUSES)
        & (program["constants"]["call_year"] - apps["Année de création"] >= 2)
        & (apps["Dossier complet"] == "oui")
        & (apps["Résumé"].str.strip() != "")
    )
    return mask.set_axis(apps["N° dossier"])


@pytest.fixture(scope="module")
def reviewers() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE / "reviewers.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE / "reviews.csv", keep_default_na=False)


def test_generator_reproduces_the_committed_files() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "generate.py"), "--check"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_files_are_utf8_without_bom_with_unix_line_ends() -> None:
    for name in ["applications.csv", "reviewers.csv", "reviews.csv"]:
        data = (EXAMPLE / name).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf"), name
        assert b"\r\n" not in data, name
        data.decode("utf-8")


def test_applications_have_the_mapped_columns_and_unique_ids(
        applications: pd.DataFrame, program: dict) -> None:
    assert list(applications.columns[:15]) == list(program["columns"].values())
    assert len(applications) == 2400
    assert applications["N° dossier"].is_unique
    assert applications["N° dossier"].str.fullmatch(r"TAM-2022-\d{4}").all()


def test_every_region_and_domain_spelling_is_a_name_or_alias(applications: pd.DataFrame) -> None:
    unknown_regions = applications.loc[applications["region"].isna(), "Région"]
    assert unknown_regions.empty, sorted(set(unknown_regions))
    typed = applications["Domaine"].str.strip() != ""
    unknown_domains = applications.loc[typed & applications["domain"].isna(), "Domaine"]
    assert unknown_domains.empty, sorted(set(unknown_domains))
    assert 0.01 < (~typed).mean() < 0.05
    # Messy, but mostly canonical.
    assert 0.6 < (applications["Région"] == applications["region"]).mean() < 0.8


def test_region_volumes_follow_the_programme(applications: pd.DataFrame) -> None:
    counts = applications["region"].value_counts()
    volumes = [counts[r] for r in REGIONS_BY_VOLUME]
    assert volumes == sorted(volumes, reverse=True)
    assert 700 <= volumes[0] <= 800 and 200 <= volumes[-1] <= 300
    outside = len(applications) - sum(volumes)
    assert 100 <= outside < volumes[-1]


def test_amounts_are_integers_and_a_few_are_out_of_bounds(applications: pd.DataFrame) -> None:
    amount = applications["Montant demandé"]
    assert pd.api.types.is_integer_dtype(amount)
    assert 0.025 < (~amount.between(20000, 100000)).mean() < 0.055
    assert (amount % 1000 == 0).all()


def test_other_fields_are_well_formed(applications: pd.DataFrame) -> None:
    apps = applications
    for column in ["Dirigée par une femme", "Dirigée par des jeunes", "Dossier complet"]:
        assert set(apps[column]) == {"oui", "non"}, column
    dates = pd.to_datetime(apps["Date de dépôt"], format="%Y-%m-%d")
    assert dates.min() >= pd.Timestamp("2022-03-01") and dates.max() <= pd.Timestamp("2022-04-15")
    assert apps["Année de création"].between(1985, 2022).all()
    assert apps["Nombre de membres"].between(7, 400).all()
    assert set(apps["Langue"]) == {"fr", "ar", "en"}
    assert set(apps["Statut juridique"]) >= ELIGIBLE_STATUSES | {"Entreprise", "Groupement informel"}


def test_arabic_text_is_present_and_intact(applications: pd.DataFrame) -> None:
    arabic = applications[applications["Langue"] == "ar"]
    assert len(arabic) > 100
    assert arabic["Titre du projet"].str.contains(ARABIC).all()
    assert applications["Organisation"].str.contains("جمعية").any()
    assert not applications["Titre du projet"].str.contains("\ufffd").any()


def test_organisations_repeat_only_for_a_few_resubmissions(applications: pd.DataFrame) -> None:
    repeated = applications["Organisation"].value_counts()
    assert repeated.max() == 2
    assert 10 <= (repeated == 2).sum() <= 25


def test_eligible_share_is_realistic(eligible: pd.Series) -> None:
    assert 1300 <= eligible.sum() <= 1550


def test_reviews_cover_exactly_the_eligible_applications(
        reviews: pd.DataFrame, eligible: pd.Series) -> None:
    assert set(reviews["application_id"]) == set(eligible.index[eligible])


def test_each_application_has_one_to_three_reviewers(reviews: pd.DataFrame) -> None:
    per_application = reviews.groupby("application_id")["reviewer_id"].nunique()
    assert per_application.between(1, 3).all()
    assert 0 < (per_application == 1).mean() < 0.03  # a reviewer did not submit
    assert 0.2 < (per_application == 3).mean() < 0.4


def test_scores_cover_the_reviewer_criteria_on_the_scale(reviews: pd.DataFrame) -> None:
    rubric = yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))
    criteria = [c["id"] for c in rubric["criteria"] if c["source"] == "reviewers"]
    assert pd.api.types.is_integer_dtype(reviews["score"])
    assert reviews["score"].between(rubric["scale"]["min"], rubric["scale"]["max"]).all()
    per_pair = reviews.groupby(["application_id", "reviewer_id"])["criterion"].agg(list)
    assert per_pair.map(lambda c: c == criteria).all()
    assert 2.8 < reviews["score"].mean() < 3.2


def test_reviews_are_sorted(reviews: pd.DataFrame) -> None:
    # Within an (application, reviewer) pair, criteria follow the rubric (tested above).
    ordered = reviews.sort_values(["application_id", "reviewer_id"], kind="stable")
    assert ordered.index.equals(reviews.index)


def test_reviewers_expertise_uses_canonical_names(reviewers: pd.DataFrame, program: dict) -> None:
    assert len(reviewers) >= 30 and reviewers["reviewer_id"].is_unique
    regions = {r["name"] for r in program["regions"]}
    domains = {d["name"] for d in program["domains"]}
    assert all(set(v.split(";")) <= regions for v in reviewers["regions"])
    assert all(set(v.split(";")) <= domains for v in reviewers["domains"])


def test_conflicts_name_applicants_and_are_respected(
        reviews: pd.DataFrame, reviewers: pd.DataFrame, applications: pd.DataFrame) -> None:
    conflicts = {
        r: set(c.split(";")) - {""} for r, c in zip(reviewers["reviewer_id"], reviewers["conflicts"])}
    named = set().union(*conflicts.values())
    assert named and named <= set(applications["Organisation"])
    organisation = applications.set_index("N° dossier")["Organisation"]
    pairs = reviews[["application_id", "reviewer_id"]].drop_duplicates()
    clashes = [(a, r) for a, r in zip(pairs["application_id"], pairs["reviewer_id"])
               if organisation[a] in conflicts[r]]
    assert clashes == []


def test_no_reviewer_is_over_capacity(reviews: pd.DataFrame, reviewers: pd.DataFrame) -> None:
    load = reviews.groupby("reviewer_id")["application_id"].nunique()
    capacity = reviewers.set_index("reviewer_id")["capacity"]
    assert (load <= capacity.reindex(load.index)).all()
    assert capacity.sum() > 1.2 * load.sum()
