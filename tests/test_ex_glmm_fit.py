"""Exercise glmm-fit: answer key, mutants (several seeds), both families, variants, sheet, dict extraction."""

from __future__ import annotations

import inspect
import runpy
from pathlib import Path

import jinja2
import numpy as np
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import expected_failures, get_exercise, key_path, mutant_paths
from glmm_exercises.catalogue import glmm_fit as mod
from graders.runner import grade

EX_ID = "glmm-fit"
SEED = 0x6F17
SEEDS = (SEED, pytest.param(5, marks=pytest.mark.slow), pytest.param(20241127, marks=pytest.mark.slow))
FAST = 3
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _result(path: Path, exercise, seed: int):
    return grade(path, exercise, mode="all", seed=seed, max_examples=FAST, sandbox_factory=fake_factory())


def _binomial_params() -> dict:
    for s in range(50):
        params = mod.draw_params(np.random.default_rng(s))
        if params["family"] == "binomial":
            return params
    raise AssertionError("no binomial variant in 50 draws")


def test_registered_and_statsmodels_is_forbidden() -> None:
    ex = get_exercise(EX_ID)
    assert ex is mod.EXERCISE and "statsmodels" in ex.forbidden_imports
    assert mod.problems(mod.DEFAULT_PARAMS) == []
    assert mod.DEFAULT_PARAMS["family"] == "poisson"  # MUTANTS are declared for the Poisson default


@pytest.mark.parametrize("seed", SEEDS)
def test_answer_key_gets_full_marks(seed: int) -> None:
    result = _result(key_path(EX_ID), mod.EXERCISE, seed)
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str, seed: int) -> None:
    result = _result(mutant_paths(EX_ID)[mutant], mod.EXERCISE, seed)
    assert {c.name for c in result.checks if not c.passed} == expected_failures(EX_ID)[mutant]


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_hints_name_the_mistakes() -> None:
    wanted = {
        "glm_ignores_clusters": ("beta_own", "ignores the clusters"),
        "no_log_factorial": ("loglik_own", "log y_ij!"),
        "aic_beta_only": ("aic_own", "only the fixed effects"),
        "tau2_as_tau": ("tau_own", "not the variance"),
    }
    for mutant, (check_name, phrase) in wanted.items():
        result = grade(mutant_paths(EX_ID)[mutant], mod.EXERCISE, mode="public", sandbox_factory=fake_factory())
        check = next(c for c in result.checks if c.name == check_name)
        assert not check.passed and phrase in check.hint, (mutant, check.hint)


def test_binomial_variant_key_passes_and_mistakes_are_caught() -> None:
    ex = mod.build(_binomial_params())
    assert [c.name for c in _result(key_path(EX_ID), ex, SEED).checks if not c.passed] == []
    public = grade(mutant_paths(EX_ID)["laplace_no_determinant"], ex, sandbox_factory=fake_factory())
    assert {"tau_own", "loglik_own"} <= {c.name for c in public.checks if not c.passed}
    # Bernoulli responses have no log y! constant: that mutant is right for this family
    assert all(c.passed for c in grade(mutant_paths(EX_ID)["no_log_factorial"], ex, sandbox_factory=fake_factory()).checks)


def test_a_non_dict_or_missing_key_fails_as_invalid_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def fit_glmm(X, y, cluster, family):\n    return {'beta': [0.0, 0.0]}\n")
    result = grade(bad, mod.EXERCISE, mode="public", max_examples=1, sandbox_factory=fake_factory())
    tau = next(c for c in result.checks if c.name == "tau_own")
    assert tau.reason == "invalid_output" and "no key 'tau'" in tau.message
    beta = next(c for c in result.checks if c.name == "beta_own")
    assert beta.reason == "mismatch"


@pytest.mark.parametrize("variant_seed", range(4))
def test_drawn_variants_are_well_posed_and_data_deterministic(variant_seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(variant_seed))
    assert mod.problems(params) == []
    data = mod.make_data(params)["clusters"]
    assert data.equals(mod.make_data(params)["clusters"])
    assert data["cluster"].nunique() == params["n_clusters"]
    y = data["y"].to_numpy()
    assert np.all(y >= 0) and (params["family"] == "poisson" or np.all(y <= 1))


def test_key_recovers_the_simulation_truth_roughly_on_a_large_data_set() -> None:
    # independent of the reference: with many clusters the ML estimates approach the true values
    from reference.simulate import simulate_glmm

    df = simulate_glmm([0.5, 0.8], 0.9**2, n_clusters=300, cluster_size=10, family="poisson", seed=3)
    key = runpy.run_path(str(key_path(EX_ID)))
    X = np.column_stack([np.ones(len(df)), df["x1"]])
    fit = key["fit_glmm"](X, df["y"].to_numpy(float), df["cluster"].to_numpy(), "poisson")
    np.testing.assert_allclose(fit["beta"], [0.5, 0.8], atol=0.15)
    assert fit["tau"] == pytest.approx(0.9, abs=0.15)


def test_problems_flags_bad_variants() -> None:
    assert mod.problems({**mod.DEFAULT_PARAMS, "family": "gamma"})
    # identical clusters leave no between-cluster variation: the reference τ̂ sits on the boundary
    x = np.tile(np.linspace(-1, 1, 6), 8)
    y = np.tile([0.0, 1, 1, 2, 3, 5], 8)
    case = {"X": np.column_stack([np.ones_like(x), x]), "y": y, "cluster": np.repeat(np.arange(1, 9), 6), "family": "poisson"}
    assert any("boundary" in p for p in mod.fit_problems(mod.reference_fit(**case)))


def test_sheet_renders_for_both_families() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters["cleandoc"] = inspect.cleandoc
    for params in (mod.DEFAULT_PARAMS, _binomial_params()):
        text = env.get_template(mod.SHEET).render(params=params, data=mod.make_data(params), functions=mod.EXERCISE.functions)
        assert params["family"] in text and "fit_glmm(X, y, cluster, family)" in text


def test_mutants_for_is_a_subset_of_the_default_variants_exact_failures() -> None:
    # selftest's per-variant failures (robust in every variant) must agree with what the default variant shows
    robust = mod.mutants_for(mod.DEFAULT_PARAMS)
    assert set(robust) == set(mod.MUTANTS)
    for name, checks in robust.items():
        assert checks and checks <= mod.MUTANTS[name], name


def test_mutants_for_skips_the_factorial_mutant_for_binary_data() -> None:
    assert mod.mutants_for(_binomial_params())["no_log_factorial"] == frozenset()
