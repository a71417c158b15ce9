"""Grading throughput machinery: requests of many calls, the sweep, the input cache, exercises
graded side by side -- each faster path must give exactly the results of the plain one."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fake_sandbox import fake_factory
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from glmm_exercises.catalogue import exercise_ids, get_exercise, key_path, mutant_paths
from graders.case_cache import (
    CaseCache,
    case_digest,
    cases_key,
    decode,
    encode,
    plain_strategy_text,
)
from graders.checks import PropertyCheck
from graders.results import to_json
from graders.runner import grade
from graders.sandbox import Limits, Sandbox

SEED = 0x5EED_0F_CAFE_1234


def _without_timings(result: object) -> dict:
    doc = json.loads(to_json(result))
    doc.pop("execution_time", None)
    for check in doc["checks"]:
        check.pop("runtime", None)
    return doc


# -- the value encoding ------------------------------------------------------------------------

ODD_VALUES = [
    -0.0, math.inf, -math.inf, 1e-308, 5e-324, 2**70, True, 0, None, "ünï", (1, 2.5), [1, (2,)],
    {1: "a", "b": [0.1]}, np.float64(0.1), np.int64(-3), np.bool_(True), np.arange(6).reshape(2, 3),
    np.array([np.nan, -0.0, np.inf]), np.array(0.5), np.zeros((0, 3)), np.array([True, False]),
    np.arange(4, dtype=np.int8), pd.DataFrame({"y": [1, 2], "x": [0.5, -0.0]}),
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
def test_encoding_round_trips_every_bit_and_type(value: object) -> None:
    back = decode(json.loads(json.dumps(encode(value))))
    assert type(back) is type(value)
    assert case_digest(back) == case_digest(value) is not None
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape


def test_digest_tells_apart_values_that_compare_equal() -> None:
    pairs = [(0.0, -0.0), (1, 1.0), (1, True), ([1.0], (1.0,)), (np.array([1.0]), np.array([1])),
             (np.array([1.0, 2.0]), np.array([[1.0, 2.0]])), ({"a": 1, "b": 2}, {"b": 2, "a": 1})]
    for a, b in pairs:
        assert case_digest(a) != case_digest(b), (a, b)


def test_values_the_cache_cannot_store_exactly_are_refused() -> None:
    for value in (object(), np.array(["a"]), np.array([1 + 2j]), {1, 2}):
        assert case_digest(value) is None
    for value in (object(), np.array(["a"]), pd.DataFrame({"a": [1]}, index=[5]), pd.DataFrame({"a": ["x"]})):
        cache = CaseCache()
        assert cache.put("k", [{"x": value}]) is False and cache.get("k") is None


def _draw_three(strategy: object) -> list:
    drawn: list = []

    @settings(database=None, deadline=None, max_examples=3, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(1)
    @given(strategy)
    def draw(case: dict) -> None:
        drawn.append(case)

    draw()
    return drawn


@pytest.mark.parametrize("eid", exercise_ids())
def test_every_catalogue_input_survives_the_cache(eid: str) -> None:
    """The inputs of every property check (a few drawn per check) read back identical."""
    exercise = get_exercise(eid)
    for check in exercise.checks:
        if not isinstance(check, PropertyCheck):
            continue
        drawn = _draw_three(check.cases)
        cache = CaseCache()
        assert cache.put("k", drawn), f"{eid}:{check.name} holds a value the cache cannot store"
        back = cache.get("k")
        assert [case_digest(c) for c in back] == [case_digest(c) for c in drawn]


# -- keys --------------------------------------------------------------------------------------

def test_plain_strategy_text_only_when_the_text_shows_everything() -> None:
    plain = st.fixed_dictionaries({"x": st.floats(-5.0, -1.0, allow_nan=False), "k": st.integers(1, 2_000),
                                   "d": st.just({"a": 1.5}), "v": hnp.arrays(np.float64, st.integers(1, 3))})
    assert plain_strategy_text(plain) == repr(plain)
    x_big = np.arange(2000.0)
    not_plain = [
        st.floats(0, 1).map(lambda v: v * 2),
        st.integers(0, 3).filter(lambda v: v != 2),
        st.just(np.array([0.123456789012345])),  # numpy prints 8 digits
        st.just(x_big),  # and summarises long arrays with "..."
        st.just(pd.DataFrame({"a": [0.1234567891]})),
        st.builds(float, st.integers()),
        st.composite(lambda draw: draw(st.integers()))(),
    ]
    for strategy in not_plain:
        assert plain_strategy_text(strategy) is None, repr(strategy)


def test_cache_keys_never_cross_seeds_variants_or_sizes() -> None:
    plain = st.floats(0.0, 1.0)
    closure = st.integers(0, 5).map(lambda i: i * 2)
    base = dict(exercise_id="e", exercise_version="1", variant="v1", check_name="c", function="f", seed=1,
                examples=200, group=8)
    k = cases_key(strategy=plain, **base)
    assert k == cases_key(strategy=plain, **{**base, "variant": "v2", "check_name": "other"})  # text says all
    assert k != cases_key(strategy=plain, **{**base, "seed": 2})
    assert k != cases_key(strategy=plain, **{**base, "examples": 100})
    assert k != cases_key(strategy=plain, **{**base, "group": 1})
    assert k != cases_key(strategy=st.floats(0.0, 2.0), **base)
    c1 = cases_key(strategy=closure, **base)
    assert c1 is not None and c1 != cases_key(strategy=closure, **{**base, "variant": "v2"})
    assert c1 != cases_key(strategy=closure, **{**base, "check_name": "other"})
    assert cases_key(strategy=closure, **{**base, "variant": ""}) is None


# -- the disk cache ----------------------------------------------------------------------------

def test_disk_cache_is_shared_and_a_damaged_entry_is_rebuilt(tmp_path: Path) -> None:
    cases = [{"x": np.arange(3.0), "t": 0.25}, {"x": np.zeros(0), "t": -0.0}]
    CaseCache(tmp_path).put("ab12", cases)
    fresh = CaseCache(tmp_path)  # another process: nothing in memory
    assert [case_digest(c) for c in fresh.get("ab12")] == [case_digest(c) for c in cases]
    (path,) = tmp_path.rglob("ab12.json")
    original = path.read_text()
    assert (0.25).hex() in original
    damages = [original[: len(original) // 2], original.replace((0.25).hex(), (0.5).hex()),
               original.replace(json.loads(original)["sha256"], "0" * 64), "not json", "[]", b"\xff\xfe"]
    doc = json.loads(original)
    doc["cases"][0]["d"][1][1]["f"] = (0.5).hex()  # an edited value under the old digest
    damages.append(json.dumps(doc))
    for damaged in damages:
        if isinstance(damaged, bytes):
            path.write_bytes(damaged)
        else:
            path.write_text(damaged)
        cache = CaseCache(tmp_path)
        assert cache.get("ab12") is None
        assert cache.rebuilt == 1 and not path.exists()
        cache.put("ab12", cases)
        assert [case_digest(c) for c in CaseCache(tmp_path).get("ab12")] == [case_digest(c) for c in cases]


def test_memory_cache_hands_out_fresh_objects() -> None:
    cache = CaseCache()
    cache.put("k", [{"x": np.zeros(2)}])
    first = cache.get("k")
    first[0]["x"][0] = 7.0
    assert cache.get("k")[0]["x"][0] == 0.0


# -- the sweep ---------------------------------------------------------------------------------

EXERCISE = get_exercise("poisson-marginal", hidden=True)


def _mutants() -> list[Path]:
    return sorted(mutant_paths("poisson-marginal").values())


@pytest.mark.parametrize("submission", [key_path("poisson-marginal"), *_mutants()],
                         ids=lambda p: p.stem)
def test_results_do_not_depend_on_the_cache(submission: Path, tmp_path: Path) -> None:
    """Cold, warm in memory, and read back from disk by a new cache: identical results."""
    options = dict(mode="all", seed=SEED, max_examples=60, sandbox_factory=fake_factory())
    cold = grade(submission, EXERCISE, case_cache=CaseCache(tmp_path), **options)
    shared = CaseCache(tmp_path)
    from_disk = grade(submission, EXERCISE, case_cache=shared, **options)
    assert shared.hits > 0  # a check that failed its sweep stored nothing; the others are read back
    if submission == key_path("poisson-marginal"):
        assert shared.misses == 0
    warm = grade(submission, EXERCISE, case_cache=shared, **options)
    assert _without_timings(cold) == _without_timings(from_disk) == _without_timings(warm)


def test_checks_sharing_a_plain_strategy_share_their_inputs(tmp_path: Path) -> None:
    """marginal_mean and marginal_variance are checked at the same points, generated once."""
    factory = fake_factory()
    seen: dict[str, list] = {}

    def recording(path: Path, forbidden: object, seconds: float):
        box = factory(path, forbidden, seconds)
        seen["box"] = box
        return box

    cache = CaseCache()
    grade(key_path("poisson-marginal"), EXERCISE, mode="all", seed=SEED, max_examples=40, sandbox_factory=recording,
          case_cache=cache)
    calls = seen["box"].seen_args
    means = [a for f, a in calls if f == "marginal_mean"]
    variances = [a for f, a in calls if f == "marginal_variance"]
    assert len(means) == len(variances) > 0
    assert [case_digest(list(a)) for a in means] == [case_digest(list(a)) for a in variances]
    assert cache.hits == 5  # five pairs of checks, the second of each served from the cache


def test_sweep_stops_after_the_request_that_failed(tmp_path: Path) -> None:
    """A function wrong from its 3rd call on: the sweep's requests hold 1 and then 4 inputs, so
    it makes exactly 5 calls -- from generated inputs and from cached ones alike."""
    from graders.runner import _CheckRun

    sub = tmp_path / "third.py"
    sub.write_text(
        "import numpy as np\nN = [0]\n"
        "def marginal_mean(x, beta0, beta1, tau2):\n"
        "    N[0] += 1\n"
        "    v = np.exp(beta0 + beta1 * np.asarray(x, dtype=float) + tau2 / 2)\n"
        "    return v * (2.0 if N[0] >= 3 else 1.0)\n"
    )
    check = next(c for c in EXERCISE.checks if c.name == "mean_scalar")
    cache = CaseCache()
    key = "sweep-test"
    for round_ in range(3):
        box = fake_factory()(sub, (), 5.0)
        box.load()
        run = _CheckRun(EXERCISE, check, box)
        assert run._sweep(1234, 200, cache, key) is True
        assert box.calls == 5 and run.examples == 3, round_
        assert run.failure is not None and run.failure.reason == "mismatch"
        if round_ == 0:  # a failing sweep stores nothing: fill the cache for the next rounds
            assert cache.get(key) is None
            box = fake_factory()(key_path("poisson-marginal"), (), 5.0)
            box.load()
            assert _CheckRun(EXERCISE, check, box)._sweep(1234, 200, cache, key) is False
            assert box.calls == 200 and len(cache.get(key)) == 200


# -- requests of many calls in the real sandbox -------------------------------------------------

def _box(tmp_path: Path, source: str, **limits: float) -> Sandbox:
    sub = tmp_path / "sub.py"
    sub.write_text(source)
    return Sandbox(sub, limits=Limits(**limits))


def test_call_many_limits_each_call_from_the_previous_answer(tmp_path: Path) -> None:
    """Five calls of 0.4 s under a 1 s limit: 2 s in all, none timed out."""
    with _box(tmp_path, "import time\ndef f(x):\n    time.sleep(0.4)\n    return x * 2\n", call_seconds=1.0) as box:
        assert box.load().status == "ok"
        t0 = time.monotonic()
        outcomes = box.call_many("f", [[i] for i in range(5)]).wait()
        assert time.monotonic() - t0 >= 2.0
    assert [o.status for o in outcomes] == ["ok"] * 5
    assert [o.value for o in outcomes] == [0, 2, 4, 6, 8]
    assert all(0.35 < o.runtime < 0.9 for o in outcomes)


def test_call_many_stops_at_a_hang_or_a_crash_and_the_next_request_restarts(tmp_path: Path) -> None:
    source = ("import os\ndef f(x):\n    if x == 2:\n        while True: pass\n"
              "    if x == 3:\n        os._exit(7)\n    return x\n")
    with _box(tmp_path, source, call_seconds=1.0) as box:
        assert box.load().status == "ok"
        hang = box.call_many("f", [[0], [1], [2], [0]]).wait()
        assert [o.status for o in hang] == ["ok", "ok", "timeout", "not_run"]
        assert "1 s" in hang[2].message
        crash = box.call_many("f", [[1], [3], [1]]).wait()
        assert [o.status for o in crash] == ["ok", "crashed", "not_run"]
        assert "status 7" in crash[1].message
        again = box.call_many("f", [[5], [6]]).wait()
        assert [o.value for o in again] == [5, 6] and box.restarts == 2


def test_call_many_answers_errors_per_call_and_keeps_going(tmp_path: Path) -> None:
    with _box(tmp_path, "def f(x):\n    return 1 / x\n") as box:
        outcomes = box.call_many("f", [[1.0], [0.0], [4.0]]).wait()
    assert [o.status for o in outcomes] == ["ok", "error", "ok"]
    assert "ZeroDivisionError" in outcomes[1].message and outcomes[2].value == 0.25


# -- exercises side by side --------------------------------------------------------------------

def test_results_do_not_depend_on_the_number_of_processes(tmp_path: Path) -> None:
    from glmm_exercises.assignment import grade_assignment, load_assignment
    from glmm_exercises.cli import main as exercises_main

    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,email\ns1,A,a@x.org\n")
    config = tmp_path / "assignment.toml"
    config.write_text('exercises = ["poisson-marginal", "logit-marginal", "expfam"]\nexamples = 30\n')
    assert exercises_main(["generate", "--roster", str(roster), "--seed", "77", "--out", str(tmp_path / "c"),
                           "--config", str(config), "-q"]) == 0
    course = tmp_path / "c"
    assignment = load_assignment(course, "s1")
    key = course / "instructor" / "key_solution.py"
    docs = []
    for jobs in (1, 2, 3):
        result = grade_assignment(key, assignment, mode="all", seed=SEED, jobs=jobs, case_cache=CaseCache())
        docs.append([_without_timings(r) for r in result.results])
        assert [r.exercise_id for r in result.results] == ["poisson-marginal", "logit-marginal", "expfam"]
    assert docs[0] == docs[1] == docs[2]
    assert all(c["status"] == "passed" for doc in docs[0] for c in doc["checks"])


def test_exercises_of_a_dead_helper_are_graded_by_the_main_process() -> None:
    """A helper that dies mid-way loses nothing: the main process grades what it did not report."""
    import dataclasses
    import os

    from graders.parallel import ExerciseJob, grade_exercises

    main_pid = os.getpid()
    base = get_exercise("poisson-marginal")

    def dying(check: PropertyCheck) -> PropertyCheck:
        oracle = check.oracle

        def guarded(**case: object) -> object:
            if os.getpid() != main_pid:
                os._exit(3)  # the helper dies the moment it judges an input
            return oracle(**case)

        return dataclasses.replace(check, oracle=guarded)

    exercises = [dataclasses.replace(base, id=f"copy-{i}", checks=tuple(dying(c) for c in base.checks[:2]))
                 for i in range(3)]
    jobs = [ExerciseJob(e, 20) for e in exercises]
    options = dict(mode="public", seed=None, student="s", budget_seconds=120.0, data_dir=None)
    key = key_path("poisson-marginal")
    together = grade_exercises(key, jobs, jobs=2, case_cache=CaseCache(), **options)
    alone = grade_exercises(key, jobs, jobs=1, case_cache=CaseCache(), **options)
    assert [_without_timings(r) for r in together] == [_without_timings(r) for r in alone]
    assert all(r.score == r.max_score > 0 for r in together)


def test_memory_layer_stays_within_its_bytes() -> None:
    cache = CaseCache(memory_bytes=20_000)
    for i in range(50):
        assert cache.put(f"k{i}", [{"x": np.full(100, float(i))}] * 5)
    assert cache._held <= 20_000
    assert cache.get("k0") is None  # the oldest were dropped
    assert cache.get("k49")[0]["x"][0] == 49.0


@pytest.mark.parametrize("eid", exercise_ids())
def test_inputs_shared_across_variants_are_the_same_inputs(eid: str) -> None:
    """Wherever two variants give a check the same sharing text (plain strategy text or declared
    ``inputs_key``), the inputs drawn with one seed are identical: sharing never hands a student
    another variant's inputs."""
    from glmm_exercises.variants import build_exercise, variant_params

    by_text: dict[tuple[str, str], list] = {}
    for student in ("a1", "b2", "c3", "d4", "e5", "f6"):
        exercise = build_exercise(eid, variant_params(424242, student, eid))
        for check in exercise.checks:
            if not isinstance(check, PropertyCheck):
                continue
            text = check.inputs_key or plain_strategy_text(check.cases)
            if text is not None:
                by_text.setdefault((check.name, text), []).append(check.cases)
    for (name, _), strategies in by_text.items():
        if len(strategies) < 2:
            continue
        digests = [[case_digest(c) for c in _draw_three(s)] for s in strategies[:3]]
        assert all(d == digests[0] for d in digests), f"{eid}:{name} shares inputs across different strategies"


def test_laplace_inputs_are_shared_by_variants_of_one_family() -> None:
    from glmm_exercises.variants import build_exercise, variant_params

    cache = CaseCache()
    families = {}
    for student in ("a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8"):
        params = variant_params(424242, student, "laplace-cluster")
        families.setdefault(params["family"], []).append(params)
    params = max(families.values(), key=len)[:2]
    assert len(params) == 2 and params[0] != params[1]
    hits = []
    for p in params:
        exercise = build_exercise("laplace-cluster", p)
        grade(key_path("laplace-cluster"), exercise, mode="all", seed=SEED, max_examples=40,
              sandbox_factory=fake_factory(), case_cache=cache)
        hits.append(cache.hits)
    assert hits[0] == 0 and hits[1] == 4  # the second variant reuses the four generated-cluster checks
