"""Grade integrity: the hostile corpus of the attacks on the grader (docs/grading.md, threat model).

Each test is one attack, run through the real sandbox and the real grading commands, and asserts
the promise it tests: no point gained, no classmate harmed, no leak, valid output, nothing left
running, and fail closed when the promised isolation is not there.  Tests that need root (uid
leases, cgroups) skip with the reason when the test machine cannot give them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import time_bound

from glmm_exercises.catalogue import get_exercise
from glmm_exercises.cli import main as exercises_main
from graders import confinement
from graders import sandbox as sbx
from graders.batch import find_submissions, run_batch
from graders.cli import main as grade_main
from graders.runner import grade
from graders.sandbox import Budget, Limits, Sandbox

CORPUS = Path(__file__).parent / "fixtures" / "submissions" / "poisson_marginal"
EX = "poisson-marginal"
SEED = 0x5EED_0F_1A57_C0DE
ARGS = (0.5, 0.1, 0.2, 0.3)
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="uid leases and cgroups need a root grader")
CGROUPS = ROOT and sbx._cgroups_available() == ""
needs_cgroups = pytest.mark.skipif(
    not CGROUPS, reason=f"cgroups cannot be created here ({sbx._cgroups_available() or 'not root'})")


def expected_mean(x, b0, b1, tau2):
    return float(np.exp(b0 + b1 * x + tau2 / 2))


@pytest.fixture(autouse=True)
def bounded():
    """No attack may hang the grader: every test here ends within 120 s."""
    with time_bound(120.0):
        yield


def _started(pid: int) -> float:
    """Seconds since boot at which ``pid`` started (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def _leased(uid: int) -> bool:
    """Is ``uid`` leased by a live sandbox right now (its lease file locked)?"""
    import fcntl

    try:
        fd = os.open(confinement.LEASE_DIR / str(uid), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def sandbox_processes(since: float = 0.0) -> list[int]:
    """Processes with a uid from the sandbox range, started after ``since`` (seconds since boot),
    whose uid no live sandbox holds: what closed sandboxes left running (sandboxes of other
    graders running on the machine at the same time hold their uids)."""
    base, count = confinement.UID_BASE, confinement.UID_COUNT
    return [pid for pid, uid in confinement._uids_of_processes().items()
            if base <= uid < base + count and _started(pid) >= since and not _leased(uid)]


# ----------------------------------------------------------------------------- 1. never root

@needs_root
def test_student_code_runs_as_its_own_uid_and_cannot_reach_root_powers(monkeypatch):
    monkeypatch.setenv("GLMM_GRADING_SEED", str(SEED))
    since = _uptime()
    levels = [lv for lv in ("chroot", "namespaces", "setuid")
              if sbx._modes_at(lv) and not sbx._try_mode(sbx._modes_at(lv)[0])]
    if not levels:
        pytest.skip("no root sandbox level works on this machine")
    for level in levels:
        mode = sbx._modes_at(level)[0]
        monkeypatch.setattr(sbx, "_probe", lambda mode=mode: (mode, ()))
        with Sandbox(CORPUS / "whoami.py", limits=Limits(call_seconds=5)) as sb:
            seen = sb.call("marginal_mean", *ARGS).value
            lease = sb._lease.uid
        assert seen["uid"] == seen["euid"] == lease != 0, level
        assert seen["seed_found"] == 0, f"{level}: the grader's environment was readable"
        if level == "chroot":  # its /tmp is a private tmpfs: what it writes never reaches ours
            assert not Path("/tmp/pwned-by-student").exists()
        assert not Path("/root/pwned").exists() and not Path("/etc/pwned").exists()
    Path("/tmp/pwned-by-student").unlink(missing_ok=True)  # setuid mode shares /tmp (documented)
    assert sandbox_processes(since) == []


@needs_root
def test_official_grading_fails_closed_without_the_chroot_sandbox(monkeypatch, tmp_path, capsys):
    """No unshare: --all must stop with exit 2 and one line saying how to accept weaker isolation,
    never fall back silently; --isolation setuid is the explicit way."""
    monkeypatch.setattr(sbx, "_SELECTED", None)
    monkeypatch.setattr(sbx, "_CONSENTED", False)
    monkeypatch.delenv("GLMM_ISOLATION", raising=False)  # the default policy: auto
    sub = tmp_path / "solution.py"
    shutil.copyfile(CORPUS / "correct.py", sub)
    with monkeypatch.context() as m:
        m.setattr(sbx.shutil, "which", lambda name: None)  # unshare(1) "not installed"
        code = grade_main([str(sub), "--exercise", EX, "--all", "--seed", str(SEED), "--examples", "3"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1
        assert "namespace + chroot" in err[0] and "--isolation" in err[0]
        with pytest.raises(sbx.IsolationUnavailable, match="namespace \\+ chroot"):
            sbx.select_isolation("auto", official=True)  # what a batch asks for, too
    # a weaker level named explicitly is accepted, and the report says which one ran
    if not sbx._modes_at("namespaces") or sbx._try_mode(sbx._modes_at("namespaces")[0]):
        pytest.skip("the namespaces level does not work on this machine")
    code = grade_main([str(sub), "--exercise", EX, "--all", "--seed", str(SEED), "--examples", "3",
                       "--isolation", "namespaces", "-f", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["isolation"].startswith("isolation namespaces")
    assert doc["score"] == doc["max_score"]
    assert grade_main([str(sub), "--exercise", EX, "--isolation", "plain"]) == 2
    assert "as root" in capsys.readouterr().err


# ----------------------------------------------------------------------------- 2-3. budgets

@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("integrity")
    students = [f"s{i}" for i in range(1, 7)]
    (tmp / "roster.csv").write_text(
        "student_id,name,email\n" + "".join(f"{s},Name {s},{s}@example.org\n" for s in students),
        encoding="utf-8")
    (tmp / "assignment.toml").write_text(
        f'title = "Integrity"\nexercises = ["{EX}"]\nexamples = 5\ntime_limit = 5\n', encoding="utf-8")
    assert exercises_main(["generate", "--roster", str(tmp / "roster.csv"), "--seed", "98765432123",
                           "-q", "--config", str(tmp / "assignment.toml"),
                           "--out", str(tmp / "assignment")]) == 0
    return tmp


@needs_root
def test_a_quota_hog_harms_no_classmate_in_a_parallel_batch(course: Path):
    subs = course / "hog-submissions"
    for sid in ("s1", "s2", "s3", "s4", "s5"):
        (subs / sid).mkdir(parents=True)
        shutil.copyfile(CORPUS / "correct.py", subs / sid / "solution.py")
    (subs / "s6").mkdir()
    shutil.copyfile(CORPUS / "quota_hog.py", subs / "s6" / "solution.py")
    out = course / "hog-out"
    since = _uptime()
    summary = run_batch(subs, course / "assignment", out, mode="all", seed=SEED, jobs=2)
    rows = list(csv.reader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8"))))
    status = {r[0]: r[rows[0].index("Status")] for r in rows[1:]}
    for sid in ("s1", "s2", "s3", "s4", "s5"):
        doc = json.loads((out / "results" / f"{sid}.json").read_text(encoding="utf-8"))
        assert doc["status"] == "graded" and doc["score"] == doc["max_score"] > 0, sid
        assert status[sid] == "graded"
    assert summary.grader_errors == 0
    time.sleep(0.2)
    assert sandbox_processes(since) == [], "the hog's children outlived its sandbox"


@needs_cgroups
def test_memory_is_bounded_per_submission_not_per_process():
    limits = Limits(call_seconds=20, memory_bytes=1 << 30, max_processes=16)
    with Sandbox(CORPUS / "fork_memory.py", limits=limits) as sb:
        out = sb.call("marginal_mean", *ARGS)
        assert "per submission (cgroup)" in sb.isolation
    # 4 x 350 MB never fit in 1 GiB at once: some child (or the worker) is killed
    assert out.status == "crashed" or (out.status == "ok" and out.value < 4), (out.status, out.value)


def test_a_slow_correct_submission_is_stopped_by_its_total_budget():
    exercise = get_exercise(EX)
    t0 = time.monotonic()
    result = grade(CORPUS / "slow_correct.py", exercise, mode="public", max_examples=20,
                   budget=Budget(4.0))
    elapsed = time.monotonic() - t0
    assert elapsed < 4.0 + 12.0  # the budget, one call limit, start-up
    stopped = [c for c in result.checks if c.status == "timeout"]
    assert stopped and all("crash" not in c.message for c in stopped)
    assert any("total time budget of 4 s" in c.message for c in stopped)
    assert result.score < result.max_score


# ----------------------------------------------------------------------------- 4. links and files

@pytest.mark.parametrize("target", ["key", "environ", "fifo"])
def test_links_and_special_files_in_the_submissions_folder_are_not_followed(course, tmp_path, target,
                                                                           monkeypatch):
    monkeypatch.setenv("GLMM_GRADING_SEED", str(SEED))
    subs = tmp_path / "subs"
    (subs / "s1").mkdir(parents=True)
    shutil.copyfile(CORPUS / "correct.py", subs / "s1" / "solution.py")
    (subs / "s2").mkdir()
    key = course / "assignment" / "instructor" / "key_solution.py"
    if target == "key":
        (subs / "s2" / "solution.py").symlink_to(os.path.relpath(key, subs / "s2"))
    elif target == "environ":
        (subs / "s2" / "solution.ipynb").symlink_to("/proc/self/environ")
    else:
        os.mkfifo(subs / "s2" / "solution.py")  # reading it would block for ever
    (subs / "s3").symlink_to(subs / "s1")  # a linked student folder
    found, warnings = find_submissions(subs)
    assert [s.student_id for s in found] == ["s1", "s2"]
    assert any("'s3': a symbolic link" in w for w in warnings)
    out = tmp_path / "out"
    summary = run_batch(subs, course / "assignment", out, mode="all", seed=SEED, jobs=1)
    doc = json.loads((out / "results" / "s2.json").read_text(encoding="utf-8"))
    assert doc["status"] == "grading_failed" and doc["grader_error"] is False
    assert ("symbolic link" if target != "fifo" else "not a regular file") in doc["message"]
    everything = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file())
    assert str(SEED) not in everything and "GLMM_GRADING_SEED" not in everything
    assert summary.graded == 1 and summary.grader_errors == 0


def test_single_grading_refuses_a_linked_submission(tmp_path, capsys):
    link = tmp_path / "solution.py"
    link.symlink_to(CORPUS / "correct.py")
    assert grade_main([str(link), "--exercise", EX]) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- 7. values

def test_an_int_beyond_float_is_the_students_failed_check_not_a_grader_error():
    result = grade(CORPUS / "returns_huge_int.py", get_exercise(EX), max_examples=5)
    assert result.score == 0
    for check in result.checks:
        assert check.reason != "grader_error" and "internal grader error" not in check.message
        assert check.status == "failed"


def test_a_correct_long_double_answer_passes():
    result = grade(CORPUS / "returns_longdouble.py", get_exercise(EX), max_examples=10)
    assert result.score == result.max_score, [c.message for c in result.checks if c.status != "passed"]


# ----------------------------------------------------------------------------- 9. notebooks

def test_a_correct_notebook_with_continuations_and_separators_gets_full_marks():
    result = grade(CORPUS / "notebook_continuations.ipynb", get_exercise(EX), max_examples=10)
    assert result.load_status == "ok"
    assert result.score == result.max_score, [c.message for c in result.checks if c.status != "passed"]


def test_load_warnings_reach_every_report_format(tmp_path, capsys):
    """A failing notebook cell and a skipped magic are told to the student in every format."""
    from graders.render import FORMATS

    sub = CORPUS / "notebook_error_cell.ipynb"
    for fmt in FORMATS:
        assert grade_main([str(sub), "--exercise", EX, "--examples", "3", "-f", fmt]) == 0
        out = capsys.readouterr().out
        assert "NameError" in out and "cell 4" in out, fmt
    assert grade_main([str(CORPUS / "notebook_ok.ipynb"), "--exercise", EX, "--examples", "3"]) == 0
    assert "%matplotlib inline skipped" in capsys.readouterr().out


# ----------------------------------------------------------------------------- 5-6. hostile text

def _assert_clean_text(text: str, what: str) -> None:
    text.encode("utf-8")  # strict: a lone surrogate would raise here
    for bad in ("\x1b", "\x07", "\x00", "\x9b"):
        assert bad not in text, f"{what}: {bad!r} reached the output"


def test_hostile_text_crashes_no_writer_and_reaches_no_terminal(tmp_path, capsys):
    from xml.etree import ElementTree

    from graders.render import FORMATS

    sub = CORPUS / "hostile_text.py"
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        assert grade_main([str(sub), "--exercise", EX, "--examples", "3", "-f", fmt, "-o", str(out)]) == 0
        text = out.read_text(encoding="utf-8")
        _assert_clean_text(text, fmt)
        if fmt in ("json", "gradescope"):
            assert json.loads(text)["score"] == 0
        if fmt == "junit":
            ElementTree.fromstring(text.encode("utf-8"))
        if fmt == "text":  # no line of the report may pretend a check passed
            assert not [line for line in text.splitlines() if line.startswith("PASS")]
    capsys.readouterr()


def test_hostile_text_in_a_batch_with_one_job_keeps_the_gradebook(course, tmp_path):
    subs = tmp_path / "subs"
    for sid, name in (("s1", "correct.py"), ("s2", "hostile_text.py")):
        (subs / sid).mkdir(parents=True)
        shutil.copyfile(CORPUS / name, subs / sid / "solution.py")
    out = tmp_path / "out"
    summary = run_batch(subs, course / "assignment", out, mode="all", seed=SEED, jobs=1)
    assert summary.graded == 2 and summary.grader_errors == 0
    for path in out.rglob("*"):
        if path.is_file():
            _assert_clean_text(path.read_text(encoding="utf-8"), path.name)
    rows = list(csv.reader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8"))))
    assert {r[0] for r in rows[1:]} >= {"s1", "s2"}


# ----------------------------------------------------------------------------- data files

def test_the_students_data_folder_is_readable_read_only_and_links_are_not_copied(tmp_path, capsys):
    """The starter reads pd.read_csv("data/..."): that path works in the sandbox, for .py and
    notebooks alike, the copy is read-only and a link among the data is not followed."""
    data = tmp_path / "data" / EX
    data.mkdir(parents=True)
    (data / "grid.csv").write_text("x\n0.5\n1.5\n", encoding="utf-8")
    (data / "leak.csv").symlink_to("/etc/passwd")
    body = '''
import os
import numpy as np
import pandas as pd

GRID = pd.read_csv("data/poisson-marginal/grid.csv")
FILES = sorted(os.listdir("data/poisson-marginal"))


def marginal_mean(x, beta0, beta1, tau2):
    assert FILES == ["grid.csv"] and len(GRID) == 2, FILES
    try:
        open("data/poisson-marginal/grid.csv", "a").write("x")
        raise RuntimeError("data is writable")
    except PermissionError:
        pass
    return np.exp(beta0 + beta1 * np.asarray(x, dtype=float) + tau2 / 2)


def marginal_variance(x, beta0, beta1, tau2):
    mean = marginal_mean(x, beta0, beta1, tau2)
    return mean + mean**2 * (np.exp(tau2) - 1)
'''
    (tmp_path / "solution.py").write_text(body, encoding="utf-8")
    assert grade_main([str(tmp_path / "solution.py"), "--exercise", EX, "--examples", "3", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["load_status"] == "ok" and doc["score"] == doc["max_score"], doc["checks"]
    assert (data / "grid.csv").read_text(encoding="utf-8") == "x\n0.5\n1.5\n"
