"""Text summary of a fitted GLMM, laid out like lme4's ``summary(glmer(...))``.

Built on the table model and R number formatting of :mod:`reference.display` (the GLM
helper's module): the report is a :class:`reference.display.Report`, rendered as text by
:func:`reference.display.render_text` (or as HTML by ``render_html``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from reference.display import (
    SIGNIF_LEGEND,
    Report,
    Section,
    Table,
    coefficient_table,
    format_r,
    render_text,
)

__all__ = ["format_summary", "glmm_report"]


def _method(result: Any) -> str:
    if result.family.name == "gaussian" and result.link.name == "identity":
        return "Linear mixed model fit by maximum likelihood"
    if result.nagq == 0:
        return "Generalized linear mixed model fit by maximum likelihood (nAGQ = 0: β inside PIRLS)"
    if result.nagq == 1:
        return "Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)"
    return f"Generalized linear mixed model fit by maximum likelihood (Adaptive Gauss-Hermite Quadrature, nAGQ = {result.nagq})"


def _random_effects_table(result: Any) -> Table:
    rows: list[tuple[str, ...]] = []
    names: list[str] = []
    max_p = max(len(sd) for sd in result.re_sd.values())
    corr_cols = max(0, max_p - 1)
    for key, sd in result.re_sd.items():
        var = np.diag(result.varcorr[key].to_numpy())
        corr = result.re_corr[key].to_numpy()
        sds = format_r(sd.to_numpy(), 4)
        vs = format_r(var, 4)
        for i, col in enumerate(sd.index):
            cells = [str(col), vs[i].strip(), sds[i].strip()]
            cors = [f"{corr[i, j]:.2f}" if j < i else "" for j in range(corr_cols)]
            rows.append(tuple(cells + cors))
            names.append(key if i == 0 else "")
    if not result.family.fixed_dispersion:
        sig = result.sigma
        rows.append(("", format_r([sig**2], 4)[0].strip(), format_r([sig], 4)[0].strip(), *[""] * corr_cols))
        names.append("Residual")
    columns = ("Name", "Variance", "Std.Dev.", *(["Corr"] + [""] * (corr_cols - 1) if corr_cols else []))
    align = ("l", "r", "r", *["r"] * corr_cols)
    return Table(columns=columns, row_names=tuple(names), cells=tuple(rows), align=align)


def glmm_report(result: Any) -> Report:
    """The report model of :func:`format_summary`."""
    fam = f" Family: {result.family.r_name} ( {result.link.r_name} )"
    info_vals = [result.aic, result.bic, result.loglik, result.deviance]
    info = format_r(np.round(info_vals, 1), 6)
    info_table = Table(
        columns=("AIC", "BIC", "logLik", "deviance", "df.resid"),
        row_names=("",),
        cells=((*(s.strip() for s in info), str(result.df_resid)),),
    )
    # lme4: Pearson residuals divided by σ (σ = 1 without a dispersion parameter)
    resid = result.residuals("pearson").to_numpy() / result.sigma
    q = np.quantile(resid, [0, 0.25, 0.5, 0.75, 1])
    q_table = Table(
        columns=("Min", "1Q", "Median", "3Q", "Max"),
        row_names=("",),
        cells=(tuple(s.strip() for s in format_r(np.round(q, 4), 4)),),
    )
    groups = "; ".join(f"{k}, {v}" for k, v in result.ngroups.items())
    est = result.fixef.to_numpy()
    se = result.se.to_numpy()
    z = est / se
    if result.family.fixed_dispersion:
        p = 2 * stats.norm.sf(np.abs(z))
        coef = coefficient_table(list(result.fixef.index), est, se, z, p)
    else:
        coef = coefficient_table(
            list(result.fixef.index), est, se, z, np.full(est.size, np.nan), statistic_label="t value"
        )
        coef = Table(columns=coef.columns[:3], row_names=coef.row_names,
                     cells=tuple(r[:3] for r in coef.cells), align=coef.align[:3])
    has_stars = bool(coef.columns and coef.columns[-1] == "")
    warn_lines = tuple(result.optinfo.get("warnings", ()))
    sections = [
        Section(lines=(_method(result), fam)),
        Section(lines=(f"Formula: {result.formula}",)),
        Section(table=info_table),
        Section(heading="Scaled residuals:", table=q_table),
        Section(
            heading="Random effects:",
            table=_random_effects_table(result),
            after=(f"Number of obs: {result.nobs}, groups:  {groups}",),
        ),
        Section(heading="Fixed effects:", table=coef, after=("---", SIGNIF_LEGEND) if has_stars else ()),
    ]
    if warn_lines:
        sections.append(Section(lines=warn_lines))
    return Report(title=None, sections=tuple(sections))


def format_summary(result: Any) -> str:
    """lme4-like text summary of a :class:`reference.glmm.GLMMResult`."""
    return render_text(glmm_report(result))
