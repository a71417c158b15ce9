"""Grading end to end: answer key, mutants, shrunk counterexamples, determinism, error statuses,
and the hostile-submission corpus through the real sandbox."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from _fake_sandbox import fake_factory

from glmm_exercises.catalogue import (
    exercise_ids,
    expected_failures,
    get_exercise,
    key_path,
    mutant_paths,
)
from graders.grading_errors import MissingSeedError, SubmissionNotFoundError, UnknownExerciseError
from graders.results import to_json
from graders.runner import grade

EX_ID = "poisson-marginal"
EXERCISE = get_exercise(EX_ID)
CORPUS = Path(__file__).parent / "fixtures" / "submissions" / "poisson_marginal"
SEED = 0x5EED_1234_ABCD_9876
FAST = 25  # examples per check in the default run


@cache
def sandbox_keeps_0d_arrays() -> bool:
    """Whether the real sandbox delivers a 0-d array argument as 0-d (needed by the shape checks)."""
    from graders.sandbox import Sandbox

    probe = Path(__file__).parent / "fixtures" / "submissions" / "poisson_marginal" / "correct.py"
    with Sandbox(probe) as box:
        box.load()
        out = box.call("marginal_mean", np.array(0.0), 0.0, 0.0, 0.0)
    return out.status == "ok" and np.ndim(out.value) == 0


ZERO_D_BUG = (
    "graders/sandbox.py sends 0-d array arguments as shape (1,) (np.ascontiguousarray in _encode_arg "
    "promotes 0-d arrays), so the hidden shape checks cannot pass yet"
)
SHAPE_CHECKS = {"mean_shape", "variance_shape"}


def test_catalogue_lists_the_exercise_and_rejects_unknown_ids() -> None:
    assert EX_ID in exercise_ids()
    with pytest.raises(UnknownExerciseError, match="poisson-marginal"):
        get_exercise("poisson-marginl")


def test_exercise_has_public_and_hidden_checks_for_both_functions() -> None:
    public = {c.name for c in EXERCISE.select(["public"])}
    hidden = {c.name for c in EXERCISE.select(["hidden"])}
    assert public and hidden and not public & hidden
    for names in (public, hidden):
        assert {c.split("_")[0] for c in names} == {"mean", "variance"}


def test_answer_key_gets_full_marks() -> None:
    result = grade(key_path(EX_ID), EXERCISE, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    assert [c.name for c in result.checks if not c.passed] == []
    assert result.score == result.max_score == EXERCISE.max_score


@pytest.mark.parametrize("mutant", sorted(expected_failures(EX_ID)))
def test_each_mutant_loses_exactly_its_declared_checks(mutant: str) -> None:
    path = mutant_paths(EX_ID)[mutant]
    result = grade(path, EXERCISE, mode="all", seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    failed = {c.name for c in result.checks if not c.passed}
    assert failed == expected_failures(EX_ID)[mutant]
    lost = sum(c.max_score for c in result.checks if c.name in failed)
    assert result.score == EXERCISE.max_score - lost > 0


def test_every_mutant_file_is_declared() -> None:
    assert set(mutant_paths(EX_ID)) == set(expected_failures(EX_ID))


def test_not_mean_fails_with_shrunk_counterexample_and_the_not_mean_hint() -> None:
    path = mutant_paths(EX_ID)["not_mean"]
    result = grade(path, EXERCISE, seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
    check = next(c for c in result.checks if c.name == "mean_scalar")
    assert check.status == "failed" and check.reason == "mismatch" and check.score == 0
    ce = check.counterexample
    assert set(ce) == {"x", "beta0", "beta1", "tau2"}
    # shrunk: every coordinate that does not matter for the failure has shrunk to 0
    assert ce["x"] == ce["beta0"] == ce["beta1"] == 0.0 and 0 < ce["tau2"] <= 4
    assert check.got == pytest.approx(1.0)
    assert check.expected == pytest.approx(math.exp(ce["tau2"] / 2), rel=1e-12)
    assert "conditional mean at γ = 0" in check.hint
    # the variance is right in this mutant: partial credit
    assert next(c for c in result.checks if c.name == "variance_scalar").passed


def test_hints_name_the_variance_mistakes() -> None:
    wanted = {
        "variance_without_poisson_part": "Poisson part",
        "variance_poisson_only": "plain Poisson",
        "tau_instead_of_tau2": "square root",
    }
    for mutant, phrase in wanted.items():
        result = grade(mutant_paths(EX_ID)[mutant], EXERCISE, seed=SEED, max_examples=FAST, sandbox_factory=fake_factory())
        check = next(c for c in result.checks if c.name == "variance_scalar")
        assert not check.passed and phrase in check.hint, (mutant, check.hint)


def test_public_mode_runs_only_public_checks_and_all_needs_the_seed() -> None:
    result = grade(key_path(EX_ID), EXERCISE, max_examples=5, sandbox_factory=fake_factory())
    assert {c.visibility for c in result.checks} == {"public"}
    assert result.mode == "public"
    with pytest.raises(MissingSeedError, match="GLMM_GRADING_SEED"):
        grade(key_path(EX_ID), EXERCISE, mode="all", sandbox_factory=fake_factory())


def test_missing_or_wrong_kind_of_submission_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(SubmissionNotFoundError, match="does not exist"):
        grade(tmp_path / "nope.py", EXERCISE, sandbox_factory=fake_factory())
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SubmissionNotFoundError, match=r"\.py or \.ipynb"):
        grade(tmp_path / "notes.txt", EXERCISE, sandbox_factory=fake_factory())


def test_same_seed_same_json_apart_from_timings_and_seed_changes_examples() -> None:
    path = mutant_paths(EX_ID)["tau_instead_of_tau2"]
    runs = [
        grade(path, EXERCISE, mode="all", seed=s, max_examples=FAST, sandbox_factory=fake_factory())
        for s in (SEED, SEED, SEED + 1)
    ]
    assert to_json(runs[0], timings=False) == to_json(runs[1], timings=False)
    assert to_json(runs[0]) != to_json(runs[1])  # the timing fields do differ
    assert runs[0].seed_ref != runs[2].seed_ref
    assert str(SEED) not in to_json(runs[0])


def test_timeout_stops_the_function_but_not_the_other_function() -> None:
    result = grade(
        key_path(EX_ID), EXERCISE, max_examples=5, sandbox_factory=fake_factory(forced={"marginal_mean": "timeout"})
    )
    mean = [c for c in result.checks if c.function == "marginal_mean"]
    assert all(c.status == "timeout" and c.score == 0 for c in mean)
    assert mean[0].examples == 1 and "not run" in mean[1].message
    assert all(c.passed for c in result.checks if c.function == "marginal_variance")


@pytest.mark.parametrize(
    ("status", "result_status", "phrase"),
    [
        ("crashed", "error", "crashed"),
        ("not_implemented", "failed", "not yet implemented"),
        ("forbidden_import", "error", "forbidden"),
        ("invalid_output", "failed", "invalid_output"),
    ],
)
def test_sandbox_statuses_become_check_results(status: str, result_status: str, phrase: str) -> None:
    result = grade(key_path(EX_ID), EXERCISE, max_examples=5, sandbox_factory=fake_factory(forced={"marginal_variance": status}))
    var = [c for c in result.checks if c.function == "marginal_variance"]
    assert all(c.status == result_status and c.score == 0 for c in var)
    assert all(phrase in c.message or phrase == c.reason for c in var)
    assert all(c.passed for c in result.checks if c.function == "marginal_mean")


def test_a_call_over_the_checks_own_time_limit_fails_it_as_timeout() -> None:
    import dataclasses

    slow_check = dataclasses.replace(EXERCISE.checks[0], time_limit=0.5)
    exercise = dataclasses.replace(EXERCISE, checks=(slow_check, *EXERCISE.checks[1:2]))
    result = grade(key_path(EX_ID), exercise, max_examples=5, sandbox_factory=fake_factory(runtime=0.75))
    slow, other = result.checks
    assert slow.status == "timeout" and "limit of 0.5 s" in slow.message and slow.examples == 1
    assert other.passed  # 0.75 s is within its default limit


def test_load_failure_fails_every_check_with_the_load_message() -> None:
    result = grade(key_path(EX_ID), EXERCISE, sandbox_factory=fake_factory(load_status="syntax_error"))
    assert result.score == 0 and result.load_status == "syntax_error"
    assert all(c.reason == "load_failed" and "syntax_error" in c.message for c in result.checks)


def test_a_broken_oracle_is_a_grader_error_not_a_crash(tmp_path: Path) -> None:
    import dataclasses

    def broken(**_: object) -> float:
        raise ValueError("oracle exploded")

    check = dataclasses.replace(EXERCISE.checks[0], oracle=broken)
    exercise = dataclasses.replace(EXERCISE, checks=(check,))
    result = grade(key_path(EX_ID), exercise, max_examples=5, sandbox_factory=fake_factory())
    (res,) = result.checks
    assert res.status == "error" and res.reason == "grader_error" and "instructor" in res.message


# -- the real sandbox -----------------------------------------------------------------------------


def test_answer_key_full_marks_in_the_real_sandbox() -> None:
    if not sandbox_keeps_0d_arrays():
        pytest.xfail(ZERO_D_BUG)
    result = grade(key_path(EX_ID), EXERCISE, mode="all", seed=SEED, max_examples=FAST)
    assert result.score == result.max_score, [c.message for c in result.checks if not c.passed]


def test_real_sandbox_json_is_reproducible() -> None:
    path = CORPUS / "not_mean.py"
    a, b = (grade(path, EXERCISE, mode="all", seed=SEED, max_examples=10) for _ in range(2))
    assert to_json(a, timings=False) == to_json(b, timings=False)


#: The corpus convention (tests/fixtures/submissions/poisson_marginal): each file attacks one
#: function (or both, or the loader); a function that is not under attack is correct and
#: vectorised, or absent. Attacked functions must score 0; the others earn their points unless
#: they are missing. Files whose attacked function is legitimately right for some inputs have
#: an exact list of the checks they pass.
BOTH = frozenset({"marginal_mean", "marginal_variance"})
ATTACKED: dict[str, frozenset[str]] = {
    "correct.py": frozenset(),
    "notebook_ok.ipynb": frozenset(),
    "notebook_error_cell.ipynb": frozenset(),
    "monkeypatches_builtins.py": frozenset(),  # attacks the grader process, not the answers
    "quota_hog.py": frozenset(),  # attacks classmates (tests/test_integrity.py), answers right
    "returns_longdouble.py": frozenset(),
    "notebook_continuations.ipynb": frozenset(),
    "slow_correct.py": frozenset(),  # right, only slow: the budget is tested in test_integrity
    **{
        name: BOTH
        for name in (
            "always_equal.py",
            "float_subclass.py",
            "ndarray_subclass.py",
            "imports_graders.py",
            "nan_inf.py",
            "raises_base_exception.py",
            "stub_not_implemented.py",
            "syntax_error.py",
            "slow_import.py",
            "imports_reference.py",
            "empty.py",
            "fork_memory.py",
            "whoami.py",
            "returns_huge_int.py",
            "hostile_text.py",
        )
    },
}
EXACT_PASSES: dict[str, frozenset[str]] = {
    "not_mean.py": frozenset({"mean_tau2_zero", "variance_tau2_zero"}),  # right only at tau2 = 0
    "wrong_shape.py": frozenset({"mean_scalar"}),  # right for floats, not vectorised
    "big_print.py": frozenset({"mean_scalar"}),  # math.exp: right for floats only
}


def _corpus() -> list:
    names = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".py", ".ipynb")) if CORPUS.is_dir() else []
    # the fork bomb keeps up to max_processes busy processes for a whole call limit, the slow one
    # sleeps in every call, the memory one holds 1.4 GB for seconds: slow run only
    slow = ("fork_bomb.py", "slow_correct.py", "fork_memory.py")
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


@pytest.mark.parametrize("name", _corpus())
def test_hostile_corpus_scores_only_what_it_earns(name: str) -> None:
    result = grade(CORPUS / name, EXERCISE, mode="all", seed=SEED, max_examples=20)
    judged = [c for c in result.checks if sandbox_keeps_0d_arrays() or c.name not in SHAPE_CHECKS]
    detail = [(c.name, c.status, c.message[:120]) for c in judged]
    if name in EXACT_PASSES:
        assert {c.name for c in judged if c.passed} == EXACT_PASSES[name] - (
            set() if sandbox_keeps_0d_arrays() else SHAPE_CHECKS
        ), detail
    else:
        attacked = ATTACKED.get(name, frozenset({"marginal_mean"}))
        for c in judged:
            if c.function in attacked:
                assert not c.passed, detail
            else:
                assert c.passed or c.reason == "missing", detail
    for c in result.checks:
        assert c.message.strip(), c
        assert c.score == (c.max_score if c.passed else 0)
        if not c.passed:
            # a clear message names the function or the submission problem
            assert c.function in c.message or "submission" in c.message or "not run" in c.message, c.message
    assert result.score == sum(c.max_score for c in result.checks if c.passed)


@pytest.mark.slow
def test_official_grading_with_200_examples_per_check() -> None:
    import time

    started = time.perf_counter()
    result = grade(key_path(EX_ID), EXERCISE, mode="all", seed=SEED, max_examples=200)
    elapsed = time.perf_counter() - started
    judged = [c for c in result.checks if sandbox_keeps_0d_arrays() or c.name not in SHAPE_CHECKS]
    assert all(c.passed for c in judged), [c.message for c in judged if not c.passed]
    assert all(c.examples == 200 for c in judged)
    assert elapsed < 120, f"official grading took {elapsed:.1f} s"
