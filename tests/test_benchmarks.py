"""The benchmark harness runs (quick mode, small sizes) so that it cannot rot.

No timing is asserted: the figures of a shared machine move from run to run.
What is checked is the shape: every registered row at its quick sizes, the
same rows in the Markdown table and the JSON, and finite ratios wherever both
sides ran (a baseline whose optional package is missing must say so).
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"

# Rows whose baseline needs the `bench` extra (highspy, pabutools).
OPTIONAL = {"allocate/highs": "highspy", "allocate/pabutools-greedy": "pabutools",
            "allocate/pabutools-maxwelfare": "pabutools"}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run through the command line, as a user runs it."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    completed = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--repeat", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, json.loads(out.read_text(encoding="utf-8"))


def test_every_registered_row_runs_at_its_quick_sizes(bench, quick):
    _, results = quick
    expected = [(row.name, size) for row in bench.ROWS for size in row.quick_sizes]
    assert [(r["row"], r["size"]) for r in results["rows"]] == expected


def test_table_and_json_have_the_same_rows_and_columns(bench, quick):
    stdout, results = quick
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == [title for _, title in bench.COLUMNS]
    assert lines[1].replace(" ", "").strip("|").split("|") == ["---"] * len(bench.COLUMNS)
    body = lines[2:]
    assert len(body) == len(results["rows"])
    for line, record in zip(body, results["rows"]):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(bench.COLUMNS)
        assert cells[0] == record["row"]
        for key, _ in bench.COLUMNS:
            assert key in record
    assert {"nproc", "cpu", "versions"} <= set(results["machine"])


def test_ratios_are_finite_where_both_sides_ran(quick):
    _, results = quick
    for record in results["rows"]:
        ours, base = record["ours"], record["baseline_detail"]
        assert ours["error"] is None, record
        package = OPTIONAL.get(record["row"])
        if base["error"] is not None:
            assert package is not None and importlib.util.find_spec(package) is None, record
            assert "not installed" in base["error"] and "not installed" in record["notes"]
            continue
        assert math.isfinite(record["time_ratio"]) and record["time_ratio"] > 0, record
        for key in ("median_s", "baseline_median_s", "peak_rss_mib", "baseline_peak_rss_mib"):
            assert math.isfinite(record[key]) and record[key] > 0, (key, record)
        if record["row"].startswith("allocate/"):
            assert math.isfinite(record["objective_ratio"]), record
            # Ours is proven optimal: no baseline does better on its instance.
            assert record["objective_ratio"] >= 1 - 1e-9, record
            assert ours["figures"]["status"] == "OPTIMAL"


def test_an_unknown_row_prefix_is_refused():
    completed = subprocess.run(
        [sys.executable, str(RUN), "--only", "nothing-like-this"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode != 0
    assert "no row starts with 'nothing-like-this'" in completed.stderr


def test_scoring_runs_in_turns_at_small_sizes(bench, quick):
    _, results = quick
    runs, rounds = bench._scoring_runs(300)
    assert rounds > 1
    for record in results["rows"]:
        if record["row"] == "score" and record["size"] < 100_000:
            # --repeat 1 does not cut them: the median needs the warm runs.
            assert record["runs"] == record["baseline_runs"] == runs * rounds
            assert len(record["ours"]["times_s"]) == runs * rounds


def test_worker_processes_combine_into_one_measurement(bench):
    first = bench.Measurement(label="x", runs=2, median_s=0.15, times_s=[0.1, 0.2],
                              peak_rss_mib=100.0, rss_before_mib=90.0, figures={"n": 1})
    second = bench.Measurement(label="x", runs=3, median_s=0.4, times_s=[0.3, 0.4, 0.5],
                               peak_rss_mib=120.0, rss_before_mib=80.0, figures={"n": 1})
    both = bench._combined([first, second])
    assert both.runs == 5 and both.times_s == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert both.median_s == 0.3  # of every run, not of the two medians (0.275)
    assert (both.peak_rss_mib, both.rss_before_mib, both.figures) == (120.0, 80.0, {"n": 1})
    failed = bench.Measurement(label="x", error="did not finish in 1 s")
    assert bench._combined([first, failed]).error == "did not finish in 1 s"
    assert bench._combined([first]) is first
