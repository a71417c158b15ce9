"""Text summary of a fitted linear mixed model, laid out like lme4's ``summary(lmer(...))``.

Built on the table model and R number formatting of :mod:`reference.display`; the
random-effects table is the GLMM summary's (:mod:`reference.glmm_display`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.display import Report, Section, Table, coefficient_table, format_r, render_text
from reference.glmm_display import _random_effects_table

__all__ = ["format_lmm_summary", "lmm_report"]


def lmm_report(result: Any) -> Report:
    """The report model of :func:`format_lmm_summary` (an :class:`reference.lmm.LMMResult`)."""
    if result.reml:
        head = Section(lines=("Linear mixed model fit by REML",))
        crit = Section(lines=(f"REML criterion at convergence: {format_r([round(result.reml_crit, 1)], 5)[0].strip()}",))
    else:
        head = Section(lines=("Linear mixed model fit by maximum likelihood",))
        info = format_r(np.round([result.aic, result.bic, result.loglik, result.deviance], 1), 6)
        crit = Section(
            table=Table(
                columns=("AIC", "BIC", "logLik", "deviance", "df.resid"),
                row_names=("",),
                cells=((*(s.strip() for s in info), str(result.df_resid)),),
            )
        )
    resid = result.residuals("pearson", scaled=True).to_numpy()
    q = np.quantile(resid, [0, 0.25, 0.5, 0.75, 1])
    q_table = Table(
        columns=("Min", "1Q", "Median", "3Q", "Max"),
        row_names=("",),
        cells=(tuple(s.strip() for s in format_r(np.round(q, 4), 4)),),
    )
    groups = "; ".join(f"{k}, {v}" for k, v in result.ngroups.items())
    est = result.fixef.to_numpy()
    se = result.se.to_numpy()
    coef = coefficient_table(
        list(result.fixef.index), est, se, est / se, np.full(est.size, np.nan), statistic_label="t value"
    )
    coef = Table(columns=coef.columns[:3], row_names=coef.row_names,
                 cells=tuple(r[:3] for r in coef.cells), align=coef.align[:3])
    sections = [
        head,
        Section(lines=(f"Formula: {result.formula}",)),
        crit,
        Section(heading="Scaled residuals:", table=q_table),
        Section(
            heading="Random effects:",
            table=_random_effects_table(result),
            after=(f"Number of obs: {result.nobs}, groups:  {groups}",),
        ),
        Section(heading="Fixed effects:", table=coef),
    ]
    if result.optinfo.get("warnings"):
        sections.append(Section(lines=tuple(result.optinfo["warnings"])))
    return Report(title=None, sections=tuple(sections))


def format_lmm_summary(result: Any) -> str:
    """lme4-like text summary of an :class:`reference.lmm.LMMResult`."""
    return render_text(lmm_report(result))
