"""The LP-bound reduction (selection/allocation_reduce.py) changes nothing but speed.

The property test solves the random instances of test_allocation_properties
with the reduction forced on (``solver.reduce: always``), against the same
exhaustive enumeration: every policy, objective and constraint kind, so
both kinds of restriction (a model of its own over the open candidates, and
a copy with candidates held) are checked. The larger cases compare with the
reduction off on instances where it fixes most candidates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from test_allocation_properties import check_against_brute_force, instances

from selection import allocation_reduce
from selection.allocation import AllocationConfig, allocate
from selection.allocation_data import prepare
from selection.allocation_model import AllocationModel
from selection.errors import InfeasibleError

EXPLAIN_OFF = {"counterfactuals": 0, "costs": False, "compare_objectives": False}


def forced(config: AllocationConfig, mode: str = "always") -> AllocationConfig:
    return config.model_copy(update={"solver": config.solver.model_copy(update={"reduce": mode})})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_reduction_matches_enumeration(instance):
    candidates, config, declared = instance
    check_against_brute_force(candidates, forced(config), declared)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(policies=("requested", "capped", "tiers")))
def test_merit_counterfactuals_from_the_bound_match_the_whole_model(instance):
    """The merit needed, re-solved over the candidates the bound leaves open
    (AllocationModel.best_with), equals the whole model's re-solve."""
    candidates, config, declared = instance
    config = config.model_copy(update={"explain": config.explain.model_copy(
        update={"counterfactuals": 12, "exact_up_to": 0})})
    try:
        whole = allocate(candidates, forced(config, "never"), group_values=declared)
    except InfeasibleError:
        return
    reduced = allocate(candidates, forced(config), group_values=declared)
    pd.testing.assert_frame_equal(reduced.table, whole.table)


def synthetic(n: int, seed: int = 7) -> pd.DataFrame:
    """Ranked candidates in three regions, requests of 20,000-100,000 in steps of 5,000."""
    rng = np.random.default_rng(seed)
    merit = np.sort(np.round(np.clip(rng.normal(62, 12, n), 0, 100), 2))[::-1]
    return pd.DataFrame({
        "application_id": [f"C{i:05d}" for i in range(n)],
        "score": merit,
        "requested_amount": rng.integers(4, 21, n) * 5_000,
        "region": rng.choice(["Nord", "Sud", "Oriental"], n, p=[0.5, 0.3, 0.2]),
    })


CONFIGS = {
    "regions": dict(budget=3_000_000, grant={"min": 20_000, "max": 100_000},
                    groups=[{"column": "region", "min_count": 6, "max_money_share": 0.45}]),
    "count cap": dict(budget=5_000_000, count={"max": 40},
                      groups=[{"column": "region", "min_count_share": 0.2}]),
    "soft": dict(budget=2_000_000, objective="merit_per_money",
                 groups=[{"column": "region", "min_count": 12, "penalty": 3.0}]),
    "spend floor": dict(budget=2_500_000, min_spend_share=0.98, amount="capped",
                        grant={"max": 60_000}),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_reduction_gives_the_same_answer_on_larger_stages(name, monkeypatch):
    candidates = synthetic(600)
    explain = {"counterfactuals": 10, "costs": False, "compare_objectives": False}
    config = AllocationConfig(**CONFIGS[name], explain=explain)
    opened = []
    original = allocation_reduce.fixings

    def spy(bound, variables, lower):
        fixed, ones = original(bound, variables, lower)
        opened.append(int((~fixed).sum()))
        return fixed, ones

    monkeypatch.setattr(allocation_reduce, "fixings", spy)
    reduced = allocate(candidates, forced(config, "auto"))
    whole = allocate(candidates, forced(config, "never"))
    assert opened and opened[-1] < 300, opened  # most of the 600 were decided by the bound
    pd.testing.assert_frame_equal(reduced.table, whole.table)
    assert reduced.to_summary() | {"wall_time": 0} == whole.to_summary() | {"wall_time": 0}
    assert reduced.tie_break == whole.tie_break == "OPTIMAL"


def test_the_bound_is_above_every_selection_and_fixings_keep_the_optimum():
    candidates = synthetic(400, seed=3)
    config = AllocationConfig(**CONFIGS["regions"], explain=EXPLAIN_OFF)
    data = prepare(candidates, config, {}, "MAD")
    model = AllocationModel(data, config, build=False)
    bound, columns = model._lp_bound(config.solver)
    assert not model.built  # the form alone: the whole model was not needed
    result = allocate(candidates, forced(config, "never"))
    optimum = round(result.objective * 1000)
    assert bound.upper >= optimum
    fixed, ones = allocation_reduce.fixings(bound, columns, optimum)
    selected = result.table["selected"].to_numpy()[model.rows]
    assert fixed.sum() > 300
    # The optimal selection agrees with every fixing made against its own value.
    assert (selected[fixed] == ones[fixed]).all()


def test_the_bound_read_from_the_model_agrees_with_the_form():
    """A committee rule sends the LP through the CP-SAT proto: same bound."""
    candidates = synthetic(400, seed=3)
    config = AllocationConfig(**CONFIGS["soft"], explain=EXPLAIN_OFF)
    data = prepare(candidates, config, {}, "MAD")
    from_form, _ = AllocationModel(data, config, build=False)._lp_bound(config.solver)
    model = AllocationModel(data, config)
    model._restrictable = lambda: False
    from_proto, _ = model._lp_bound(config.solver)
    assert from_proto.upper == pytest.approx(from_form.upper, rel=1e-6)


def test_reduce_setting_is_validated():
    with pytest.raises(Exception, match="'auto', 'always' or 'never'"):
        AllocationConfig(solver={"reduce": "sometimes"})


def test_column_generation_gives_the_lp_optimum(monkeypatch):
    """From GENERATE_FROM candidates on, the multipliers come from column
    generation over a few hundred columns: the optimal LP duals, so the
    bound is the LP optimum (PDLP over every column gives it to its
    precision, from above), and the answer is the whole model's."""
    candidates = synthetic(2_400, seed=5)
    config = AllocationConfig(**CONFIGS["regions"] | {"budget": 12_000_000},
                              explain=EXPLAIN_OFF)
    data = prepare(candidates, config, {}, "MAD")
    generated = []
    original = allocation_reduce._generated_duals

    def spy(*args):
        y = original(*args)
        generated.append(y is not None)
        return y

    monkeypatch.setattr(allocation_reduce, "_generated_duals", spy)
    bound, _ = AllocationModel(data, config, build=False)._lp_bound(config.solver)
    assert generated == [True]
    monkeypatch.setattr(allocation_reduce, "GENERATE_FROM", 10**9)
    pdlp, _ = AllocationModel(data, config, build=False)._lp_bound(config.solver)
    assert bound.upper <= pdlp.upper + 1e-6 * abs(pdlp.upper)
    assert bound.upper == pytest.approx(pdlp.upper, rel=1e-6)
    monkeypatch.undo()

    reduced = allocate(candidates, forced(config, "auto"))
    whole = allocate(candidates, forced(config, "never"))
    pd.testing.assert_frame_equal(reduced.table, whole.table)
    assert reduced.tie_break == whole.tie_break == "OPTIMAL"


def test_column_generation_that_does_not_settle_falls_back_to_pdlp(monkeypatch):
    candidates = synthetic(1_200, seed=5)
    config = AllocationConfig(**CONFIGS["regions"], explain=EXPLAIN_OFF)
    data = prepare(candidates, config, {}, "MAD")
    first, _ = AllocationModel(data, config, build=False)._lp_bound(config.solver)
    monkeypatch.setattr(allocation_reduce, "ROUNDS", 0)  # never settles
    fallback, _ = AllocationModel(data, config, build=False)._lp_bound(config.solver)
    assert fallback.upper == pytest.approx(first.upper, rel=1e-6)
    reduced = allocate(candidates, forced(config, "auto"))
    whole = allocate(candidates, forced(config, "never"))
    pd.testing.assert_frame_equal(reduced.table, whole.table)
