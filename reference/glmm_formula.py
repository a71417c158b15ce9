"""lme4-style mixed-model formulas: split the bar terms, build the design.

``y ~ x + (1 | g) + (1 + x | h) + (1 | a/b)`` is split with a small balanced-parenthesis
scanner into the fixed part (``y ~ x``, handed to :mod:`formulaic`) and the random-effect
terms ``(lhs | group)``. Each term's left side also goes through :mod:`formulaic`
(``1``, ``x`` = ``1 + x``, ``0 + x``); the grouping factor is one column or the interaction
``a:b`` of several; ``a/b`` expands to ``a`` and ``b:a`` (lme4's labels), and ``(1 + x || g)``
expands to one uncorrelated term per column.

R's spellings are read as in :mod:`reference.design` (:func:`reference.design.translate_r`):
``total.fruits``, ``yield``, backticked names, ``I(x^2)``, ``poly(x, 2)``, ``factor(x)``, in
the fixed part and in each term's left side; a grouping factor may be a dotted or backticked
column name. The used columns are read off the formula text (formulaic's
``required_variables`` misses the arguments of ``poly``/``scale``/``center``).

The public pieces are :func:`parse_formula` (pure string work) and :func:`build_design`
(model matrices for the rows without missing values). Both raise
:class:`reference.errors.FormulaError` with a one-line message on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix
from numpy.typing import NDArray

from reference.design import _CONTEXT, RTranslation, translate_r
from reference.design import build_design as build_fixed_design
from reference.errors import FormulaError, ModelInputError

__all__ = [
    "GLMMDesign",
    "GroupingFactorError",
    "ParsedFormula",
    "RETermSpec",
    "RandomTerm",
    "build_design",
    "group_columns",
    "group_labels",
    "parse_formula",
    "split_top_level",
]

INTERCEPT = "(Intercept)"


class GroupingFactorError(ModelInputError):
    """A grouping factor cannot carry the random effects asked of it."""


@dataclass(frozen=True)
class RETermSpec:
    """One random-effect term as written: ``(lhs | group)``; ``group`` is ``a`` or ``a:b``."""

    lhs: str
    group: str

    @property
    def group_columns(self) -> tuple[str, ...]:
        return group_columns(self.group)


def group_columns(group: str) -> tuple[str, ...]:
    """The data columns of a grouping factor's label: ``g`` → ``(g,)``, ``b:a`` → ``(b, a)``,
    ``c:(b:a)`` (lme4's label of the innermost term of ``a/b/c``) → ``(c, b, a)``."""
    return tuple(part.strip().strip("()").strip() for part in group.split(":"))


def _strip_backticks(group: str) -> str:
    """```my g`:b`` -> ``my g:b`` (a grouping factor is looked up by column name)."""
    return ":".join(part.strip().strip("`") for part in group.split(":"))


@dataclass(frozen=True)
class ParsedFormula:
    response: str
    fixed_rhs: str
    terms: tuple[RETermSpec, ...]


def split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` at occurrences of the one-character ``sep`` outside parentheses."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in formula part {text!r}; check the parentheses")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in formula part {text!r}; check the parentheses")
    parts.append(text[start:])
    return parts


def _strip_outer_parens(term: str) -> str | None:
    """Return the inside of ``(…)`` when the parentheses enclose the whole term, else None."""
    term = term.strip()
    if not (term.startswith("(") and term.endswith(")")):
        return None
    depth = 0
    for i, ch in enumerate(term):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i != len(term) - 1:
                return None
    return term[1:-1]


def _expand_group(group: str) -> list[str]:
    """``a/b/c`` → ``a``, ``b:a``, ``c:(b:a)`` (lme4's labels); ``a:b`` stays; spaces are removed."""
    # spaces go, except inside backticks (`my group`)
    group = "".join(piece if k % 2 else "".join(piece.split()) for k, piece in enumerate(group.split("`")))
    inner = _strip_outer_parens(group)
    if inner is not None:
        group = inner.strip()
    bare = "".join(piece for k, piece in enumerate(group.split("`")) if k % 2 == 0)
    if not group or any(ch in bare for ch in "+*()|~"):
        raise FormulaError(
            f"grouping factor {group!r} is not supported; use a column name, a:b (interaction) or a/b (nesting)"
        )
    pieces = group.split("/")
    if any(not p for p in pieces):
        raise FormulaError(f"grouping factor {group!r} has an empty part; write e.g. (1 | a/b)")
    out = [_strip_backticks(pieces[0])]
    for piece in pieces[1:]:
        # lme4's labels: a/b gives a and b:a, a/b/c also c:(b:a)
        prev = out[-1]
        out.append(_strip_backticks(piece) + ":" + (f"({prev})" if ":" in prev else prev))
    return out


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4-style formula into response, fixed right-hand side and bar terms.

    ``(1 + x || g)`` is returned as one term with ``lhs`` marked by a leading ``"||"``;
    :func:`build_design` expands it per column (as lme4 does).
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula must be a string 'y ~ x + (1 | g)', got {formula!r}")
    sides = split_top_level(formula, "~")
    if len(sides) != 2 or not sides[0].strip():
        raise FormulaError(f"formula {formula!r} needs exactly one '~' with the response on its left")
    response = sides[0].strip()
    fixed_parts: list[str] = []
    terms: list[RETermSpec] = []
    for raw in split_top_level(sides[1], "+"):
        part = raw.strip()
        if not part:
            raise FormulaError(f"formula {formula!r} has an empty term (two '+' in a row?)")
        inner = _strip_outer_parens(part)
        bar_split = split_top_level(inner, "|") if inner is not None else [part]
        if len(bar_split) == 1:
            if "|" in part:
                raise FormulaError(
                    f"random-effect term {part!r} must be in its own parentheses, e.g. (1 | g)"
                )
            fixed_parts.append(part)
            continue
        if len(bar_split) == 3 and bar_split[1] == "":
            lhs, group, double = bar_split[0], bar_split[2], True
        elif len(bar_split) == 2:
            lhs, group, double = bar_split[0], bar_split[1], False
        else:
            raise FormulaError(f"random-effect term {part!r} must look like (lhs | group)")
        lhs = lhs.strip()
        if not lhs:
            raise FormulaError(f"random-effect term {part!r} has an empty left side; write (1 | g)")
        for g in _expand_group(group):
            terms.append(RETermSpec(("||" + lhs) if double else lhs, g))
    if not terms:
        raise FormulaError(
            f"formula {formula!r} has no random-effect term; add e.g. (1 | group) or fit a GLM instead"
        )
    fixed_rhs = " + ".join(fixed_parts) if fixed_parts else "1"
    return ParsedFormula(response, fixed_rhs, tuple(terms))


@dataclass(frozen=True)
class RandomTerm:
    """A built random-effect term: ``p`` columns, ``nlevels`` levels, codes per row."""

    lhs: str
    group: str
    columns: tuple[str, ...]
    levels: tuple[Any, ...]
    codes: NDArray[np.intp]
    Xr: NDArray[np.float64]
    spec: Any  # formulaic ModelSpec of the left side (for predict)

    @property
    def p(self) -> int:
        return len(self.columns)

    @property
    def nlevels(self) -> int:
        return len(self.levels)


@dataclass(frozen=True)
class GLMMDesign:
    response_name: str
    y: NDArray[np.float64]
    X: NDArray[np.float64]
    fixed_names: tuple[str, ...]
    terms: tuple[RandomTerm, ...]
    rows: pd.Index  # index labels of the data rows used (rows with missing values dropped)
    fixed_spec: Any  # reference.design.DesignSpec: .matrix(newdata) -> (X, offset)
    data: pd.DataFrame  # the used rows and columns (for predict / simulate)
    trials: NDArray[np.float64] | None = None  # from cbind(successes, failures)
    offset: NDArray[np.float64] | None = None  # from offset(...) terms
    response_levels: tuple[Any, ...] | None = None  # a factor response's levels (first = 0)


def _rename(cols: list[str]) -> tuple[str, ...]:
    return tuple(INTERCEPT if c == "Intercept" else str(c) for c in cols)


def _required(expr: str, columns: pd.Index) -> set[str]:
    """Data columns that ``expr`` names anywhere (also inside ``poly(x, 2)``, ``scale(x)``, ...).

    formulaic's ``required_variables`` leaves out the arguments of its stateful transforms,
    so the names are read off the formula text instead; names that are not columns are left
    for the design builders to report.
    """
    return set(translate_r(expr, columns).columns)


@lru_cache(maxsize=256)
def _check_parses(expr: str) -> None:
    # parsing a formula costs ~1 ms (formulaic); a course fits the same few formulas many times
    try:
        Formula(expr)
    except Exception as exc:  # formulaic raises several types
        raise FormulaError(f"cannot parse formula part {expr!r}: {exc}") from None


class _InterceptSpec:
    """Stands in for formulaic's model spec of the left side ``1``: a column of ones."""

    def get_model_matrix(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        return np.ones((len(frame), 1))


class _TranslatedSpec:
    """A random-effect left side's formulaic model spec that reads R column names (predict)."""

    def __init__(self, spec: Any, translation: RTranslation) -> None:
        self._spec = spec
        self._translation = translation

    def get_model_matrix(self, frame: pd.DataFrame) -> Any:
        return self._spec.get_model_matrix(self._translation.frame(frame), context=_CONTEXT)


def _re_matrix(lhs: str, frame: pd.DataFrame) -> tuple[list[str], NDArray[np.float64], Any]:
    """Columns, matrix and model spec of a random-effect left side (``1`` without formulaic).

    The left side may use R's spellings (``total.fruits``, ``I(x^2)``, ``log(x)``, ...).
    """
    if lhs.replace(" ", "") == "1":
        return ["Intercept"], np.ones((len(frame), 1)), _InterceptSpec()
    translation = translate_r(lhs, frame.columns)
    zm = model_matrix(translation.text, translation.frame(frame), na_action="raise", context=_CONTEXT)
    names = [translation.label(str(c)) for c in zm.columns]
    return names, np.asarray(zm, dtype=np.float64), _TranslatedSpec(zm.model_spec, translation)


def group_labels(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """Level labels of the (interaction) grouping factor: values joined with ':'."""
    if len(columns) == 1:
        return frame[columns[0]]
    labels = frame[columns[0]].astype(str)
    for column in columns[1:]:  # vectorised string concatenation (a row-wise join is ~70x slower)
        labels = labels + ":" + frame[column].astype(str)
    return labels


def _factor_codes(labels: pd.Series) -> tuple[NDArray[np.intp], tuple[Any, ...]]:
    codes, uniques = pd.factorize(labels, sort=True)
    return codes.astype(np.intp), tuple(uniques.tolist())


def build_design(
    parsed: ParsedFormula,
    data: pd.DataFrame,
    extra_columns: tuple[str, ...] = (),
    *,
    factor_response: bool = False,
) -> GLMMDesign:
    """Model matrices for ``parsed`` on the complete rows of ``data``.

    Rows with a missing value in any column the model uses (or in ``extra_columns``, e.g.
    the trials / weights / offset columns) are dropped, as R's ``na.omit`` does; factor
    levels (and grouping-factor levels) left without rows are dropped too (R's
    ``drop.unused.levels``). ``factor_response=True`` (binomial) codes a factor or string
    response as R does: first level 0, all others 1.
    """
    if not isinstance(data, pd.DataFrame):
        raise FormulaError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    needed: set[str] = set()
    for term in parsed.terms:
        lhs = term.lhs[2:] if term.lhs.startswith("||") else term.lhs
        _check_parses(translate_r(lhs, data.columns).text)
        needed |= _required(lhs, data.columns)
        needed |= set(term.group_columns)
    needed |= set(extra_columns)
    missing = sorted(c for c in needed if c not in data.columns)
    if missing:
        raise FormulaError(
            f"column(s) {', '.join(map(repr, missing))} named in the random-effect terms are not in "
            f"the data; available columns: {', '.join(map(str, data.columns))}"
        )
    # the fixed part may hold expressions (log(x), cbind(s, f), offset(...)); keep the names
    # that are columns, the fixed-design builder reports the others
    fixed_formula = f"{parsed.response} ~ {parsed.fixed_rhs}"
    needed |= _required(fixed_formula, data.columns)
    frame = data[[c for c in data.columns if c in needed]].dropna()
    if len(frame) == 0:
        raise FormulaError("no complete rows: every row has a missing value in a model column")
    fixed = build_fixed_design(
        fixed_formula, frame, factor_response=factor_response, available_columns=list(data.columns)
    )
    y = np.asarray(fixed.y, dtype=np.float64)
    X = np.ascontiguousarray(fixed.X, dtype=np.float64)
    fixed_names = tuple(fixed.names)

    built: list[RandomTerm] = []
    for term in parsed.terms:
        double = term.lhs.startswith("||")
        lhs = term.lhs[2:] if double else term.lhs
        try:
            zcols, Xr_all, zspec = _re_matrix(lhs, frame)
        except Exception as exc:
            raise FormulaError(f"cannot build the random-effect design for ({lhs} | {term.group}): {exc}") from None
        cols = _rename(zcols)
        if Xr_all.shape[1] == 0:
            raise FormulaError(f"random-effect term ({lhs} | {term.group}) has no columns; write (1 | {term.group})")
        codes, levels = _factor_codes(group_labels(frame, term.group_columns))
        pieces = [(c,) for c in range(len(cols))] if double else [tuple(range(len(cols)))]
        for idx in pieces:
            built.append(
                RandomTerm(
                    lhs=lhs if not double else " + ".join(["0", *[cols[i] for i in idx]]),
                    group=term.group,
                    columns=tuple(cols[i] for i in idx),
                    levels=levels,
                    codes=codes,
                    Xr=np.ascontiguousarray(Xr_all[:, list(idx)]),
                    spec=(zspec, idx),
                )
            )
    # lme4 orders the terms by decreasing number of levels (stable): θ, ranef and varcorr follow
    built.sort(key=lambda t: -t.nlevels)
    for t in built:
        _check_term(t)
    return GLMMDesign(
        response_name=parsed.response,
        y=y,
        X=X,
        fixed_names=fixed_names,
        terms=tuple(built),
        rows=frame.index,
        fixed_spec=fixed.spec,
        trials=fixed.trials,
        offset=fixed.offset,
        data=frame,
        response_levels=fixed.response_levels,
    )


def _check_term(t: RandomTerm) -> None:
    label = f"({' + '.join(t.columns)} | {t.group})"
    if t.nlevels < 2:
        raise GroupingFactorError(
            f"grouping factor {t.group!r} of {label} has only {t.nlevels} level; "
            "a random effect needs at least 2 groups (use a fixed effect instead)"
        )
    if t.p > 1:
        counts = np.bincount(t.codes, minlength=t.nlevels)
        if counts.max() <= 1:
            raise GroupingFactorError(
                f"grouping factor {t.group!r} has one observation per level, so the random slopes in "
                f"{label} are not identifiable; use a random intercept (1 | {t.group}) instead"
            )
