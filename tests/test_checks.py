"""Checks layer: comparison rules, declarations, seeds, statistical checks and their calibration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from _fake_sandbox import fake_factory
from hypothesis import strategies as st
from scipy import stats

from graders.checks import (
    Exercise,
    ExerciseDefinitionError,
    FunctionSpec,
    PropertyCheck,
    StatisticalCheck,
)
from graders.compare import Comparison, OracleValueError, compare
from graders.results import seed_reference, to_plain
from graders.runner import derive_seed, grade
from graders.stats import chi2_discrete_test, ks_test, mean_z_test

EXACT = Comparison(rtol=1e-8)


# -- compare ------------------------------------------------------------------------------------


def test_equal_values_pass_and_relative_tolerance_is_enforced() -> None:
    assert compare(np.array([1.0, 2.0]), np.array([1.0, 2.0 * (1 + 5e-9)]), EXACT) is None
    bad = compare(np.array([1.0, 2.0]), np.array([1.0, 2.0 * (1 + 5e-8)]), EXACT)
    assert bad is not None and bad.kind == "value" and "index [1]" in bad.message


def test_absolute_tolerance_covers_values_near_zero() -> None:
    assert compare(0.0, 1e-12, Comparison(rtol=1e-8, atol=1e-10)) is None
    assert compare(0.0, 1e-9, Comparison(rtol=1e-8, atol=1e-10)) is not None


def test_scalar_expected_rejects_length_one_array_and_vice_versa() -> None:
    assert compare(np.float64(1.0), np.array([1.0]), EXACT).kind == "shape"
    assert compare(np.array([1.0]), 1.0, EXACT).kind == "shape"
    assert compare(np.array(1.0), 1.0, EXACT) is None  # 0-d and Python float are both scalars


def test_list_for_array_bool_and_complex_are_type_mismatches() -> None:
    assert compare(np.array([1.0]), [1.0], EXACT).kind == "type"
    assert compare(1.0, True, EXACT).kind == "type"
    assert compare(1.0, np.array(1 + 0j), EXACT).kind == "type"
    assert compare(1.0, "1.0", EXACT).kind == "type"
    assert compare(1.0, None, EXACT).kind == "type"


def test_integer_results_are_accepted_as_real_numbers() -> None:
    assert compare(np.array([1.0, 2.0]), np.array([1, 2]), EXACT) is None


def test_nan_in_student_value_is_a_mismatch_unless_declared() -> None:
    assert compare(np.array([1.0, 2.0]), np.array([1.0, np.nan]), EXACT).kind == "nan"
    declared = Comparison(rtol=1e-8, nan_equal=True)
    assert compare(np.array([np.nan, 2.0]), np.array([np.nan, 2.0]), declared) is None
    assert compare(np.array([np.nan, 2.0]), np.array([0.0, 2.0]), declared).kind == "nan"
    with pytest.raises(OracleValueError):
        compare(np.array([np.nan]), np.array([np.nan]), EXACT)


def test_infinities_must_match_exactly_including_sign() -> None:
    assert compare(np.array([np.inf]), np.array([np.inf]), EXACT) is None
    assert compare(np.array([np.inf]), np.array([-np.inf]), EXACT).kind == "inf"
    assert compare(np.array([1e308]), np.array([np.inf]), EXACT).kind == "inf"


def test_broadcast_shape_rule() -> None:
    loose = Comparison(rtol=1e-8, shape="broadcast")
    assert compare(np.array([2.0, 2.0]), 2.0, loose) is None
    assert compare(np.array([2.0, 2.0]), np.array([2.0, 2.0, 2.0]), loose).kind == "shape"


def test_invalid_comparison_declarations_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Comparison(rtol=-1)
    with pytest.raises(ValueError, match="shape rule"):
        Comparison(shape="loose")  # type: ignore[arg-type]


# -- declarations ---------------------------------------------------------------------------------


def _spec() -> FunctionSpec:
    return FunctionSpec("f", "(x, y=1, *, z=2)", "Add things.")


def _prop(name: str = "c", function: str = "f", **kw: object) -> PropertyCheck:
    options = {
        "description": "d",
        "points": 1,
        "visibility": "public",
        "cases": st.fixed_dictionaries({"x": st.floats(0, 1)}),
        "oracle": lambda x: x,
        "comparison": EXACT,
        "hint": "h",
    } | kw
    return PropertyCheck(name=name, function=function, **options)  # type: ignore[arg-type]


def test_function_spec_parameters_and_stub() -> None:
    spec = _spec()
    assert spec.parameters == ("x", "y", "z")
    namespace: dict[str, object] = {}
    exec(compile(spec.stub(), "<stub>", "exec"), namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1.0)  # type: ignore[operator]
    assert namespace["f"].__doc__.strip().startswith("Add things.")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"points": 0}, "points must be positive"),
        ({"visibility": "secret"}, "visibility"),
        ({"hint": "  "}, "hint"),
        ({"time_limit": 0}, "time_limit"),
        ({"cases": [1, 2]}, "hypothesis strategy"),
    ],
)
def test_bad_check_declarations_fail_loudly(kwargs: dict, match: str) -> None:
    with pytest.raises(ExerciseDefinitionError, match=match):
        _prop(**kwargs)


def test_exercise_rejects_duplicate_names_and_unknown_functions() -> None:
    with pytest.raises(ExerciseDefinitionError, match="duplicate"):
        Exercise("e", "1", "t", (_spec(),), (_prop("a"), _prop("a")), public_seed=1)
    with pytest.raises(ExerciseDefinitionError, match="unknown function"):
        Exercise("e", "1", "t", (_spec(),), (_prop("a", function="g"),), public_seed=1)


def test_derived_seeds_are_deterministic_distinct_and_64_bit() -> None:
    a = derive_seed(5, "ex", "check_a")
    assert a == derive_seed(5, "ex", "check_a")
    assert len({a, derive_seed(5, "ex", "check_b"), derive_seed(6, "ex", "check_a"), derive_seed(5, "ex2", "check_a")}) == 4
    assert 0 <= a < 2**64


def test_seed_reference_hides_the_seed() -> None:
    seed = 98765432123456789
    ref = seed_reference(seed, "ex")
    assert ref == seed_reference(seed, "ex") and ref != seed_reference(seed + 1, "ex")
    assert str(seed) not in ref and ref.startswith("sha256:")


def test_to_plain_makes_strict_json_values() -> None:
    assert to_plain(np.array([1.0, np.nan, np.inf, -np.inf])) == [1.0, "NaN", "Infinity", "-Infinity"]
    assert to_plain({"a": np.int64(3), "b": (np.float32(0.5),), "c": np.bool_(True)}) == {"a": 3, "b": [0.5], "c": True}


# -- statistical checks ----------------------------------------------------------------------------

POISSON_CASES = ({"lam": 3.0, "n": 4000}, {"lam": 0.5, "n": 4000})


def _validate_counts(draws: object, case: dict) -> str | None:
    if not isinstance(draws, np.ndarray) or draws.shape != (case["n"],):
        return f"expected an array of {case['n']} draws"
    return None


def _poisson_check(alpha: float = 1e-6) -> StatisticalCheck:
    return StatisticalCheck(
        name="draws_match_poisson",
        function="draw_counts",
        description="draws follow Poisson(lam)",
        points=2,
        visibility="public",
        cases=POISSON_CASES,
        subtests=(
            mean_z_test(lambda c: c["lam"], lambda c: c["lam"], hint="the mean of your draws is off"),
            chi2_discrete_test(lambda c: stats.poisson(c["lam"]), hint="the shape of the distribution is off"),
        ),
        validate=_validate_counts,
        hint="return rng.poisson(...) of length n",
        alpha=alpha,
    )


def _poisson_exercise() -> Exercise:
    return Exercise(
        id="draws",
        version="1",
        title="Poisson draws",
        functions=(FunctionSpec("draw_counts", "(lam, n, rng)", "Draw n Poisson(lam) counts."),),
        checks=(_poisson_check(),),
        public_seed=11,
    )


def test_bonferroni_level_divides_alpha_over_subtests_and_cases() -> None:
    assert _poisson_check(alpha=1e-6).level == pytest.approx(1e-6 / 4)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ("return rng.poisson(lam, n)", "passed", "ok"),
        ("return rng.poisson(lam * 1.1, n)", "failed", "statistical"),
        ("return rng.geometric(1 / (1 + lam), n) - 1.0", "failed", "statistical"),
        ("return rng.poisson(lam, n + 1)", "failed", "invalid_output"),
    ],
)
def test_statistical_check_grades_draw_functions(tmp_path: Path, body: str, status: str, reason: str) -> None:
    sub = tmp_path / "draws.py"
    sub.write_text(f"def draw_counts(lam, n, rng):\n    {body}\n")
    result = grade(sub, _poisson_exercise(), sandbox_factory=fake_factory())
    (check,) = result.checks
    assert (check.status, check.reason) == (status, reason)
    assert check.score == (2.0 if status == "passed" else 0.0)


def test_statistical_check_draws_are_seeded_from_the_grading_seed(tmp_path: Path) -> None:
    sub = tmp_path / "draws.py"
    sub.write_text("def draw_counts(lam, n, rng):\n    return rng.poisson(lam, n)\n")
    seen = []
    for seed in (1, 1, 2):
        factory = fake_factory()
        boxes = []

        def keep(path, forbidden, secs, factory=factory, boxes=boxes):
            box = factory(path, forbidden, secs)
            boxes.append(box)
            return box

        grade(sub, _poisson_exercise(), seed=seed, sandbox_factory=keep)
        seen.append(tuple(args[-1].seed for _, args in boxes[0].seen_args))
    assert seen[0] == seen[1] != seen[2]
    assert 1 not in seen[0] and 2 not in seen[2]  # the grading seed itself never reaches the student


def test_ks_subtest_accepts_the_right_distribution_and_rejects_a_shifted_one() -> None:
    sub = ks_test(lambda c: stats.norm(c["m"], 1).cdf, hint="h")
    rng = np.random.default_rng(3)
    assert sub.p_value(rng.normal(0, 1, 2000), {"m": 0.0}) > 1e-3
    assert sub.p_value(rng.normal(0.3, 1, 2000), {"m": 0.0}) < 1e-6


@pytest.mark.slow
def test_false_fail_rate_of_a_statistical_check_by_simulation() -> None:
    """A correct sampler (pure in-process stand-in for the sandbox) fails at most alpha of the time."""
    reps = 3000

    def false_fails(check: StatisticalCheck, seed: int) -> int:
        rng = np.random.default_rng(seed)
        return sum(
            any(check.verdict(rng.poisson(c["lam"], c["n"]), c) is not None for c in check.cases)
            for _ in range(reps)
        )

    alpha = 0.05
    rate = false_fails(_poisson_check(alpha=alpha), 2024) / reps
    margin = 3 * math.sqrt(alpha * (1 - alpha) / reps)
    # Bonferroni bounds the rate by alpha; the approximations must not push it above, and the
    # check must actually reject sometimes (otherwise it would have no power at all).
    assert 0.2 * alpha < rate <= alpha + margin, rate
    # the official level: no false failure expected in 3000 replications (P(any) <= 3e-3)
    assert false_fails(_poisson_check(alpha=1e-6), 7) == 0
