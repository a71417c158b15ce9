"""Comparing a student's value with the oracle's value.

A :class:`Comparison` states the numeric contract of one check: relative and absolute
tolerance, whether the shape must match exactly, which kinds of values are acceptable
(real numbers only; booleans and complex numbers are rejected), and whether an expected
NaN may be matched by a NaN (only where a check declares it; otherwise NaN in the student's
value is always a mismatch). Infinities must match exactly, sign included.

Two exact kinds exist besides the numeric default: ``Comparison(kind="string")`` demands a
``str`` equal to the expected one (``ignore_case`` / ``ignore_whitespace`` relax this only when
the check declares them), and ``Comparison(kind="bool")`` demands a real boolean (``bool`` or
numpy ``bool_``; the ints 1/0 and strings such as ``"True"`` are type mismatches). Subclasses
of ``str`` are rejected, so an object with a rigged ``__eq__`` cannot pass.

``compare(expected, got, comparison)`` returns ``None`` when the values agree, otherwise a
:class:`Mismatch` whose one-line ``message`` says what differs and where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["Comparison", "Mismatch", "OracleValueError", "as_real_array", "compare"]


class OracleValueError(ValueError):
    """The oracle produced a value the comparison cannot use (a grader bug, never the student's)."""


@dataclass(frozen=True)
class Comparison:
    """Numeric contract of a check.

    ``shape="exact"`` demands the student's value has exactly the expected shape (a Python
    float counts as shape ``()``); ``shape="broadcast"`` accepts any shape that broadcasts
    to the expected one (rarely wanted). ``nan_equal=True`` declares that an expected NaN is
    matched by a NaN in the same place; with ``False`` the oracle must not produce NaN at all.
    """

    rtol: float = 1e-7
    atol: float = 0.0
    shape: Literal["exact", "broadcast"] = "exact"
    nan_equal: bool = False
    kind: Literal["numeric", "string", "bool"] = "numeric"
    ignore_case: bool = False
    ignore_whitespace: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "string", "bool"):
            raise ValueError(f"Comparison kind must be 'numeric', 'string' or 'bool', not {self.kind!r}")
        if self.kind != "string" and (self.ignore_case or self.ignore_whitespace):
            raise ValueError(
                "ignore_case/ignore_whitespace apply to string comparisons only; "
                "declare Comparison(kind='string', ...)"
            )
        if not (self.rtol >= 0 and self.atol >= 0):
            raise ValueError(
                f"Comparison tolerances must be non-negative (got rtol={self.rtol}, atol={self.atol}); "
                "pass rtol/atol >= 0"
            )
        if self.shape not in ("exact", "broadcast"):
            raise ValueError(f"Comparison shape rule must be 'exact' or 'broadcast', not {self.shape!r}")

    def describe(self) -> str:
        """One line for reports, e.g. ``rtol=1e-07, atol=0, exact shape``."""
        if self.kind == "bool":
            return "exact boolean"
        if self.kind == "string":
            relax = [w for w, on in (("case", self.ignore_case), ("whitespace", self.ignore_whitespace)) if on]
            return "exact string" + (f" ignoring {' and '.join(relax)}" if relax else "")
        nan = ", NaN matches NaN" if self.nan_equal else ""
        return f"rtol={self.rtol:g}, atol={self.atol:g}, {self.shape} shape{nan}"


@dataclass(frozen=True)
class Mismatch:
    """Why two values differ: a machine-readable kind and a one-line message for the student."""

    kind: Literal["type", "shape", "nan", "inf", "value"]
    message: str


def _kind_name(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray of dtype {value.dtype}"
    return type(value).__name__


def as_real_array(value: object) -> np.ndarray | None:
    """``value`` as a float64 array if it is a real number or a real numeric array, else ``None``.

    Python ``bool``/numpy bool, complex, strings, None, dicts and ragged lists are rejected;
    a (nested) list of real numbers is accepted, because a student returning ``[1.0, 2.0]``
    for an array is a shape/type question the shape rule decides.
    """
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iuf":
            return value.astype(np.float64, copy=False)
        return None
    if isinstance(value, list):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            return None
        if arr.dtype.kind in "iuf":
            return arr.astype(np.float64)
        return None
    return None


def _where(index: tuple[int, ...]) -> str:
    return f" at index {list(index)}" if index else ""


def _normalise(text: str, comparison: Comparison) -> str:
    if comparison.ignore_whitespace:
        text = " ".join(text.split())
    if comparison.ignore_case:
        text = text.casefold()
    return text


def _compare_string(expected: object, got: object, comparison: Comparison) -> Mismatch | None:
    if type(expected) is not str:
        raise OracleValueError(f"oracle returned {_kind_name(expected)}, not a str; fix the check's oracle")
    if type(got) is not str:  # exact type: a str subclass could rig __eq__
        shown = f" ({got!r})" if type(got) in (bool, int, float) else ""
        return Mismatch("type", f"expected a str such as {expected!r}, got {_kind_name(got)}{shown}")
    if str.__eq__(_normalise(expected, comparison), _normalise(got, comparison)):
        return None
    relax = "" if comparison.describe() == "exact string" else f" ({comparison.describe()})"
    return Mismatch("value", f"expected {expected!r}, got {got[:200]!r}{relax}")


def _compare_bool(expected: object, got: object) -> Mismatch | None:
    if type(expected) not in (bool, np.bool_):
        raise OracleValueError(f"oracle returned {_kind_name(expected)}, not a bool; fix the check's oracle")
    if type(got) not in (bool, np.bool_):
        shown = f" ({got[:50]!r})" if type(got) is str else f" ({got!r})" if type(got) in (int, float) else ""
        return Mismatch(
            "type", f"expected a bool (True or False), got {_kind_name(got)}{shown}; return True or False"
        )
    exp_b, got_b = bool(expected), bool(got)
    if exp_b is got_b:
        return None
    return Mismatch("value", f"expected {exp_b!r}, got {got_b!r}")


def compare(expected: object, got: object, comparison: Comparison) -> Mismatch | None:
    """Compare ``got`` (student) with ``expected`` (oracle); ``None`` means they agree."""
    if comparison.kind == "string":
        return _compare_string(expected, got, comparison)
    if comparison.kind == "bool":
        return _compare_bool(expected, got)
    exp = as_real_array(expected)
    if exp is None:
        raise OracleValueError(
            f"oracle returned {_kind_name(expected)}, not a real number or array; fix the check's oracle"
        )
    if np.isnan(exp).any() and not comparison.nan_equal:
        raise OracleValueError(
            "oracle returned NaN but the check does not declare nan_equal; "
            "restrict the check's inputs or declare nan_equal=True"
        )
    val = as_real_array(got)
    if val is None:
        return Mismatch("type", f"expected a real number or numeric array, got {_kind_name(got)}")
    if comparison.shape == "exact":
        if isinstance(got, list) and exp.ndim > 0:
            return Mismatch(
                "type", f"expected a numpy array of shape {exp.shape}, got a Python list; return np.asarray(...)"
            )
        if val.shape != exp.shape:
            want = "a scalar" if exp.shape == () else f"shape {exp.shape}"
            have = "a scalar" if val.shape == () else f"shape {val.shape}"
            return Mismatch("shape", f"expected {want}, got {have}")
    else:
        try:
            val = np.broadcast_to(val, exp.shape)
        except ValueError:
            return Mismatch("shape", f"shape {val.shape} does not broadcast to the expected {exp.shape}")

    exp_nan = np.isnan(exp)
    got_nan = np.isnan(val)
    if (got_nan != exp_nan).any():
        idx = tuple(int(i) for i in np.argwhere(got_nan != exp_nan)[0])
        if got_nan[idx]:
            return Mismatch("nan", f"got NaN{_where(idx)} where {float(exp[idx])!r} was expected")
        return Mismatch("nan", f"expected NaN{_where(idx)}, got {float(val[idx])!r}")

    finite = ~exp_nan
    exp_inf = np.isinf(exp) & finite
    got_inf = np.isinf(val) & finite
    bad_inf = (exp_inf | got_inf) & (exp != val)
    if bad_inf.any():
        idx = tuple(int(i) for i in np.argwhere(bad_inf)[0])
        return Mismatch("inf", f"expected {float(exp[idx])!r}{_where(idx)}, got {float(val[idx])!r}")

    ordinary = finite & ~exp_inf & ~got_inf
    err = np.zeros(exp.shape)
    err[ordinary] = np.abs(val[ordinary] - exp[ordinary])
    allowed = comparison.atol + comparison.rtol * np.abs(np.where(ordinary, exp, 0.0))
    bad = ordinary & (err > allowed)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        e, g = float(exp[idx]), float(val[idx])
        rel = abs(g - e) / abs(e) if e != 0 else float("inf")
        return Mismatch(
            "value",
            f"expected {e!r}{_where(idx)}, got {g!r} (relative error {rel:.3g}; "
            f"allowed {comparison.describe()})",
        )
    return None
