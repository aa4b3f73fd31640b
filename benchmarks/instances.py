"""Synthetic, seeded instances for the benchmarks: allocation candidates.

Everything here is deterministic (numpy's PCG64 with a fixed seed) and
built in memory; nothing is written to the repository.

>>> table = candidates(1000)
>>> len(table), list(table.columns)
(1000, ['application_id', 'score', 'requested_amount', 'region'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from selection import AllocationConfig

SEED = 2022

#: TAMURI's five regions and the share of the candidates in each: unequal on
#: purpose, so that the money-share cap binds on the largest.
REGIONS = {
    "Casablanca-Settat": 0.30,
    "Tanger-Tétouan-Al Hoceïma": 0.25,
    "Souss-Massa": 0.20,
    "Béni Mellal-Khénifra": 0.15,
    "L'Oriental": 0.10,
}

#: Largest share of the money any one region may receive.
MAX_MONEY_SHARE = 0.30

#: The share of the total requested money the budget covers (the issue's 1-20%).
BUDGET_SHARES = (0.01, 0.05, 0.20)


def candidates(n: int, *, seed: int = SEED) -> pd.DataFrame:
    """``n`` ranked candidates: merit on 0-100 with two decimals (as scoring
    rounds it), requests of 20,000-100,000 MAD in steps of 5,000, a region.
    Rows are in rank order (best first), as :func:`selection.allocate` expects.
    """
    rng = np.random.default_rng([seed, n])
    merit = np.round(np.clip(rng.normal(62.0, 12.0, n), 0.0, 100.0), 2)
    order = np.argsort(-merit, kind="stable")
    regions = np.array(list(REGIONS), dtype=object)
    region = rng.choice(regions, size=n, p=list(REGIONS.values()))
    amount = rng.integers(4, 21, size=n, dtype=np.int64) * 5_000
    return pd.DataFrame(
        {
            "application_id": [f"C{i:07d}" for i in range(n)],
            "score": merit[order],
            "requested_amount": amount,
            "region": region,
        }
    )


@dataclass(frozen=True)
class Balance:
    """The constraints of an allocation instance, solver-neutral."""

    budget: int
    min_count: int  # per region
    max_money_share: float  # per region
    grant_min: int = 20_000
    grant_max: int = 100_000

    def config(self, *, time_limit: float = 60.0, explain: bool = False) -> AllocationConfig:
        """The same instance as :func:`selection.allocate` takes it.

        ``explain=False`` switches off the explanations that cost extra solves
        (counterfactuals, constraint costs, objective comparison), where this
        version of ``selection`` has them, so that the selection alone is
        timed, as the baselines do; ``True`` keeps ``allocate``'s defaults.
        """
        return AllocationConfig(
            **_explain(explain),
            budget=self.budget,
            grant={"min": self.grant_min, "max": self.grant_max},
            groups=[
                {
                    "column": "region",
                    "min_count": self.min_count,
                    "max_money_share": self.max_money_share,
                }
            ],
            solver={"time_limit": time_limit},
        )

    def budget_only(self, *, time_limit: float = 60.0) -> AllocationConfig:
        """The equivalent budget-only instance (what pabutools' rules model)."""
        return AllocationConfig(
            **_explain(False),
            budget=self.budget,
            grant={"min": self.grant_min, "max": self.grant_max},
            solver={"time_limit": time_limit},
        )


def balance(table: pd.DataFrame, budget_share: float) -> Balance:
    """Five-region balance and a budget of ``budget_share`` of all requests.

    Each region must get at least a tenth of a fair fifth of the grants the
    budget buys at the mean request (and at least 2, or 1 when the budget
    cannot pay two minimum grants per region), and at most 30% of the money
    spent.
    """
    total = int(table["requested_amount"].sum())
    budget = int(round(total * budget_share, -3))
    expected_grants = budget / float(table["requested_amount"].mean())
    min_count = max(2, int(expected_grants / len(REGIONS) / 10))
    if 2 * len(REGIONS) * 20_000 > budget:  # a tiny instance (quick mode): one each
        min_count = 1
    return Balance(budget=budget, min_count=min_count, max_money_share=MAX_MONEY_SHARE)


def _explain(on: bool) -> dict:
    """The ``explain`` settings that time the selection alone, when they exist."""
    if on or "explain" not in AllocationConfig.model_fields:
        return {}
    return {"explain": {"counterfactuals": 0, "costs": False, "compare_objectives": False}}
