"""Helpers for the few tests that run R live (marked ``needs_r``).

Most R comparisons read the stored outputs under ``tests/r/`` and need no R at all; the
``needs_r`` tests re-run a small fit with ``Rscript`` so that a fresh R run is checked too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

R_DIR = Path(__file__).parent / "r"
SKIP_REASON = "Rscript not installed: apt-get install r-base-core r-cran-lme4"


def have_rscript() -> bool:
    """True when an ``Rscript`` executable is on the PATH."""
    return shutil.which("Rscript") is not None


def require_rscript() -> None:
    """Skip the calling test, with the install hint, when R is absent."""
    if not have_rscript():
        pytest.skip(SKIP_REASON)


def run_rscript(script: str | Path, *args: str, timeout: float = 120.0) -> str:
    """Run ``Rscript script args...`` and return its standard output.

    ``script`` is a path, or a file name inside ``tests/r/``. Raises ``RuntimeError`` with R's
    last error lines when the script fails, and ``subprocess.TimeoutExpired`` on timeout.
    """
    path = Path(script)
    if not path.is_absolute() and not path.exists():
        path = R_DIR / path
    if not path.exists():
        raise FileNotFoundError(f"R script {script!s} not found; expected it under {R_DIR}")
    exe = shutil.which("Rscript")
    if exe is None:
        raise RuntimeError(SKIP_REASON)
    done = subprocess.run(
        [exe, "--vanilla", str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"Rscript {path.name} failed (exit {done.returncode}): {tail}")
    return done.stdout


def run_rscript_json(script: str | Path, *args: str, timeout: float = 120.0) -> Any:
    """Run an R script that prints one JSON document and return it parsed."""
    return json.loads(run_rscript(script, *args, timeout=timeout))
