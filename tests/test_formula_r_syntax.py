"""R formula spellings in reference.design / reference.glmm_formula, checked without R.

Each accepted spelling is checked against an equivalent model written the Python way (same
design, same fit), and new data / predictions must read R's column names too. The fits against
R's own numbers are in ``test_formula_syntax_vs_r.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import reference
from reference.design import build_design, translate_r
from reference.errors import FormulaError
from reference.glmm_formula import build_design as build_glmm_design
from reference.glmm_formula import parse_formula


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 90
    x = np.round(rng.normal(size=n), 3)
    g = np.repeat([f"g{i}" for i in range(9)], 10)
    return pd.DataFrame(
        {
            "x": x,
            "age": np.round(rng.uniform(20, 50, n), 1),
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "cnt": rng.poisson(np.exp(0.5 + 0.4 * x)),
            "total.fruits": rng.poisson(np.exp(1 + 0.3 * x)),
            "Solar.R": np.round(rng.uniform(0, 3, n), 3),
            "yield": rng.poisson(3.0, n),
            "class": np.round(rng.normal(size=n), 3),
            "my col": np.round(rng.normal(size=n), 3),
            "plant.id": g,
            "f.x": rng.choice(["p", "q", "r"], n),
        }
    )


def test_translate_keeps_formula_level_power_and_quoted_text(frame: pd.DataFrame) -> None:
    t = translate_r('y ~ (a + b)^2 + I(x^2) + C(f.x, "u.v^w") + total.fruits', frame.columns)
    assert t.text.startswith("y ~ (a + b)^2 + I(x**2) + C(")
    assert '"u.v^w"' in t.text  # a string literal is left alone
    assert "total.fruits" not in t.text and "f.x" not in t.text  # both columns became aliases
    assert set(t.columns) == {"a", "b", "x", "f.x", "total.fruits"}
    assert sorted(dict(t.aliases).values()) == ["f.x", "total.fruits"]


def test_interaction_power_is_still_expansion(frame: pd.DataFrame) -> None:
    expanded = build_design("cnt ~ (a + b)^2", frame)
    written = build_design("cnt ~ a * b", frame)
    assert expanded.names == written.names == ("(Intercept)", "a", "b", "a:b")
    np.testing.assert_array_equal(expanded.X, written.X)


def test_caret_inside_calls_is_a_power(frame: pd.DataFrame) -> None:
    d = build_design("cnt ~ I(age^2) + log(age^2)", frame)
    assert d.names == ("(Intercept)", "I(age^2)", "log(age^2)")
    np.testing.assert_allclose(d.X[:, 1], frame["age"] ** 2)
    np.testing.assert_allclose(d.X[:, 2], np.log(frame["age"] ** 2))
    # Python's spelling keeps Python's name
    assert build_design("cnt ~ I(age**2)", frame).names[1] == "I(age ** 2)"


def test_dotted_keyword_and_backticked_columns_fit_like_plain_names(frame: pd.DataFrame) -> None:
    plain = frame.rename(columns={"total.fruits": "tf", "Solar.R": "sr", "class": "cl", "my col": "mc"})
    r_side = reference.glm("total.fruits ~ Solar.R + class + `my col` + I(`my col`^2)", frame)
    py_side = reference.glm("tf ~ sr + cl + mc + I(mc**2)", plain)
    assert list(r_side.coef.index) == ["(Intercept)", "Solar.R", "class", "`my col`", "I(`my col`^2)"]
    np.testing.assert_allclose(r_side.coef.to_numpy(), py_side.coef.to_numpy(), rtol=1e-12)
    # the response may be a keyword, and new data keeps R's column names
    kw = reference.glm("yield ~ Solar.R", frame)
    np.testing.assert_allclose(
        kw.coef.to_numpy(), reference.glm("y ~ sr", plain.rename(columns={"yield": "y"})).coef.to_numpy()
    )
    np.testing.assert_allclose(kw.predict(frame.iloc[:5], type="response"), kw.fitted[:5], rtol=1e-12)


def test_contrasts_argument_accepts_a_dotted_column(frame: pd.DataFrame) -> None:
    d = build_design("cnt ~ f.x", frame, contrasts={"f.x": "sum"})
    assert d.names == ("(Intercept)", "f.x1", "f.x2")
    assert set(np.unique(d.X[:, 1])) == {-1.0, 0.0, 1.0}


def test_unknown_dotted_name_is_reported_with_a_suggestion(frame: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match=r"'total\.fruit'.*did you mean 'total\.fruits'"):
        build_design("cnt ~ total.fruit", frame)
    with pytest.raises(FormulaError, match=r"'my cl'.*did you mean 'my col'"):
        build_design("cnt ~ `my cl`", frame)


def test_factor_and_as_factor_equal_c(frame: pd.DataFrame) -> None:
    f = frame.assign(week=np.arange(len(frame)) % 4)
    c_form = build_design("cnt ~ C(week) * x", f)
    for spelling in ("factor", "as.factor"):
        d = build_design(f"cnt ~ {spelling}(week) * x", f)
        np.testing.assert_array_equal(d.X, c_form.X)
        assert d.names[1] == f"{spelling}(week)1" and d.names[-1] == f"{spelling}(week)3:x"


def test_center_and_scale_transform_arguments_are_found(frame: pd.DataFrame) -> None:
    centred = reference.glm("cnt ~ center(age)", frame)
    raw = reference.glm("cnt ~ age", frame)
    assert centred.coef.iloc[1] == pytest.approx(raw.coef.iloc[1], rel=1e-9)
    assert centred.coef.iloc[0] == pytest.approx(raw.coef.iloc[0] + raw.coef.iloc[1] * frame["age"].mean(), rel=1e-9)
    # glmm path: age appears only inside the transform, which must still be kept in the frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reference.errors.ConvergenceWarning)
        m1 = reference.glmer("cnt ~ scale(age) + (1 | plant.id)", frame, "poisson")
        m2 = reference.glmer("cnt ~ age + (1 | plant.id)", frame, "poisson")
    assert float(m1.loglik) == pytest.approx(float(m2.loglik), abs=1e-6)
    assert m1.fixef.iloc[1] == pytest.approx(m2.fixef.iloc[1] * frame["age"].std(), rel=1e-4)


def test_glmm_design_reads_r_names_in_every_part(frame: pd.DataFrame) -> None:
    parsed = parse_formula("total.fruits ~ Solar.R + (1 + Solar.R | plant.id) + (1 | `f.x`)")
    design = build_glmm_design(parsed, frame)
    assert design.fixed_names == ("(Intercept)", "Solar.R")
    by_group = {t.group: t for t in design.terms}
    assert set(by_group) == {"plant.id", "f.x"}
    slope = by_group["plant.id"]
    assert slope.columns == ("(Intercept)", "Solar.R")
    np.testing.assert_array_equal(slope.Xr[:, 1], frame["Solar.R"].to_numpy())
    # the stored left-side spec rebuilds the columns from data with R's names (predict)
    spec, idx = slope.spec
    new = frame.iloc[[4, 1]]
    np.testing.assert_array_equal(np.asarray(spec.get_model_matrix(new))[:, list(idx)], slope.Xr[[4, 1]])
    X_new, _ = design.fixed_spec.matrix(new)
    np.testing.assert_array_equal(X_new, design.X[[4, 1]])


def test_unused_levels_are_dropped_for_fixed_and_grouping_factors(frame: pd.DataFrame) -> None:
    f = frame.assign(
        fx=pd.Categorical(frame["f.x"], categories=["p", "q", "r", "zz"]),
        grp=pd.Categorical(frame["plant.id"], categories=[*sorted(set(frame["plant.id"])), "g_empty"]),
    )
    d = build_design("cnt ~ fx", f)
    assert d.names == ("(Intercept)", "fxq", "fxr")
    np.testing.assert_array_equal(d.X, build_design("cnt ~ f.x", frame).X)
    # a level emptied by rows dropped for missing values goes too (glmm path drops NA rows)
    holes = f.assign(x=f["x"].where(f["fx"] != "r"))
    gd = build_glmm_design(parse_formula("cnt ~ fx + x + (1 | grp)"), holes)
    assert gd.fixed_names == ("(Intercept)", "fxq", "x")
    assert gd.terms[0].nlevels == 9


def test_logical_predictors_are_named_like_r(frame: pd.DataFrame) -> None:
    f = frame.assign(flag=frame["x"] > 0)
    d = build_design("cnt ~ flag + I(age > 30) + I(age^2) + x:I(age > 30)", f)
    assert d.names == ("(Intercept)", "flagTRUE", "I(age > 30)TRUE", "I(age^2)", "I(age > 30)TRUE:x")
    np.testing.assert_array_equal(d.X[:, 1], (f["x"] > 0).to_numpy(float))
    np.testing.assert_array_equal(d.X[:, 2], (f["age"] > 30).to_numpy(float))


def test_cbind_response_with_dotted_columns(frame: pd.DataFrame) -> None:
    f = frame.assign(**{"n.total": frame["total.fruits"] + frame["cnt"]})
    r_side = build_design("cbind(total.fruits, n.total - total.fruits) ~ Solar.R", f)
    np.testing.assert_array_equal(r_side.y, f["total.fruits"].to_numpy(float))
    np.testing.assert_array_equal(r_side.trials, f["n.total"].to_numpy(float))
    assert r_side.names == ("(Intercept)", "Solar.R")
