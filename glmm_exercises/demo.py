"""The main job on built-in defaults: the beaches analyses of the lecture notes.

Three ways of handling the clustering of samples within beaches are fitted and printed:
all observations pooled in one Poisson GLM, beach as a fixed (sum-contrast) factor, and
beach as a random intercept (Poisson GLMM, Laplace). They run on a beaches-like data set
that the package simulates, and also on the real RIKZ data when ``rikz.csv`` is found.
"""

from __future__ import annotations

import sys
from typing import TextIO

import pandas as pd

import reference
from glmm_exercises.paths import RIKZ_ENV, rikz_csv

POOLED = "Richness ~ NAP"
FIXED_BEACH = "Richness ~ NAP + C(Beach)"
RANDOM_BEACH = "Richness ~ NAP + (1 | Beach)"


def _rule(title: str, out: TextIO) -> None:
    out.write(f"\n{'=' * 78}\n{title}\n{'=' * 78}\n")


def beaches_analyses(data: pd.DataFrame, label: str, out: TextIO) -> dict[str, float]:
    """Fit the three beaches models to ``data`` and print their summaries; return key figures."""
    data = data.copy()
    data["Beach"] = pd.Categorical(data["Beach"])
    _rule(f"{label}: solution 1, all observations pooled in one Poisson GLM", out)
    pooled = reference.glm(POOLED, data=data, family="poisson")
    out.write(pooled.summary() + "\n")
    _rule(f"{label}: solution 2, beach as a fixed factor (sum contrasts)", out)
    fixed = reference.glm(FIXED_BEACH, data=data, family="poisson", contrasts={"Beach": "sum"})
    out.write(fixed.summary() + "\n")
    _rule(f"{label}: solution 3, beach as a random intercept (Poisson GLMM, Laplace)", out)
    mixed = reference.glmer(RANDOM_BEACH, data=data, family="poisson")
    out.write(mixed.summary() + "\n")
    figures = {
        "se_nap_pooled": float(pooled.se["NAP"]),
        "se_nap_fixed": float(fixed.se["NAP"]),
        "se_nap_random": float(mixed.se["NAP"]),
    }
    out.write(
        "\nStandard error of the NAP effect: "
        f"pooled {figures['se_nap_pooled']:.4f}, fixed beach {figures['se_nap_fixed']:.4f}, "
        f"random beach {figures['se_nap_random']:.4f} "
        f"(the pooled fit ignores the clustering, so its SE is too small by a factor "
        f"{figures['se_nap_random'] / figures['se_nap_pooled']:.2f}).\n"
    )
    return figures


def run_demo(seed: int = 2018, out: TextIO | None = None) -> int:
    """Run the demo; returns a process exit code."""
    out = out or sys.stdout
    rng_note = f"seed {seed}"
    simulated = reference.simulate_beaches(seed=seed)
    out.write(
        "glmm-exercises demo: the beaches example of the GLMM lecture notes\n"
        f"Simulated beaches-like data ({len(simulated)} samples, "
        f"{simulated['Beach'].nunique()} beaches, {rng_note}).\n"
    )
    beaches_analyses(simulated, "Simulated beaches", out)
    path = rikz_csv()
    if path is None:
        out.write(
            f"\nThe real RIKZ data (rikz.csv) was not found; set {RIKZ_ENV}=/path/to/rikz.csv "
            "to fit it as well.\n"
        )
    else:
        real = pd.read_csv(path)
        out.write(f"\nReal RIKZ data from {path} ({len(real)} samples).\n")
        beaches_analyses(real[["Richness", "NAP", "Beach"]], "RIKZ data", out)
    out.write("\nDone. `glmm-exercises --help` lists the other commands.\n")
    out.flush()
    return 0


__all__ = ["beaches_analyses", "run_demo"]
