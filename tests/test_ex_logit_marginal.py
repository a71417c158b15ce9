"""Exercise logit-marginal: answer key, mutants, variants, sheet, and the oracle against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from _fake_sandbox import fake_factory
from scipy import integrate, special

from glmm_exercises.catalogue import expected_failures, get_exercise, key_path, mutant_paths
from glmm_exercises.catalogue import logit_marginal as mod
from glmm_exercises.sheets import markdown_to_html, render_exercise_markdown
from graders.runner import grade

EX_ID = "logit-marginal"
SEED = 0x10617_3A2B
FAST = 15  # examples per check in the default run


def test_registered_and_default_exercise_is_the_default_variant() -> None:
    ex = get_exercise(EX_ID)
    assert ex is mod.EXERCISE and ex.id == mod.ID and ex.version == mod.VERSION
    assert mod.problems(mod.DEFAULT_PARAMS) == []


def test_answer_key_gets_full_marks() -> None:
    ex = get_exercise(EX_ID)
    result = grade(key_path(EX_ID), ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert [(c.name, c.message) for c in result.checks if not c.passed] == []
    assert result.score == ex.max_score


@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str) -> None:
    ex = get_exercise(EX_ID)
    result = grade(mutant_paths(EX_ID)[mutant], ex, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    failed = {c.name for c in result.checks if not c.passed}
    assert failed == expected_failures(EX_ID)[mutant]


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_hints_name_the_normalisation_mistakes() -> None:
    ex = get_exercise(EX_ID)
    wanted = {"hermgauss_no_sqrt2": "√2", "hermgauss_no_sqrtpi": "√π", "tau2_as_sd": "variance τ²"}  # over_z shrinks to τ² = 2, where it equals no_sqrt2
    for mutant, phrase in wanted.items():
        result = grade(mutant_paths(EX_ID)[mutant], ex, seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        check = next(c for c in result.checks if c.name == "marginal_scalar")
        assert not check.passed and phrase in check.hint, (mutant, check.hint)


@pytest.mark.parametrize("seed", range(6))
def test_drawn_variants_are_well_posed_and_build(seed: int) -> None:
    params = mod.draw_params(np.random.default_rng(seed))
    assert mod.problems(params) == []
    assert params == mod.draw_params(np.random.default_rng(seed))
    assert abs(params["tau2"] - 1.0) > 0.4  # τ² and τ must differ visibly in the own-variant check
    ex = mod.build(params)
    assert {c.name for c in ex.checks} == {c.name for c in mod.EXERCISE.checks}
    assert mod.make_data(params) == {}


def test_problems_flags_bad_variants() -> None:
    assert mod.problems({**mod.DEFAULT_PARAMS, "tau2": 0.0})
    assert mod.problems({**mod.DEFAULT_PARAMS, "K": 0})


def test_oracle_matches_brute_force_integration_for_many_nodes() -> None:
    beta0, beta1, tau2, x = -0.4, 1.1, 2.5, 0.7
    eta = beta0 + beta1 * x
    sd = np.sqrt(tau2)
    exact = integrate.quad(lambda g: special.expit(eta + g) * np.exp(-0.5 * (g / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), -60, 60, epsabs=1e-14)[0]
    assert mod.marginal_oracle(x, beta0, beta1, tau2, 60) == pytest.approx(exact, rel=1e-10)
    # attenuation: derivative of logit P by a central difference of the exact integral
    def logit_p(e: float) -> float:
        p = integrate.quad(lambda g: special.expit(e + g) * np.exp(-0.5 * (g / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), -60, 60, epsabs=1e-15)[0]
        return float(special.logit(p))

    h = 1e-4
    slope = (logit_p(eta + h) - logit_p(eta - h)) / (2 * h)
    assert mod.attenuation_oracle(eta, tau2, 60) == pytest.approx(slope, rel=1e-6)
    # and it is below one, near the textbook approximation
    assert 0.5 < mod.attenuation_oracle(0.0, tau2, 60) < 1.0
    assert mod.attenuation_oracle(0.0, tau2, 60) == pytest.approx(1 / np.sqrt(1 + mod.APPROX_C**2 * tau2), rel=0.08)


def test_sheet_renders_for_a_variant() -> None:
    params = mod.draw_params(np.random.default_rng(3))
    text = render_exercise_markdown(mod.SHEET, params=params, data=mod.make_data(params), functions=mod.EXERCISE.functions)

    assert "<math" in markdown_to_html(text)
    assert str(params["tau2"]) in text and "marginal_probability" in text
