"""Built-in demo material: a 5-student roster, an assignment configuration and sample submissions.

``python -m glmm_exercises demo`` generates the assignment for ``roster.csv`` with
``assignment.toml`` and grades these student-style submissions (they are data, never imported):

* ``ada.py`` -- correct answers to both exercises;
* ``ben.py`` -- partly wrong: classic mistakes the grader names (the Poisson part of the
  variance left out; Gauss-Hermite nodes not scaled by tau);
* ``cy.py`` -- hostile: reads other files, spawns processes, loops forever, kills its own
  process, imports the grader, and tries to write outside its folder;
* ``dee.ipynb`` -- unfinished notebook: one function written, the rest still stubs;
* ``eve`` is on the roster but submitted nothing.

The submissions are instructor material (``ada.py`` is a correct solution): they live in
``instructor/``, which the student wheel leaves out, so the demo's grading runs from a clone.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["SAMPLE_SUBMISSIONS", "sample_path"]

#: student id -> sample file name (``eve`` has none).
SAMPLE_SUBMISSIONS = {"ada": "ada.py", "ben": "ben.py", "cy": "cy.py", "dee": "dee.ipynb"}


def sample_path(name: str) -> Path:
    """Path of a file of this folder (``roster.csv``, ``assignment.toml``, a submission).

    Raises ``MissingInstructorMaterial`` for a submission when the instructor material is not installed.
    """
    if name not in SAMPLE_SUBMISSIONS.values():
        with as_file(files(__name__).joinpath(name)) as path:
            return Path(path)
    path = Path(__file__).resolve().parent / "instructor" / name
    if not path.is_file():
        from glmm_exercises.catalogue import not_installed

        raise not_installed(f"the demo's sample submission {name}")
    return path
