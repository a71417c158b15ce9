"""Input handling shared by the mixed-model fitters (:mod:`reference.glmm`, :mod:`reference.glmm_nb`,
:mod:`reference.lmm`): per-row arguments given as a column or an array, the names of the
random-effects terms, the internal centring and scaling of the fixed-effects design, and the
detection of separation.

**Scaling.** The fits work with ``X A`` instead of ``X``: every column but the intercept is
centred (when there is an intercept) and divided by its standard deviation. The model is the
same — ``X β = (X A)(A⁻¹ β)`` — but the optimiser's steps, finite differences and convergence
tests are then on comparable scales whatever the units of the covariates (income in dollars next
to a proportion). :class:`FixedScaling` maps the internal estimates back: ``β = A β*``,
``Var β = A Var(β*) Aᵀ``.

**Separation.** When some direction ``d`` of the fixed effects never lowers the likelihood of
any observation and raises that of some (``x_i·d ≥ 0`` where ``y_i`` is at the top of its range,
``≤ 0`` where it is at the bottom, ``= 0`` elsewhere), the maximum likelihood estimate is
infinite along ``d``; :func:`separating_columns` finds such a ``d`` by the linear programme of
Konis (2007) and names the columns it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from reference.errors import InvalidResponseError, ModelInputError

__all__ = ["FixedScaling", "column_or_array", "separating_columns", "term_keys"]

F64 = NDArray[np.float64]


def column_or_array(value: Any, name: str, data: pd.DataFrame, rows: pd.Index) -> F64 | None:
    """``value`` (a column name of ``data``, an array with one value per row of ``data``, or a
    scalar) as a float array on the model rows ``rows``; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            raise ModelInputError(
                f"{name} column {value!r} is not in the data; pass a column name or an array "
                f"(available columns: {', '.join(map(str, data.columns))})"
            )
        return np.asarray(data.loc[rows, value], dtype=np.float64)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(len(rows), float(arr))
    if arr.shape != (len(data),):
        raise InvalidResponseError(
            f"{name} has length {arr.size} but data has {len(data)} rows; pass one value per row or a column name"
        )
    return arr[data.index.get_indexer(rows)]


def term_keys(groups: list[str]) -> list[str]:
    """Keys of the random-effects terms (``ranef``, ``varcorr``): the grouping factor, with
    ``.1``, ``.2``, … added when a factor carries several terms (``(1 | g) + (0 + x | g)``)."""
    keys: list[str] = []
    for group in groups:
        key = group
        k = 1
        while key in keys:
            key = f"{group}.{k}"
            k += 1
        keys.append(key)
    return keys


@dataclass(frozen=True)
class FixedScaling:
    """The internal fixed-effects design ``X A``: with an intercept column, every other column is
    centred and divided by its standard deviation; without one, only divided by its root mean
    square. Column ``j`` of ``X A`` is ``scale[j] · X[:, j] + shift[j]`` (``shift`` is nonzero only
    with an intercept, whose column of ones carries it), so ``A`` is the identity plus ``shift``
    in the intercept's row, with ``scale`` on the diagonal."""

    scale: F64
    shift: F64
    intercept: int | None

    @classmethod
    def of(cls, X: F64, enabled: bool = True) -> FixedScaling:
        p = X.shape[1]
        scale, shift = np.ones(p), np.zeros(p)
        ones = np.flatnonzero(np.all(X == 1.0, axis=0))
        intercept = int(ones[0]) if ones.size else None
        if not enabled or X.shape[0] < 2:
            return cls(scale, shift, intercept)
        for j in range(p):
            if j == intercept:
                continue
            col = X[:, j]
            if intercept is not None:
                center = float(np.mean(col))
                spread = float(np.std(col))
            else:
                center = 0.0
                spread = float(np.sqrt(np.mean(col * col)))
            if not (np.isfinite(spread) and spread > 0.0):
                continue  # a constant column (aliased with the intercept): left alone
            scale[j] = 1.0 / spread
            shift[j] = -center / spread
        return cls(scale, shift, intercept)

    @property
    def transform(self) -> F64:
        """``A`` (p × p): ``β = A β*``."""
        A = np.diag(self.scale)
        if self.intercept is not None:
            A[self.intercept] += self.shift
        return A

    @property
    def is_identity(self) -> bool:
        return bool(np.all(self.scale == 1.0) and np.all(self.shift == 0.0))

    def internal_x(self, X: F64) -> F64:
        """``X A`` (C-contiguous), column by column (no matrix product: exact for unscaled columns)."""
        if self.is_identity:
            return np.ascontiguousarray(X)
        return np.ascontiguousarray(X * self.scale + self.shift)

    def beta_to_user(self, beta: F64) -> F64:
        return self.transform @ beta

    def beta_to_internal(self, beta: F64) -> F64:
        return np.linalg.solve(self.transform, beta)

    def vcov_to_user(self, vcov: F64) -> F64:
        A = self.transform
        return A @ vcov @ A.T


def separating_columns(
    X: F64, y: F64, wt: F64, family: str, names: list[str] | tuple[str, ...]
) -> list[str] | None:
    """Names of the fixed-effects columns along which the likelihood rises without bound
    (complete or quasi-complete separation), or None when there is no such direction.

    ``y`` on the family's scale (binomial: the proportion of successes; Poisson: counts). Only
    the binomial and Poisson families can separate. An empty list means the intercept alone
    separates (every response at one end of its range).
    """
    from scipy.optimize import linprog

    keep = wt > 0
    X, y = X[keep], y[keep]
    if family == "binomial":
        sign = np.where(y >= 1.0, 1.0, np.where(y <= 0.0, -1.0, 0.0))
    elif family == "poisson":
        sign = np.where(y <= 0.0, -1.0, 0.0)
    else:
        return None
    if not np.any(sign != 0.0) or X.shape[1] == 0:
        return None
    # work on unit-spread columns so that the bounds |d_j| ≤ 1 mean the same for every column
    spread = np.sqrt(np.mean(X * X, axis=0))
    spread[~(spread > 0)] = 1.0
    Xs = X / spread
    at_end = sign != 0.0
    S = Xs[at_end] * sign[at_end, None]  # rows that must satisfy S d ≥ 0
    inner = Xs[~at_end]  # rows that must satisfy inner d = 0
    p = X.shape[1]

    def direction(fixed_zero: int | None) -> NDArray[np.float64] | None:
        bounds = [(0.0, 0.0) if j == fixed_zero else (-1.0, 1.0) for j in range(p)]
        res = linprog(
            -S.sum(axis=0),
            A_ub=-S,
            b_ub=np.zeros(S.shape[0]),
            A_eq=inner if inner.shape[0] else None,
            b_eq=np.zeros(inner.shape[0]) if inner.shape[0] else None,
            bounds=bounds,
            method="highs",
        )
        if res.status != 0 or -res.fun <= 1e-7 * max(S.shape[0], 1):
            return None
        return np.asarray(res.x)

    d = direction(None)
    if d is None:
        return None
    is_intercept = np.all(X == 1.0, axis=0)
    used = [j for j in range(p) if abs(d[j]) > 1e-7 and not is_intercept[j]]
    # a column is named when the separation disappears without it; when none is essential on
    # its own (several columns each separate), all columns of the direction found are named
    essential = [j for j in used if direction(j) is None]
    return [str(names[j]) for j in (essential or used)]
