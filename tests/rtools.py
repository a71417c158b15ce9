"""Helpers for the tests that compare with R: running R live (marked ``needs_r``), and the
comparison rules shared by the stored-output tests.

Most R comparisons read the stored outputs under ``tests/r/`` and need no R at all; the
``needs_r`` tests re-run a small fit with ``Rscript`` so that a fresh R run is checked too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
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


#: estimates agree with R's to this, relative; absolute for |value| < ESTIMATE_SMALL
ESTIMATE_TOL = 1e-3
ESTIMATE_SMALL = 0.1


def assert_close_to_r(actual: np.ndarray, expected: Sequence[float], what: str) -> None:
    """Every element within ESTIMATE_TOL of R's (relative, or absolute near zero), naming the bad ones."""
    expected_arr = np.asarray(expected, dtype=float)
    assert actual.shape == expected_arr.shape, f"{what}: shape {actual.shape} vs R's {expected_arr.shape}"
    tol = np.where(np.abs(expected_arr) < ESTIMATE_SMALL, ESTIMATE_TOL, ESTIMATE_TOL * np.abs(expected_arr))
    bad = np.abs(actual - expected_arr) > tol
    assert not bad.any(), (
        f"{what} differ from R at {np.flatnonzero(bad).tolist()}: {actual[bad].tolist()} vs {expected_arr[bad].tolist()}"
    )


def best_r_loglik(fit: Mapping[str, Any]) -> float:
    """The better of lme4's (full-scale) and glmmTMB's stored log-likelihoods; lme4's Gamma logLik
    is not comparable (another dispersion estimate), so it is left out."""
    lme4 = fit["lme4"]
    candidates = []
    if fit["family"] != "Gamma" and "loglik" in lme4:
        candidates.append(lme4.get("loglik_full", lme4["loglik"]))
    tmb = fit.get("glmmTMB") or {}
    if "loglik" in tmb:
        candidates.append(tmb["loglik"])
    assert candidates, f"{fit['id']}: no comparable R log-likelihood stored"
    return max(candidates)
