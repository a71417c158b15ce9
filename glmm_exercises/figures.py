"""Figures for problem sheets: the variant's curves, or a plot of the variant's data, as SVG.

* ``poisson-marginal``, ``logit-marginal``, ``simulate-curves``: as in the lecture notes'
  simulation example, 30 cluster curves ``h(β0 + γ0 + (β1 + γ1) x)`` (thin, grey) against the
  population-averaged curve ``E h(η)`` (solid) and the "not mean" curve ``h(β0 + β1 x)`` (dashed),
  from :func:`reference.simulate_cluster_curves` and :func:`reference.population_averaged_curve`;
* ``beaches-solutions``: the data, Richness against NAP, one colour per beach;
* ``simulate-beaches``: the NAP values of ``nap.csv``, one row of points per beach.

Figures are drawn with matplotlib's object API (no pyplot, no global backend), text kept as SVG text
(``svg.fonttype = "none"``), without a date, and with element ids salted by the exercise id, so the
same variant gives the same bytes and several figures can share one HTML page. The HTML sheet embeds
the SVG inline (no network); the Markdown sheet links ``figures/<exercise>.svg``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from reference.marginal import population_averaged_curve
from reference.simulate import simulate_cluster_curves

__all__ = ["CLUSTER_CURVES", "FIGURE_SEED", "draw_figure", "exercise_figure", "figure_caption", "has_figure"]

#: Cluster curves drawn in a curves figure (the notes draw 30 of their 1000).
CLUSTER_CURVES = 30
#: Seed of the drawn cluster curves (a figure depends on the variant's parameters only).
FIGURE_SEED = 2018
_SIZE = (6.4, 3.4)


def _svg(fig: Any, salt: str) -> str:
    """The figure as SVG text (from ``<svg``), reproducible byte for byte."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"glmm-sheet-{salt}", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.find("<svg"):]


def _axes() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _curves(x: np.ndarray, beta: tuple[float, float], Q: Any, link: str, slope: bool, ylabel: str) -> Any:
    sim = simulate_cluster_curves(CLUSTER_CURVES, x, beta=beta, Q=Q, slope=slope, link=link, seed=FIGURE_SEED)
    pop = population_averaged_curve(x, beta, Q if slope else np.atleast_1d(Q)[0], link)
    fig, ax = _axes()
    for row in sim.curves:
        ax.plot(x, row, color="0.65", linewidth=0.6)
    ax.plot(pop["x"], pop["marginal_mean"], color="#1f4e9c", linewidth=2.2, label="population mean")
    ax.plot(pop["x"], pop["not_mean"], color="#c0392b", linewidth=2.0, linestyle="--", label='"not mean"')
    ax.plot([], [], color="0.65", linewidth=0.6, label=f"{CLUSTER_CURVES} clusters")
    ax.set_xlabel("x")
    ax.set_ylabel(ylabel)
    ax.set_xlim(float(x[0]), float(x[-1]))
    if link == "log":
        top = float(np.quantile(sim.curves.max(axis=1), 0.9))
        ax.set_ylim(0.0, max(top, 1.15 * float(pop["marginal_mean"].max())))
    else:
        ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize=8, loc="best")
    return fig


def _poisson_marginal(params: Mapping[str, Any], data: Mapping[str, pd.DataFrame]) -> Any:
    x = np.linspace(float(params["x_min"]), float(params["x_max"]), 81)
    beta = (float(params["beta0"]), float(params["beta1"]))
    return _curves(x, beta, (float(params["tau2"]), 0.0), "log", False, "E(Y | x)")


def _logit_marginal(params: Mapping[str, Any], data: Mapping[str, pd.DataFrame]) -> Any:
    grid = [float(v) for v in params["x_grid"]]
    x = np.linspace(min(grid), max(grid), 81)
    beta = (float(params["beta0"]), float(params["beta1"]))
    return _curves(x, beta, (float(params["tau2"]), 0.0), "logit", False, "P(Y = 1 | x)")


def _simulate_curves(params: Mapping[str, Any], data: Mapping[str, pd.DataFrame]) -> Any:
    x = np.linspace(float(params["x_min"]), float(params["x_max"]), int(params["n_x"]))
    beta = (float(params["beta0"]), float(params["beta1"]))
    Q = (float(params["tau0"]) ** 2, float(params["tau1"]) ** 2)
    ylabel = "μ(x)" if params["link"] == "log" else "P(Y = 1 | x)"
    return _curves(x, beta, Q, str(params["link"]), float(params["tau1"]) > 0, ylabel)


def _beaches(params: Mapping[str, Any], data: Mapping[str, pd.DataFrame]) -> Any:
    frame = data["beaches"]
    fig, ax = _axes()
    from matplotlib import colormaps

    colours = colormaps["tab20"].colors  # distinct colours for up to 20 beaches, then markers differ too
    for i, (beach, rows) in enumerate(frame.groupby("Beach", sort=True)):
        ax.plot(rows["NAP"], rows["Richness"], marker="os^D"[i // 20 % 4], linestyle="none", markersize=4.5,
                color=colours[i % 20], label=f"{beach}")
    ax.set_xlabel("NAP (height relative to mean tidal level)")
    ax.set_ylabel("Richness")
    ax.legend(title="Beach", frameon=False, fontsize=7, title_fontsize=8, ncol=2, loc="upper right")
    return fig


def _nap(params: Mapping[str, Any], data: Mapping[str, pd.DataFrame]) -> Any:
    frame = data["nap"]
    fig, ax = _axes()
    beaches = sorted(frame["Beach"].unique())
    for beach in beaches:
        rows = frame[frame["Beach"] == beach]
        ax.plot(rows["NAP"], np.full(len(rows), beach), marker="o", linestyle="none", markersize=4.5)
    ax.set_yticks(beaches)
    ax.invert_yaxis()
    ax.set_xlabel("NAP (from nap.csv)")
    ax.set_ylabel("Beach")
    return fig


_FIGURES: dict[str, tuple[Callable[[Mapping[str, Any], Mapping[str, pd.DataFrame]], Any], str]] = {
    "poisson-marginal": (
        _poisson_marginal,
        f'Your variant: {CLUSTER_CURVES} cluster curves (grey), the population mean E(Y | x) (solid) '
        'and the "not mean" curve exp(β0 + β1 x) (dashed).',
    ),
    "logit-marginal": (
        _logit_marginal,
        f'Your variant: {CLUSTER_CURVES} cluster curves (grey), the population-averaged probability '
        '(solid) and the "not mean" curve expit(β0 + β1 x) (dashed).',
    ),
    "simulate-curves": (
        _simulate_curves,
        f'Your variant: {CLUSTER_CURVES} simulated cluster curves (grey), the population mean curve '
        '(solid, exact) and the "not mean" curve h(β0 + β1 x) (dashed).',
    ),
    "beaches-solutions": (_beaches, "Your data (beaches.csv): Richness against NAP, one colour per beach."),
    "simulate-beaches": (_nap, "Your NAP values (nap.csv), one row per beach."),
}


def has_figure(exercise_id: str) -> bool:
    """Whether the sheet of ``exercise_id`` shows a figure."""
    return exercise_id in _FIGURES


def figure_caption(exercise_id: str) -> str:
    """The caption (and Markdown alt text) of the exercise's figure."""
    return _FIGURES[exercise_id][1]


def draw_figure(exercise_id: str, params: Mapping[str, Any], data: Mapping[str, pd.DataFrame]) -> Any:
    """The matplotlib ``Figure`` of one variant of ``exercise_id`` (``None`` for exercises without one)."""
    if exercise_id not in _FIGURES:
        return None
    draw, _ = _FIGURES[exercise_id]
    return draw(params, data)


def exercise_figure(exercise_id: str, params: Mapping[str, Any], data: Mapping[str, pd.DataFrame]) -> str | None:
    """The SVG figure of one variant of ``exercise_id`` (``None`` for exercises without one)."""
    fig = draw_figure(exercise_id, params, data)
    return None if fig is None else _svg(fig, exercise_id)
