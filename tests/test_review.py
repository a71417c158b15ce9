"""The instructor's review: rubrics and late policy in assignment.toml, manual grades through the
review page's WSGI app, overrides, extensions, ``--only`` regrading, CSV export/import, the final
gradebook, summary and reports, and the ``review`` server's token and clean stop."""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import _review_course as rc
import pytest
from werkzeug.test import Client

from glmm_exercises.cli import main as exercises_main
from glmm_exercises.config import ConfigError, config_from_dict, config_to_toml
from glmm_exercises.review.app import ReviewApp
from glmm_exercises.review.final import rebuild
from glmm_exercises.review.folder import GradingFolder
from glmm_exercises.review.rubric import LatePolicy
from glmm_exercises.roster import RosterError, parse_roster
from graders.batch import BatchError, run_batch

TOKEN = "test-token-123"
TOTAL_MAX = rc.AUTO_MAX + rc.ITEM_POINTS + rc.FREE_POINTS


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rc.make_course(tmp_path_factory.mktemp("review-course"))


@pytest.fixture
def grading(course: Path, tmp_path: Path) -> Path:
    return rc.grade(course, tmp_path / "grading")


def _client(grading: Path) -> Client:
    client = Client(ReviewApp(GradingFolder(grading), TOKEN))
    assert client.get(f"/?token={TOKEN}").status_code == 200  # sets the cookie
    return client


def _post_grade(client: Client, sid: str, item: str, entries: list[int], comment: str = "", base: int = 0,
                action: str = "stay") -> str:
    response = client.post(f"/grade/{rc.EX}/{item}/{sid}", data={
        "token": TOKEN, "entry": [str(e) for e in entries], "comment": comment, "base": str(base), "action": action,
    })
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def _gradebook(grading: Path) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO((grading / "gradebook.csv").read_text(encoding="utf-8"), newline="")))
    return {r["Student ID"]: r for r in rows}


def _item_points(entries: list[int], table: tuple[float, ...], top: float) -> float:
    return min(max(sum(table[i] for i in entries), 0.0), top)


def _penalty(sid: str) -> float:
    """The late policy of review_course applied by hand to the student's recorded time."""
    from datetime import datetime

    when = datetime.fromisoformat(rc.TIMES[sid]) if sid in rc.TIMES else rc.S4_FILE_TIME
    due = rc.DUE + (timedelta(days=2) if rc.STUDENTS[sid][2] == "2d" else timedelta(0))
    late = when - due
    if late <= timedelta(minutes=rc.GRACE_MINUTES):
        return 0.0
    days = -(-late // timedelta(days=1))
    return min(rc.PER_DAY * days, rc.CAP)


def _total(sid: str, auto: float, entries: list[int], free: list[int] | None = None, override: float | None = None) -> float:
    score = auto + _item_points(entries, rc.ENTRIES, rc.ITEM_POINTS)
    if free is not None:
        score += _item_points(free, rc.FREE_ENTRIES, rc.FREE_POINTS)
    if override is not None:
        score = override
    return score * (1 - _penalty(sid) / 100)


# Configuration -------------------------------------------------------------------------------------


def test_rubric_and_late_policy_round_trip_through_toml() -> None:
    config = config_from_dict(tomllib.loads(rc.CONFIG))
    [ex] = config.exercises
    assert [it.id for it in ex.manual] == [rc.ITEM, rc.FREE]
    assert [e.points for e in ex.manual[0].rubric] == list(rc.ENTRIES)
    assert ex.manual[0].rubric[2].comment.startswith("Say why")
    assert ex.manual[0].title.startswith("Explain")  # a written item's prompt is its title
    assert config.due == rc.DUE and config.late == LatePolicy(rc.GRACE_MINUTES, rc.PER_DAY, (), rc.CAP)
    assert config_from_dict(tomllib.loads(config_to_toml(config))) == config


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace('id = "above_not_mean"', 'id = "above_not_men"'),
     "exercise.poisson-marginal.manual[0].id: 'above_not_men' is not a written item"),
    (lambda t: t.replace("points = 4.0\n", 'points = "four"\n'), "exercise.poisson-marginal.manual[0].points must be a number"),
    (lambda t: t.replace('{ text = "Clear", points = 1.0 }', '{ text = "Clear", points = 3 }'),
     "manual[1].rubric[0].points: 3 is more than the item's 1 points"),
    (lambda t: t.replace('comment = "Say', 'remark = "Say'), "rubric[2].remark: unknown key"),
    (lambda t: t.replace("due = 2026-12-01T23:59:00+00:00", "due = 2026-12-01T23:59:00"), "due: 2026-12-01T23:59:00 has no time zone"),
    (lambda t: t.replace("per_day = 10.0", "per_day = 10.0\ntable = [5, 10]"), "late: give per_day or table, not both"),
])
def test_a_bad_rubric_or_late_policy_is_one_line_naming_the_key(change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as err:
        config_from_dict(tomllib.loads(change(rc.CONFIG)))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_late_policy_days_table_grace_and_cap() -> None:
    per_day = LatePolicy(grace_minutes=15, per_day=10, cap=25)
    assert per_day.percent(timedelta(minutes=14)) == (0, 0.0)
    assert per_day.percent(timedelta(minutes=16)) == (1, 10.0)
    assert per_day.percent(timedelta(days=1, seconds=1)) == (2, 20.0)
    assert per_day.percent(timedelta(days=5)) == (5, 25.0)  # capped
    table = LatePolicy(table=(5, 20, 50))
    assert [table.percent(timedelta(days=d, hours=1))[1] for d in (0, 1, 2, 7)] == [5, 20, 50, 50]


def test_roster_extension_column_is_checked_per_row() -> None:
    roster = parse_roster(b"student_id,extension\na,2d\nb,\nc,2026-12-05T12:00:00+01:00\n")
    assert [s.extension for s in roster.students] == ["2d", "", "2026-12-05T12:00:00+01:00"]
    assert "extension" not in roster.students[1].as_dict()  # manifests without extensions are unchanged
    with pytest.raises(RosterError, match=r"row 3: extension 'soon'"):
        parse_roster(b"student_id,extension\na,2d\nb,soon\n")


# Final gradebook from all parts --------------------------------------------------------------------


def test_manual_grades_overrides_and_late_policy_give_the_gradebook_totals(grading: Path) -> None:
    client = _client(grading)
    chosen = {"s1": [0, 1], "s2": [0], "s3": [2], "s4": [1]}
    for sid, entries in chosen.items():
        _post_grade(client, sid, rc.ITEM, entries, comment=f"comment for {sid}")
    _post_grade(client, "s1", rc.FREE, [0])
    (grading / "overrides.csv").write_text(
        'student_id,exercise,points,reason\ns3,poisson-marginal,12.5,"regraded by hand, see e-mail"\n', encoding="utf-8"
    )
    assert exercises_main(["gradebook", "--grading", str(grading)]) == 0
    book = _gradebook(grading)
    assert f"Total ({TOTAL_MAX:g})" in book["s1"] and "Audit" in book["s1"]
    for sid, entries in chosen.items():
        auto = rc.STUDENTS[sid][0]
        expected = _total(sid, auto, entries, [0] if sid == "s1" else None, 12.5 if sid == "s3" else None)
        assert float(book[sid][f"Total ({TOTAL_MAX:g})"]) == pytest.approx(expected, abs=1e-4), sid
        assert float(book[sid]["Percent"]) == pytest.approx(100 * expected / TOTAL_MAX, abs=0.006)
    assert book["s2"]["Late penalty"] == "20"  # 1 day 10 hours late: two started days
    assert book["s3"]["Late penalty"] == "" and "extension 2d" in book["s3"]["Audit"]  # late without its extension
    assert "override poisson-marginal: 12.5" in book["s3"]["Audit"] and "regraded by hand, see e-mail" in book["s3"]["Audit"]
    assert "the file's modification time" in book["s4"]["Audit"]  # no submissions.csv row
    assert "manual items not graded yet: poisson-marginal/clarity" in book["s2"]["Status"]
    assert book[rc.ABSENT]["Status"] == "no submission"
    summary = json.loads((grading / "summary.json").read_text(encoding="utf-8"))
    [item, free] = summary["manual"]
    assert [e["students"] for e in item["entries"]] == [2, 2, 1] and item["graded"] == 4 and free["to_grade"] == 3
    assert "Graded by hand" in (grading / "summary.html").read_text(encoding="utf-8")


def test_overrides_keep_their_history_and_a_removed_row_is_withdrawn(grading: Path) -> None:
    path = grading / "overrides.csv"
    path.write_text("student_id,exercise,points,reason\ns1,poisson-marginal,3,cheating suspected\n", encoding="utf-8")
    rebuild(GradingFolder(grading))
    assert _gradebook(grading)["s1"][f"Total ({TOTAL_MAX:g})"] == "3"
    path.write_text("student_id,exercise,points,reason\n", encoding="utf-8")
    rebuild(GradingFolder(grading))
    assert _gradebook(grading)["s1"][f"Total ({TOTAL_MAX:g})"] == "8"
    history = GradingFolder(grading).store().override_history("s1")
    assert [(o.points, o.source) for o in history] == [(3.0, "overrides.csv"), (None, "overrides.csv")]


@pytest.mark.parametrize(("text", "message"), [
    ("student,exercise,points,reason\n", "the header must be exactly student_id,exercise,points,reason"),
    ("student_id,exercise,points,reason\nnobody,poisson-marginal,3,x\n", "overrides.csv row 2: unknown student 'nobody'"),
    ("student_id,exercise,points,reason\ns1,poisson-marginal,99,x\n", "row 2: points '99' must be a number from 0 to 15"),
    ("student_id,exercise,points,reason\ns1,poisson-marginal,3,\n", "row 2: empty reason"),
    ("student_id,exercise,points,reason\ns1,poisson-marginal,3,a\ns2,logit-marginal,1,b\n", "row 3: unknown exercise"),
])
def test_a_malformed_overrides_file_is_one_error_and_changes_nothing(
    grading: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _client(grading)
    _post_grade(client, "s1", rc.ITEM, [0])
    assert exercises_main(["gradebook", "--grading", str(grading)]) == 0
    before = (grading / "gradebook.csv").read_bytes()
    capsys.readouterr()
    (grading / "overrides.csv").write_text(text, encoding="utf-8")
    assert exercises_main(["gradebook", "--grading", str(grading)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert (grading / "gradebook.csv").read_bytes() == before
    assert GradingFolder(grading).store().override_history() == []


def test_a_malformed_rubric_stops_the_gradebook_and_changes_nothing(
    grading: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exercises_main(["gradebook", "--grading", str(grading)]) == 0
    before = (grading / "gradebook.csv").read_bytes()
    bad = tmp_path / "bad.toml"
    bad.write_text(rc.CONFIG.replace('{ text = "Clear", points = 1.0 }', '{ text = "", points = 1.0 }'), encoding="utf-8")
    capsys.readouterr()
    assert exercises_main(["gradebook", "--grading", str(grading), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml: exercise.poisson-marginal.manual[1].rubric[0].text is empty" in err and err.count("\n") == 1
    assert (grading / "gradebook.csv").read_bytes() == before


def test_only_regrades_the_named_student_and_keeps_the_rest(course: Path, grading: Path) -> None:
    client = _client(grading)
    _post_grade(client, "s2", rc.ITEM, [0, 1])
    kept = {sid: (grading / "results" / f"{sid}.json").read_bytes() for sid in ("s1", "s3", "s4")}
    new_scores = {sid: 0.0 for sid in rc.STUDENTS} | {"s2": 9.0}  # anyone else regraded would get 0
    rc.grade(course, grading, new_scores, only=["s2"], finish=lambda out: rebuild(GradingFolder(out)))
    for sid, data in kept.items():
        assert (grading / "results" / f"{sid}.json").read_bytes() == data
    book = _gradebook(grading)
    assert float(book["s2"][f"Total ({TOTAL_MAX:g})"]) == pytest.approx(_total("s2", 9.0, [0, 1]))
    assert float(book["s1"][f"Total ({TOTAL_MAX:g})"]) == pytest.approx(_total("s1", 8.0, []))
    # without the rebuild (the glmm-grade command line), the batch says how to fold the review back in
    summary = run_batch(course / "submissions", course / "assignment", grading, mode="public", jobs=1,
                        job_function=rc.make_job(new_scores), only=["s4"])
    assert any("run glmm-exercises gradebook --grading" in w for w in summary.warnings)
    with pytest.raises(BatchError, match="--only: no submission for 'zz'"):
        rc.grade(course, grading, new_scores, only=["zz"])


def test_export_and_import_move_manual_grades_between_folders(course: Path, grading: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    client = _client(grading)
    _post_grade(client, "s1", rc.ITEM, [0], comment="=cmd|' /C calc'!A0, and a comma")
    _post_grade(client, "s4", rc.ITEM, [1, 2])
    sheet = tmp_path / "manual.csv"
    assert exercises_main(["review", "--grading", str(grading), "--export", str(sheet)]) == 0
    rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8"), newline="")))
    assert [(r["student_id"], r["entries"], r["points"]) for r in rows] == [("s1", "1", "2"), ("s4", "2;3", "2")]
    assert rows[0]["comment"].startswith("'=")  # a formula-looking comment is neutralised
    # in the spreadsheet: s4 gets entry 1 as well, s2 is graded by points alone
    text = sheet.read_text(encoding="utf-8").replace(",2;3,2,", ",1;2;3,4,")
    text += "s2,poisson-marginal,above_not_mean,,1.5,good try,\n"
    sheet.write_text(text, encoding="utf-8")
    other = rc.grade(course, tmp_path / "other")
    assert exercises_main(["review", "--grading", str(other), "--import", str(sheet)]) == 0
    assert "recorded 3 manual grades" in capsys.readouterr().out
    assert exercises_main(["gradebook", "--grading", str(other)]) == 0
    book = _gradebook(other)
    assert float(book["s1"][f"Total ({TOTAL_MAX:g})"]) == pytest.approx(_total("s1", 8.0, [0]))
    assert float(book["s4"][f"Total ({TOTAL_MAX:g})"]) == pytest.approx(_total("s4", 6.0, [0, 1, 2]))
    assert float(book["s2"][f"Total ({TOTAL_MAX:g})"]) == pytest.approx((5.0 + 1.5) * (1 - _penalty("s2") / 100))
    [s1] = [g for g in GradingFolder(other).store().grade_history("s1")]
    assert s1.comment == "=cmd|' /C calc'!A0, and a comma" and s1.source == "import"
    # importing the same file again records nothing; a bad row records nothing at all
    assert exercises_main(["review", "--grading", str(other), "--import", str(sheet)]) == 0
    assert "recorded 0 manual grades" in capsys.readouterr().out
    sheet.write_text(text + "s3,poisson-marginal,above_not_mean,7,,\n", encoding="utf-8")
    assert exercises_main(["review", "--grading", str(other), "--import", str(sheet)]) == 2
    assert "entry '7' is not a rubric entry number (1 to 3)" in capsys.readouterr().err
    assert len(GradingFolder(other).store().grade_history()) == 3


# The page (WSGI, no browser) -------------------------------------------------------------------------


def test_the_page_needs_its_token_and_forms_carry_it(grading: Path) -> None:
    app = ReviewApp(GradingFolder(grading), TOKEN)
    bare = Client(app)
    assert bare.get("/").status_code == 403
    assert bare.get("/?token=wrong").status_code == 403
    assert bare.get(f"/student/s1?token={TOKEN}").status_code == 200
    assert bare.get("/student/s1").status_code == 200  # the cookie now
    forged = bare.post(f"/grade/{rc.EX}/{rc.ITEM}/s1", data={"entry": "0"})  # no form token: another site's form
    assert forged.status_code == 403 and GradingFolder(grading).store().grade_history() == []


def test_two_tabs_grading_the_same_answer_keep_both_grades(grading: Path) -> None:
    tab1, tab2 = _client(grading), _client(grading)
    # both tabs opened the ungraded answer (base 0)
    _post_grade(tab1, "s2", rc.ITEM, [0], comment="tab one")
    location = _post_grade(tab2, "s2", rc.ITEM, [0, 1], comment="tab two")
    assert "conflict=s2" in location
    page = tab2.get(location).get_data(as_text=True)
    assert "Another tab had graded" in page and "tab one" in page and "tab two" in page
    history = GradingFolder(grading).store().grade_history("s2")
    assert [g.comment for g in history] == ["tab one", "tab two"]
    assert exercises_main(["gradebook", "--grading", str(grading)]) == 0
    assert float(_gradebook(grading)["s2"][f"Total ({TOTAL_MAX:g})"]) == pytest.approx(_total("s2", 5.0, [0, 1]))


def test_student_text_is_escaped_on_every_page_and_report(grading: Path) -> None:
    client = _client(grading)
    _post_grade(client, "s2", rc.ITEM, [2], comment="<img src=x onerror=alert(1)>")
    for url in (f"/grade/{rc.EX}/{rc.ITEM}/s2", "/student/s2"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>document.title" not in page and "&lt;script&gt;document.title" in page
        assert "<img src=x" not in page
    response = client.get("/report/s2")
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert exercises_main(["reports", "--grading", str(grading)]) == 0
    report = (grading / "final" / "s2.html").read_text(encoding="utf-8")
    assert "<script>" not in report and "&lt;script&gt;document.title" in report
    assert "&lt;img src=x onerror=alert(1)&gt;" in report
    assert "No reason given" in report and "Say why, not only that it does." in report  # the entry and its comment
    subtotal = rc.STUDENTS["s2"][0] + rc.ENTRIES[2]
    lost = subtotal * _penalty("s2") / 100
    assert f"late penalty {_penalty('s2'):g} %" in report and f"{lost:g} of {subtotal:g} points deducted" in report


def test_queue_goes_to_the_next_ungraded_answer_and_search_finds_students(grading: Path) -> None:
    client = _client(grading)
    first = client.get(f"/queue/{rc.EX}/{rc.ITEM}")
    assert first.headers["Location"].endswith("/s1")
    nxt = _post_grade(client, "s1", rc.ITEM, [0], action="next")
    assert nxt.startswith(f"/grade/{rc.EX}/{rc.ITEM}/s2")
    _post_grade(client, "s3", rc.ITEM, [0])
    assert _post_grade(client, "s2", rc.ITEM, [1], action="next").startswith(f"/grade/{rc.EX}/{rc.ITEM}/s4")
    index = client.get("/").get_data(as_text=True)
    assert "3/4 graded" in index and "0/4 graded" in index
    assert client.get("/search?q=s3").headers["Location"] == "/student/s3"
    assert "no submission" in client.get(f"/student/{rc.ABSENT}").get_data(as_text=True)
    assert "No student id contains" in client.get("/search?q=zz").get_data(as_text=True)


def test_an_override_set_in_the_page_needs_a_reason_and_is_shown(grading: Path) -> None:
    client = _client(grading)
    bad = client.post("/override/s1", data={"token": TOKEN, "exercise": rc.EX, "points": "4", "reason": ""})
    assert bad.status_code == 400 and "give a reason" in bad.get_data(as_text=True)
    ok = client.post("/override/s1", data={"token": TOKEN, "exercise": rc.EX, "points": "4", "reason": "plagiarism, half"})
    assert ok.status_code == 303
    assert "plagiarism, half" in client.get("/student/s1").get_data(as_text=True)
    assert exercises_main(["reports", "--grading", str(grading)]) == 0
    assert _gradebook(grading)["s1"][f"Total ({TOTAL_MAX:g})"] == "4"
    assert "Reason: plagiarism, half" in (grading / "final" / "s1.html").read_text(encoding="utf-8")


def test_an_override_scores_a_student_the_autograder_could_not(grading: Path) -> None:
    (grading / "overrides.csv").write_text(
        f"student_id,exercise,points,reason\n{rc.ABSENT},poisson-marginal,7,graded on paper\n", encoding="utf-8"
    )
    assert exercises_main(["gradebook", "--grading", str(grading)]) == 0
    row = _gradebook(grading)[rc.ABSENT]
    assert row[f"Total ({TOTAL_MAX:g})"] == "7" and row["Status"] == "no submission (points from overrides only)"
    assert "graded on paper" in row["Audit"]


# The server ------------------------------------------------------------------------------------------


def _start_review(grading: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "glmm_exercises", "review", "--grading", str(grading), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    url = ""
    deadline = time.monotonic() + 60
    while not url and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if line.startswith("http://127.0.0.1:"):
            url = line.strip()  # the URL is a line of its own
    return proc, url


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_review_server_prints_its_url_refuses_without_token_and_stops_cleanly(
    grading: Path, stop: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    proc, url = _start_review(grading, "--port", "0")
    try:
        assert "/?token=" in url
        base, token = url.split("/?token=")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/", timeout=10)
        assert err.value.code == 403
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and b"Items graded by hand" in response.read()
        # a grade posted just before the server is killed outright is kept
        form = urllib.parse.urlencode({"token": token, "entry": "1", "comment": "posted", "base": "0"}).encode()
        request = urllib.request.Request(f"{base}/grade/{rc.EX}/{rc.ITEM}/s3", data=form,
                                         headers={"Cookie": f"glmm_review_token={token}"})
        urllib.request.urlopen(request, timeout=10).close()
        port = base.rsplit(":", 1)[1]
        if stop == signal.SIGTERM:  # the port is taken: one clear line
            assert exercises_main(["review", "--grading", str(grading), "--port", port]) == 2
            assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
        proc.send_signal(stop)
        assert proc.wait(timeout=20) == 0
        assert "review stopped" in (proc.stdout.read() if proc.stdout else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    [grade] = GradingFolder(grading).store().grade_history("s3")
    assert grade.entries == (1,) and grade.comment == "posted"


def test_a_killed_review_server_loses_no_saved_grade(grading: Path) -> None:
    proc, url = _start_review(grading)
    try:
        base, token = url.split("/?token=")
        for sid in ("s1", "s2"):
            form = urllib.parse.urlencode({"token": token, "entry": ["0", "2"], "comment": sid, "base": "0"},
                                          doseq=True).encode()
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/grade/{rc.EX}/{rc.ITEM}/{sid}", data=form, headers={"Cookie": f"glmm_review_token={token}"}
            ), timeout=10).close()
        proc.kill()  # SIGKILL: no shutdown code runs
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    grades = GradingFolder(grading).store().current_grades()
    assert [(k[0], g.entries, g.comment) for k, g in sorted(grades.items())] == [("s1", (0, 2), "s1"), ("s2", (0, 2), "s2")]


def test_a_batch_folder_can_be_copied_and_reviewed_with_its_assignment_named(course: Path, grading: Path,
                                                                             tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(grading, moved)
    (moved / "inputs.json").unlink()
    with pytest.raises(Exception, match="pass --assignment DIR"):
        GradingFolder(moved)
    assert GradingFolder(moved, assignment=course / "assignment").items


def test_reading_a_folder_nobody_reviewed_leaves_no_database(grading: Path) -> None:
    assert exercises_main(["gradebook", "--grading", str(grading)]) == 0
    assert not (grading / "review.sqlite").exists()
    book = _gradebook(grading)
    assert float(book["s1"][f"Total ({TOTAL_MAX:g})"]) == rc.STUDENTS["s1"][0]  # manual items not graded: 0


def test_a_malformed_submissions_csv_is_one_error(course: Path, grading: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    subs = tmp_path / "subs"
    shutil.copytree(course / "submissions", subs)
    (subs / "submissions.csv").write_text("student_id,submitted_at\ns1,yesterday\n", encoding="utf-8")
    inputs = json.loads((grading / "inputs.json").read_text(encoding="utf-8"))
    (grading / "inputs.json").write_text(json.dumps({**inputs, "submissions": str(subs)}), encoding="utf-8")
    (grading / "overrides.csv").write_text("student_id,exercise,points,reason\ns1,poisson-marginal,1,x\n",
                                           encoding="utf-8")
    before = (grading / "gradebook.csv").read_bytes()
    assert exercises_main(["gradebook", "--grading", str(grading)]) == 2
    err = capsys.readouterr().err
    assert "submissions.csv row 2: 'yesterday' is not an ISO date-time" in err and err.count("\n") == 1
    assert (grading / "gradebook.csv").read_bytes() == before
    assert GradingFolder(grading).store().override_history() == []  # the override was not recorded either
