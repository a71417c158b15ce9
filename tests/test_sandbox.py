"""Tests of graders.sandbox against the hostile-submission corpus (tests/fixtures/submissions).

Every fixture goes through the real sandbox (a separate worker process; as root here, in new
namespaces as uid 65534).  Expected values are computed in the test from the exercise's formulas,
never by the code under test.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import resource
import signal
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import time_bound

from graders import confinement
from graders import sandbox as sbx
from graders.sandbox import CallOutcome, Limits, RngSeed, Sandbox, SandboxError

FIXTURES = Path(__file__).parent / "fixtures" / "submissions" / "poisson_marginal"
FAST = Limits(call_seconds=1.5, total_seconds=60.0, memory_bytes=1 << 30, max_processes=16)
ARGS = (0.5, 0.1, 0.2, 0.3)  # x, beta0, beta1, tau2
X = np.array([-1.0, 0.0, 0.5, 2.0])


def expected_mean(x, b0, b1, tau2):
    return np.exp(b0 + b1 * np.asarray(x, dtype=float) + tau2 / 2)


def expected_variance(x, b0, b1, tau2):
    m = expected_mean(x, b0, b1, tau2)
    return m + m**2 * np.expm1(tau2)


MODE = sbx._probe()[0].name
NAMESPACES = MODE in ("namespaces", "userns")
needs_namespaces = pytest.mark.skipif(
    not NAMESPACES, reason=f"needs PID/mount namespaces; this machine only allows {MODE!r}")


@pytest.fixture(autouse=True)
def bounded():
    """Every test must finish in 30 s (the sandbox must never hang the grader)."""
    with time_bound(30.0):
        yield


def open_sandbox(name: str, limits: Limits = FAST, **kw) -> Sandbox:
    return Sandbox(FIXTURES / name, limits=limits, **kw)


def write_submission(tmp_path: Path, source: str, name: str = "sub.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def pid_namespace_members(ns: str) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    members.append(int(entry))
            except OSError:
                continue
    return members


def worker_pid_namespace(sb: Sandbox) -> str | None:
    """The PID namespace of the sandbox's current worker (namespace modes only)."""
    proc = sb._worker.proc  # test-only peek at the worker
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return os.readlink(f"/proc/{children[0]}/ns/pid") if children else None


# ----------------------------------------------------------------------------- basics

def test_isolation_is_reported_and_matches_privileges():
    with open_sandbox("correct.py") as sb:
        assert sb.isolation == sbx._describe(sbx._probe()[0], FAST)
        assert sb.load().ok
        assert "1.5 s per call" in sb.isolation and "not root" in sb.isolation
        if os.geteuid() == 0:  # a uid of its own from the reserved range, named in the report
            uid = sb._lease.uid
            assert "a uid of its own" in sb.isolation
            assert confinement.UID_BASE <= uid < confinement.UID_BASE + confinement.UID_COUNT
        if MODE == "namespaces":
            assert "namespaces" in sb.isolation


def test_correct_submission_scalar_and_vector():
    with open_sandbox("correct.py") as sb:
        load = sb.load()
        assert load.status == "ok" and load.functions == ("marginal_mean", "marginal_variance")
        out = sb.call("marginal_mean", *ARGS)
        assert out.status == "ok" and type(out.value) is float
        assert out.value == pytest.approx(float(expected_mean(*ARGS)), rel=1e-14)
        vec = sb.call("marginal_variance", X, 0.1, 0.2, 0.3)
        assert type(vec.value) is np.ndarray and vec.value.dtype == np.float64
        np.testing.assert_allclose(vec.value, expected_variance(X, 0.1, 0.2, 0.3), rtol=1e-13)
        assert sb.restarts == 0


def test_wrong_answer_is_returned_as_is():
    with open_sandbox("not_mean.py") as sb:
        out = sb.call("marginal_mean", X, 0.1, 0.2, 0.3)
        assert out.status == "ok"
        np.testing.assert_allclose(out.value, np.exp(0.1 + 0.2 * X), rtol=1e-13)
        assert not np.allclose(out.value, expected_mean(X, 0.1, 0.2, 0.3))


# ----------------------------------------------------------------------------- corpus table

CORPUS = {
    # file: (load status, [(function, call status, words expected in the message)])
    "stub_not_implemented.py": ("ok", [("marginal_mean", "not_implemented", "not implemented"),
                                       ("marginal_variance", "not_implemented", "NotImplemented")]),
    "missing_function.py": ("ok", [("marginal_mean", "missing", "marginal_maen"),
                                   ("marginal_variance", "ok", "")]),
    "returns_string.py": ("ok", [("marginal_mean", "ok", "")]),
    "always_equal.py": ("ok", [("marginal_mean", "invalid_output", "Rigged"),
                               ("marginal_variance", "invalid_output", "Rigged")]),
    "float_subclass.py": ("ok", [("marginal_mean", "invalid_output", "SneakyFloat"),
                                 ("marginal_variance", "invalid_output", "SneakyFloat")]),
    "ndarray_subclass.py": ("ok", [("marginal_mean", "invalid_output", "Agreeable"),
                                   ("marginal_variance", "invalid_output", "dtype object")]),
    "sys_exit.py": ("ok", [("marginal_mean", "crashed", "sys.exit(0)")]),
    "raises_base_exception.py": ("ok", [("marginal_mean", "crashed", "KeyboardInterrupt"),
                                        ("marginal_variance", "crashed", "Escape"),
                                        ("generator_exit", "crashed", "GeneratorExit")]),
    "imports_graders.py": ("ok", [("marginal_mean", "forbidden_import", "'graders'"),
                                  ("marginal_variance", "forbidden_import", "'statsmodels'")]),
    "imports_reference.py": ("forbidden_import", [("marginal_mean", "forbidden_import",
                                                   "'reference'")]),
    "syntax_error.py": ("syntax_error", [("marginal_mean", "error", "line 4")]),
    "empty.py": ("empty", [("marginal_mean", "error", "no code")]),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_statuses(name):
    load_status, rows = CORPUS[name]
    with open_sandbox(name, forbidden_imports=("statsmodels",)) as sb:
        load = sb.load()
        assert load.status == load_status, load.message
        for function, status, words in rows:
            out = sb.call(function, *ARGS)
            assert out.status == status, (function, out.message)
            assert words in out.message
            assert "\n" not in out.message
            if status != "ok":
                assert out.value is None


def test_returns_string_is_plain_str():
    with open_sandbox("returns_string.py") as sb:
        out = sb.call("marginal_mean", *ARGS)
        assert type(out.value) is str and out.value.startswith("exp(")


def test_syntax_error_names_line_and_shows_caret():
    with open_sandbox("syntax_error.py") as sb:
        load = sb.load()
        assert load.status == "syntax_error" and "syntax_error.py" in load.message
        assert "expected ':'" in load.message and "^" in load.traceback
        assert load.functions == ()


def test_forbidden_import_at_load_has_student_traceback():
    with open_sandbox("imports_reference.py") as sb:
        load = sb.load()
        assert load.status == "forbidden_import"
        assert 'File "imports_reference.py", line 2' in load.traceback
        assert "_runner.py" not in load.traceback and "importlib" not in load.traceback


def test_nan_and_inf_are_plain_values():
    with open_sandbox("nan_inf.py") as sb:
        scalar = sb.call("marginal_mean", *ARGS)
        assert scalar.status == "ok" and type(scalar.value) is float and np.isnan(scalar.value)
        arr = sb.call("marginal_variance", *ARGS).value
        assert type(arr) is np.ndarray and arr[0] == np.inf and arr[1] == -np.inf
        assert np.isnan(arr[2])


def test_wrong_shape_is_passed_through():
    with open_sandbox("wrong_shape.py") as sb:
        assert type(sb.call("marginal_mean", X, 0.1, 0.2, 0.3).value) is float
        assert sb.call("marginal_variance", X, 0.1, 0.2, 0.3).value.shape == (2, 3)


# ----------------------------------------------------------------------------- crashes and limits

def test_infinite_loop_times_out_and_worker_restarts():
    with open_sandbox("infinite_loop.py") as sb:
        t0 = time.monotonic()
        out = sb.call("marginal_mean", *ARGS)
        assert out.status == "timeout" and "1.5 s" in out.message
        assert 1.4 < out.runtime < 5 and time.monotonic() - t0 < 10
        again = sb.call("marginal_variance", *ARGS)
        assert again.status == "ok", again.message
        assert again.value == pytest.approx(float(expected_variance(*ARGS)), rel=1e-14)
        assert sb.restarts == 1


@pytest.mark.slow  # spins up to max_processes busy processes for call_seconds
@needs_namespaces
def test_fork_bomb_is_contained_and_namespace_is_killed():
    with open_sandbox("fork_bomb.py") as sb:
        sb.load()
        ns = worker_pid_namespace(sb)
        assert ns is not None
        out = sb.call("marginal_mean", *ARGS)
        assert out.status == "timeout"
        deadline = time.monotonic() + 5
        while pid_namespace_members(ns) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_namespace_members(ns) == []


def test_memory_bomb_fails_the_call_only():
    with open_sandbox("memory_bomb.py") as sb:
        out = sb.call("marginal_mean", *ARGS)
        assert out.status == "error" and "memory" in out.message
        assert 'File "memory_bomb.py"' in out.traceback


@pytest.mark.parametrize(("name", "words"), [("os_exit.py", "status 3"),
                                             ("segfault.py", "SIGSEGV")])
def test_dead_worker_fails_one_call_then_restarts(name, words):
    with open_sandbox(name) as sb:
        out = sb.call("marginal_mean", *ARGS)
        assert out.status == "crashed" and words in out.message
        if name == "segfault.py":
            assert 'File "segfault.py", line 8 in marginal_mean' in out.traceback
            assert "_runner.py" not in out.traceback
        again = sb.call("marginal_variance", *ARGS)
        assert again.status == "ok"
        assert again.value == pytest.approx(float(expected_variance(*ARGS)), rel=1e-14)
        assert sb.restarts == 1


@pytest.mark.slow  # burns one CPU second (several wall seconds on a loaded machine)
def test_cpu_limit_kills_the_worker():
    limits = Limits(call_seconds=25.0, cpu_seconds=1)
    with open_sandbox("infinite_loop.py", limits=limits) as sb:
        out = sb.call("marginal_mean", *ARGS)
        assert out.status == "crashed" and "SIGXCPU, CPU time limit exceeded" in out.message


def test_functions_lists_what_the_submission_defines(tmp_path):
    path = write_submission(tmp_path, """
        import functools
        import math
        from math import exp

        import numpy as np

        def _helper(x):
            return x

        def plain(x):
            return x

        vectorised = np.vectorize(lambda x: x + 1.0)
        partial = functools.partial(math.pow, 2.0)
        square = lambda x: x * x  # noqa: E731

        class Model:
            pass
    """)
    with Sandbox(path, limits=FAST) as sb:
        names = sb.load().functions
        assert set(names) >= {"plain", "vectorised", "partial", "square", "Model"}
        assert not {"_helper", "exp", "np", "math", "functools"} & set(names)
        out = sb.call("vectorised", np.array([1.0, 2.0]))
        np.testing.assert_array_equal(out.value, [2.0, 3.0])


def test_odd_file_names_do_not_shadow_modules(tmp_path):
    source = "import numpy as np\n\ndef f(x):\n    return np.sqrt(x)\n"
    for name in ("numpy.py", "json.py", "hw 1 (final).py"):
        path = write_submission(tmp_path, source, name=name)
        with Sandbox(path, limits=FAST) as sb:
            assert sb.load().functions == ("f",), name
            assert sb.call("f", 4.0).value == 2.0, name


def test_slow_import_times_out_at_load():
    t0 = time.monotonic()
    with open_sandbox("slow_import.py") as sb:
        load = sb.load()
        assert load.status == "timeout" and "slow_import.py" in load.message
        out = sb.call("marginal_mean", *ARGS)
        assert out.status == "timeout" and "did not load" in out.message
    assert time.monotonic() - t0 < 10


def test_total_time_budget_stops_further_calls():
    limits = Limits(call_seconds=1.0, total_seconds=1.6)
    with open_sandbox("infinite_loop.py", limits=limits) as sb:
        first = sb.call("marginal_mean", *ARGS)
        assert first.status == "timeout"
        statuses = [sb.call("marginal_mean", *ARGS) for _ in range(3)]
        assert all(o.status == "timeout" for o in statuses)
        assert "time budget of 1.6 s" in statuses[-1].message
        assert sb.remaining_seconds == 0


def test_big_print_is_capped_and_does_not_bloat_grader():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    limits = Limits(call_seconds=10.0, output_bytes=1 << 20)
    with open_sandbox("big_print.py", limits=limits) as sb:
        out = sb.call("marginal_mean", *ARGS)
        assert out.status == "ok"
        assert out.value == pytest.approx(float(expected_mean(*ARGS)))
        assert len(out.stdout) < (1 << 20) // 8 + 200_000
        assert "more characters of output dropped" in out.stdout
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 60


def test_fake_protocol_lines_on_stdout_have_no_effect():
    with open_sandbox("prints_fake_results.py") as sb:
        for _ in range(2):
            out = sb.call("marginal_mean", *ARGS)
            assert out.status == "ok" and out.value == "PASSED 100%"
            assert '"op": "result"' in out.stdout and "PASSED 100%" in out.stdout
        assert sb.restarts == 0


def test_forged_reply_on_protocol_fd_is_rejected(tmp_path):
    path = write_submission(tmp_path, """
        import os, sys

        def forge(x):
            fake = b'{"op":"result","id":1,"status":"ok","value":123.0,"message":""}\\n'
            os.write(int(sys.argv[2]), fake)
            return x

        def honest(x):
            return x
    """)
    with Sandbox(path, limits=FAST) as sb:
        out = sb.call("forge", 1.0)
        assert out.status == "crashed" and "invalid reply" in out.message
        assert sb.call("honest", 2.0).value == 2.0


def test_oversized_output_is_refused():
    limits = Limits(call_seconds=5.0, output_bytes=100_000)
    with open_sandbox("correct.py", limits=limits) as sb:
        out = sb.call("marginal_mean", np.zeros(50_000), 0.0, 0.0, 0.0)
        assert out.status == "output_too_large" and out.value is None
        small = sb.call("marginal_mean", np.zeros(10), 0.0, 0.0, 0.0)
        assert small.status == "ok" and small.value.shape == (10,)


# ----------------------------------------------------------------------------- containment

@needs_namespaces
def test_files_written_stay_inside_the_sandbox(tmp_path):
    host_tmp = set(os.listdir("/tmp"))
    project = Path(sbx.__file__).resolve().parent.parent
    project_files = set(os.listdir(project))
    with open_sandbox("writes_files.py") as sb:
        report = sb.call("marginal_mean", *ARGS).value
    assert report["own_file.txt"] == "written"
    assert report["/work/main/glmm_pwned.txt"] != "written"
    assert report["/work/main/reference/__init__.py"] == "FileNotFoundError"
    assert report["/work/main/pyproject.toml"] == "FileNotFoundError"
    new_tmp = {n for n in set(os.listdir("/tmp")) - host_tmp if "pwned" in n}
    assert new_tmp == set()
    assert set(os.listdir(project)) == project_files
    assert not list(FIXTURES.glob("*pwned*")) and not list(FIXTURES.glob("own_file*"))


@needs_namespaces
def test_answer_keys_reference_and_data_are_not_on_the_workers_file_system():
    """Reading files by path (not importing) must not reach the keys, the reference or the course data either."""
    with open_sandbox("hunts_answer_keys.py", limits=dataclasses.replace(FAST, call_seconds=20.0)) as sb:
        call = sb.call("marginal_mean", *ARGS)
    assert call.status == "ok", call.message
    report = call.value
    assert report["files_seen"] > 1000  # it did walk the interpreter's tree and the system directories
    assert report["found"] == []


@needs_namespaces
def test_secret_environment_and_other_processes_are_invisible(monkeypatch):
    monkeypatch.setenv("GLMM_SECRET_SEED", "20240607")
    with open_sandbox("searches_env_for_seed.py") as sb:
        found = sb.call("marginal_mean", *ARGS).value
    assert found["found"] == []
    assert found["pids"] == ["1", "2"]  # the namespace's init and the worker itself


@needs_namespaces
def test_monkeypatching_and_signals_do_not_reach_the_grader():
    received = []
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum))
                for s in handled}
    try:
        with open_sandbox("monkeypatches_builtins.py") as sb:
            out = sb.call("marginal_mean", X, 0.1, 0.2, 0.3)
            assert out.status == "ok"
            np.testing.assert_allclose(out.value, expected_mean(X, 0.1, 0.2, 0.3), rtol=1e-13)
            assert sb.call("marginal_mean", *ARGS).status == "ok"
        time.sleep(0.1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert received == []
    assert isinstance(1.0, float) and np.allclose(1.0, 2.0) is False


@pytest.mark.skipif(not sbx._probe()[0].chroot, reason="the worker is not chrooted here")
def test_chroot_shows_only_system_directories_and_allowed_packages(tmp_path):
    path = write_submission(tmp_path, """
        import os

        def look():
            return {"root": sorted(os.listdir("/")), "tmp": sorted(os.listdir("/tmp")),
                    "site": sorted(os.listdir("/tmp/.site")), "cwd": os.getcwd(),
                    "here": sorted(os.listdir("."))}
    """)
    with Sandbox(path, limits=FAST) as sb:
        seen = sb.call("look").value
    system = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "tmp"}
    assert set(seen["root"]) <= system
    assert seen["here"] == ["sub.py"]
    assert [n for n in seen["tmp"] if not n.startswith(".")] == [seen["cwd"].split("/")[2]]
    assert set(seen["site"]) <= {"numpy", "numpy.libs", "scipy", "scipy.libs", "pandas",
                                 "pandas.libs", "dateutil", "tzdata", "pytz", "six.py"}
    assert "numpy" in seen["site"]


def test_worker_environment_and_descriptors_are_minimal(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMM_GRADING_SEED", "424242")
    path = write_submission(tmp_path, """
        import os, sys

        def look():
            status = open("/proc/self/status").read()
            return {"env": sorted(os.environ), "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")),
                    "no_new_privs": [l.split()[1] for l in status.splitlines() if l.startswith("NoNewPrivs")],
                    "flags": [sys.flags.isolated, sys.flags.no_site, sys.flags.ignore_environment],
                    "uid": os.getuid()}
    """)
    with Sandbox(path, limits=FAST) as sb:
        seen = sb.call("look").value
        leased = sb._lease.uid if sb._lease is not None else None
    assert set(seen["env"]) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "OPENBLAS_NUM_THREADS",
                                "OMP_NUM_THREADS", "MKL_NUM_THREADS"}
    # 0-2, the two protocol pipes, the descriptor listing /proc/self/fd; nothing else inherited
    assert len(seen["fds"]) <= 6 and seen["fds"][:3] == [0, 1, 2]
    assert seen["flags"] == [1, 1, 1]
    assert seen["no_new_privs"] == ["1"]
    if sbx._probe()[0].uid is not None:  # root grader: the sandbox's own uid, never 0
        assert seen["uid"] == leased and leased != 0


@needs_namespaces
def test_writable_space_is_bounded(tmp_path):
    path = write_submission(tmp_path, """
        def fill(where):
            written = 0
            try:
                for i in range(20):
                    with open(f"{where}/block{i}", "wb") as fh:
                        fh.write(b"x" * 1_000_000)
                    written += 1
            except OSError as exc:
                return [written, type(exc).__name__]
            return [written, None]
    """)
    limits = Limits(call_seconds=5.0, file_bytes=4 << 20)
    with Sandbox(path, limits=limits) as sb:
        for where in (".", "/tmp"):
            written, error = sb.call("fill", where).value
            assert written < 5 and error == "OSError", where
    assert os.listdir(tmp_path) == ["sub.py"]


def test_forbidden_submodule_imported_behind_the_hook_is_reported(tmp_path):
    path = write_submission(tmp_path, """
        import sys

        def sneak():
            sys.meta_path[:] = [f for f in sys.meta_path if "Blocker" not in type(f).__name__]
            import scipy.special
            return float(scipy.special.expit(0.0))

        def honest():
            return 1.0
    """)
    with Sandbox(path, limits=Limits(call_seconds=10.0),
                 forbidden_imports=("scipy.special",)) as sb:
        assert sb.call("honest").status == "ok"
        out = sb.call("sneak")
        assert out.status == "forbidden_import" and "'scipy.special'" in out.message
        assert out.value is None


@pytest.mark.skipif(MODE != "namespaces", reason="needs root and unshare(1)")
def test_namespace_mode_without_chroot_hides_project_and_tmp(monkeypatch, tmp_path):
    no_chroot = sbx._Mode("namespaces", sbx._probe()[0].prefix, sbx.SANDBOX_UID, True, False)
    monkeypatch.setattr(sbx, "_probe", lambda: (no_chroot, ()))
    marker = tmp_path / "answer_key.txt"
    marker.write_text("42")
    path = write_submission(tmp_path, f"""
        import os

        def look():
            seen = {{}}
            for p in ("{sbx.__file__}", "{marker}", "/tmp/.site/numpy"):
                seen[p] = os.path.exists(p)
            return seen
    """)
    with Sandbox(path, limits=FAST) as sb:
        assert "project directories hidden" in sb.isolation
        seen = sb.call("look").value
    assert seen == {sbx.__file__: False, str(marker): False, "/tmp/.site/numpy": True}


def test_own_packages_are_physically_unreachable(tmp_path):
    path = write_submission(tmp_path, """
        import sys

        def escape():
            sys.meta_path[:] = [f for f in sys.meta_path if "Blocker" not in type(f).__name__]
            results = {}
            for name in ("reference", "graders", "glmm_exercises", "hypothesis",
                         "__editable___glmm_exercises_0_1_0_finder"):
                try:
                    __import__(name)
                    results[name] = "imported"
                except ImportError as exc:
                    results[name] = type(exc).__name__
            results["path"] = list(sys.path)
            return results
    """)
    with Sandbox(path, limits=FAST) as sb:
        out = sb.call("escape")
    assert out.status == "ok", out.message
    for name in ("reference", "graders", "glmm_exercises", "hypothesis",
                 "__editable___glmm_exercises_0_1_0_finder"):
        assert out.value[name] == "ModuleNotFoundError", name
    assert not any("site-packages" in p or "/work/main" in p for p in out.value["path"])


# ----------------------------------------------------------------------------- values

def test_benign_variations_are_normalised(tmp_path):
    path = write_submission(tmp_path, """
        import numpy as np
        import pandas as pd

        def as_list(): return [1.0, 2.0]
        def as_tuple(): return (1.0, (2, True))
        def np_scalar(): return np.float64(1.5)
        def np_int(): return np.int32(7)
        def np_bool(): return np.bool_(True)
        def zero_d(): return np.array(2.5)
        def mapping(): return {"a": np.float32(1.0), "b": [np.arange(3)]}
        def series(): return pd.Series([1.0, 2.0])
        def frame(): return pd.DataFrame({"x": [1.0, 2.0], "n": [1, 2], "ok": [True, False]})
        def big_endian(): return np.arange(3, dtype=">f8")
        def fortran(): return np.asfortranarray(np.arange(6.0).reshape(2, 3))
        def huge_int(): return 10 ** 400
    """)
    with Sandbox(path, limits=FAST) as sb:
        def value(name):
            out = sb.call(name)
            assert out.status == "ok", (name, out.message)
            return out.value

        assert value("as_list") == [1.0, 2.0]
        assert value("as_tuple") == [1.0, [2, True]]
        v = value("np_scalar")
        assert type(v) is float and v == 1.5
        assert type(value("np_int")) is int and type(value("np_bool")) is bool
        assert type(value("zero_d")) is float
        m = value("mapping")
        assert type(m["a"]) is float and type(m["b"][0]) is np.ndarray
        s = value("series")
        assert type(s) is np.ndarray and s.tolist() == [1.0, 2.0]
        f = value("frame")
        assert type(f) is pd.DataFrame and list(f.columns) == ["x", "n", "ok"]
        assert f["ok"].tolist() == [True, False] and f["n"].tolist() == [1, 2]
        be = value("big_endian")
        assert be.dtype == np.float64 and be.dtype.isnative and be.tolist() == [0.0, 1.0, 2.0]
        np.testing.assert_array_equal(value("fortran"), np.arange(6.0).reshape(2, 3))
        assert sb.call("huge_int").status == "invalid_output"


def test_arguments_round_trip_and_rng_seed(tmp_path):
    path = write_submission(tmp_path, """
        def echo(*args, **kwargs):
            return [list(args), kwargs]

        def draw(rng, n):
            return rng.normal(size=n)

        def kinds(*args):
            return [type(a).__name__ for a in args]

        def shapes(*args):
            return [list(a.shape) for a in args]
    """)
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    flags = np.array([True, False])
    with Sandbox(path, limits=FAST) as sb:
        out = sb.call("echo", ints, flags, float("nan"), (1, 2), key={"a": -np.inf})
        args, kwargs = out.value
        np.testing.assert_array_equal(args[0], ints)
        assert args[0].dtype == np.int32 and args[1].dtype == np.bool_
        assert np.isnan(args[2]) and args[3] == [1, 2] and kwargs == {"key": {"a": -np.inf}}
        drawn = sb.call("draw", RngSeed(7), 3).value
        np.testing.assert_array_equal(drawn, np.random.default_rng(7).normal(size=3))
        assert sb.call("kinds", RngSeed(1), np.float64(2.0)).value == ["Generator", "float"]
        odd = (np.array(1.5), np.zeros((0, 3)), np.arange(6.0).reshape(2, 3).T)
        assert sb.call("shapes", *odd).value == [[], [0, 3], [3, 2]]
        assert sb.call("echo", odd[2]).value[0][0].tolist() == odd[2].tolist()
        with pytest.raises(SandboxError, match="cannot send"):
            sb.call("echo", object())


def _nd(dtype: str, shape: list[int], data: bytes) -> dict:
    return {"t": "nd", "dtype": dtype, "shape": shape, "b64": base64.b64encode(data).decode()}


@pytest.mark.parametrize("forged", [
    {"t": "pickle", "v": "gASV"},
    {"t": "dict", "v": {"a": 1}, "extra": 1},
    {"t": "float", "v": "1e308"},
    _nd("|O", [1], b"\0" * 8),
    _nd("[('a','<f8')]", [1], b"\0" * 8),
    _nd("<U1", [1], b"\0" * 4),
    _nd("<f8", [2], b"\0" * 8),
    _nd("<f8", [-1], b""),
    {"t": "nd", "dtype": "<f8", "shape": [1], "b64": "!!!"},
    {"t": "frame", "columns": ["a", "a"], "data": [_nd("<f8", [1], b"\0" * 8)] * 2},
    {"t": "frame", "columns": ["a"], "data": [_nd("<f8", [1, 1], b"\0" * 8)]},
])
def test_parent_rejects_forged_values(forged):
    """The parent re-validates even if a compromised child sends crafted data."""
    with pytest.raises(sbx._Invalid):
        sbx._decode_value(forged, [1 << 20])


def test_parent_rejects_bare_nan_and_oversized_arrays():
    with pytest.raises(ValueError):
        json.loads('{"value": NaN}', parse_constant=sbx._reject_constant)
    with pytest.raises(sbx._TooLarge):
        sbx._decode_value(_nd("<f8", [10**6], b""), [1000])
    value = sbx._decode_value([_nd("<f8", [2], np.array([1.0, 2.0]).tobytes()), 3], [1 << 20])
    assert type(value[0]) is np.ndarray and value[0].tolist() == [1.0, 2.0]


def test_student_traceback_is_trimmed(tmp_path):
    path = write_submission(tmp_path, """
        import numpy as np

        def helper(x):
            return np.log(x) + undefined_name

        def marginal_mean(x, beta0, beta1, tau2):
            return helper(x)
    """, name="student_17.py")
    with Sandbox(path, limits=FAST) as sb:
        out = sb.call("marginal_mean", *ARGS)
    assert out.status == "error" and out.message == (
        "marginal_mean() raised NameError: name 'undefined_name' is not defined")
    assert out.traceback.count('File "student_17.py"') == 2
    assert "_runner.py" not in out.traceback and str(tmp_path) not in out.traceback


# ----------------------------------------------------------------------------- notebooks

def test_notebook_magics_are_skipped_with_a_warning():
    with open_sandbox("notebook_ok.ipynb") as sb:
        load = sb.load()
        assert load.status == "ok" and len(load.warnings) == 2
        assert "[cell 2]: %matplotlib inline skipped" in load.warnings[0]
        assert "!pip list skipped" in load.warnings[1]
        assert load.functions == ("marginal_mean", "marginal_variance")
        assert load.stdout.strip() == repr(float(expected_mean(*ARGS)))  # display() printed
        out = sb.call("marginal_variance", X, 0.1, 0.2, 0.3)
        np.testing.assert_allclose(out.value, expected_variance(X, 0.1, 0.2, 0.3), rtol=1e-13)


def test_notebook_error_cells_are_reported_others_still_run():
    with open_sandbox("notebook_error_cell.ipynb") as sb:
        load = sb.load()
        assert load.status == "ok"
        assert load.functions == ("marginal_mean", "marginal_variance")
        assert len(load.warnings) == 2
        assert "[cell 4]" in load.warnings[0] and "NameError" in load.warnings[0]
        assert "[cell 5]" in load.warnings[1] and "syntax error" in load.warnings[1]
        assert sb.call("marginal_mean", *ARGS).value == pytest.approx(
            float(expected_mean(*ARGS)), rel=1e-14)


def test_unreadable_notebook_is_a_load_outcome(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    with Sandbox(path, limits=FAST) as sb:
        load = sb.load()
        assert load.status == "syntax_error" and "broken.ipynb" in load.message
        assert sb.call("marginal_mean", *ARGS).status == "error"


def test_misuse_raises_sandbox_error(tmp_path):
    with pytest.raises(SandboxError, match="does not exist"):
        Sandbox(tmp_path / "nope.py")
    other = tmp_path / "answer.txt"
    other.write_text("42")
    with pytest.raises(SandboxError, match=r"\.py file or a \.ipynb"):
        Sandbox(other)
    with pytest.raises(SandboxError, match="call_seconds must be a positive number"):
        Limits(call_seconds=0)


def test_unclosed_sandbox_is_cleaned_up():
    import gc

    sb = open_sandbox("correct.py")
    assert sb.call("marginal_mean", *ARGS).status == "ok"
    root, proc = sb._root, sb._worker.proc  # test-only peek
    del sb
    gc.collect()
    assert not root.exists()
    assert proc.poll() is not None


# ----------------------------------------------------------------------------- fallback mode

@pytest.mark.skipif(os.geteuid() != 0, reason="checks what happens to a root grader")
def test_plain_mode_as_root_refuses_to_run_student_code(monkeypatch):
    """Fail closed: a worker that would run as root is refused by the runner and the grader."""
    plain = sbx._Mode("plain", (), None, False)
    assert "refusing to run student code" in sbx._try_mode(plain)
    monkeypatch.setattr(sbx, "_probe", lambda: (plain, ()))
    monkeypatch.setattr(sbx, "START_ATTEMPTS", 1)
    with open_sandbox("writes_files.py") as sb, pytest.raises(sbx.SandboxUnavailable,
                                                              match="could not start"):
        sb.load()
    with pytest.raises(sbx.IsolationUnavailable, match="as root"):
        sbx.select_isolation("plain")


@pytest.mark.skipif(os.geteuid() == 0, reason="plain mode is refused as root")
def test_plain_fallback_mode_still_isolates_process(monkeypatch):
    plain = sbx._Mode("plain", (), None, False)
    monkeypatch.setattr(sbx, "_probe", lambda: (plain, ()))
    with open_sandbox("infinite_loop.py") as sb:
        assert "isolation plain" in sb.isolation
        assert sb.call("marginal_mean", *ARGS).status == "timeout"
        out = sb.call("marginal_variance", *ARGS)
        assert out.status == "ok" and sb.restarts == 1
    with open_sandbox("imports_graders.py") as sb:
        assert sb.call("marginal_mean", *ARGS).status == "forbidden_import"


# ----------------------------------------------------------------------------- overhead

def test_round_trip_overhead_is_small():
    with open_sandbox("correct.py") as sb:
        sb.load()
        assert 0 < sb.worker_start_seconds[0] < 15
        n = 100
        t0 = time.perf_counter()
        outs = [sb.call("marginal_mean", 0.5, 0.1, 0.2, 0.3) for _ in range(n)]
        mean = (time.perf_counter() - t0) / n
    assert all(isinstance(o, CallOutcome) and o.status == "ok" for o in outs)
    assert mean < 0.05, f"mean round trip {mean * 1e3:.2f} ms"


def test_limits_unknown_to_the_platform_are_skipped_and_reported():
    from graders import _runner

    assert _runner._set_rlimits({"RLIMIT_NO_SUCH_LIMIT": 1}, strict=False) == [
        "RLIMIT_NO_SUCH_LIMIT"]
