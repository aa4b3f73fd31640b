"""Tests of the allocation engine (selection.allocation).

Tiny instances with answers worked out by hand, a property test against
exhaustive enumeration, determinism, every infeasibility message, input and
configuration errors, and one TAMURI-sized synthetic instance.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from selection.allocation import (
    MERIT_SCALE,
    REASON_CODES,
    AllocationConfig,
    SolverSettings,
    allocate,
)
from selection.errors import ConfigError, InfeasibleError, InputDataError, SolverLimitError

REGIONS = [
    "Casablanca-Settat",
    "Tanger-Tétouan-Al Hoceïma",
    "L'Oriental",
    "Souss-Massa",
    "Béni Mellal-Khénifra",
]


def frame(rows: list[tuple], columns: tuple[str, ...] = ("application_id", "score",
                                                        "requested_amount", "region")):
    return pd.DataFrame(rows, columns=list(columns))


def picked(result) -> list[str]:
    return result.selected_ids


def reasons(result) -> dict[str, str]:
    return dict(zip(result.table["application_id"], result.table["reason"]))


def synthetic(n: int, seed: int = 0) -> tuple[pd.DataFrame, int]:
    """TAMURI-like candidates (five regions) in rank order, and a budget for ~2%."""
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, size=n, p=[0.35, 0.25, 0.12, 0.16, 0.12])
    merit = np.clip(rng.normal(60, 15, n), 0, 100).round(2)
    requests = rng.integers(20, 101, n) * 1000
    candidates = pd.DataFrame(
        {
            "application_id": [f"APP{i:06d}" for i in range(n)],
            "score": merit,
            "requested_amount": requests,
            "region": region,
        }
    ).sort_values("score", ascending=False, kind="stable", ignore_index=True)
    budget = round(0.02 * n * 60_000 / 1000) * 1000
    return candidates, budget


# ---------------------------------------------------------------------------
# Tiny instances with known answers
# ---------------------------------------------------------------------------


def test_budget_is_a_knapsack_on_total_merit():
    # A+C = 160 fills the budget, but B+C+D = 180 does too.
    candidates = frame([("A", 90, 60, "N"), ("B", 80, 50, "N"), ("C", 70, 40, "N"),
                        ("D", 30, 10, "N")])
    result = allocate(candidates, AllocationConfig(budget=100))
    assert picked(result) == ["B", "C", "D"]
    assert result.status == "OPTIMAL"
    assert result.objective == 180.0
    assert result.best_bound == 180.0
    assert result.gap == 0.0
    assert result.spend == 100
    assert result.count == 3
    assert result.table["amount"].tolist() == [0, 50, 40, 10]
    assert result.table["amount"].dtype == np.int64
    assert result.table["selected"].dtype == bool
    assert reasons(result)["A"] == "budget"


def test_count_cap_without_budget_selects_places_in_rank_order():
    candidates = frame([(f"C{i}", 90 - i, 0, "N") for i in range(5)])
    result = allocate(candidates, AllocationConfig(count={"max": 3}))
    assert picked(result) == ["C0", "C1", "C2"]
    assert result.table["reason"].tolist() == ["selected"] * 3 + ["capacity"] * 2
    # A count-only selection allocates no money.
    assert result.table["amount"].tolist() == [0] * 5
    assert result.spend == 0
    assert result.table.loc[3, "reason_en"] == (
        "Not selected: the maximum of 3 selected is reached."
    )
    assert result.table.loc[3, "reason_fr"] == "Non retenu : le maximum de 3 retenus est atteint."
    assert result.table.loc[0, "reason_en"] == "Selected (merit 90)."


def test_group_minimum_forces_a_lower_merit_candidate_in():
    candidates = frame([("N1", 95, 0, "N"), ("N2", 90, 0, "N"), ("N3", 85, 0, "N"),
                        ("N4", 80, 0, "N"), ("S1", 40, 0, "S")])
    config = AllocationConfig(count={"max": 3}, groups=[{"column": "region", "min_count": 1}])
    result = allocate(candidates, config)
    assert picked(result) == ["N1", "N2", "S1"]
    assert reasons(result)["N3"] == "capacity"
    assert result.groups == {
        "region": {"N": {"count": 2, "money": 0, "candidates": 4},
                   "S": {"count": 1, "money": 0, "candidates": 1}}
    }
    # Without the rule, rank order wins.
    assert picked(allocate(candidates, AllocationConfig(count={"max": 3}))) == ["N1", "N2", "N3"]


def test_max_money_share():
    # Without the share cap {A, B} (170) wins; with 60% per region, {A, C} (140).
    candidates = frame([("A", 90, 60, "N"), ("B", 80, 30, "N"), ("C", 50, 40, "S"),
                        ("D", 40, 30, "S")])
    assert picked(allocate(candidates, AllocationConfig(budget=100))) == ["A", "B"]
    config = AllocationConfig(budget=100, groups=[{"column": "region", "max_money_share": 0.6}])
    result = allocate(candidates, config)
    assert picked(result) == ["A", "C"]
    assert result.groups["region"] == {"N": {"count": 1, "money": 60, "candidates": 2},
                                       "S": {"count": 1, "money": 40, "candidates": 2}}
    assert reasons(result) == {"A": "selected", "B": "group_cap", "C": "selected", "D": "budget"}
    table = result.table.set_index("application_id")
    assert table.loc["B", "reason_en"] == (
        "Not selected: its 30 MAD would take region 'N' above its maximum share of 60% "
        "of the money."
    )
    assert table.loc["B", "reason_fr"] == (
        "Non retenu : ses 30 MAD porteraient region « N » au-delà de sa part maximale "
        "de 60 % du montant attribué."
    )


def test_min_money_share_and_outranked():
    # S must get 40% of the money: {A, B} beats {A, C} (which gives S nothing).
    candidates = frame([("A", 90, 50, "N"), ("C", 80, 50, "N"), ("B", 10, 50, "S")])
    config = AllocationConfig(
        budget=200, groups=[{"column": "region", "values": ["S"], "min_money_share": 0.4}]
    )
    result = allocate(candidates, config)
    assert picked(result) == ["A", "B"]
    assert reasons(result)["C"] == "outranked"
    assert result.table.loc[1, "reason_en"] == (
        "Not selected: it fits within the remaining limits, but the selection with the "
        "highest total merit leaves it out (merit 80)."
    )
    assert result.groups == {"region": {"S": {"count": 1, "money": 50, "candidates": 1}}}


def test_grant_bounds_exclude_requests_outside_them():
    candidates = frame([("low", 90, 15_000, "N"), ("high", 85, 120_000, "N"),
                        ("odd", 80, 55_500, "N"), ("ok", 70, 50_000, "N")])
    config = AllocationConfig(budget=1_000_000,
                              grant={"min": 20_000, "max": 100_000, "step": 1_000})
    result = allocate(candidates, config)
    assert picked(result) == ["ok"]
    table = result.table.set_index("application_id")
    assert set(table.loc[["low", "high", "odd"], "reason"]) == {"amount_out_of_bounds"}
    assert table.loc["low", "reason_en"] == (
        "Not selected: the request of 15,000 MAD is below the minimum grant of 20,000 MAD."
    )
    assert table.loc["low", "reason_fr"] == (
        "Non retenu : la demande de 15 000 MAD est inférieure à la subvention minimale "
        "de 20 000 MAD."
    )
    assert table.loc["high", "reason_en"] == (
        "Not selected: the request of 120,000 MAD is above the maximum grant of 100,000 MAD."
    )
    assert table.loc["odd", "reason_en"] == (
        "Not selected: the request of 55,500 MAD is not a multiple of 1,000 MAD."
    )
    assert table.loc["ok", "reason_en"] == "Selected: grant of 50,000 MAD (merit 70)."
    assert table.loc["ok", "reason_fr"] == "Retenu : subvention de 50 000 MAD (mérite 70)."


def test_min_merit_and_missing_merit():
    candidates = frame([("A", 80.25, 10, "N"), ("B", 59.5, 10, "N"), ("C", np.nan, 10, "N")])
    result = allocate(candidates, AllocationConfig(budget=100, min_merit=60))
    assert picked(result) == ["A"]
    assert result.table["reason"].tolist() == ["selected", "below_min_merit", "not_ranked"]
    assert result.table["reason_en"].tolist() == [
        "Selected: grant of 10 MAD (merit 80.25).",
        "Not selected: merit 59.5 is below the minimum of 60.",
        "Not selected: no merit score.",
    ]
    assert result.table["reason_fr"].tolist() == [
        "Retenu : subvention de 10 MAD (mérite 80,25).",
        "Non retenu : le mérite 59,5 est inférieur au minimum de 60.",
        "Non retenu : aucune note de mérite.",
    ]


def test_budget_reasons_name_what_is_left():
    candidates = frame([("A", 90, 35_000, "N"), ("B", 80, 70_000, "N"), ("C", 70, 100_000, "N")])
    result = allocate(candidates, AllocationConfig(budget=100_000))
    assert picked(result) == ["A"]
    table = result.table.set_index("application_id")
    assert table.loc["B", "reason_en"] == (
        "Not selected: its request of 70,000 MAD exceeds the 65,000 MAD left in the budget."
    )
    assert table.loc["B", "reason_fr"] == (
        "Non retenu : sa demande de 70 000 MAD dépasse les 65 000 MAD restants du budget."
    )
    candidates = frame([("B", 80, 70_000, "N"), ("C", 70, 100_000, "N"), ("D", 60, 30_000, "N")])
    full = allocate(candidates, AllocationConfig(budget=100_000))
    assert picked(full) == ["B", "D"]
    assert full.table.loc[1, "reason_fr"] == (
        "Non retenu : le budget de 100 000 MAD est entièrement attribué "
        "(demande : 100 000 MAD)."
    )
    assert full.table.loc[1, "reason_en"] == (
        "Not selected: the budget of 100,000 MAD is fully allocated (request: 100,000 MAD)."
    )


def test_group_count_cap_reason():
    candidates = frame([("A", 90, 0, "N"), ("B", 80, 0, "N"), ("C", 10, 0, "S")])
    config = AllocationConfig(groups=[{"column": "region", "max_count": 1}])
    result = allocate(candidates, config)
    assert picked(result) == ["A", "C"]
    assert result.table.loc[1, "reason"] == "group_cap"
    assert result.table.loc[1, "reason_en"] == (
        "Not selected: region 'N' already has its maximum of 1 selected."
    )


def test_declared_group_values_apply_to_absent_values():
    candidates = frame([("A", 90, 0, "N")])
    config = AllocationConfig(groups=[{"column": "region", "min_count": 1}])
    assert picked(allocate(candidates, config)) == ["A"]
    with pytest.raises(InfeasibleError) as caught:
        allocate(candidates, config, group_values={"region": ["N", "S"]})
    assert caught.value.first.message == (
        "region 'S' needs at least 1 selected but no candidate can be selected"
    )


def test_summary_is_json_safe_and_deterministic():
    candidates = frame([("A", 90, 60, "N"), ("B", 80, 30, "N"), ("C", 50, 40, "S")])
    config = AllocationConfig(budget=100, groups=[{"column": "region", "max_money_share": 0.7}])
    first = allocate(candidates, config).to_summary()
    second = allocate(candidates, config).to_summary()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert "wall_time" not in first
    assert first["status"] == "OPTIMAL"
    assert first["reasons"]["selected"] == first["count"]
    assert list(first["reasons"]) == list(REASON_CODES)


# ---------------------------------------------------------------------------
# Determinism and tie-breaking
# ---------------------------------------------------------------------------


def test_ties_go_to_earlier_rows_whatever_the_seed():
    candidates = frame([(f"T{i}", 50, 10, REGIONS[i % 2]) for i in range(8)])
    tables = []
    for seed in range(5):
        config = AllocationConfig(budget=30, solver={"seed": seed})
        result = allocate(candidates, config)
        assert picked(result) == ["T0", "T1", "T2"]
        assert result.tie_break == "OPTIMAL"
        tables.append(result.table)
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])


def test_same_input_same_table():
    candidates, budget = synthetic(300, seed=3)
    config = AllocationConfig(
        budget=budget // 2,
        grant={"min": 20_000, "max": 100_000},
        groups=[{"column": "region", "min_count": 1, "max_money_share": 0.4}],
        explain={"counterfactuals": 0, "costs": False, "compare_objectives": False},
    )
    first = allocate(candidates, config)
    for seed, workers in ((0, 1), (7, 1), (3, 2)):
        reseeded = config.model_copy(update={"solver": SolverSettings(seed=seed, workers=workers)})
        again = allocate(candidates, reseeded)
        pd.testing.assert_frame_equal(again.table, first.table)


# ---------------------------------------------------------------------------
# Property test: CP-SAT against exhaustive enumeration
# ---------------------------------------------------------------------------


def _share(value):
    return None if value is None else Fraction(str(value))


def brute_force(candidates: pd.DataFrame, config: AllocationConfig, group_values):
    """Best (scaled merit, rank key) over every feasible subset, or None."""
    n = len(candidates)
    merit = candidates["score"].to_numpy(dtype=float)
    request = candidates["requested_amount"].to_numpy(dtype=np.int64)
    money = config.budget is not None
    grant = config.grant

    def selectable(i: int) -> bool:
        if math.isnan(merit[i]):
            return False
        if config.min_merit is not None and merit[i] < config.min_merit:
            return False
        if money:
            if grant.min is not None and request[i] < grant.min:
                return False
            if grant.max is not None and request[i] > grant.max:
                return False
            if request[i] % grant.step:
                return False
        return True

    groups = []
    for rule in config.groups:
        labels = candidates[rule.column].tolist()
        values = rule.values or group_values.get(rule.column) or sorted(set(labels))
        for value in values:
            members = [i for i in range(n) if labels[i] == value]
            groups.append((members, rule))

    ok = [i for i in range(n) if selectable(i)]
    best = None
    for size in range(len(ok) + 1):
        for subset in itertools.combinations(ok, size):
            if not feasible(subset, request, config, groups):
                continue
            key = (
                sum(int(round(merit[i] * MERIT_SCALE)) for i in subset),
                sum(n - i for i in subset),
            )
            best = key if best is None or key > best else best
    return best


def feasible(subset, request, config, groups) -> bool:
    money = config.budget is not None
    spend = sum(int(request[i]) for i in subset) if money else 0
    if money and spend > config.budget:
        return False
    if config.count.min is not None and len(subset) < config.count.min:
        return False
    if config.count.max is not None and len(subset) > config.count.max:
        return False
    chosen = set(subset)
    for members, rule in groups:
        inside = [i for i in members if i in chosen]
        if rule.min_count is not None and len(inside) < rule.min_count:
            return False
        if rule.max_count is not None and len(inside) > rule.max_count:
            return False
        group_money = sum(int(request[i]) for i in inside) if money else 0
        low, high = _share(rule.min_money_share), _share(rule.max_money_share)
        if low is not None and group_money < low * spend:
            return False
        if high is not None and group_money > high * spend:
            return False
    return True


SHARES = [None, 0.0, 0.1, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0]


@st.composite
def instances(draw):
    n = draw(st.integers(1, 10))
    n_regions = draw(st.integers(2, 3))
    regions = ["A", "B", "C"][:n_regions]
    merit = draw(st.lists(st.sampled_from([None, 12.5, 33.25]) | st.integers(0, 100),
                          min_size=n, max_size=n))
    requests = draw(st.lists(st.integers(1, 12).map(lambda k: 5 * k), min_size=n, max_size=n))
    candidates = pd.DataFrame(
        {
            "application_id": [f"X{i}" for i in range(n)],
            "score": [np.nan if m is None else float(m) for m in merit],
            "requested_amount": requests,
            "region": draw(st.lists(st.sampled_from(regions), min_size=n, max_size=n)),
            "domain": draw(st.lists(st.sampled_from(["x", "y"]), min_size=n, max_size=n)),
        }
    )

    def bounds(low, high):
        a = draw(st.one_of(st.none(), st.integers(low, high)))
        b = draw(st.one_of(st.none(), st.integers(low, high)))
        if a is not None and b is not None and a > b:
            a, b = b, a
        return a, b

    money = draw(st.booleans())
    count_min, count_max = bounds(0, 5)
    region_rule = {"column": "region"}
    region_rule["min_count"], region_rule["max_count"] = bounds(0, 3)
    config = {
        "count": {"min": count_min, "max": count_max},
        "min_merit": draw(st.sampled_from([None, None, 20.0, 50.0])),
        "groups": [region_rule],
    }
    if money:
        config["budget"] = draw(st.integers(0, 200))
        if draw(st.booleans()):
            grant_min, grant_max = bounds(0, 60)
            config["grant"] = {"min": grant_min, "max": grant_max,
                               "step": draw(st.sampled_from([1, 5, 10]))}
        low, high = draw(st.sampled_from(SHARES)), draw(st.sampled_from(SHARES))
        if low is not None and high is not None and low > high:
            low, high = high, low
        region_rule["min_money_share"], region_rule["max_money_share"] = low, high
    if draw(st.booleans()):
        domain_rule = {"column": "domain", "values": ["x"]}
        domain_rule["min_count"], domain_rule["max_count"] = bounds(0, 3)
        if money:
            domain_rule["max_money_share"] = draw(st.sampled_from(SHARES))
        config["groups"].append(domain_rule)
    declared = {"region": ["A", "B", "C"]} if draw(st.booleans()) else {}
    return candidates, AllocationConfig.model_validate(config), declared


@settings(max_examples=100, deadline=None)
@given(instances())
def test_matches_exhaustive_enumeration(instance):
    candidates, config, declared = instance
    best = brute_force(candidates, config, declared)
    if best is None:
        with pytest.raises(InfeasibleError):
            allocate(candidates, config, group_values=declared)
        return
    result = allocate(candidates, config, group_values=declared)
    assert result.status == "OPTIMAL"
    assert result.tie_break == "OPTIMAL"
    table = result.table
    subset = tuple(np.flatnonzero(table["selected"].to_numpy()))
    n = len(candidates)
    merit = candidates["score"].to_numpy(dtype=float)
    scaled = sum(int(round(merit[i] * MERIT_SCALE)) for i in subset)
    assert (scaled, sum(n - i for i in subset)) == best
    assert round(result.objective * MERIT_SCALE) == best[0]
    # The returned selection satisfies every constraint.
    groups = []
    for rule in config.groups:
        labels = candidates[rule.column].tolist()
        values = rule.values or declared.get(rule.column) or sorted(set(labels))
        groups += [([i for i in range(n) if labels[i] == v], rule) for v in values]
    request = candidates["requested_amount"].to_numpy(dtype=np.int64)
    assert feasible(subset, request, config, groups)
    if config.budget is not None:
        assert result.spend <= config.budget
        assert result.spend == sum(int(request[i]) for i in subset)
        assert table["amount"].tolist() == [
            int(request[i]) if i in subset else 0 for i in range(n)
        ]
    else:
        assert result.spend == 0 and table["amount"].eq(0).all()
    assert result.count == len(subset)
    assert (table["reason"] == "selected").tolist() == table["selected"].tolist()
    assert set(table["reason"]) <= set(REASON_CODES)


# ---------------------------------------------------------------------------
# Infeasibility: every pre-check names its culprit
# ---------------------------------------------------------------------------


def infeasible_message(candidates, config, **kwargs) -> InfeasibleError:
    with pytest.raises(InfeasibleError) as caught:
        allocate(candidates, AllocationConfig.model_validate(config), **kwargs)
    return caught.value


def test_count_min_above_selectable():
    candidates = frame([("A", 90, 10, "N"), ("B", 80, 10, "N"), ("C", np.nan, 10, "N")])
    error = infeasible_message(candidates, {"count": {"min": 5}})
    assert error.first.message == (
        "at least 5 must be selected but only 2 candidates can be selected"
    )
    assert error.code == "count_min"


def test_group_min_above_its_selectable_candidates():
    rows = [(f"O{i}", 90, 30_000, "L'Oriental") for i in range(2)]
    rows += [(f"C{i}", 90, 30_000, "Casablanca-Settat") for i in range(6)]
    rows += [("O9", 10, 30_000, "L'Oriental")]
    error = infeasible_message(
        frame(rows),
        {"budget": 1_000_000, "min_merit": 50, "groups": [{"column": "region", "min_count": 4}]},
    )
    assert str(error) == (
        "region 'L'Oriental' needs at least 4 selected but only 2 candidates can be selected. "
        "Suggestion: lower min_count for 'region', or see the reasons of its candidates "
        "that cannot be selected"
    )


def test_group_minimums_above_count_max():
    rows = [(f"{r}{i}", 90, 0, r) for r in "ABCDE" for i in range(3)]
    error = infeasible_message(
        frame(rows), {"count": {"max": 8}, "groups": [{"column": "region", "min_count": 2}]}
    )
    assert error.first.message == (
        "the minimums for region add up to 10 selected but at most 8 can be selected"
    )


def test_group_maximums_below_required_count():
    rows = [(f"{r}{i}", 90, 0, r) for r in "AB" for i in range(4)]
    error = infeasible_message(
        frame(rows), {"count": {"min": 5}, "groups": [{"column": "region", "max_count": 2}]}
    )
    assert error.first.message == (
        "the maximums for region allow at most 4 selected but at least 5 are required"
    )


def test_budget_below_minimum_grants():
    rows = [(f"G{i}", 90, 50_000, REGIONS[i % 5]) for i in range(40)]
    error = infeasible_message(
        frame(rows),
        {"budget": 300_000, "grant": {"min": 20_000, "max": 100_000}, "count": {"min": 19}},
    )
    assert error.first.message == (
        "at least 19 grants of at least 20,000 MAD need 380,000 MAD; the budget is 300,000 MAD"
    )


def test_budget_below_cheapest_count_min():
    candidates = frame([("A", 90, 50_000, "N"), ("B", 80, 40_000, "N"), ("C", 70, 60_000, "N")])
    error = infeasible_message(candidates, {"budget": 80_000, "count": {"min": 2}})
    assert error.first.message == (
        "at least 2 must be selected, and the 2 smallest requests add up to 90,000 MAD; "
        "the budget is 80,000 MAD"
    )


def test_budget_below_cheapest_group_minimums():
    candidates = frame([("A", 90, 50_000, "N"), ("B", 80, 40_000, "S"), ("C", 70, 60_000, "N")])
    error = infeasible_message(
        candidates, {"budget": 80_000, "groups": [{"column": "region", "min_count": 1}]}
    )
    assert error.first.message == (
        "the minimums for region need at least 90,000 MAD (the smallest requests of each "
        "value); the budget is 80,000 MAD"
    )


def test_group_minimum_costs_more_than_its_share():
    candidates = frame([("A", 90, 50_000, "N"), ("B", 80, 40_000, "S"), ("C", 70, 60_000, "N")])
    error = infeasible_message(
        candidates,
        {"budget": 100_000,
         "groups": [{"column": "region", "min_count": 1, "max_money_share": 0.45}]},
    )
    assert error.first.message == (
        "region 'N' needs at least 1 selected, which costs at least 50,000 MAD, more than its "
        "maximum share (45%) of the budget of 100,000 MAD"
    )


def test_min_share_for_a_group_without_selectable_candidates():
    candidates = frame([("A", 90, 50_000, "N"), ("B", np.nan, 40_000, "S")])
    error = infeasible_message(
        candidates,
        {"budget": 100_000, "count": {"min": 1},
         "groups": [{"column": "region", "values": ["S"], "min_money_share": 0.1}]},
    )
    assert error.first.message == (
        "region 'S' must receive at least 10% of the money spent but none of its candidates "
        "can be selected"
    )


def test_min_shares_above_all_the_money():
    candidates = frame([("A", 90, 50_000, "N"), ("B", 80, 40_000, "S")])
    error = infeasible_message(
        candidates,
        {"budget": 100_000, "count": {"min": 1},
         "groups": [{"column": "region", "min_money_share": 0.6}]},
    )
    assert error.first.message == (
        "the minimum money shares for region add up to 120%, more than all of the money spent"
    )


def test_max_shares_below_all_the_money():
    candidates = frame([("A", 90, 50_000, "N"), ("B", 80, 40_000, "S")])
    error = infeasible_message(
        candidates,
        {"budget": 100_000, "count": {"min": 1},
         "groups": [{"column": "region", "max_money_share": 0.45}]},
    )
    assert error.first.message == (
        "the maximum money shares for region add up to 90%, less than all of the money spent"
    )


def test_infeasible_without_a_named_culprit_names_a_minimal_conflict():
    # Equal shares for N and S, but no pair of requests is equal: the budget
    # plays no part, so the minimal conflicting set leaves it out.
    candidates = frame([("A", 90, 30, "N"), ("B", 80, 50, "S")])
    error = infeasible_message(
        candidates,
        {"budget": 1_000, "count": {"min": 1},
         "groups": [{"column": "region", "min_money_share": 0.5, "max_money_share": 0.5}]},
    )
    assert str(error) == (
        "field 'count.min, groups[0].min_money_share, groups[0].max_money_share': no "
        "selection satisfies these constraints together: at least 1 selected; region 'N': "
        "at least 50% of the money; region 'N': at most 50% of the money (relaxing any one "
        "of them removes the conflict). Suggestion: relax one of them: count.min, "
        "groups[0].min_money_share, groups[0].max_money_share"
    )
    assert error.code == "infeasible"


def test_no_solution_in_time_is_a_solver_limit_error():
    candidates, budget = synthetic(2_400)
    config = AllocationConfig(
        budget=budget,
        groups=[{"column": "region", "min_count": 2, "max_money_share": 0.4}],
        solver={"time_limit": 1e-9},
    )
    with pytest.raises(SolverLimitError) as caught:
        allocate(candidates, config)
    assert str(caught.value) == (
        "field 'solver.time_limit': the solver found no selection within the time limit of "
        "1e-09 s. Suggestion: raise solver.time_limit"
    )


# ---------------------------------------------------------------------------
# Input and configuration errors
# ---------------------------------------------------------------------------


def test_missing_columns_are_named_with_the_available_ones():
    candidates = pd.DataFrame({"application_id": ["A"], "scor": [90.0], "montant": [10]})
    with pytest.raises(InputDataError) as caught:
        allocate(candidates, AllocationConfig(budget=100))
    problems = caught.value.problems
    assert [p.field for p in problems] == ["score", "requested_amount"]
    assert str(problems[0]) == (
        "field 'score': missing column 'score' (the merit column); the columns are "
        "'application_id', 'scor', 'montant'. Suggestion: did you mean 'scor'?"
    )
    assert problems[1].message == (
        "missing column 'requested_amount' (needed when a budget is set); the columns are "
        "'application_id', 'scor', 'montant'"
    )


def test_group_column_missing():
    candidates = frame([("A", 90, 10, "N")]).rename(columns={"region": "Région"})
    config = AllocationConfig(groups=[{"column": "region", "min_count": 1}])
    with pytest.raises(InputDataError) as caught:
        allocate(candidates, config)
    assert caught.value.field == "region"
    assert caught.value.suggestion == "did you mean 'Région'?"


def test_requested_amounts_must_be_whole_money():
    candidates = frame([("A", 90, 10.5, "N"), ("B", 80, 20.0, "N")])
    with pytest.raises(InputDataError) as caught:
        allocate(candidates, AllocationConfig(budget=100))
    assert caught.value.first.message == (
        "requested_amount must be a whole amount of money; missing or not whole for 'A'"
    )
    # Whole floats (as read from a CSV) are accepted and become integers.
    ok = allocate(candidates.iloc[[1]], AllocationConfig(budget=100))
    assert ok.table["amount"].tolist() == [20]


def test_duplicate_application_ids():
    candidates = frame([("A", 90, 10, "N"), ("A", 80, 10, "N")])
    with pytest.raises(InputDataError, match="application_id must be unique; repeated: 'A'"):
        allocate(candidates, AllocationConfig())


def test_rule_value_not_declared():
    candidates = frame([("A", 90, 10, "N")])
    config = AllocationConfig(groups=[{"column": "region", "values": ["Orientale"]}])
    with pytest.raises(ConfigError) as caught:
        allocate(candidates, config, group_values={"region": ["L'Oriental", "Souss-Massa"]})
    assert caught.value.field == "groups[0].values"
    assert caught.value.suggestion == "did you mean 'L'Oriental'?"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"budjet": 100}, "Extra inputs are not permitted"),
        ({"count": {"min": 5, "max": 3}}, "min (5) must not exceed max (3)"),
        ({"budget": 10, "grant": {"min": 9, "max": 3}}, "min (9) must not exceed max (3)"),
        ({"groups": [{"column": "region", "min_count": 4, "max_count": 2}]},
         "min_count (4) must not exceed max_count (2)"),
        ({"budget": 10, "groups": [{"column": "region", "min_money_share": 0.5,
                                    "max_money_share": 0.2}]},
         "min_money_share (0.5) must not exceed max_money_share (0.2)"),
        ({"groups": [{"column": "region", "max_money_share": 0.4}]},
         "money shares (group 'region') need a budget: set budget, or use min_count/max_count "
         "for a count-only selection"),
        ({"grant": {"min": 20_000}},
         "grant bounds need a budget: set budget, or remove grant for a count-only selection"),
        ({"budget": 10, "groups": [{"column": "region", "max_money_share": 1.5}]},
         "less than or equal to 1"),
        ({"budget": 10, "groups": [{"column": "region", "max_money_share": 0.1234567}]},
         "a money share must have at most 6 decimal places; got 0.1234567"),
        ({"groups": [{"column": "region", "values": ["A", "A"]}]}, "value 'A' is listed twice"),
        ({"budget": -5}, "greater than or equal to 0"),
        ({"grant": {"step": 0}, "budget": 5}, "greater than or equal to 1"),
        ({"solver": {"time_limit": 0}}, "greater than 0"),
        ({"objective": "merit_per_money"}, "objective merit_per_money needs a budget"),
        ({"objective": "best"}, "Input should be 'total_merit', 'merit_per_money' or 'rank_order'"),
    ],
)
def test_configuration_errors(config, message):
    with pytest.raises(ValidationError) as caught:
        AllocationConfig.model_validate(config)
    assert message in str(caught.value)


def test_configuration_is_frozen():
    config = AllocationConfig(budget=10)
    with pytest.raises(ValidationError):
        config.budget = 20


# ---------------------------------------------------------------------------
# TAMURI-sized synthetic instance
# ---------------------------------------------------------------------------


def test_tamuri_sized_instance_is_solved_to_optimality():
    candidates, budget = synthetic(2_400)
    config = AllocationConfig(
        budget=budget,
        grant={"min": 20_000, "max": 100_000},
        groups=[{"column": "region", "min_count": 2, "max_money_share": 0.4}],
        solver={"time_limit": 60},
        explain={"counterfactuals": 2},
    )
    result = allocate(candidates, config)
    assert result.table["merit_needed"].notna().sum() == 2
    assert result.constraint_costs is None and result.comparisons is None  # a large stage
    assert result.status == "OPTIMAL"
    assert result.gap == 0.0
    assert result.spend <= budget
    assert len(result.groups["region"]) == 5
    for stats in result.groups["region"].values():
        assert stats["count"] >= 2
        assert stats["money"] * 5 <= 2 * result.spend
    assert len(result.table) == 2_400


# ---------------------------------------------------------------------------
# Speed-ups that must not change what is computed
# ---------------------------------------------------------------------------


def test_model_without_camel_case_aliases_clones_and_solves():
    from ortools.sat.python import cp_model

    from selection.allocation_model import Model, solver_for

    model = Model()
    x = model.new_bool_var("x")
    y = model.new_bool_var("y")
    model.add(x + y <= 1)
    model.maximize(2 * x + y)
    copy = model.clone()
    assert isinstance(copy, Model) and not hasattr(copy, "AddBoolOr")
    copy.add(x == 0)  # the copy only
    assert len(model.proto.constraints) == 1
    solver = solver_for(SolverSettings(), proof=True)
    assert solver.solve(copy) == cp_model.OPTIMAL and solver.objective_value == 1
    assert solver_for(SolverSettings()).solve(model) == cp_model.OPTIMAL


@pytest.mark.parametrize("objective", ["total_merit", "rank_order"])
def test_notes_of_the_candidates_without_a_merit_counterfactual(objective):
    # The notes beyond explain.counterfactuals are joined once per distinct
    # extra-budget note: each must still read "<its budget note>; <why no merit>".
    candidates = frame([("A", 90, 60, "N"), ("B", 80, 30, "N"), ("C", 50, 40, "S"),
                        ("D", 40, 30, "S"), ("E", 30, 20, "S"), ("F", 20, 500, "S")])
    config = AllocationConfig(budget=100, objective=objective, grant={"max": 100},
                              groups=[{"column": "region", "max_money_share": 0.6}],
                              explain={"counterfactuals": 1})
    table = allocate(candidates, config).table.set_index("application_id")
    skipped = ("merit not computed under rank_order (merit moves the rank)"
               if objective == "rank_order" else
               "merit not computed: only the 1 best-ranked candidates not selected get one "
               "(explain.counterfactuals)")
    out = table[~table["selected"] & (table.index != "F")]
    assert len(out) >= 2
    for rank, (_, row) in enumerate(out.iterrows()):
        note = row["counterfactual_note"]
        if objective == "total_merit" and rank < 1:
            assert skipped not in note
        else:
            assert note.endswith(skipped) and note.count(skipped) == 1
    assert table.loc["F", "counterfactual_note"].startswith("cannot be selected: ")


def test_bulk_written_constraints_are_the_ones_model_add_writes():
    """_add_other writes the uniqueness constraint of the tie-break into the
    proto in bulk: the same proto as ``model.add`` of the sum."""
    import random

    from ortools.sat.python import cp_model

    from selection.allocation_model import _add_other

    base = cp_model.CpModel()
    every = [base.new_bool_var(f"x{i}") for i in range(300)]
    rng = random.Random(3)
    for _ in range(50):
        xs = rng.sample(every, rng.randint(1, 250))
        values = [rng.randint(0, 1) for _ in xs]
        by_add, in_bulk = base.clone(), base.clone()
        chosen = [x for x, v in zip(xs, values) if v]
        rest = [x for x, v in zip(xs, values) if not v]
        by_add.add(sum(1 - x for x in chosen) + sum(rest) >= 1)
        _add_other(in_bulk, xs, values)
        assert str(in_bulk.proto) == str(by_add.proto)
