"""``glmm-exercises generate``: per-student problem sheets, starter code and data; instructor files.

Layout of the output directory::

    OUT/students/<student_id>/sheet.html        problem sheet, math as MathML (offline)
                              sheet.md          the same in Markdown with TeX math
                              figures/<exercise>.svg   the variant's figure (sheet.md links it,
                                                sheet.html holds it inline)
                              solution.py       stubs raising NotImplementedError
                              solution.ipynb    the same as a notebook
                              data/<exercise>/<name>.csv
                              assignment.json   this student's variants (glmm-grade reads it)
                              README.md         install the checker, check, submit (for the student)
    OUT/student-dist/glmm_exercises-<v>-*.whl   the package students install (only with
                                                ``student_dist``; no keys, mutants or answers)
    OUT/instructor/manifest.json   every student's variant parameters, versions, hashes, config
                   assignment.toml the configuration used, every setting written out
                   keys/<exercise>.py   answer keys;  key_solution.py  all keys in one file
                   mutants/<exercise>/<name>.py   the mutants (selftest --instructor OUT/instructor)
                   answers/<exercise>.json        multiple-choice answers (grading --all reads them)

The answer keys, mutants and answers are instructor material: they come from the source tree of a
clone (or ``instructor``, an instructor folder written before) and never reach the students' folders,
whose files hold only what the sheet shows (no option permutations, no correct options).

Same roster, seed, config and package versions give byte-identical files (no timestamps, sorted
JSON keys, floats written by ``repr``). Everything is built in a temporary sibling directory and
renamed at the end, so a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from glmm_exercises import __version__
from glmm_exercises.atomic import staged_directory, write_text
from glmm_exercises.catalogue import answers, key_path, mutant_files
from glmm_exercises.config import AssignmentConfig, apply_config, config_to_toml, default_config
from glmm_exercises.figures import exercise_figure, figure_caption
from glmm_exercises.roster import Roster
from glmm_exercises.sheets import (
    SheetError,
    SheetSection,
    render_exercise_markdown,
    render_sheet_html,
    render_sheet_markdown,
)
from glmm_exercises.starter import StarterExercise, solution_notebook, solution_source
from glmm_exercises.variants import (
    ProtocolError,
    build_exercise,
    canonical_params,
    course_seed_hash,
    exercise_module,
    variant_params,
)

__all__ = ["MANIFEST_FORMAT", "STUDENT_DIST", "GenerateSummary", "dumps_json", "generate", "student_readme"]

MANIFEST_FORMAT = 1
_DATA_NAME = re.compile(r"[A-Za-z0-9_-]+")


def dumps_json(data: Any) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, UTF-8, final newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate`` wrote."""

    out: Path
    students: int
    exercises: tuple[str, ...]
    files: int


def _data_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, lineterminator="\n")


def _combined_key(functions: dict[str, tuple[str, ...]], instructor: str | Path | None = None) -> str:
    """All answer keys in one file that grades like a solution of the whole assignment.

    Each key runs in its own module namespace (keys may share helper names), and the functions
    each exercise asks for are bound at the top level. ``functions``: exercise id -> function names.
    """
    parts = [
        '"""All answer keys of this assignment in one file (grade it like a solution).\n\n'
        "Each key runs in its own namespace; the functions the exercises ask for are bound below.\n"
        '"""\n\n',
        "import sys as _sys\nimport types as _types\n\n\n",
        "def _load_key(name, source):\n",
        "    module = _types.ModuleType(name)\n",
        "    _sys.modules[name] = module  # dataclasses and pickling look modules up by name\n",
        "    exec(compile(source, name + '.py', 'exec'), module.__dict__)\n",
        "    return module\n\n\n",
        "def _export(function):\n",
        "    function.__module__ = __name__  # counts as defined by this file\n",
        "    return function\n",
    ]
    for eid, names in functions.items():
        source = key_path(eid, instructor=instructor).read_text(encoding="utf-8")
        var = "_key_" + re.sub(r"\W", "_", eid)
        parts.append(f"\n\n{var} = _load_key({var[1:]!r}, {source!r})\n")
        parts += [f"{name} = _export({var}.{name})\n" for name in names]
    return "".join(parts)


def generate(
    roster: Roster,
    course_seed: int,
    out: str | Path,
    *,
    config: AssignmentConfig | None = None,
    force: bool = False,
    instructor: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    student_dist: bool | str | Path = False,
) -> GenerateSummary:
    """Write every student's sheet, starter files and data, and the instructor folder, to ``out``.

    ``instructor``: where the answer keys, mutants and answers are copied from (an instructor folder
    ``generate`` wrote before); ``None`` uses ``$GLMM_INSTRUCTOR_DIR`` or the source tree.
    ``student_dist``: ``True`` builds the student wheel from the source checkout (``pip wheel``,
    some seconds) into ``OUT/student-dist/``; a path copies that wheel there instead (it must not
    hold instructor material); ``False`` (default) writes none, and the students' README then names
    the wheel generically.

    Raises:
        MissingInstructorMaterial: an answer key, mutant or answers file cannot be found (checked
            before anything is written).
        ExportError: the student wheel cannot be built, or the given one is not a clean wheel.
        OutputExistsError: ``out`` is a file, or a non-empty directory and ``force`` is false.
        ProtocolError: an exercise module breaks the catalogue protocol or draws an ill-posed variant.
    """
    config = config or default_config()
    out = Path(out)
    ids = config.exercise_ids
    modules = {eid: exercise_module(eid) for eid in ids}
    versions = {eid: str(modules[eid].VERSION) for eid in ids}
    material = {
        eid: (
            key_path(eid, instructor=instructor).read_text(encoding="utf-8"),
            {name: path.read_text(encoding="utf-8") for name, path in mutant_files(eid, instructor=instructor).items()},
            answers(eid, instructor=instructor),
        )
        for eid in ids
    }
    files = 0
    manifest_students: dict[str, Any] = {}

    with staged_directory(out, force=force) as tmp:
        wheel = _student_dist(student_dist, tmp / STUDENT_DIST)
        if wheel is not None:
            files += 1
        for n, student in enumerate(roster.students, start=1):
            sid = student.student_id
            if progress is not None:
                progress(f"[{n}/{len(roster)}] {sid}")
            folder = tmp / "students" / sid
            sections: list[SheetSection] = []
            starters: list[StarterExercise] = []
            figures: dict[str, str] = {}
            variants: dict[str, Any] = {}
            for eid in ids:
                module = modules[eid]
                params = variant_params(course_seed, sid, eid)
                issues = module.problems(params)
                if issues:
                    raise ProtocolError(
                        f"{eid}: draw_params gave student {sid!r} an ill-posed variant ({'; '.join(issues)}); "
                        "fix the exercise's draw_params"
                    )
                exercise = apply_config(build_exercise(eid, params), config)
                data = module.make_data(params)
                data_files = []
                for name in sorted(data):
                    if not _DATA_NAME.fullmatch(name):
                        raise ProtocolError(f"{eid}: data name {name!r} must be letters, digits, '_' or '-'")
                    rel = f"data/{eid}/{name}.csv"
                    write_text(folder / rel, _data_csv(data[name]))
                    files += 1
                    data_files.append(rel)
                figure = None
                svg = exercise_figure(eid, params, data)
                if svg is not None:
                    figure = {"path": f"figures/{eid}.svg", "caption": figure_caption(eid)}
                    figures[figure["path"]] = svg
                    write_text(folder / figure["path"], svg)
                    files += 1
                try:
                    body = render_exercise_markdown(
                        module.SHEET,
                        params=params,
                        data=data,
                        functions=exercise.functions,
                        extra={"title": exercise.title, "points": exercise.max_score, "data_files": data_files,
                               "figure": figure},
                    )
                except SheetError as exc:
                    raise ProtocolError(f"{eid}: {exc}") from None
                sections.append(SheetSection(eid, exercise.title, exercise.max_score, body, tuple(data_files)))
                starters.append(StarterExercise(eid, exercise.title, params, exercise.functions, tuple(data_files),
                                                exercise.written))
                variants[eid] = {"params": params, "version": versions[eid], "points": exercise.max_score}
            sheet_md = render_sheet_markdown(sections, course=config.course, title=config.title, student=student.as_dict())
            write_text(folder / "sheet.md", sheet_md)
            write_text(folder / "sheet.html", render_sheet_html(sheet_md, title=f"{config.title} — {sid}", figures=figures))
            write_text(folder / "solution.py", solution_source(sid, config.title, starters))
            write_text(folder / "solution.ipynb", solution_notebook(sid, config.title, starters))
            own = {
                "format": MANIFEST_FORMAT,
                "package_version": __version__,
                "student": {"student_id": sid},
                "config": config.to_dict(),
                "exercises": variants,
            }
            write_text(folder / "assignment.json", dumps_json(own))
            has_data = any(section.data_files for section in sections)
            write_text(folder / "README.md", student_readme(config, sid, wheel=wheel, data=has_data,
                                                                figures=bool(figures)))
            files += 6
            manifest_students[sid] = {**student.as_dict(), "exercises": variants}

        folder_out = tmp / "instructor"
        manifest = {
            "format": MANIFEST_FORMAT,
            "package_version": __version__,
            "course_seed": course_seed_hash(course_seed),
            "roster": {"sha256": roster.sha256, "file": roster.source, "students": len(roster)},
            "config": config.to_dict(),
            "exercises": {
                eid: {
                    "version": versions[eid],
                    "title": str(modules[eid].TITLE),
                    "default_params": canonical_params(modules[eid].DEFAULT_PARAMS),
                }
                for eid in ids
            },
            "students": manifest_students,
        }
        write_text(folder_out / "manifest.json", dumps_json(manifest))
        write_text(folder_out / "assignment.toml", config_to_toml(config))
        files += 2
        for eid, (key, mutants, solutions) in material.items():
            write_text(folder_out / "keys" / f"{eid}.py", key)
            for name, text in mutants.items():
                write_text(folder_out / "mutants" / eid / f"{name}.py", text)
            if solutions:
                write_text(folder_out / "answers" / f"{eid}.json", dumps_json(solutions))
            files += 1 + len(mutants) + bool(solutions)
        names = {}
        for eid in ids:
            exercise = build_exercise(eid)
            names[eid] = (*(f.name for f in exercise.functions), *(w.function for w in exercise.written))
        write_text(folder_out / "key_solution.py", _combined_key(names, instructor))
        files += 1
    return GenerateSummary(out, len(roster), ids, files)


#: Folder of the course output that holds the wheel students install.
STUDENT_DIST = "student-dist"


def _student_dist(request: bool | str | Path, dest: Path) -> str | None:
    """Place the student wheel in ``dest`` (see :func:`generate`); its file name, or None."""
    if request is False:
        return None
    from glmm_exercises.export import ExportError, build_wheel

    dest.mkdir(parents=True)
    if request is True:
        return build_wheel(dest).name
    source = Path(request)
    if not (source.is_file() and source.name.startswith("glmm_exercises-") and source.suffix == ".whl"):
        raise ExportError(f"--student-wheel {str(source)!r} is not a glmm_exercises-*.whl file; build one with "
                          "pip wheel --no-deps . (or use --student-dist to build it)")
    try:
        with zipfile.ZipFile(source) as zf:
            leaked = [n for n in zf.namelist() if "/instructor/" in n]
    except zipfile.BadZipFile:
        raise ExportError(f"--student-wheel {str(source)!r} is not a readable wheel (zip) file") from None
    if leaked:
        raise ExportError(f"--student-wheel {str(source)!r} holds instructor material ({leaked[0]}); "
                          "build the wheel from this version's pyproject.toml, which leaves it out")
    shutil.copyfile(source, dest / source.name)
    return source.name


def student_readme(config: AssignmentConfig, student_id: str, *, wheel: str | None, data: bool,
                   figures: bool = False) -> str:
    """The README.md of a student's folder: what is in it, install, check, submit (exact commands)."""
    from glmm_exercises.sheets import template_environment

    env = template_environment(autoescape=False)
    return env.get_template("student_readme.md.j2").render(
        title=config.title,
        course=config.course,
        student_id=student_id,
        wheel=wheel or "glmm_exercises-VERSION-py3-none-any.whl",
        wheel_given=wheel is not None,
        data=data,
        figures=figures,
    )


def manifest_digest(path: str | Path) -> str:
    """SHA-256 of a file (used in tests and reports)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
