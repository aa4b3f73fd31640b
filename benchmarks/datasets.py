"""Synthetic program folders for the reading and scoring benchmarks.

:func:`write_program` writes, into a folder it is given (a temporary one,
never the repository), a program in the TAMURI format: ``applications.csv``
with the export's French column names and some of its messiness (region
aliases and case variants, amounts written "45 000", blank domains, regions
outside the programme), ``reviews.csv`` in long form with three reviewers per
application and six reviewer-scored criteria (18 review rows per application),
a ``rubric.yaml`` (TAMURI's, with its sixth criterion scored by reviewers
instead of a formula) and a ``program.yaml`` (TAMURI's, pointing at them).

Deterministic: numpy's PCG64 seeded with (SEED, n); the same ``n`` gives the
same bytes. Written with pyarrow's CSV writer, which is fast enough for a
million applications (about 18 million review rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tamuri"
RUBRIC = ROOT / "rubrics" / "tamuri.yaml"
SEED = 2022
REVIEWERS_PER_APPLICATION = 3

# Spellings as a real export has them: canonical names, listed aliases, case
# and accent variants; the last four regions are outside the programme.
_REGIONS = [
    "Casablanca-Settat", "Casa-Settat", "casablanca settat",
    "Tanger-Tétouan-Al Hoceïma", "TTA", "Tanger Tetouan Al Hoceima",
    "L'Oriental", "Oriental", "l oriental",
    "Souss-Massa", "Agadir", "SOUSS MASSA",
    "Béni Mellal-Khénifra", "BMK", "beni mellal khenifra",
    "Rabat-Salé-Kénitra", "Marrakech-Safi", "Fès-Meknès", "Drâa-Tafilalet",
]
_REGION_P = np.array([7, 1, 1, 6, 1, 1, 3, 1, 1, 5, 1, 1, 4, 1, 1, 1, 1, 1, 1], dtype=float)
_DOMAINS = ["Santé", "éducation", "Environnement", "droits humains", "Culture",
            "économie sociale", "Jeunesse", ""]
_STATUS = ["Association", "Coopérative", "Fondation", "Réseau d'associations", "SARL"]
_STATUS_P = [0.7, 0.12, 0.06, 0.07, 0.05]
_LANGUAGES = ["fr", "ar", "en"]


def write_program(folder: Path, n: int) -> Path:
    """Write a program with ``n`` applications into ``folder``; return ``folder``.

    Skipped when ``folder`` already holds the complete program for ``n``.
    """
    folder = Path(folder)
    done = folder / ".complete"
    if done.exists() and done.read_text() == str(n):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([SEED, n])
    ids = _applications(folder / "applications.csv", n, rng)
    _reviews(folder / "reviews.csv", ids, rng)
    _rubric(folder / "rubric.yaml")
    _program(folder / "program.yaml")
    done.write_text(str(n))
    return folder


def _write(table: pa.Table, path: Path) -> None:
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))


def _applications(path: Path, n: int, rng: np.random.Generator) -> np.ndarray:
    number = np.arange(1, n + 1)
    ids = np.char.add("TAM-B-", np.char.zfill(number.astype(str), 7))
    region = np.array(_REGIONS, dtype=object)[
        rng.choice(len(_REGIONS), size=n, p=_REGION_P / _REGION_P.sum())
    ]
    domain = np.array(_DOMAINS, dtype=object)[rng.integers(0, len(_DOMAINS), n)]
    amount = rng.integers(2, 25, n) * 5_000
    amount_text = amount.astype(str).astype(object)
    spaced = rng.random(n) < 0.1  # "45 000", as people type it
    amount_text[spaced] = [f"{a:,}".replace(",", " ") for a in amount[spaced]]
    founded = rng.integers(1985, 2022, n)
    members = rng.integers(3, 300, n)
    yes_no = np.array(["oui", "non"], dtype=object)
    summary = np.char.add("Projet communautaire numéro ", number.astype(str)).astype(object)
    summary[rng.random(n) < 0.03] = None
    day = rng.integers(0, 60, n)
    submitted = (np.datetime64("2022-03-01") + day).astype(str)
    table = pa.table(
        {
            "N° dossier": ids,
            "Organisation": np.char.add("Association ", number.astype(str)),
            "Région": region,
            "Domaine": domain,
            "Montant demandé": amount_text,
            "Titre du projet": np.char.add("Projet ", number.astype(str)),
            "Résumé": summary,
            "Année de création": founded.astype(str),
            "Statut juridique": np.array(_STATUS, dtype=object)[
                rng.choice(len(_STATUS), size=n, p=_STATUS_P)
            ],
            "Nombre de membres": members.astype(str),
            "Dirigée par une femme": yes_no[rng.integers(0, 2, n)],
            "Dirigée par des jeunes": yes_no[rng.integers(0, 2, n)],
            "Dossier complet": yes_no[(rng.random(n) < 0.08).astype(int)],
            "Date de dépôt": submitted,
            "Langue": np.array(_LANGUAGES, dtype=object)[rng.integers(0, 3, n)],
        }
    )
    _write(table, path)
    return ids


def _reviews(path: Path, ids: np.ndarray, rng: np.random.Generator) -> None:
    n = len(ids)
    criteria = [c["id"] for c in yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))["criteria"]]
    pool = max(40, n // 60)
    reviewer_ids = np.char.add("R", np.char.zfill(np.arange(1, pool + 1).astype(str), 5))
    # Three distinct reviewers per application: a random first one, then the
    # next two in the pool (mod pool).
    first = rng.integers(0, pool, n)
    reviewers = (first[:, None] + np.arange(REVIEWERS_PER_APPLICATION)[None, :]) % pool
    k = len(criteria)
    quality = rng.normal(3.0, 0.8, n)
    severity = rng.normal(0.0, 0.4, pool)
    raw = (
        quality[:, None, None]
        + severity[reviewers][:, :, None]
        + rng.normal(0.0, 0.6, (n, REVIEWERS_PER_APPLICATION, k))
    )
    scores = np.clip(np.rint(raw), 1, 5).astype(np.int64)
    rows = n * REVIEWERS_PER_APPLICATION * k
    table = pa.table(
        {
            "application_id": pa.array(ids).take(pa.array(np.repeat(np.arange(n), REVIEWERS_PER_APPLICATION * k))),
            "reviewer_id": pa.array(reviewer_ids).take(pa.array(np.repeat(reviewers.ravel(), k))),
            "criterion": pa.array(np.array(criteria, dtype=object)).take(
                pa.array(np.tile(np.arange(k), n * REVIEWERS_PER_APPLICATION))
            ),
            "score": pa.array(scores.ravel()),
        }
    )
    assert table.num_rows == rows
    _write(table, path)


def _rubric(path: Path) -> None:
    rubric = yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))
    for criterion in rubric["criteria"]:
        if criterion.get("source") == "formula":
            criterion["source"] = "reviewers"
            criterion.pop("formula")
    path.write_text(yaml.safe_dump(rubric, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _program(path: Path) -> None:
    program = yaml.safe_load((EXAMPLE / "program.yaml").read_text(encoding="utf-8"))
    program["rubric"] = "rubric.yaml"
    program["inputs"] = {"applications": "applications.csv", "reviews": "reviews.csv"}
    path.write_text(yaml.safe_dump(program, allow_unicode=True, sort_keys=False), encoding="utf-8")
