"""reference.design: formula -> design matrix with R's columns, names, order and contrasts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reference.design import build_design
from reference.errors import DesignMatrixError, FormulaError, InvalidResponseError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(12)
    n = 24
    return pd.DataFrame(
        {
            "y": rng.poisson(3.0, n).astype(float),
            "x": np.round(rng.normal(size=n), 4),
            "z": np.round(rng.uniform(0.5, 2.0, n), 4),
            "g": np.tile(["b", "a", "c"], n // 3),
            "h": np.repeat(["u", "v"], n // 2),
            "k": np.tile([3, 1, 2, 4], n // 4),
            "t": np.round(rng.uniform(1.0, 3.0, n), 4),
        }
    )


def test_treatment_contrasts_drop_the_first_sorted_level(frame: pd.DataFrame) -> None:
    d = build_design("y ~ x + g", frame)
    assert d.names == ("(Intercept)", "x", "gb", "gc")
    np.testing.assert_array_equal(d.X[:, 0], 1.0)
    np.testing.assert_array_equal(d.X[:, 1], frame["x"])
    np.testing.assert_array_equal(d.X[:, 2], (frame["g"] == "b").astype(float))
    np.testing.assert_array_equal(d.X[:, 3], (frame["g"] == "c").astype(float))
    assert d.spec.has_intercept
    np.testing.assert_array_equal(d.y, frame["y"])


def test_sum_contrasts_by_argument_and_in_formula(frame: pd.DataFrame) -> None:
    by_arg = build_design("y ~ x + k", frame, contrasts={"k": "sum"})
    in_formula = build_design("y ~ x + C(k, contr.sum)", frame)
    r_short = build_design("y ~ x + C(k, sum)", frame)
    assert by_arg.names == in_formula.names == r_short.names == ("(Intercept)", "x", "k1", "k2", "k3")
    np.testing.assert_array_equal(by_arg.X, in_formula.X)
    np.testing.assert_array_equal(by_arg.X, r_short.X)
    levels = frame["k"].to_numpy()
    for j, level in enumerate([1, 2, 3]):
        expected = np.where(levels == level, 1.0, np.where(levels == 4, -1.0, 0.0))
        np.testing.assert_array_equal(by_arg.X[:, 2 + j], expected)


def test_integer_column_is_numeric_unless_asked(frame: pd.DataFrame) -> None:
    assert build_design("y ~ k", frame).names == ("(Intercept)", "k")
    assert build_design("y ~ C(k)", frame).names == ("(Intercept)", "k2", "k3", "k4")


def test_no_intercept_codes_the_first_factor_fully(frame: pd.DataFrame) -> None:
    d = build_design("y ~ 0 + g + h", frame)
    assert d.names == ("ga", "gb", "gc", "hv")
    assert not d.spec.has_intercept
    d2 = build_design("y ~ g - 1", frame)
    assert d2.names == ("ga", "gb", "gc")


def test_interactions_and_functions(frame: pd.DataFrame) -> None:
    d = build_design("y ~ x * g + log(z) + I(x**2)", frame)
    assert d.names == ("(Intercept)", "x", "gb", "gc", "log(z)", "I(x ** 2)", "x:gb", "x:gc")
    np.testing.assert_allclose(d.X[:, 4], np.log(frame["z"]))
    np.testing.assert_allclose(d.X[:, 5], frame["x"] ** 2)
    np.testing.assert_allclose(d.X[:, 6], frame["x"] * (frame["g"] == "b"))


def test_offset_terms_leave_the_design(frame: pd.DataFrame) -> None:
    d = build_design("y ~ x + offset(log(t))", frame)
    assert d.names == ("(Intercept)", "x")
    np.testing.assert_allclose(d.offset, np.log(frame["t"]))
    new = frame.iloc[[3, 1]]
    X, off = d.spec.matrix(new)
    np.testing.assert_allclose(X, d.X[[3, 1]])
    np.testing.assert_allclose(off, np.log(new["t"]))
    assert build_design("y ~ x", frame).offset is None
    with pytest.raises(FormulaError, match="interaction"):
        build_design("y ~ x:offset(t)", frame)


def test_new_data_reuses_levels_and_contrasts(frame: pd.DataFrame) -> None:
    d = build_design("y ~ g + C(k, contr.sum)", frame)
    new = frame.iloc[[4, 5]]  # levels c/b of g and 2 of k only
    X, off = d.spec.matrix(new)
    assert off is None
    np.testing.assert_array_equal(X, d.X[[4, 5]])


def test_cbind_response(frame: pd.DataFrame) -> None:
    d = build_design("cbind(y, t) ~ x", frame)
    np.testing.assert_array_equal(d.y, frame["y"])
    np.testing.assert_allclose(d.trials, frame["y"] + frame["t"])
    with pytest.raises(FormulaError, match="two columns"):
        build_design("cbind(y) ~ x", frame)


def test_errors_name_the_problem(frame: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match=r"'gg'.*did you mean 'g'"):
        build_design("y ~ x + gg", frame)
    with pytest.raises(FormulaError, match=r"'yy'.*did you mean 'y'"):
        build_design("yy ~ x", frame)
    with pytest.raises(FormulaError, match=r"contrasts= names column 'kk'"):
        build_design("y ~ x", frame, contrasts={"kk": "sum"})
    with pytest.raises(FormulaError, match="unknown contrasts"):
        build_design("y ~ k", frame, contrasts={"k": "sideways"})
    with pytest.raises(FormulaError, match="needs a response"):
        build_design("~ x", frame)
    with pytest.raises(FormulaError, match="no coefficients"):
        build_design("y ~ 0", frame)
    with pytest.raises(InvalidResponseError, match="not numeric"):
        build_design("g ~ x", frame)
    bad = frame.assign(z=frame["z"].where(frame.index != 5))
    with pytest.raises(DesignMatrixError, match=r"'z' has 1 missing value.*row 5"):
        build_design("y ~ log(z)", bad)
    zero = frame.assign(z=frame["z"].where(frame.index != 6, 0.0))
    with pytest.raises(DesignMatrixError, match=r"'log\(z\)' holds inf.*row 6"):
        build_design("y ~ log(z)", zero)
    with pytest.raises(InvalidResponseError, match="NaN or inf"):
        build_design("y ~ x", frame.assign(y=np.r_[np.nan, frame["y"].to_numpy()[1:]]))


# ----------------------------------------------------------------------------- against R
# (ours, R's): R's C() needs a factor, so the integer column k is wrapped in factor() there
R_FORMULAS = [
    ("y ~ x + g", "y ~ x + g"),
    ("y ~ x * g", "y ~ x * g"),
    ("y ~ g * h + x", "y ~ g * h + x"),
    ("y ~ 0 + g + x", "y ~ 0 + g + x"),
    ("y ~ x + h + g:h", "y ~ x + h + g:h"),
    # not "y ~ x + g:h": with no marginal terms R codes both factors with all their levels
    # (a rank-deficient design, one NA coefficient); formulaic codes it full rank instead
    ("y ~ log(z) + x:z + g*h", "y ~ log(z) + x:z + g*h"),
    ("y ~ x + C(k)", "y ~ x + factor(k)"),
    ("y ~ z + x*t + k", "y ~ z + x*t + k"),  # numeric only: built without formulaic
    ("y ~ t:x + x - 1", "y ~ t:x + x - 1"),
    ("y ~ x + C(k, contr.sum) + g", "y ~ x + C(factor(k), contr.sum) + g"),
]

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
forms <- readLines(args[2])
out <- lapply(forms, function(f) {
  m <- model.matrix(as.formula(f), d)
  list(names = colnames(m), values = unname(as.vector(m)))
})
q <- function(s) paste0('"', gsub('"', '\\\\"', s), '"')
body <- vapply(out, function(o) paste0('{"names":[', paste(q(o$names), collapse = ","),
  '],"values":[', paste(format(o$values, digits = 17), collapse = ","), ']}'), "")
cat("[", paste(body, collapse = ","), "]")
"""


def _r_name_to_ours(name: str) -> str:
    """R labels factor(k)2 / C(factor(k), contr.sum)1 -- ours drop those wrappers (k2, k1)."""
    name = re.sub(r"C\(([\w()]+)(, [\w.]+)?\)", r"\1", name)
    return re.sub(r"factor\((\w+)\)", r"\1", name)


@pytest.mark.needs_r
def test_columns_names_and_order_match_r_model_matrix(frame: pd.DataFrame, tmp_path: Path) -> None:
    exe = shutil.which("Rscript")
    if exe is None:
        pytest.skip("Rscript not installed: apt-get install r-base-core")
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "forms.txt").write_text("\n".join(r for _, r in R_FORMULAS) + "\n")
    (tmp_path / "mm.R").write_text(R_SCRIPT)
    done = subprocess.run(
        [exe, "--vanilla", str(tmp_path / "mm.R"), str(tmp_path / "d.csv"), str(tmp_path / "forms.txt")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    r_out = json.loads(done.stdout)
    for (formula, _), r in zip(R_FORMULAS, r_out, strict=True):
        d = build_design(formula, frame)
        r_names = [_r_name_to_ours(n) for n in r["names"]]
        assert list(d.names) == r_names, formula
        r_matrix = np.asarray(r["values"], dtype=float).reshape(len(r_names), -1).T
        np.testing.assert_allclose(d.X, r_matrix, rtol=1e-12, atol=1e-12, err_msg=formula)


def test_numeric_designs_built_directly_equal_formulaic(frame: pd.DataFrame) -> None:
    from formulaic import model_matrix

    frame = frame.assign(flag=frame["x"] > 0)
    for formula in ("y ~ x + z + x:z", "y ~ 0 + x + k + flag", "y ~ x*z*t"):
        d = build_design(formula, frame)
        assert d.spec.simple_terms is not None
        reference = model_matrix(formula, frame, output="pandas").rhs
        np.testing.assert_array_equal(d.X, reference.to_numpy(dtype=float))
        expected = [c if c != "Intercept" else "(Intercept)" for c in reference.columns]
        expected = [c if c != "flag" else "flagTRUE" for c in expected]  # R's name of a logical
        assert list(d.names) == expected
        np.testing.assert_array_equal(d.spec.matrix(frame.iloc[[2, 0]])[0], d.X[[2, 0]])
    with pytest.raises(DesignMatrixError, match="not numeric"):
        build_design("y ~ x + z", frame).spec.matrix(frame.assign(z="a"))


def test_missing_factor_values_and_unseen_levels_are_errors(frame: pd.DataFrame) -> None:
    holes = frame.assign(g=frame["g"].where(frame.index != 4, None))
    with pytest.raises(DesignMatrixError, match=r"'g' has 1 missing value.*row 4"):
        build_design("y ~ x + g", holes)
    d = build_design("y ~ x + g", frame)
    with pytest.raises(DesignMatrixError, match=r"did not see.*zz"):
        d.spec.matrix(frame.iloc[:2].assign(g=["a", "zz"]))


def test_integer_categorical_column_is_a_factor(frame: pd.DataFrame) -> None:
    d = build_design("y ~ kc", frame.assign(kc=pd.Categorical(frame["k"])))
    assert d.names == ("(Intercept)", "kc2", "kc3", "kc4")
    assert d.spec.simple_terms is None
