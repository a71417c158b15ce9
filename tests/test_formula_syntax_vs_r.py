"""R formula spellings through reference.glm / reference.glmer, against R's glm and lme4::glmer.

Expected values: ``tests/r/formula_syntax_reference.json`` made by
``tests/r/formula_syntax_reference.R`` (R 4.2.2, lme4) on ``tests/r/data/formula_syntax.csv``.
Each stored fit is re-fitted here with R's own formula text on the same data (factors as
pandas categoricals with R's declared levels, one level of ``f`` and of ``g`` without rows; a
string column ``resp``; a bool column ``flag``) and compared: coefficient names, estimates,
standard errors (glm) and the log-likelihood.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rtools import R_DIR

import reference
from reference.design import build_design
from reference.errors import InvalidResponseError

REFERENCE = json.loads((R_DIR / "formula_syntax_reference.json").read_text())
FITS: list[dict[str, Any]] = REFERENCE["fits"]
GLM_FITS = [f for f in FITS if f["call"] == "glm"]
GLMER_FITS = [f for f in FITS if f["call"] == "glmer"]

GLM_TOL = 1e-6  # IRLS to convergence on both sides
GLMER_TOL = 2e-3  # relative (absolute below 0.1): two optimisers on a flat surface
FACTOR_RESPONSE = {"string_response", "factor_response", "glmer_factor_response"}


def _frame() -> pd.DataFrame:
    frame = pd.read_csv(R_DIR / REFERENCE["data"])
    for column, levels in REFERENCE["factors"].items():
        frame[column] = pd.Categorical(frame[column], categories=list(levels))
    return frame


FRAME = _frame()



def _close(actual: Any, expected: Any, tol: float, what: str) -> None:
    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs R's {e.shape}"
    allowed = np.where(np.abs(e) < 0.1, tol, tol * np.abs(e))
    assert (np.abs(a - e) <= allowed).all(), f"{what}: {a.tolist()} vs R {e.tolist()}"


def test_reference_data_has_the_awkward_cases() -> None:
    """The stored data really hold what the fits are meant to exercise."""
    assert "d" not in set(FRAME["f"].dropna()) and "d" in FRAME["f"].cat.categories
    assert "g9" not in set(FRAME["g"].dropna()) and "g9" in FRAME["g"].cat.categories
    assert FRAME.loc[FRAME["f"] == "c", "x_na"].isna().all()
    assert {"total.fruits", "Solar.R", "yield", "class", "my col", "plant.id"} <= set(FRAME.columns)
    assert FRAME["flag"].dtype == bool
    assert list(FRAME["lev"].cat.categories) == ["yes", "no"]


@pytest.mark.parametrize("fit", GLM_FITS, ids=[f["id"] for f in GLM_FITS])
def test_glm_matches_r(fit: dict[str, Any]) -> None:
    res = reference.glm(fit["formula"], FRAME, family=fit["family"])
    assert list(res.coef.index) == fit["coef_names"]
    _close(res.coef.to_numpy(), fit["coef"], GLM_TOL, "coefficients")
    _close(res.se.to_numpy(), fit["se"], GLM_TOL, "standard errors")
    assert float(res.loglik) == pytest.approx(fit["loglik"], rel=1e-9)


@pytest.mark.parametrize("fit", GLMER_FITS, ids=[f["id"] for f in GLMER_FITS])
def test_glmer_matches_r(fit: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reference.errors.ConvergenceWarning)
        res = reference.glmer(fit["formula"], FRAME, fit["family"])
    assert list(res.fixef.index) == fit["coef_names"]
    assert int(res.nobs) == fit["nobs"]
    assert {k: int(v) for k, v in res.ngroups.items()} == fit["ngroups"]
    # the maximum found is at least lme4's, and not implausibly above it
    assert fit["loglik"] - 1e-4 <= float(res.loglik) <= fit["loglik"] + 1e-2
    _close(res.fixef.to_numpy(), fit["coef"], GLMER_TOL, "fixed effects")


@pytest.mark.parametrize("fit_id", ["string_response", "factor_response"])
def test_factor_response_codes_first_level_as_failure(fit_id: str) -> None:
    """build_design(factor_response=True) codes as R's binomial; the 0/1 fit then equals R's."""
    fit = next(f for f in GLM_FITS if f["id"] == fit_id)
    design = build_design(fit["formula"], FRAME, factor_response=True)
    column = fit["formula"].split("~")[0].strip()
    first = "n" if column == "resp" else "yes"  # sorted strings; the categorical's own order
    assert design.response_levels is not None and design.response_levels[0] == first
    np.testing.assert_array_equal(design.y, (FRAME[column].astype(str) != first).to_numpy(float))
    coded = FRAME.assign(y01=design.y)
    res = reference.glm("y01 ~ x", coded, family="binomial")
    _close(res.coef.to_numpy(), fit["coef"], GLM_TOL, "coefficients of the 0/1-coded response")
    with pytest.raises(InvalidResponseError, match="not numeric"):
        build_design(fit["formula"], FRAME)  # not for other families (the default)
