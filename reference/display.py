"""All text and HTML display of reference results: one table model, two renderers.

A summary is a :class:`Report` -- a title and a sequence of :class:`Section` s, each holding
plain lines and/or one :class:`Table` of already formatted cells.  :func:`render_text` and
:func:`render_html` turn the same report into R-like console text or an HTML fragment, so the
GLM and GLMM summaries share the layout code and only build their own reports.

Number formatting follows R's ``format``/``printCoefmat``/``format.pval`` (common number of
decimals per column, switch to scientific notation when it is narrower, ``< 2e-16`` for tiny
p-values, significance stars), so the text looks like ``summary.glm`` output.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "SIGNIF_LEGEND",
    "Report",
    "Section",
    "Table",
    "coefficient_table",
    "format_pvalues",
    "format_r",
    "glm_report",
    "glm_short_report",
    "render_html",
    "render_text",
    "signif_stars",
]

R_EPS = float(np.finfo(np.float64).eps)
SIGNIF_LEGEND = "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"


# ---------------------------------------------------------------------------- the table model
@dataclass(frozen=True)
class Table:
    """Formatted cells with column headers and row names; ``align`` is "r" or "l" per column."""

    columns: tuple[str, ...]
    row_names: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    align: tuple[str, ...] = ()

    def alignment(self, j: int) -> str:
        return self.align[j] if j < len(self.align) else "r"


@dataclass(frozen=True)
class Section:
    """A heading, lines of text before the table, an optional table, lines after it."""

    heading: str | None = None
    lines: tuple[str, ...] = ()
    table: Table | None = None
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    title: str | None
    sections: tuple[Section, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------- R number formatting
def _sig_and_exponent(x: float, digits: int) -> tuple[int, int]:
    """(significant digits needed, decimal exponent) of |x| shown with ``digits`` digits (R)."""
    if x == 0.0:
        return 1, 0
    ax = abs(x)
    kp = math.floor(math.log10(ax))
    mantissa = round(ax / 10.0**kp * 10 ** (digits - 1))
    if mantissa >= 10**digits:
        kp += 1
        mantissa = round(mantissa / 10)
    nsig = digits
    while nsig > 1 and mantissa % 10 == 0:
        mantissa //= 10
        nsig -= 1
    return nsig, kp


def format_r(values: Sequence[float] | np.ndarray, digits: int = 7) -> list[str]:
    """Format numbers jointly as R's ``format(x, digits = digits)`` does (common decimals).

    Fixed notation with the fewest decimals that shows every value to ``digits`` significant
    digits, unless scientific notation is narrower. NaN prints as ``NA``, infinities as ``Inf``.
    """
    vals = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    finite = [v for v in vals if math.isfinite(v)]
    if not finite:
        return [_nonfinite(v) for v in vals]
    info = [_sig_and_exponent(v, digits) for v in finite]
    neg = any(v < 0 for v in finite)
    rgt = max(max(0, nsig - kp - 1) for nsig, kp in info)
    left = max(max(1, kp + 1) for _, kp in info)
    fixed_width = neg + left + (1 if rgt > 0 else 0) + rgt
    mxns = max(nsig for nsig, _ in info)
    exp_digits = 3 if any(abs(kp) >= 100 for _, kp in info) else 2
    sci_width = neg + (mxns + 1 if mxns > 1 else mxns) + 2 + exp_digits
    if fixed_width <= sci_width:
        out = [f"{v:.{rgt}f}" if math.isfinite(v) else _nonfinite(v) for v in vals]
    else:
        out = [f"{v:.{mxns - 1}e}" if math.isfinite(v) else _nonfinite(v) for v in vals]
    width = max(len(s) for s in out)
    return [s.rjust(width) for s in out]


def _nonfinite(v: float) -> str:
    if math.isnan(v):
        return "NA"
    return "Inf" if v > 0 else "-Inf"


def format_pvalues(pvalues: Sequence[float] | np.ndarray, digits: int = 3, eps: float = R_EPS) -> list[str]:
    """R's ``format.pval``: p-values below ``eps`` as ``<2e-16``, the rest with ``digits`` digits."""
    pv = [float(p) for p in np.asarray(pvalues, dtype=np.float64).ravel()]
    out = ["NA"] * len(pv)
    idx_ok = [i for i, p in enumerate(pv) if not math.isnan(p)]
    small = [i for i in idx_ok if pv[i] < eps]
    rest = [i for i in idx_ok if pv[i] >= eps]
    formatted_rest: list[str] = []
    if rest:
        def expo(p: float) -> int:
            return math.floor(math.log10(p)) if p > 0 else -50

        fixp = [i for i in rest if expo(pv[i]) >= -3 or (expo(pv[i]) == -4 and digits > 1)]
        scip = [i for i in rest if i not in fixp]
        for group in (fixp, scip):
            if group:
                texts = format_r([pv[i] for i in group], digits)
                for i, t in zip(group, texts, strict=True):
                    out[i] = t
                    formatted_rest.append(t)
    if small:
        d = max(1, digits - 2)
        if formatted_rest:
            nc = max(len(t) for t in formatted_rest)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        eps_text = format_r([eps], d)[0].strip()
        for i in small:
            out[i] = f"<{sep}{eps_text}"
    return out


def signif_stars(p: float) -> str:
    """R's significance symbols: *** < 0.001 <= ** < 0.01 <= * < 0.05 <= . < 0.1."""
    if not math.isfinite(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


def coefficient_table(
    names: Sequence[str],
    estimate: np.ndarray,
    se: np.ndarray,
    statistic: np.ndarray,
    pvalues: np.ndarray,
    *,
    statistic_label: str = "z value",
    p_label: str = "Pr(>|z|)",
    digits: int = 4,
    stars: bool = True,
) -> Table:
    """A coefficient table formatted as R's ``printCoefmat`` (the ``summary.glm`` defaults)."""
    est = np.asarray(estimate, dtype=np.float64)
    ses = np.asarray(se, dtype=np.float64)
    both = np.concatenate([est, ses])
    ok = np.isfinite(both) & (both != 0)
    if ok.any():
        digmin = 1 + math.floor(math.log10(float(np.min(np.abs(both[ok])))))
        decimals = max(1, digits - digmin)
    else:
        decimals = digits
    rounded = np.where(np.isfinite(both), np.round(both, decimals), np.nan)
    finite_idx = np.flatnonzero(np.isfinite(rounded))
    joint = format_r(rounded[finite_idx], digits) if finite_idx.size else []
    texts = ["NA"] * both.size
    for i, t in zip(finite_idx, joint, strict=True):
        # R: a non-zero value that rounds to a printed zero is shown on its own with digits - 1
        if both[i] != 0 and float(t) == 0.0:
            t = format_r([both[i]], max(1, digits - 1))[0]
        texts[int(i)] = t
    p = est.size
    dig_tst = max(1, min(5, digits - 1))
    stat = np.asarray(statistic, dtype=np.float64)
    stat_ok = np.flatnonzero(np.isfinite(stat))
    stat_texts = ["NA"] * p
    for i, t in zip(stat_ok, format_r(np.round(stat[stat_ok], dig_tst), digits), strict=True):
        stat_texts[int(i)] = t
    pv = np.asarray(pvalues, dtype=np.float64)
    p_texts = format_pvalues(pv, dig_tst)
    # R prints the stars column (and its legend) only when some p-value is below 0.1
    stars = stars and bool(np.any(pv[np.isfinite(pv)] < 0.1))
    columns: tuple[str, ...] = ("Estimate", "Std. Error", statistic_label, p_label)
    rows = []
    for i in range(p):
        row = [texts[i], texts[p + i], stat_texts[i], p_texts[i]]
        if stars:
            row.append(signif_stars(float(pv[i])))
        rows.append(tuple(row))
    align: tuple[str, ...] = ("r", "r", "r", "r")
    if stars:
        columns = (*columns, "")
        align = (*align, "l")
    return Table(columns=columns, row_names=tuple(names), cells=tuple(rows), align=align)


# ---------------------------------------------------------------------------- renderers
def _text_table(table: Table) -> list[str]:
    name_width = max([len(n) for n in table.row_names] + [0])
    widths = [
        max([len(table.columns[j])] + [len(r[j]) for r in table.cells]) for j in range(len(table.columns))
    ]

    def fmt(j: int, text: str) -> str:
        return text.ljust(widths[j]) if table.alignment(j) == "l" else text.rjust(widths[j])

    lines = [" " * name_width + "".join(" " + fmt(j, c) for j, c in enumerate(table.columns))]
    for name, row in zip(table.row_names, table.cells, strict=True):
        lines.append(name.ljust(name_width) + "".join(" " + fmt(j, c) for j, c in enumerate(row)))
    return lines


def render_text(report: Report) -> str:
    """Console text of a report (R's layout: blank line between sections)."""
    out: list[str] = []
    if report.title:
        out.append(report.title)
    for section in report.sections:
        if out:
            out.append("")
        if section.heading:
            out.append(section.heading)
        out.extend(section.lines)
        if section.table is not None:
            out.extend(_text_table(section.table))
        out.extend(section.after)
    return "\n".join(out) + "\n"


def _html_table(table: Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    rows = []
    for name, row in zip(table.row_names, table.cells, strict=True):
        cells = "".join(
            f'<td style="text-align:{"left" if table.alignment(j) == "l" else "right"}">{esc(c.strip())}</td>'
            for j, c in enumerate(row)
        )
        rows.append(f'<tr><th style="text-align:left">{esc(name)}</th>{cells}</tr>')
    return (
        '<table class="reference-table"><thead><tr><th></th>'
        + head
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def render_html(report: Report) -> str:
    """An HTML fragment of a report; every text is escaped."""
    esc = html.escape
    parts = ['<div class="reference-report">']
    if report.title:
        parts.append(f"<p><strong>{esc(report.title)}</strong></p>")
    for section in report.sections:
        if section.heading:
            parts.append(f"<p><em>{esc(section.heading)}</em></p>")
        if section.lines:
            parts.append("<pre>" + esc("\n".join(section.lines)) + "</pre>")
        if section.table is not None:
            parts.append(_html_table(section.table))
        if section.after:
            parts.append("<pre>" + esc("\n".join(section.after)) + "</pre>")
    parts.append("</div>")
    return "".join(parts)


# ---------------------------------------------------------------------------- GLM reports
def _family_label(result: Any) -> str:
    return f"{result.family}({result.link.r_name})"


def glm_report(result: Any) -> Report:
    """The report of ``summary.glm``: call, coefficient table, dispersion, deviances, AIC."""
    n_aliased = int(np.sum(result.aliased))
    heading = "Coefficients:"
    if n_aliased:
        heading = f"Coefficients: ({n_aliased} not defined because of singularities)"
    estimated = result.dispersion_estimated
    table = coefficient_table(
        result.names,
        result.coef_values,
        result.se_values,
        result.statistic_values,
        result.pvalue_values,
        statistic_label="t value" if estimated else "z value",
        p_label="Pr(>|t|)" if estimated else "Pr(>|z|)",
    )
    has_stars = bool(table.columns and table.columns[-1] == "")
    devs = format_r([result.null_deviance, result.deviance], 5)
    dfs = [str(result.df_null), str(result.df_resid)]
    dfw = max(len(d) for d in dfs)
    disp = format_r([result.dispersion], 7)[0].strip()
    disp_line = (
        f"(Dispersion parameter for {result.family} family taken to be {disp})"
    )
    deviance_lines = (
        f"    Null deviance: {devs[0]}  on {dfs[0].rjust(dfw)}  degrees of freedom",
        f"Residual deviance: {devs[1]}  on {dfs[1].rjust(dfw)}  degrees of freedom",
        f"AIC: {format_r([result.aic], 5)[0].strip()}",
    )
    iterations = (f"Number of Fisher Scoring iterations: {result.iterations}",)
    if not result.converged:
        iterations = (*iterations, "WARNING: the iterations did not converge")
    return Report(
        title=None,
        sections=(
            Section(heading="Call:", lines=(result.call,)),
            Section(heading=heading, table=table, after=("---", SIGNIF_LEGEND) if has_stars else ()),
            Section(lines=(disp_line,)),
            Section(lines=deviance_lines),
            Section(lines=iterations),
        ),
    )


def glm_short_report(result: Any) -> Report:
    """The short form (R's ``print.glm``): call, coefficients, degrees of freedom, deviances."""
    coefs = format_r(result.coef_values, 5)
    table = Table(
        columns=tuple(result.names),
        row_names=("",),
        cells=(tuple(c.strip() if c.strip() != "NA" else "NA" for c in coefs),),
    )
    lines = (
        f"Degrees of Freedom: {result.df_null} Total (i.e. Null);  {result.df_resid} Residual",
        f"Null Deviance:\t    {format_r([result.null_deviance], 4)[0].strip()} ",
        f"Residual Deviance: {format_r([result.deviance], 4)[0].strip()} \t"
        f"AIC: {format_r([result.aic], 4)[0].strip()}",
    )
    return Report(
        title=f"GLM {_family_label(result)}" + ("" if result.converged else " (not converged)"),
        sections=(
            Section(heading="Call:", lines=(result.call,)),
            Section(heading="Coefficients:", table=table),
            Section(lines=lines),
        ),
    )
