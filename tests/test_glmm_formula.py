"""lme4-style formula splitting and design building for reference.glmer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reference.errors import FormulaError
from reference.glmm_formula import (
    GroupingFactorError,
    RETermSpec,
    build_design,
    parse_formula,
    split_top_level,
)


def test_split_top_level_ignores_nested_separators() -> None:
    assert split_top_level("a + (b + c) + f(d, e + g)", "+") == ["a ", " (b + c) ", " f(d, e + g)"]
    with pytest.raises(FormulaError, match="unbalanced"):
        split_top_level("a + (b", "+")
    with pytest.raises(FormulaError, match="unbalanced"):
        split_top_level("a) + b", "+")


def test_parse_fixed_and_bar_terms() -> None:
    p = parse_formula("y ~ x + log(z) + (1 + x | g) + (0 + x | h)")
    assert p.response == "y"
    assert p.fixed_rhs == "x + log(z)"
    assert p.terms == (RETermSpec("1 + x", "g"), RETermSpec("0 + x", "h"))


def test_intercept_only_fixed_part_and_spaces() -> None:
    p = parse_formula("y~(1|g)")
    assert p.fixed_rhs == "1"
    assert p.terms == (RETermSpec("1", "g"),)


def test_nesting_slash_expands_like_lme4() -> None:
    p = parse_formula("y ~ x + (1 | a/b/c)")
    # lme4's labels (findbars: a, b:a, c:(b:a)), so varcorr/ranef keys match lme4's names
    assert [t.group for t in p.terms] == ["a", "b:a", "c:(b:a)"]
    assert p.terms[1].group_columns == ("b", "a")
    assert p.terms[2].group_columns == ("c", "b", "a")


def test_double_bar_is_marked_for_per_column_expansion() -> None:
    p = parse_formula("y ~ (1 + x || g)")
    assert p.terms == (RETermSpec("||1 + x", "g"),)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ x", "no random-effect term"),
        ("y x (1 | g)", "string 'y ~ x"),
        ("~ x + (1 | g)", "exactly one '~'"),
        ("y ~ x + 1 | g", "own parentheses"),
        ("y ~ x + ( | g)", "empty left side"),
        ("y ~ x + (1 | a + b)", "not supported"),
        ("y ~ x + + (1 | g)", "empty term"),
    ],
)
def test_bad_formulas_raise_one_clear_error(formula: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 24
    return pd.DataFrame(
        {
            "y": rng.poisson(3, n).astype(float),
            "x": rng.normal(size=n),
            "a": np.repeat(["p", "q", "r"], 8),
            "b": np.tile(["u", "v"], 12),
            "g": np.repeat(np.arange(6), 4),
        }
    )


def test_interaction_grouping_factor_levels_and_codes() -> None:
    df = _frame()
    d = build_design(parse_formula("y ~ x + (1 | a/b)"), df)
    # lme4 orders terms by decreasing number of levels: b:a (6) before a (3)
    assert [t.group for t in d.terms] == ["b:a", "a"]
    ab = d.terms[0]
    assert ab.nlevels == 6
    assert ab.levels == ("u:p", "u:q", "u:r", "v:p", "v:q", "v:r")
    labels = (df["b"] + ":" + df["a"]).to_numpy()
    assert np.array_equal(np.asarray(ab.levels, dtype=object)[ab.codes], labels)


def test_random_slope_design_and_fixed_names() -> None:
    d = build_design(parse_formula("y ~ x + (1 + x | g)"), _frame())
    assert d.fixed_names == ("(Intercept)", "x")
    (t,) = d.terms
    assert t.columns == ("(Intercept)", "x")
    np.testing.assert_array_equal(t.Xr[:, 1], _frame()["x"].to_numpy())
    np.testing.assert_array_equal(t.Xr[:, 0], 1.0)


def test_double_bar_gives_one_term_per_column() -> None:
    d = build_design(parse_formula("y ~ x + (1 + x || g)"), _frame())
    assert [t.columns for t in d.terms] == [("(Intercept)",), ("x",)]
    assert all(t.group == "g" for t in d.terms)


def test_rows_with_missing_values_are_dropped() -> None:
    df = _frame()
    df.loc[[2, 5], "x"] = np.nan
    df.loc[7, "g"] = np.nan
    d = build_design(parse_formula("y ~ x + (1 | g)"), df)
    assert d.y.size == len(df) - 3
    assert 2 not in d.rows and 7 not in d.rows


def test_missing_grouping_column_is_named() -> None:
    with pytest.raises(FormulaError, match="'site'"):
        build_design(parse_formula("y ~ x + (1 | site)"), _frame())


def test_grouping_factor_with_one_level() -> None:
    df = _frame().assign(one="z")
    with pytest.raises(GroupingFactorError, match="only 1 level"):
        build_design(parse_formula("y ~ x + (1 | one)"), df)


def test_slope_with_one_observation_per_level() -> None:
    df = _frame().assign(obs=np.arange(24))
    with pytest.raises(GroupingFactorError, match="one observation per level"):
        build_design(parse_formula("y ~ x + (1 + x | obs)"), df)
