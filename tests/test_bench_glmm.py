"""Tests for the helpers of benchmarks/bench_glmm.py (not the benchmark itself)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_glmm.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_glmm_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units and fork accounting checked on Linux")
def test_child_peak_memory_is_per_child(bench) -> None:
    # A child that holds ~300 MB, then a small one: the second peak must not inherit the first.
    big = bench.run_child(
        [sys.executable, "-c", "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
         "print('{\"ok\": true, \"seconds\": 0.5, \"loglik\": -1.0}')"],
        timeout=60,
    )
    small = bench.run_child([sys.executable, "-c", "print('{\"ok\": true, \"seconds\": 0.1, \"loglik\": -2.0}')"], 60)
    assert big.ok and small.ok
    assert big.peak_mb > 300
    assert small.peak_mb < 100
    assert (big.seconds, big.loglik) == (0.5, -1.0)


def test_child_failures_are_data(bench) -> None:
    failed = bench.run_child([sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"], 60)
    assert not failed.ok and "exit 3" in failed.error and "boom" in failed.error
    slow = bench.run_child([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert not slow.ok and "timed out" in slow.error


def test_last_json_object_reads_pretty_printed_output(bench) -> None:
    text = 'Loading...\n{\n  "elapsed_seconds": 1.5,\n  "loglik": -3.25\n}\n'
    assert bench._last_json_object(text) == {"elapsed_seconds": 1.5, "loglik": -3.25}
    assert bench._last_json_object("no json {here") is None


def test_sizes_and_cases(bench) -> None:
    assert bench.parse_size("1e4") == 10_000
    with pytest.raises(argparse.ArgumentTypeError):
        bench.parse_size("5")
    cases = bench.make_cases([1000], slope=True)
    assert [c.name for c in cases] == ["poisson-RI", "binomial-RI", "poisson-RS"]
    assert cases[2].formula == "y ~ x1 + x2 + (1 + x1 | cluster)"
    assert bench.make_cases([1000], slope=False, seed=1)[0].csv.name.endswith("_seed1.csv")
    assert bench.fmt(None, "9.3f") == "      n/a"


def test_multi_term_cases_and_their_simulated_designs(bench) -> None:
    cases = bench.make_multi_cases([2000])
    assert [c.name for c in cases] == ["grouse-obs", "verbagg-x", "crossed", "nested"]
    for case in cases[:2]:  # the stored data sets, with every grouping column read as a factor
        assert case.csv.exists(), case.csv
        header = case.csv.read_text().splitlines()[0]
        assert all(f'"{col}"' in header for col in case.factors), (case.name, header)
    crossed = bench.simulate_multi(cases[2], seed=1)
    assert len(crossed) == 2000 and set(crossed["y"]) <= {0, 1}
    assert crossed["a"].nunique() > 450 and crossed["b"].nunique() == 50
    nested = bench.simulate_multi(cases[3], seed=1)
    assert (nested["y"] >= 0).all() and nested["school"].nunique() == 50
    # class labels repeat across schools: only school/class identifies a class
    assert nested["class"].nunique() == 10
    assert (nested["school"] + ":" + nested["class"]).nunique() > 400
    again = bench.simulate_multi(cases[3], seed=1)
    assert again.equals(nested)
    assert not bench.simulate_multi(cases[3], seed=2).equals(nested)
