"""What a run tells its readers: the summary document and the terminal summary.

``summary(result)`` is the content of ``summary.json``: the funnel per stage
and per region, money per region, and for each optimised stage the solver's
status, objective and bound. It holds no clock readings, so the same inputs
give the same file byte for byte (times go to the manifest).
"""

from __future__ import annotations

from typing import Any

from selection.funnel import RunResult, StageResult

__all__ = ["summary", "format_summary", "format_money", "format_share"]


def format_money(amount: int, currency: str, lang: str = "fr") -> str:
    """``1300000`` → ``"1 300 000 MAD"`` in French, ``"1,300,000 MAD"`` in English."""
    text = f"{int(amount):,}"
    if lang == "fr":
        text = text.replace(",", "\u202f")
    return f"{text} {currency}"


def format_share(share: float, lang: str = "fr") -> str:
    """``0.992`` → ``"99,2 %"`` in French, ``"99.2%"`` in English."""
    text = f"{share:.1%}"
    return text.replace(".", ",").replace("%", "\u202f%") if lang == "fr" else text


def _regions(result: RunResult) -> list[str]:
    """Programme regions first (in the program's order), then any other present."""
    present = set(result.applications["region"].dropna())
    ordered = [r.name for r in result.program.config.regions if r.in_programme or r.name in present]
    return [r for r in ordered if r in present or r in result.program.programme_regions]


def _stage_summary(stage: StageResult, result: RunResult) -> dict[str, Any]:
    apps = result.applications
    requested = apps["requested_amount"].fillna(0).astype("int64")
    by_region = {}
    for region in _regions(result):
        in_region = apps["region"] == region
        by_region[region] = {
            "entered": int((stage.entered & in_region).sum()),
            "kept": int((stage.kept & in_region).sum()),
            "requested": int(requested[stage.kept & in_region].sum()),
        }
    reasons = stage.reason[stage.entered & ~stage.kept].value_counts().sort_index()
    data: dict[str, Any] = {
        "id": stage.stage.id,
        "label": {"fr": stage.stage.title("fr"), "en": stage.stage.title("en")},
        "from": stage.stage.from_,
        "entered": stage.entered_count,
        "kept": stage.kept_count,
        "requested": int(requested[stage.kept].sum()),
        "by_region": by_region,
        "not_kept_by_reason": {str(k): int(v) for k, v in reasons.items()},
    }
    if stage.allocation is not None:
        data["allocation"] = stage.allocation.to_summary()
    return data


def summary(result: RunResult) -> dict[str, Any]:
    """The content of summary.json (deterministic: no clock readings)."""
    program = result.program
    scores = result.scoring.table
    eligible = result.eligibility.eligible
    return {
        "program": program.config.name,
        "currency": program.currency,
        "seed": program.config.seed,
        "rubric": program.rubric.id,
        "applications": int(len(result.applications)),
        "eligibility": {
            "eligible": int(eligible.sum()),
            "ineligible": int((~eligible).sum()),
            "failures_by_gate": result.eligibility.failures_by_gate(),
        },
        "scoring": {
            "aggregation": program.rubric.aggregation.method,
            "min_reviews": program.rubric.min_reviews,
            "scored": int(scores["score"].notna().sum()),
            "ranked": int(scores["ranked"].sum()),
            "flags": summary_flags(result),
        },
        "stages": [_stage_summary(stage, result) for stage in result.stages],
    }


_WORDS = {
    "fr": {
        "applications": "candidatures",
        "stage": "Étape",
        "entered": "Entrées",
        "kept": "Retenues",
        "region": "Région",
        "money": "Montant",
        "share": "Part",
        "grants": "subventions",
        "of": "sur",
        "solver": "Solveur",
        "objective": "objectif",
        "merit": "mérite",
        "bound": "borne",
        "gap": "écart",
        "flags": "Signalements",
        "total": "Total",
    },
    "en": {
        "applications": "applications",
        "stage": "Stage",
        "entered": "Entered",
        "kept": "Kept",
        "region": "Region",
        "money": "Amount",
        "share": "Share",
        "grants": "grants",
        "of": "of",
        "solver": "Solver",
        "objective": "objective",
        "merit": "merit",
        "bound": "bound",
        "gap": "gap",
        "flags": "Flags",
        "total": "Total",
    },
}


_FLAG_NAMES = {
    "fr": {
        "disagreement": "désaccord entre évaluateurs",
        "insufficient_reviews": "évaluations insuffisantes",
        "missing_criterion": "critère non évalué",
    },
    "en": {
        "disagreement": "reviewer disagreement",
        "insufficient_reviews": "too few reviews",
        "missing_criterion": "criterion not scored",
    },
}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    def line(cells: list[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()
    return [line(header), *(line(r) for r in rows)]


def format_summary(result: RunResult, lang: str = "fr") -> str:
    """A short text for the terminal: funnel per stage and region, money, solver status."""
    words = _WORDS[lang]
    colon = " :" if lang == "fr" else ":"  # French typography puts a space before the colon
    program = result.program
    regions = [r for r in _regions(result) if r in program.programme_regions]
    lines = [f"{program.config.name} — {len(result.applications):,} {words['applications']}".replace(
        ",", "\u202f" if lang == "fr" else ",")]
    lines.append("")
    header = [words["stage"], words["entered"], words["kept"], *regions]
    rows = []
    for stage in result.stages:
        in_region = [int((stage.kept & (result.applications["region"] == r)).sum()) for r in regions]
        rows.append([stage.stage.title(lang), str(stage.entered_count), str(stage.kept_count),
                     *map(str, in_region)])
    lines += _table(header, rows)

    money_stage = next(
        (s for s in reversed(result.stages) if s.allocation is not None and s.allocation.budget is not None),
        None,
    )
    if money_stage is not None:
        allocation = money_stage.allocation
        lines.append("")
        spend, budget = allocation.spend, allocation.budget
        share = f" ({format_share(spend / budget, lang)})" if budget else ""
        lines.append(
            f"{money_stage.stage.title(lang)}{colon} {allocation.count} {words['grants']}, "
            f"{format_money(spend, program.currency, lang)} {words['of']} "
            f"{format_money(budget, program.currency, lang)}{share}"
        )
        amounts = allocation.table.set_index("application_id")["amount"]
        ids = result.applications["application_id"]
        money = ids.map(amounts).fillna(0).astype("int64")
        rows = []
        for region in regions:
            in_region = result.applications["region"] == region
            region_money = int(money[in_region & money_stage.kept].sum())
            rows.append([region, str(int((money_stage.kept & in_region).sum())),
                         format_money(region_money, program.currency, lang),
                         format_share(region_money / spend, lang) if spend else "-"])
        lines += ["  " + row for row in _table([words["region"], words["grants"], words["money"],
                                                words["share"]], rows)]

    lines.append("")
    for stage in result.stages:
        if stage.allocation is None:
            continue
        a = stage.allocation
        lines.append(
            f"{words['solver']} ({stage.stage.id}){colon} {a.status}, {words['objective']} "
            f"({a.objective_name}) {a.objective:.3f}, "
            f"{words['bound']} {a.best_bound:.3f}, {words['gap']} {format_share(a.gap, lang)}"
        )
        # What the other objectives would fund: the cost of the committee's choice.
        for name, other in (a.comparisons or {}).items():
            if "count" not in other:
                lines.append(f"  {name}{colon} {other['status']}")
                continue
            money = format_money(other["money"], program.currency, lang)
            merit = f"{other['merit']:.2f}".replace(".", "," if lang == "fr" else ".")
            lines.append(
                f"  {name}{colon} {other['count']} ({money}, {words['merit']} {merit}); "
                f"+{len(other['only_with_this_objective'])} / "
                f"-{len(other['only_with_the_chosen_objective'])}"
            )
    flags = summary_flags(result)
    if flags:
        names = _FLAG_NAMES[lang]
        lines.append(f"{words['flags']}{colon} " + ", ".join(f"{names.get(k, k)} {v}" for k, v in flags.items()))
    return "\n".join(lines)


def summary_flags(result: RunResult) -> dict[str, int]:
    flags = result.scoring.table["flags"].str.split(";").explode()
    counts = flags[flags.fillna("") != ""].value_counts().sort_index()
    return {str(k): int(v) for k, v in counts.items()}

