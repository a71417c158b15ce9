"""`glmm-grade batch`: a class of submissions (answer key, mutants, a hostile one, a notebook),
parallel grading, gradebook conventions, kill-and-resume, worker crashes, Dask, and the instructor
summary looked at in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glmm_exercises.catalogue import expected_failures, key_path, mutant_paths
from glmm_exercises.cli import main as exercises_main
from glmm_exercises.samples import sample_path
from graders.batch import RESULT_FORMAT, Job, JobOutcome, find_submissions, run_batch
from graders.cli import main as grade_main
from graders.gradebook import gradebook_table, points_text
from graders.summary import render_summary_html, summary_model

EX = "poisson-marginal"
SEED = 0x0BAD_5EED_1234_5678
ROSTER = ("s1-key", "s2-mutant", "s3-mutant", "s4-hostile", "s5-notebook", "s6-absent")
CONFIG = f'title = "Batch test"\nexercises = ["{EX}"]\nexamples = 5\ntime_limit = 2\n'


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated one-exercise assignment and a submissions folder in both documented layouts."""
    tmp = tmp_path_factory.mktemp("course")
    (tmp / "roster.csv").write_text(
        "student_id,name,email\n" + "".join(f"{s},Name {s},{s}@example.org\n" for s in ROSTER), encoding="utf-8"
    )
    (tmp / "assignment.toml").write_text(CONFIG, encoding="utf-8")
    assert exercises_main([
        "generate", "--roster", str(tmp / "roster.csv"), "--seed", "123456789012345", "-q",
        "--config", str(tmp / "assignment.toml"), "--out", str(tmp / "assignment"),
    ]) == 0
    subs = tmp / "submissions"
    mutants = mutant_paths(EX)
    for sid, src in (
        ("s1-key", key_path(EX)),
        ("s2-mutant", mutants["variance_poisson_only"]),
        ("s3-mutant", mutants["not_mean"]),
        ("s4-hostile", sample_path("cy.py")),
    ):
        (subs / sid).mkdir(parents=True)
        shutil.copyfile(src, subs / sid / "solution.py")
    shutil.copyfile(sample_path("dee.ipynb"), subs / "s5-notebook.ipynb")  # the flat layout
    (subs / "zed").mkdir()  # not on the roster
    shutil.copyfile(key_path(EX), subs / "zed" / "solution.py")
    (subs / "notes.txt").write_text("not a submission", encoding="utf-8")
    return tmp


@pytest.fixture(scope="module")
def graded(course: Path) -> Path:
    out = course / "out-full"
    code = grade_main([
        "batch", str(course / "submissions"), "--assignment", str(course / "assignment"),
        "--out", str(out), "--jobs", "2", "--seed", str(SEED), "--quiet",
    ])
    assert code == 0
    return out


def _row(rows: list[list[str]], sid: str) -> dict[str, str]:
    header = rows[0]
    [row] = [r for r in rows[1:] if r[0] == sid]
    return dict(zip(header, row, strict=True))


def _checks(out: Path, sid: str) -> dict[str, dict]:
    doc = json.loads((out / "results" / f"{sid}.json").read_text(encoding="utf-8"))
    assert doc["format"] == RESULT_FORMAT and doc["student"] == sid
    [ex] = doc["exercises"]
    assert ex["exercise_id"] == EX and ex["mode"] == "all" and ex["exercise_version"]
    return {c["name"]: c for c in ex["checks"]}


def test_discovery_follows_the_documented_layout(course: Path) -> None:
    subs, warnings = find_submissions(course / "submissions")
    found = {s.student_id: (s.path.name if s.path else None) for s in subs}
    assert found == {
        "s1-key": "solution.py", "s2-mutant": "solution.py", "s3-mutant": "solution.py",
        "s4-hostile": "solution.py", "s5-notebook": "s5-notebook.ipynb", "zed": "solution.py",
    }
    assert any("notes.txt" in w for w in warnings)


def test_gradebook_scores_each_student_from_their_own_checks(graded: Path) -> None:
    rows = _csv(graded / "gradebook.csv")
    header = rows[0]
    key_checks = _checks(graded, "s1-key")
    max_points = sum(c["max_score"] for c in key_checks.values())
    assert header[:3] == ["Student ID", "Name", "Email"]
    assert header[3] == f"{EX} ({points_text(max_points)})"
    assert header[4:] == [f"Total ({points_text(max_points)})", "Percent", "Status"]
    assert [r[0] for r in rows[1:]] == sorted([*ROSTER, "zed"])

    key = _row(rows, "s1-key")
    assert all(c["status"] == "passed" for c in key_checks.values())
    assert key["Percent"] == "100.00" and key["Status"] == "graded" and key["Name"] == "Name s1-key"

    for sid, mutant in (("s2-mutant", "variance_poisson_only"), ("s3-mutant", "not_mean")):
        checks = _checks(graded, sid)
        failed = {n for n, c in checks.items() if c["status"] != "passed"}
        assert failed == expected_failures(EX)[mutant]  # the exercise's own declaration
        lost = sum(checks[n]["max_score"] for n in failed)
        assert float(_row(rows, sid)[header[3]]) == pytest.approx(max_points - lost)
        assert any(checks[n]["hint"] for n in failed)

    hostile = _checks(graded, "s4-hostile")
    assert _row(rows, "s4-hostile")[header[3]] == "0"
    reasons = {c["reason"] for c in hostile.values()}
    assert {"forbidden_import", "timeout"} <= reasons

    notebook = _row(rows, "s5-notebook")  # marginal_mean written, the rest stubs
    nb_checks = _checks(graded, "s5-notebook")
    assert {c["reason"] for n, c in nb_checks.items() if n.startswith("variance")} == {"not_implemented"}
    assert {c["status"] for n, c in nb_checks.items() if n.startswith("mean")} == {"passed"}
    assert 0 < float(notebook["Percent"]) < 100

    assert _row(rows, "s6-absent")["Status"] == "no submission" and _row(rows, "s6-absent")[header[3]] == ""
    zed = _row(rows, "zed")
    assert zed["Status"].startswith("not graded:") and "roster" in zed["Status"] and zed["Total (" + points_text(max_points) + ")"] == ""


def test_reports_written_for_every_submitter(graded: Path) -> None:
    for sid in ("s1-key", "s2-mutant", "s3-mutant", "s4-hostile", "s5-notebook", "zed"):
        page = (graded / "reports" / f"{sid}.html").read_text(encoding="utf-8")
        assert sid in page and page.lstrip().startswith("<!DOCTYPE html>")
    assert not (graded / "reports" / "s6-absent.html").exists()
    leftovers = [p for p in graded.rglob("*")
                 if (p.name.startswith(".") and p != graded / ".cache") or p.name.endswith(".tmp")]
    assert leftovers == []  # no temporary files; .cache/ is the documented input cache


def test_summary_counts_named_mistakes_and_failure_rates(graded: Path) -> None:
    summary = json.loads((graded / "summary.json").read_text(encoding="utf-8"))
    assert summary["students"] == len(ROSTER) + 1 and summary["graded"] == 5
    assert summary["no_submission"] == ["s6-absent"] and [f["student"] for f in summary["not_graded"]] == ["zed"]
    rates = {c["check"]: c for c in summary["checks"]}
    declared = expected_failures(EX)
    # graded: the key (passes all), two mutants (their declared failures), the hostile one (fails
    # every check) and the notebook (mean written, variance stubs)
    for check, notebook_fails in (("mean_scalar", 0), ("variance_scalar", 1)):
        mutants = sum(check in declared[m] for m in ("variance_poisson_only", "not_mean"))
        assert rates[check]["runs"] == 5
        assert rates[check]["failures"] == mutants + 1 + notebook_fails
        assert rates[check]["failure_rate"] == pytest.approx(rates[check]["failures"] / 5, abs=1e-4)
    hints = {m["hint"] for m in summary["mistakes"]}
    assert any("plain Poisson model" in h for h in hints)  # diagnosis of variance_poisson_only
    assert any("not mean" in h for h in hints)  # diagnosis of not_mean
    assert not any("NotImplementedError" in h for h in hints)


def test_resume_after_a_partial_run_gives_the_identical_gradebook(course: Path, graded: Path) -> None:
    out = course / "out-resume"
    args = dict(mode="all", seed=SEED, jobs=2)
    first = run_batch(course / "submissions", course / "assignment", out, limit=2, **args)
    assert first.graded == 2
    done = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    assert len(done) == 2
    # without --resume a used folder is refused
    assert grade_main(["batch", str(course / "submissions"), "--assignment", str(course / "assignment"),
                       "--out", str(out), "--seed", str(SEED), "-q"]) == 2
    second = run_batch(course / "submissions", course / "assignment", out, resume=True, **args)
    assert second.reused == 2 and second.graded + second.failed == 4
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir() if p.name in done} == done
    assert (out / "gradebook.csv").read_bytes() == (graded / "gradebook.csv").read_bytes()
    # a resumed batch must use the same settings
    assert grade_main(["batch", str(course / "submissions"), "--assignment", str(course / "assignment"),
                       "--out", str(out), "--seed", str(SEED + 1), "--resume", "-q"]) == 2


@pytest.mark.slow  # grades the class once more in a subprocess that gets killed, then resumes
def test_killed_batch_resumes_to_the_identical_gradebook(course: Path, graded: Path) -> None:
    out = course / "out-killed"
    cmd = [sys.executable, "-m", "graders.cli", "batch", str(course / "submissions"), "--assignment",
           str(course / "assignment"), "--out", str(out), "--jobs", "2", "--seed", str(SEED), "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "results").is_dir() and any((out / "results").glob("*.json")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the batch finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: parent, fork server, workers, sandboxes
        proc.wait()
    assert not (out / "gradebook.csv").exists()
    finished = sorted((out / "results").glob("*.json"))
    assert 1 <= len(finished) < 6
    for path in finished:  # whatever was written is complete
        assert json.loads(path.read_text(encoding="utf-8"))["format"] == RESULT_FORMAT
    again = run_batch(course / "submissions", course / "assignment", out, seed=SEED, jobs=2, resume=True)
    assert again.reused == len([p for p in finished if json.loads(p.read_text())["status"] == "graded"])
    assert (out / "gradebook.csv").read_bytes() == (graded / "gradebook.csv").read_bytes()


def test_batch_usage_errors_are_one_line(course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLMM_GRADING_SEED", raising=False)
    base = ["batch", str(course / "submissions"), "--assignment", str(course / "assignment")]
    assert grade_main([*base, "--out", str(tmp_path / "o")]) == 2
    assert "instructor seed" in capsys.readouterr().err
    assert grade_main(["batch", str(tmp_path / "nope"), "--assignment", str(course / "assignment"),
                       "--out", str(tmp_path / "o2"), "--public"]) == 2
    err = capsys.readouterr().err
    assert "not a directory" in err and err.count("\n") == 1
    assert grade_main([*base[:2], "--assignment", str(tmp_path), "--out", str(tmp_path / "o3"), "--public"]) == 2
    assert "manifest" in capsys.readouterr().err


# A grading job whose worker process dies -----------------------------------------------------------


def fake_or_die(job: Job) -> JobOutcome:
    """Module level, so worker processes can import it: dies for s4-hostile, fakes a grade otherwise."""
    if job.student_id == "s4-hostile":
        os._exit(7)
    doc = {
        "format": RESULT_FORMAT, "student": job.student_id, "status": "graded", "message": "",
        "submission": job.submission_name, "job": job.key, "score": 1.0, "max_score": 2.0, "percent": 50.0,
        "exercises": [{"exercise_id": EX, "score": 1.0, "max_score": 2.0, "load_status": "ok", "checks": []}],
    }
    return JobOutcome(job.student_id, job.key, True, json.dumps(doc), "<!DOCTYPE html><p>fake</p>")


def test_a_dying_grading_job_fails_only_its_own_student(course: Path) -> None:
    out = course / "out-crash"
    summary = run_batch(course / "submissions", course / "assignment", out, mode="public", jobs=2,
                        job_function=fake_or_die)
    rows = _csv(out / "gradebook.csv")
    assert _row(rows, "s4-hostile")["Status"].startswith("not graded: grader error: the grading process died")
    assert summary.grader_errors == 1  # the batch exits 3: rerun, never a recorded zero
    for sid in ("s1-key", "s2-mutant", "s3-mutant", "s5-notebook", "zed"):
        assert _row(rows, sid)["Status"] == "graded" and _row(rows, sid)["Percent"] == "50.00"
    assert summary.failed == 1 and summary.graded == 5


# Dask ----------------------------------------------------------------------------------------------


@pytest.mark.slow  # a LocalCluster with two worker processes: about 40 s on the shared 2-core machine
def test_dask_cluster_gives_the_same_gradebook(course: Path, graded: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="Dask distributed not installed (pip install 'glmm-exercises[dask]')")
    subs = tmp_path / "subs"
    for sid in ("s2-mutant", "s5-notebook"):  # a subset keeps the test short
        src = course / "submissions" / sid
        if src.is_dir():
            shutil.copytree(src, subs / sid)
        else:
            subs.mkdir(exist_ok=True)
            shutil.copyfile(course / "submissions" / f"{sid}.ipynb", subs / f"{sid}.ipynb")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = run_batch(subs, course / "assignment", tmp_path / "out", seed=SEED, scheduler=cluster.scheduler_address)
    assert summary.graded == 2
    local = _csv(graded / "gradebook.csv")
    remote = _csv(tmp_path / "out" / "gradebook.csv")
    assert remote[0] == local[0]
    for sid in ("s2-mutant", "s5-notebook"):
        assert _row(remote, sid) == _row(local, sid)


# Gradebook and summary units -------------------------------------------------------------------------


def test_points_text_is_plain_decimal() -> None:
    assert [points_text(x) for x in (12.0, 2.5, 1 / 3, 0.0, -0.0, 1e-7, 123456.0)] == [
        "12", "2.5", "0.3333", "0", "0", "0", "123456"
    ]


def test_gradebook_table_blank_points_for_ungraded_students() -> None:
    roster = {"a": {"name": "A", "email": "a@x", "exercises": {"e1": {"points": 4.0}, "e2": {"points": 6.0}}},
              "b": {"exercises": {"e1": {"points": 4.0}, "e2": {"points": 6.0}}}}
    failed = {"format": RESULT_FORMAT, "status": "grading_failed", "message": "boom\nagain", "exercises": []}
    rows = gradebook_table([("b", failed), ("a", None)], roster, ["e1", "e2"])
    assert rows[0] == ["Student ID", "Name", "Email", "e1 (4)", "e2 (6)", "Total (10)", "Percent", "Status"]
    assert rows[1] == ["a", "A", "a@x", "", "", "", "", "no submission"]
    assert rows[2] == ["b", "", "", "", "", "", "", "not graded: boom again"]


def test_summary_without_matplotlib_keeps_tables_and_says_how_to_get_plots() -> None:
    model = summary_model([("a", None)], ["e1"], title="T <b>")
    page = render_summary_html(model, None)
    assert "pip install" in page and "[plots]" in page and "T &lt;b&gt;" in page and "<svg" not in page


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed at /usr/bin/chromium (apt-get install chromium)")
def test_summary_renders_with_its_plots_in_headless_chromium(graded: Path, tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image", reason="matplotlib not installed (pip install 'glmm-exercises[plots]')")
    page = (graded / "summary.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and "<script" not in page and "http" not in page.split("<svg", 1)[0]
    png = tmp_path / "summary.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={png}", "--window-size=1000,2400", "--hide-scrollbars", (graded / "summary.html").as_uri()],
        check=True, capture_output=True, timeout=180,
    )
    pixels = (image.imread(png)[..., :3] * 255).round()

    def near(rgb: tuple[int, int, int]) -> int:
        return int((abs(pixels - rgb).max(axis=-1) < 12).sum())

    assert near((0x4C, 0x72, 0xB0)) > 2000  # the score-distribution bars are drawn
    assert near((0xC4, 0x4E, 0x52)) > 2000  # the failure-rate bars
    assert near((0xDD, 0x84, 0x52)) > 500  # the named-mistakes bars


def _timeless(value: object) -> object:
    """A result document without its wall-clock fields."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in ("execution_time", "runtime", "seconds")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_regrade_reads_the_input_cache_and_rebuilds_damaged_entries(graded: Path, tmp_path: Path) -> None:
    """Regrading the class with --only after a full run: the batch's cached inputs give the same
    results; entries damaged in between are found, removed and written again whole."""
    out = tmp_path / "out"
    shutil.copytree(graded, out)
    entries = sorted((out / ".cache" / "cases").rglob("*.json"))
    assert entries, "the batch kept no generated inputs"
    for i, entry in enumerate(entries):
        if i % 2:
            entry.write_text(entry.read_text(encoding="utf-8")[:-40], encoding="utf-8")  # truncated
    damaged = {e.name for i, e in enumerate(entries) if i % 2}
    students = ("s1-key", "s2-mutant", "s3-mutant", "s4-hostile", "s5-notebook")
    before = {sid: json.loads((out / "results" / f"{sid}.json").read_text(encoding="utf-8")) for sid in students}
    code = grade_main(["batch", str(graded.parent / "submissions"), "--assignment", str(graded.parent / "assignment"),
                       "--out", str(out), "--seed", str(SEED), "--jobs", "2", "--only", ",".join(students), "--quiet"])
    assert code == 0
    for sid, doc in before.items():
        again = json.loads((out / "results" / f"{sid}.json").read_text(encoding="utf-8"))
        assert _timeless(again) == _timeless(doc)
    from graders.case_cache import CaseCache

    rebuilt = {e.name for e in (out / ".cache" / "cases").rglob("*.json")}
    assert damaged <= rebuilt  # written again, whole
    cache = CaseCache(out / ".cache" / "cases")
    for name in damaged:
        assert cache.get(name.removesuffix(".json")) is not None
    assert cache.rebuilt == 0
