"""reference.display: R's number formatting and the summary.glm layout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reference import glm
from reference.display import (
    Report,
    Section,
    Table,
    format_pvalues,
    format_r,
    render_html,
    render_text,
    signif_stars,
)


def test_format_r_uses_common_decimals_and_scientific_when_narrower() -> None:
    # R: format(c(1.791, 0.06329), digits = 4) -> "1.79100" "0.06329"
    assert format_r([1.791, 0.06329], 4) == ["1.79100", "0.06329"]
    # R: format(c(28.297, -7.762), digits = 4) -> "28.297" "-7.762"
    assert format_r([28.297, -7.762], 4) == ["28.297", "-7.762"]
    # R 4.2: format(1e-10, digits = 3) -> "1e-10"; format(123456789, digits = 3) -> "1.23e+08";
    # format(1234567, digits = 3) -> "1234567"; format(c(1.234e-5, 123), digits = 3) -> sci
    assert format_r([1e-10], 3) == ["1e-10"]
    assert format_r([123456789.0], 3) == ["1.23e+08"]
    assert format_r([1234567.0], 3) == ["1234567"]
    assert format_r([0.00001234, 123.0], 3) == ["1.23e-05", "1.23e+02"]
    assert format_r([np.nan, 2.5], 3) == [" NA", "2.5"]


def test_format_pvalues_like_format_pval() -> None:
    assert format_pvalues([1e-20, 8.39e-15]) == ["< 2e-16", "8.39e-15"]
    assert format_pvalues([1e-20]) == ["<2e-16"]
    assert format_pvalues([0.00211, 0.4318]) == ["0.00211", "0.43180"]
    # R: format.pval(c(0.002115, 0.000355), digits = 3) -> "0.002115" "0.000355" (1e-4 stays fixed)
    assert format_pvalues([0.0021148, 0.00035451]) == ["0.002115", "0.000355"]


def test_signif_stars_cutpoints() -> None:
    assert [signif_stars(p) for p in (0.0005, 0.001, 0.005, 0.03, 0.07, 0.5)] == ["***", "***", "**", "*", ".", " "]


def test_text_and_html_render_the_same_table() -> None:
    table = Table(columns=("a", "b <x>"), row_names=("r1", "row&2"), cells=(("1", "2"), ("10", "x")))
    report = Report(title="T", sections=(Section(heading="H", table=table, after=("end",)),))
    text = render_text(report)
    assert text.splitlines() == ["T", "", "H", "       a b <x>", "r1     1     2", "row&2 10     x", "end"]
    page = render_html(report)
    assert "b &lt;x&gt;" in page and "row&amp;2" in page and "<table" in page


RIKZ = Path("/work/shared/data/rikz.csv")

R_SUMMARY = r"""
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$Beach <- factor(d$Beach)
d$x2 <- 2 * d$NAP
print(summary(glm(Richness ~ NAP, family = poisson, data = d)))
print(summary(glm(Richness ~ NAP + Beach, family = poisson, data = d, contrasts = list(Beach = "contr.sum"))))
print(summary(glm(Exposure ~ NAP, family = Gamma(link = "log"), data = d)))
print(summary(glm(Richness ~ NAP + x2, family = poisson, data = d)))
"""


def _coefficient_rows(text: str) -> list[list[str]]:
    rows: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("Coefficients"):
            inside = True
            rows.append(["Coefficients:"])
            continue
        if inside and (line.startswith("---") or not line.strip()):
            inside = False
            continue
        if inside and "Estimate" not in line:
            rows.append(line.replace("< ", "<").split())
    return rows


@pytest.mark.needs_r
def test_coefficient_tables_match_r_summary_printout(tmp_path: Path) -> None:
    exe = shutil.which("Rscript")
    if exe is None:
        pytest.skip("Rscript not installed: apt-get install r-base-core")
    if not RIKZ.exists():
        pytest.skip(f"the beaches data {RIKZ} is absent")
    script = tmp_path / "s.R"
    script.write_text(R_SUMMARY)
    done = subprocess.run(
        [exe, "--vanilla", str(script), str(RIKZ)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-500:]
    d = pd.read_csv(RIKZ).assign(x2=lambda f: 2 * f["NAP"])
    ours = "".join(
        [
            glm("Richness ~ NAP", d, "poisson").summary(),
            glm("Richness ~ NAP + Beach", d, "poisson", contrasts={"Beach": "sum"}).summary(),
            glm("Exposure ~ NAP", d, "Gamma", "log").summary(),
        ]
    )
    with pytest.warns(UserWarning, match="rank deficient"):
        ours += glm("Richness ~ NAP + x2", d, "poisson").summary()
    r_rows = _coefficient_rows(done.stdout)
    our_rows = _coefficient_rows(ours)
    # R names the sum-contrast columns Beach1..; ours too. Compare every printed token.
    assert our_rows == r_rows
    for key in ("Null deviance", "Residual deviance", "AIC:", "Dispersion parameter"):
        r_lines = [line.split() for line in done.stdout.splitlines() if key in line]
        our_lines = [line.split() for line in ours.splitlines() if key in line]
        assert our_lines == r_lines, key
