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
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["SAMPLE_SUBMISSIONS", "sample_path"]

#: student id -> sample file name (``eve`` has none).
SAMPLE_SUBMISSIONS = {"ada": "ada.py", "ben": "ben.py", "cy": "cy.py", "dee": "dee.ipynb"}


def sample_path(name: str) -> Path:
    """Path of a file shipped in this folder (``roster.csv``, ``assignment.toml``, a submission)."""
    with as_file(files(__name__).joinpath(name)) as path:
        return Path(path)
