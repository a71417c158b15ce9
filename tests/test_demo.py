"""The README's first command: `python -m glmm_exercises demo` runs the whole story."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from glmm_exercises.cli import main as exercises_main
from glmm_exercises.demo import MARKER, DemoOutputError, prepare_output, run_demo


def test_demo_output_is_replaced_only_when_it_is_a_previous_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious", encoding="utf-8")
    with pytest.raises(DemoOutputError, match="not a previous demo output"):
        prepare_output(mine)
    assert (mine / "chapter1.tex").read_text(encoding="utf-8") == "precious"
    assert exercises_main(["demo", "--out", str(mine)]) == 2
    assert "not a previous demo output" in capsys.readouterr().err
    old = tmp_path / "demo"
    prepare_output(old)
    (old / "stale.txt").write_text("old run", encoding="utf-8")
    prepare_output(old)
    assert sorted(p.name for p in old.iterdir()) == [MARKER]


@pytest.mark.slow  # about 70 s on the shared 2-core machine (grading 4 sandboxed submissions + 3 fits)
def test_demo_runs_the_whole_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    folder = tmp_path / "demo-output"
    assert run_demo(out=out, output_dir=folder, jobs=2, progress=io.StringIO()) == 0
    text = out.getvalue()
    rows = {r[0]: r for r in csv.reader(io.StringIO((folder / "grading" / "gradebook.csv").read_text(encoding="utf-8")))}
    header = rows.pop("Student ID")
    percent, status = header.index("Percent"), header.index("Status")
    assert sorted(rows) == ["ada", "ben", "cy", "dee", "eve"]
    assert rows["ada"][percent] == "100.00"  # the correct sample
    assert 0 < float(rows["ben"][percent]) < 100 and 0 < float(rows["dee"][percent]) < 100
    assert rows["cy"][percent] == "0.00"  # the hostile one gets nothing ...
    assert rows["eve"][status] == "no submission"
    assert not (tmp_path / "grades.csv").exists()  # ... and wrote nothing outside its sandbox
    for sid in ("ada", "ben", "cy", "dee"):
        assert (folder / "grading" / "reports" / f"{sid}.html").is_file()
        assert (folder / "assignment" / "students" / sid / "sheet.html").is_file()
    summary = (folder / "grading" / "summary.html").read_text(encoding="utf-8")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "<svg" not in summary and "[plots]" in summary
    else:
        assert summary.count("<svg") == 3
    # the review: the written item is in the summary and in ada's final report with its rubric entries
    assert "Graded by hand" in summary and "above_not_mean" in summary
    final = (folder / "grading" / "final" / "ada.html").read_text(encoding="utf-8")
    assert "Names the convexity of exp" in final and "Both reasons, well put." in final
    assert "Jensen&#39;s inequality" in final  # her written answer, escaped
    book = list(csv.DictReader(io.StringIO((folder / "grading" / "gradebook.csv").read_text(encoding="utf-8"))))
    assert "poisson-marginal/above_not_mean" in next(r for r in book if r["Student ID"] == "dee")["Status"]
    for part in ("generate a problem set", "Grade them all", "Review: grade the written answers", "solution 3, beach as a random intercept",
                 "Standard error of the NAP effect", "instructor summary (plots):", str((folder / "grading").resolve())):
        assert part in text
