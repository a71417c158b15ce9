"""``python -m glmm_exercises demo``: the whole story on built-in defaults.

1. **Generate** a problem set (two exercises) for the built-in 5-student roster
   (``glmm_exercises/samples/roster.csv`` and ``assignment.toml``) into ``OUT/assignment``.
2. **Grade** the built-in sample submissions (``glmm_exercises/samples/instructor``: a correct one, a partly
   wrong one, a hostile one, an unfinished notebook; one student submits nothing) with
   ``glmm-grade batch`` into ``OUT/grading``: per-student reports, ``gradebook.csv`` and the
   instructor summary with plots.
3. **Review** the written answers by hand: the demo records a few rubric grades through the code
   the review page uses (``glmm-exercises review``), then rebuilds the gradebook and summary from
   all parts and writes each student's final report (``glmm-exercises reports``).
4. **Fit** the lecture notes' beaches models: all observations pooled in one Poisson GLM, beach
   as a fixed (sum-contrast) factor, and beach as a random intercept (Poisson GLMM, Laplace), on
   a beaches-like data set the package simulates, and on the real RIKZ data when ``rikz.csv`` is
   found.

Steps 1 and 2 use instructor material (answer keys, the sample submissions), which the student wheel
leaves out: from an installed wheel the demo stops with one line saying so; run it from a clone.

``OUT`` (default ``./demo-output``) is replaced only when it is a previous demo output (it holds
the marker file ``.glmm-demo``) or empty; anything else is refused with a one-line message.
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

import pandas as pd

import reference
from glmm_exercises.paths import RIKZ_ENV, rikz_csv

POOLED = "Richness ~ NAP"
FIXED_BEACH = "Richness ~ NAP + C(Beach)"
RANDOM_BEACH = "Richness ~ NAP + (1 | Beach)"

DEFAULT_OUT = Path("demo-output")
MARKER = ".glmm-demo"
#: Course seed and grading seed of the demo. They are public, so the demo is reproducible; a real
#: course uses secret random 64-bit numbers (see docs/grading.md).
DEMO_COURSE_SEED = 0x6C6D_6D20_6465_6D6F
DEMO_GRADING_SEED = 0x5EED_0F_DE30_2026


class DemoOutputError(ValueError):
    """The demo's output folder exists and is not a previous demo output."""


def _rule(title: str, out: TextIO) -> None:
    out.write(f"\n{'=' * 78}\n{title}\n{'=' * 78}\n")


def beaches_analyses(data: pd.DataFrame, label: str, out: TextIO) -> dict[str, float]:
    """Fit the three beaches models to ``data`` and print their summaries; return key figures."""
    data = data.copy()
    data["Beach"] = pd.Categorical(data["Beach"])
    _rule(f"{label}: solution 1, all observations pooled in one Poisson GLM", out)
    pooled = reference.glm(POOLED, data=data, family="poisson")
    out.write(pooled.summary() + "\n")
    _rule(f"{label}: solution 2, beach as a fixed factor (sum contrasts)", out)
    fixed = reference.glm(FIXED_BEACH, data=data, family="poisson", contrasts={"Beach": "sum"})
    out.write(fixed.summary() + "\n")
    _rule(f"{label}: solution 3, beach as a random intercept (Poisson GLMM, Laplace)", out)
    mixed = reference.glmer(RANDOM_BEACH, data=data, family="poisson")
    out.write(mixed.summary() + "\n")
    figures = {
        "se_nap_pooled": float(pooled.se["NAP"]),
        "se_nap_fixed": float(fixed.se["NAP"]),
        "se_nap_random": float(mixed.se["NAP"]),
    }
    out.write(
        "\nStandard error of the NAP effect: "
        f"pooled {figures['se_nap_pooled']:.4f}, fixed beach {figures['se_nap_fixed']:.4f}, "
        f"random beach {figures['se_nap_random']:.4f} "
        f"(the pooled fit ignores the clustering, so its SE is too small by a factor "
        f"{figures['se_nap_random'] / figures['se_nap_pooled']:.2f}).\n"
    )
    return figures


def prepare_output(folder: Path) -> None:
    """Empty ``folder`` for the demo: only a missing/empty folder or a previous demo output is replaced."""
    if folder.exists() and not folder.is_dir():
        raise DemoOutputError(f"demo output {str(folder)!r} is a file; pass --out with a folder path")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise DemoOutputError(
                f"{str(folder)!r} exists and is not a previous demo output (no {MARKER} file); "
                "pass --out NEW_FOLDER or remove it yourself"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("written by python -m glmm_exercises demo; the demo replaces this folder\n",
                                 encoding="utf-8")


def _check_instructor_material() -> None:
    """Raise ``MissingInstructorMaterial`` (before anything is written) when the sample submissions or the
    demo exercises' keys are not installed."""
    from glmm_exercises.catalogue import answers, key_path, mutant_files
    from glmm_exercises.config import load_config
    from glmm_exercises.samples import SAMPLE_SUBMISSIONS, sample_path

    for name in SAMPLE_SUBMISSIONS.values():
        sample_path(name)
    for eid in load_config(sample_path("assignment.toml")).exercise_ids:
        key_path(eid)
        mutant_files(eid)
        answers(eid)


def _copy_samples(dest: Path) -> list[str]:
    from glmm_exercises.samples import SAMPLE_SUBMISSIONS, sample_path

    for sid, name in SAMPLE_SUBMISSIONS.items():
        suffix = Path(name).suffix
        target = dest / sid / f"solution{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample_path(name), target)
    return sorted(SAMPLE_SUBMISSIONS)


def _table(gradebook: Path) -> str:
    with gradebook.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    last = rows[0].index("Status") if "Status" in rows[0] else len(rows[0]) - 1
    keep = [0, *range(3, last + 1)]
    cells = [[row[i] for i in keep] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(keep))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def grading_story(folder: Path, out: TextIO, *, jobs: int = 2, progress: TextIO | None = None) -> dict[str, Path]:
    """Generate the demo assignment, grade the sample submissions; return the paths written."""
    from glmm_exercises.config import load_config
    from glmm_exercises.generate import generate
    from glmm_exercises.roster import read_roster
    from glmm_exercises.samples import sample_path
    from graders.batch import run_batch

    roster = read_roster(sample_path("roster.csv"))
    config = load_config(sample_path("assignment.toml"))
    _rule("Instructor: generate a problem set for a 5-student roster", out)
    t0 = time.perf_counter()
    summary = generate(roster, DEMO_COURSE_SEED, folder / "assignment", config=config)
    out.write(
        f"{summary.students} students x {len(summary.exercises)} exercises ({', '.join(summary.exercises)}): "
        f"{summary.files} files in {folder / 'assignment'} ({time.perf_counter() - t0:.1f} s)\n"
        f"  each student's sheet:  {folder / 'assignment' / 'students' / '<id>' / 'sheet.html'}\n"
    )
    _rule("Students hand in: a correct one, a partly wrong one, a hostile one, an unfinished one", out)
    submitted = _copy_samples(folder / "submissions")
    out.write(f"submissions of {', '.join(submitted)} in {folder / 'submissions'}; eve handed in nothing\n")
    _rule(f"Grade them all: glmm-grade batch --jobs {jobs} (sandboxed, hidden checks included)", out)
    out.flush()
    batch = run_batch(
        folder / "submissions", folder / "assignment", folder / "grading",
        mode="all", seed=DEMO_GRADING_SEED, jobs=jobs, progress=progress,
    )
    out.write(f"graded {batch.graded} submissions in {batch.seconds:.1f} s\n\n")
    out.write(_table(batch.gradebook))
    final = review_story(folder / "grading", out)
    return {
        "final": final,
        "sheets": folder / "assignment" / "students",
        "reports": folder / "grading" / "reports",
        "gradebook": batch.gradebook,
        "summary": batch.summary_html,
    }


#: The demo's manual grades: student -> (rubric entries chosen, comment), for the sample's written item.
DEMO_MANUAL = {
    "ada": ([0, 1], "Both reasons, well put."),
    "ben": ([2], "Which property of exp makes the mean go up?"),
}
DEMO_ITEM = ("poisson-marginal", "above_not_mean")


def review_story(grading: Path, out: TextIO) -> Path:
    """Record the demo's manual grades as the review page would, rebuild the gradebook from all
    parts and write the final reports; returns the final-reports folder."""
    from glmm_exercises.review.final import rebuild
    from glmm_exercises.review.folder import GradingFolder

    _rule("Review: grade the written answers by hand (glmm-exercises review), then the final gradebook", out)
    folder = GradingFolder(grading)
    store = folder.store()
    exercise, item = DEMO_ITEM
    for sid, (entries, comment) in DEMO_MANUAL.items():
        folder.record_grade(store, sid, exercise, item, entries, comment, source="demo")
    out.write(
        f"recorded {len(DEMO_MANUAL)} rubric grades for {exercise}/{item} ({', '.join(DEMO_MANUAL)}); "
        "the others wait in the review queue\n\n"
    )
    rebuild(folder, reports=True)
    out.write(_table(grading / "gradebook.csv"))
    return grading / "final"


def command_path(name: str) -> str:
    """How to type command ``name`` here: the plain name when it is on PATH, else its path next to
    this Python (``.venv/bin/glmm-grade`` after ``make demo``), relative to the working directory."""
    if shutil.which(name):
        return name
    path = Path(sys.executable).parent / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_demo(
    seed: int = 2018,
    out: TextIO | None = None,
    *,
    output_dir: str | Path = DEFAULT_OUT,
    jobs: int = 2,
    grading: bool = True,
    progress: TextIO | None = None,
) -> int:
    """Run the demo (see the module docstring); returns a process exit code.

    ``seed`` seeds the simulated beaches data. ``grading=False`` runs only the beaches fits.
    Raises :class:`DemoOutputError` when ``output_dir`` is not safe to replace.
    """
    out = out or sys.stdout
    folder = Path(output_dir)
    out.write("glmm-exercises demo: generate a problem set, grade a class, fit the lecture notes' beaches models\n")
    paths: dict[str, Path] = {}
    if grading:
        _check_instructor_material()
        prepare_output(folder)
        paths = grading_story(folder, out, jobs=jobs, progress=progress if progress is not None else sys.stderr)

    simulated = reference.simulate_beaches(seed=seed)
    _rule("The beaches example of the GLMM lecture notes", out)
    out.write(
        f"Simulated beaches-like data ({len(simulated)} samples, "
        f"{simulated['Beach'].nunique()} beaches, seed {seed}).\n"
    )
    beaches_analyses(simulated, "Simulated beaches", out)
    path = rikz_csv()
    if path is None:
        out.write(
            f"\nThe real RIKZ data (rikz.csv) was not found; set {RIKZ_ENV}=/path/to/rikz.csv "
            "to fit it as well.\n"
        )
    else:
        real = pd.read_csv(path)
        out.write(f"\nReal RIKZ data from {path} ({len(real)} samples).\n")
        beaches_analyses(real[["Richness", "NAP", "Beach"]], "RIKZ data", out)
    if paths:
        _rule("Open these", out)
        out.write(
            f"instructor summary (plots):  {paths['summary'].resolve()}\n"
            f"gradebook (CSV):             {paths['gradebook'].resolve()}\n"
            f"students' reports:           {paths['reports'].resolve()}/<id>.html\n"
            f"final reports (manual part): {paths['final'].resolve()}/<id>.html\n"
            f"students' problem sheets:    {paths['sheets'].resolve()}/<id>/sheet.html\n"
        )
    exercises, grade = command_path("glmm-exercises"), command_path("glmm-grade")
    out.write(f"\nDone. `{exercises} --help` and `{grade} --help` list the other commands")
    if exercises != "glmm-exercises":
        out.write(f" (or first `source {Path(exercises).parent / 'activate'}`, then use the plain names)")
    out.write(".\n")
    out.flush()
    return 0


__all__ = ["DEFAULT_OUT", "DemoOutputError", "beaches_analyses", "grading_story", "prepare_output", "review_story",
           "run_demo"]


__all__ = [
    "DEFAULT_OUT", "DemoOutputError", "beaches_analyses", "command_path", "grading_story", "prepare_output", "run_demo",
]
