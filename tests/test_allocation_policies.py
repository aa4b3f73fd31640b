"""Hand-built cases with answers worked out by hand: every amount policy, every
constraint kind, the three objectives, the infeasibility messages, the
counterfactuals and the constraint costs."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pydantic import ValidationError

from selection.allocation import AllocationConfig, allocate
from selection.errors import ConfigError, InfeasibleError

QUIET = {"counterfactuals": 0, "costs": False, "compare_objectives": False}


def frame(rows, columns=("application_id", "score", "requested_amount", "region")):
    return pd.DataFrame(rows, columns=list(columns))


def run(candidates, **config):
    config.setdefault("explain", QUIET)
    return allocate(candidates, AllocationConfig.model_validate(config))


def by_id(result, column):
    return dict(zip(result.table["application_id"], result.table[column]))


# ---------------------------------------------------------------------------
# Amount policies
# ---------------------------------------------------------------------------


def test_capped_grants_the_request_up_to_the_maximum():
    candidates = frame([("A", 90, 120_000, "N"), ("B", 80, 50_000, "N"), ("C", 70, 10_000, "N")])
    result = run(candidates, budget=200_000, amount="capped",
                 grant={"min": 20_000, "max": 100_000, "step": 1_000})
    assert by_id(result, "amount") == {"A": 100_000, "B": 50_000, "C": 0}
    assert by_id(result, "reason")["C"] == "amount_out_of_bounds"
    assert by_id(result, "reason_en")["A"] == "Selected: grant of 100,000 MAD (merit 90)."


def test_partial_grants_count_merit_in_proportion():
    # A: 40..80 (merit 90/80 per unit), B: 30..60 (merit 80/60 per unit), budget 100:
    # B in full (80) and A at its floor 40 (90 x 40/80 = 45): 125 beats A 70 + B 30 (118.75).
    candidates = frame([("A", 90, 80, "N"), ("B", 80, 60, "N")])
    result = run(candidates, budget=100, amount="partial", min_fraction=0.5, grant={"step": 10})
    assert by_id(result, "amount") == {"A": 40, "B": 60}
    assert result.objective == 125.0
    assert result.spend == 100


def test_partial_merit_is_rounded_down_exactly():
    # 70.001 x 2/3 of the request: floor(70001 * 20 / 30) / 1000 = 46.667
    candidates = frame([("A", 70.001, 30, "N")])
    result = run(candidates, budget=20, amount="partial", min_fraction=0.5)
    assert by_id(result, "amount") == {"A": 20}
    assert result.objective == 46.667


def test_tiers_grant_the_largest_tier_under_the_request():
    candidates = frame([("A", 90, 30_000, "N"), ("B", 80, 60_000, "N"), ("C", 70, 8_000, "N")])
    result = run(candidates, budget=100_000, amount="tiers", tiers=[10_000, 25_000, 50_000])
    assert by_id(result, "amount") == {"A": 25_000, "B": 50_000, "C": 0}
    assert by_id(result, "reason_en")["C"] == (
        "Not selected: the request of 8,000 MAD is below the smallest tier of 10,000 MAD."
    )


def test_proportional_spreads_the_budget_by_merit():
    candidates = frame([("A", 90, 0, "N"), ("B", 60, 0, "N"), ("C", 30, 0, "N")])
    result = run(candidates, budget=100, amount="proportional", grant={"min": 10, "max": 50})
    # 100 x 90/180 = 50, 100 x 60/180 = 33.3, 100 x 30/180 = 16.7, rounded down.
    assert by_id(result, "amount") == {"A": 50, "B": 33, "C": 16}
    capped = run(candidates, budget=100, amount="proportional", count={"max": 2},
                 grant={"min": 10, "max": 50})
    # A's share (60) is above the maximum: A gets 50, B the 50 left.
    assert by_id(capped, "amount") == {"A": 50, "B": 50, "C": 0}


def test_proportional_needs_no_requested_amount():
    candidates = pd.DataFrame({"application_id": ["A", "B"], "score": [80.0, 20.0]})
    result = run(candidates, budget=100, amount="proportional", grant={"min": 10})
    assert by_id(result, "amount") == {"A": 80, "B": 20}


def test_spend_floor():
    # Without the floor {A, B} (170, spending 80); with 90 at least, {A, C}.
    candidates = frame([("A", 90, 50, "N"), ("B", 80, 30, "N"), ("C", 10, 40, "N")])
    assert run(candidates, budget=100).selected_ids == ["A", "B"]
    assert run(candidates, budget=100, min_spend=90).selected_ids == ["A", "C"]
    assert run(candidates, budget=100, min_spend_share=0.9).selected_ids == ["A", "C"]


# ---------------------------------------------------------------------------
# Constraint kinds
# ---------------------------------------------------------------------------


def test_min_reviews():
    candidates = frame([("A", 90, 10, "N", 3), ("B", 95, 10, "N", 1)],
                       columns=("application_id", "score", "requested_amount", "region",
                                "n_reviews"))
    result = run(candidates, budget=100, min_reviews=2)
    assert result.selected_ids == ["A"]
    assert by_id(result, "reason_en")["B"] == (
        "Not selected: 1 review(s), fewer than the minimum of 2."
    )


def test_several_resources():
    candidates = frame([("A", 90, 8, 1), ("B", 80, 5, 1), ("C", 70, 4, 1), ("D", 60, 1, 1)],
                       columns=("application_id", "score", "hours", "places"))
    result = run(candidates, resources=[{"column": "hours", "capacity": 10},
                                        {"column": "places", "capacity": 2}])
    # hours: {B, C} (9 hours, merit 150) beats {A, D} (9 hours, 150)? tie on merit:
    # rank points prefer {A, D}: (4 + 1) = 5 ... {B, C}: (3 + 2) = 5, then A first.
    assert result.selected_ids == ["A", "D"]
    assert by_id(result, "reason_en")["B"] == (
        "Not selected: its 5 hours exceed the 1 left (capacity 10)."
    )
    assert by_id(result, "reason_fr")["B"] == (
        "Non retenu : ses 5 hours dépassent les 1 restants (capacité 10)."
    )


def test_count_share():
    candidates = frame([("N1", 90, 0, "N"), ("N2", 85, 0, "N"), ("N3", 80, 0, "N"),
                        ("S1", 10, 0, "S")])
    result = run(candidates, count={"max": 3},
                 groups=[{"column": "region", "max_count_share": 0.5}])
    assert result.selected_ids == ["N1", "S1"]
    assert by_id(result, "reason_en")["N2"] == (
        "Not selected: selecting it would take region 'N' above its maximum share of 50% "
        "of those selected."
    )


def test_soft_rule_is_paid_for_never_forced():
    candidates = frame([("N1", 90, 0, "N"), ("N2", 85, 0, "N"), ("S1", 10, 0, "S")])
    rule = {"column": "region", "values": ["S"], "min_count": 1}
    cheap = run(candidates, count={"max": 2}, groups=[{**rule, "penalty": 20}])
    assert cheap.selected_ids == ["N1", "N2"]  # 175 - 20 = 155 beats 100
    assert cheap.objective == 155.0
    dear = run(candidates, count={"max": 2}, groups=[{**rule, "penalty": 100}])
    assert dear.selected_ids == ["N1", "S1"]  # 100 beats 175 - 100
    # A soft minimum that cannot be met is no infeasibility.
    alone = run(candidates.iloc[:2], groups=[{**rule, "min_count": 3, "penalty": 1}])
    assert alone.selected_ids == ["N1", "N2"]


def test_committee_decisions():
    candidates = frame([("A", 90, 0, "N", "o1"), ("B", 80, 0, "N", "o1"), ("C", 70, 0, "N", "o2"),
                        ("D", 60, 0, "N", "o3"), ("E", 10, 0, "N", "o4")],
                       columns=("application_id", "score", "requested_amount", "region",
                                "organisation"))
    result = run(candidates, include=["E"], exclude=["C"], one_per="organisation",
                 incompatible=[["D", "E"]])
    assert result.selected_ids == ["A", "E"]
    why = by_id(result, "reason_en")
    assert why["B"] == "Not selected: another application of 'o1' is selected (one per organisation)."
    assert why["C"] == "Not selected: excluded by the committee."
    assert why["D"] == "Not selected: incompatible with 'E', which is selected."


def test_unknown_ids_in_committee_decisions():
    candidates = frame([("TAM-2022-0001", 90, 0, "N")])
    with pytest.raises(ConfigError) as caught:
        run(candidates, exclude=["TAM-2022-0010"])
    assert str(caught.value) == (
        "field 'exclude': exclude names application 'TAM-2022-0010', which is not among the "
        "candidates. Suggestion: did you mean 'TAM-2022-0001'?"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"budget": 10, "amount": "partial"}, "amount: partial needs min_fraction"),
        ({"budget": 10, "amount": "tiers"}, "amount: tiers needs tiers"),
        ({"budget": 10, "amount": "tiers", "tiers": [5, 50], "grant": {"max": 20}},
         "tier 50 is outside the grant bounds"),
        ({"budget": 10, "amount": "proportional"}, "amount: proportional needs grant.min"),
        ({"budget": 10, "amount": "proportional", "grant": {"min": 1},
          "groups": [{"column": "region", "max_money_share": 0.5}]},
         "money shares and spend floors do not apply"),
        ({"amount": "capped"}, "amount: capped needs a budget"),
        ({"budget": 10, "min_spend": 20}, "min_spend (20) must not exceed the budget (10)"),
        ({"groups": [{"column": "region", "penalty": 2}]}, "a penalty needs a bound to soften"),
        ({"groups": [{"column": "region", "min_count": 1, "penalty": 0.0001}]},
         "a penalty must be a multiple of 1/1000 merit point"),
        ({"include": ["A"], "exclude": ["A"]}, "'A' is both included and excluded"),
        ({"incompatible": [["A", "A"]]}, "an incompatible pair names 'A' twice"),
        ({"explain": {"counterfactual": 3}}, "Extra inputs are not permitted"),
    ],
)
def test_configuration_errors(config, message):
    with pytest.raises(ValidationError) as caught:
        AllocationConfig.model_validate(config)
    assert message in str(caught.value)


# ---------------------------------------------------------------------------
# Objectives (issue 4)
# ---------------------------------------------------------------------------

THREE = frame([("A", 90, 40, "N"), ("G", 89, 100, "N"), ("B", 85, 60, "N"),
               ("C", 50, 30, "N"), ("D", 45, 20, "N"), ("F", 30, 10, "N")])


def test_three_objectives_fund_three_different_sets():
    # total merit: the cheap ones (215); merit per money: G alone (89 x 100 = 8,900 per
    # 100 of budget, against 8,700 for A + B); rank order: A fits, G does not
    # (140 > 100), B fits in the 60 left, and nothing else does.
    total = run(THREE, budget=100)
    assert total.selected_ids == ["A", "C", "D", "F"]
    assert total.objective == 215.0
    money = run(THREE, budget=100, objective="merit_per_money")
    assert money.selected_ids == ["G"]
    assert money.objective == 89.0  # merit x money / budget
    rank = run(THREE, budget=100, objective="rank_order")
    assert rank.selected_ids == ["A", "B"]
    assert rank.objective == 175.0
    assert rank.to_summary()["objective_policy"] == "rank_order"


def test_rank_order_explanations_name_the_higher_ranked():
    rank = run(THREE, budget=100, objective="rank_order")
    why = by_id(rank, "reason_en")
    assert why["G"] == (
        "Not selected: the budget of 100 MAD is fully allocated (request: 100 MAD). "
        "Higher-ranked in its group and selected: 'A'."
    )
    assert why["C"] == (
        "Not selected: the budget of 100 MAD is fully allocated (request: 30 MAD). "
        "Higher-ranked in its group and selected: 'A', 'B'."
    )
    assert by_id(rank, "reason_fr")["C"] == (
        "Non retenu : le budget de 100 MAD est entièrement attribué (demande : 30 MAD). "
        "Mieux classées dans son groupe et retenues : 'A', 'B'."
    )


def test_summary_compares_the_other_objectives():
    summary = allocate(THREE, AllocationConfig(budget=100)).to_summary()
    assert summary["objective_policy"] == "total_merit"
    assert summary["other_objectives"] == {
        "merit_per_money": {
            "status": "OPTIMAL", "count": 1, "money": 100, "merit": 89.0,
            "only_with_this_objective": ["G"],
            "only_with_the_chosen_objective": ["A", "C", "D", "F"],
        },
        "rank_order": {
            "status": "OPTIMAL", "count": 2, "money": 100, "merit": 175.0,
            "only_with_this_objective": ["B"],
            "only_with_the_chosen_objective": ["C", "D", "F"],
        },
    }


def test_rank_order_in_groups_passes_over_only_what_does_not_fit():
    # Group N: N1 fits, N2 (70) does not fit after N1 and S1, N3 does: rank order
    # holds within N; S1 is in its own group.
    candidates = frame([("N1", 90, 40, "N"), ("N2", 80, 70, "N"), ("S1", 70, 30, "S"),
                        ("N3", 60, 30, "N")])
    result = run(candidates, budget=100, objective="rank_order",
                 groups=[{"column": "region", "min_count": 1}])
    assert result.selected_ids == ["N1", "S1", "N3"]


def test_rank_order_found_in_rounds_of_clauses():
    # Total merit funds cheap candidates below expensive ones; each round of
    # the lazy solve (AllocationModel._solve_lazy) adds the rank-order clauses
    # the last selection broke, and the fourth selection breaks none. Rank
    # order allows {C0, C4} (C3 does not fit after C0: 60 + 60 > 100) and
    # {C3, C1} (C0 does not fit after C3), both 180 in merit and 12 in rank
    # points: lexicographic, C0 wins (as the brute force finds).
    from selection.allocation_data import prepare
    from selection.allocation_model import AllocationModel

    candidates = frame([("C0", 100, 60, "S"), ("C1", 95, 20, "S"), ("C2", 90, 60, "S"),
                        ("C3", 85, 60, "N"), ("C4", 80, 30, "N"), ("C5", 75, 30, "S"),
                        ("C6", 70, 40, "S"), ("C7", 65, 50, "N")])
    config = AllocationConfig.model_validate({
        "objective": "rank_order", "budget": 100, "explain": QUIET,
        "groups": [{"column": "region", "min_count": 1}]})
    model = AllocationModel(prepare(candidates, config, {}, "MAD"), config, build=False)
    status, solution = model.solve(config.solver)
    assert model.lazy_rounds == 4
    assert candidates["application_id"][solution.selected].tolist() == ["C0", "C4"]
    assert allocate(candidates, config).selected_ids == ["C0", "C4"]


def test_same_selection_whatever_the_seed_and_workers():
    rows = [(f"T{i}", 50 + (i % 3), 10 + (i % 4) * 5, "NS"[i % 2]) for i in range(30)]
    candidates = frame(rows)
    chosen = set()
    for objective in ("total_merit", "merit_per_money", "rank_order"):
        for seed, workers in ((0, 1), (1, 1), (2, 1), (0, 2), (5, 2)):
            result = run(candidates, budget=120, objective=objective,
                         groups=[{"column": "region", "min_count": 2}],
                         solver={"seed": seed, "workers": workers})
            assert result.tie_break == "OPTIMAL"
            chosen.add((objective, tuple(result.selected_ids)))
    assert len(chosen) == 3  # one selection per objective


# ---------------------------------------------------------------------------
# Infeasibility: a minimal conflicting set, in words
# ---------------------------------------------------------------------------


def infeasible(candidates, **config) -> InfeasibleError:
    with pytest.raises(InfeasibleError) as caught:
        run(candidates, **config)
    return caught.value


def test_rank_order_can_conflict_with_a_minimum():
    candidates = frame([("N1", 90, 80, "N"), ("N2", 80, 30, "N"), ("N3", 70, 30, "N")])
    error = infeasible(candidates, budget=100, objective="rank_order",
                       groups=[{"column": "region", "min_count": 2}])
    assert error.first.message == (
        "no selection satisfies these constraints together: the budget of 100 MAD; "
        "region 'N': at least 2 selected; rank order within each group (relaxing any one "
        "of them removes the conflict)"
    )
    assert error.field == "budget, groups[0].min_count, objective"


def test_committee_decisions_in_conflict():
    candidates = frame([("A", 90, 0, "N"), ("B", 80, 0, "N"), ("C", 70, 0, "N")])
    error = infeasible(candidates, include=["A", "B"], incompatible=[["A", "B"]])
    assert error.first.message == (
        "no selection satisfies these constraints together: 'A' selected (include); "
        "'B' selected (include); 'A' and 'B' not both selected (relaxing any one of them "
        "removes the conflict)"
    )


def test_blocking_rules_are_named_in_the_conflict():
    # Region S needs one selected and its only candidate is below the merit floor,
    # but the count also caps the selection: the pre-check names the group.
    candidates = frame([("N1", 90, 0, "N"), ("S1", 40, 0, "S")])
    error = infeasible(candidates, min_merit=50, groups=[{"column": "region", "min_count": 1}])
    assert error.first.message == (
        "region 'S' needs at least 1 selected but no candidate can be selected"
    )
    # A conflict only the solver finds, with a blocking rule in it: N and S must
    # get the same money, and only S1 (below the floor) asks as much as N1.
    candidates = frame([("N1", 90, 60, "N"), ("S1", 40, 60, "S"), ("S2", 80, 30, "S")])
    error = infeasible(candidates, budget=200, min_merit=50, count={"min": 1},
                       groups=[{"column": "region", "max_money_share": 0.5}])
    assert error.first.message == (
        "no selection satisfies these constraints together: the merit floor of 50; at least "
        "1 selected; region 'N': at most 50% of the money; region 'S': at most 50% of the "
        "money (relaxing any one of them removes the conflict)"
    )
    assert error.suggestion == (
        "relax one of them: min_merit, count.min, groups[0].max_money_share"
    )


def test_include_of_a_blocked_candidate():
    candidates = frame([("A", 90, 0, "N"), ("B", 30, 0, "N")])
    error = infeasible(candidates, min_merit=50, include=["B"])
    assert str(error) == (
        "field 'include': 'B' must be selected (include) but cannot be: merit 30 is below "
        "the minimum of 50. Suggestion: remove 'B' from include, or relax the rule that "
        "blocks it"
    )


# ---------------------------------------------------------------------------
# Counterfactuals and constraint costs
# ---------------------------------------------------------------------------


def test_counterfactuals():
    candidates = frame([("A1", 90, 60_000, "N"), ("A2", 80, 50_000, "N"), ("A3", 70, 40_000, "N")])
    result = allocate(candidates, AllocationConfig(budget=100_000))
    row = result.table.set_index("application_id").loc["A2"]
    # With A2 in, the best is A2 + A3 (150): A2 needs more than 90 to beat A1 + A3 (160).
    assert row["merit_needed"] == 90.001
    # Added to A1 + A3 as they stand, A2 needs 50,000 more.
    assert row["extra_budget"] == 50_000
    assert row["counterfactual_note"] == ""
    assert math.isnan(result.table.set_index("application_id").loc["A1", "merit_needed"])


def test_counterfactual_notes_say_why_a_value_is_empty():
    candidates = frame([("A", 90, 60, "N"), ("B", 80, 30, "N"), ("C", 50, 40, "S"),
                        ("D", 40, 30, "S"), ("E", 20, 500, "S")])
    config = AllocationConfig(budget=100, groups=[{"column": "region", "max_money_share": 0.6}],
                              grant={"max": 100})
    result = allocate(candidates, config)
    table = result.table.set_index("application_id")
    assert pd.isna(table.loc["B", "extra_budget"])
    assert table.loc["B", "counterfactual_note"] == (
        "no extra budget alone would fund it: adding it would break region 'N': at most 60% "
        "of the money"
    )
    assert table.loc["D", "extra_budget"] == 30
    assert table.loc["E", "counterfactual_note"] == (
        "cannot be selected: the request of 500 MAD is above the maximum grant of 100 MAD."
    )
    limited = allocate(candidates, config.model_copy(
        update={"explain": config.explain.model_copy(update={"counterfactuals": 1})}))
    assert limited.table.set_index("application_id").loc["D", "counterfactual_note"] == (
        "merit not computed: only the 1 best-ranked candidates not selected get one "
        "(explain.counterfactuals)"
    )


def test_constraint_costs_and_price_of_balance():
    candidates = frame([("A", 90, 60, "N"), ("B", 80, 30, "N"), ("C", 50, 40, "S"),
                        ("D", 40, 30, "S")])
    result = allocate(candidates, AllocationConfig(
        budget=100, groups=[{"column": "region", "max_money_share": 0.6}]))
    assert result.selected_ids == ["A", "C"]
    assert result.to_summary()["binding_constraints"] == [
        {"constraint": "the budget of 100 MAD", "field": "budget", "cost": 120.0,
         "objective_without": 260.0, "proven": True},
        {"constraint": "region 'N': at most 60% of the money",
         "field": "groups[0].max_money_share", "cost": 30.0, "objective_without": 170.0,
         "proven": True},
        # Without S's cap, B + C + D (170) gives S 70%.
        {"constraint": "region 'S': at most 60% of the money",
         "field": "groups[0].max_money_share", "cost": 30.0, "objective_without": 170.0,
         "proven": True},
    ]
    assert result.price_of_balance == {
        "objective_with": 140.0, "objective_without": 170.0, "cost": 30.0, "proven": True,
    }


def test_more_inclusions_than_places():
    candidates = frame([("A", 90, 0, "N"), ("B", 80, 0, "N"), ("C", 70, 0, "N")])
    error = infeasible(candidates, count={"max": 1}, include=["A", "C"])
    assert error.first.message == (
        "2 applications must be selected (include) but at most 1 can be selected"
    )


def test_spend_floor_out_of_reach():
    candidates = frame([("A", 90, 30, "N"), ("B", 80, 20, "N"), ("C", 70, 500, "N")])
    error = infeasible(candidates, budget=100, min_spend=60, grant={"max": 100})
    assert error.first.message == (
        "at least 60 MAD must be spent but all the grants that can be made add up to 50 MAD"
    )


def test_rank_points_tie_break_says_so():
    candidates = frame([(f"T{i}", 50, 10, "N") for i in range(6)])
    result = run(candidates, budget=30, solver={"tie_break": "rank_points"})
    assert result.selected_ids == ["T0", "T1", "T2"]
    assert result.tie_break == "RANK_POINTS"
    assert result.to_summary()["tie_break"] == "RANK_POINTS"
