"""Simulation of GLMM data sets and of cluster curves, reproducible from a seed.

* :func:`simulate_glmm` — the two-step recipe of the notes: draw ``γ_i ~ N(0, Q)`` per cluster,
  then responses ``y_ij | γ_i`` independently from the family with mean
  ``h(x_ijᵀβ + u_ijᵀγ_i)``. Any family of :mod:`reference.families` (binomial with trials,
  Gamma with a shape, negative binomial with its ``k``), any allowed link. Returns a DataFrame.
* :func:`simulate_cluster_curves` — the notes' simulation example: ``m`` cluster curves
  ``h(β0 + β1 x + γ0i + γ1i x)`` on an x grid, their average and the "not mean" curve.
* :func:`simulate_beaches` — a beaches-like (RIKZ-like) data set from the notes' Poisson
  random-intercept model ``Richness ~ NAP + (1 | Beach)``.

Every function takes a ``seed`` (an int or a :class:`numpy.random.SeedSequence`); independent
child streams are spawned for covariates, random effects and responses, so for instance
changing the family leaves the covariates and random effects unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from reference.errors import ModelInputError
from reference.families import Family, get_family
from reference.links import Link, get_link

__all__ = [
    "BEACHES_BETA",
    "BEACHES_TAU0",
    "ClusterCurves",
    "SimulationError",
    "draw_random_effects",
    "draw_response",
    "simulate_beaches",
    "simulate_cluster_curves",
    "simulate_glmm",
]

Seed = int | np.random.SeedSequence | None


class SimulationError(ModelInputError):
    """A simulation request is inconsistent (shapes, parameters, family options)."""


def _streams(seed: Seed, n: int) -> list[np.random.Generator]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(child) for child in ss.spawn(n)]


def _covariance(Q: ArrayLike, q: int | None = None) -> NDArray[np.float64]:
    arr = np.asarray(Q, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = np.diag(arr)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise SimulationError(f"Q must be a variance, a vector of variances or a square matrix, got shape {np.shape(Q)}")
    if q is not None and arr.shape[0] != q:
        raise SimulationError(f"Q is {arr.shape[0]}×{arr.shape[0]} but there are {q} random-effect terms; make them match")
    if not np.all(np.isfinite(arr)) or not np.allclose(arr, arr.T):
        raise SimulationError("Q must be a finite symmetric covariance matrix")
    if arr.size and np.min(np.linalg.eigvalsh(arr)) < -1e-12 * max(1.0, float(np.max(np.abs(arr)))):
        raise SimulationError("Q must be positive semi-definite (variances ≥ 0, |correlations| ≤ 1)")
    return arr


def draw_random_effects(rng: np.random.Generator, Q: ArrayLike, n_clusters: int) -> NDArray[np.float64]:
    """``n_clusters`` draws of γ ~ N(0, Q), shape ``(n_clusters, q)`` (works for singular Q)."""
    cov = _covariance(Q)
    # Eigen-decomposition rather than Cholesky so that singular Q (e.g. τ = 0) is allowed.
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return rng.standard_normal((n_clusters, cov.shape[0])) @ root.T


def draw_response(
    rng: np.random.Generator,
    family: Family,
    mu: NDArray[np.float64],
    *,
    trials: NDArray[np.float64] | None = None,
    phi: float = 1.0,
) -> NDArray[np.float64]:
    """One response per mean ``mu`` from ``family`` (binomial: number of successes out of ``trials``).

    Dispersion conventions match :meth:`Family.logpdf`: gaussian variance ``phi``; Gamma shape
    ``1/phi`` (so variance ``phi·μ²``); inverse Gaussian variance ``phi·μ³``; negative binomial
    variance ``μ + μ²/k`` with the family's ``k``.
    """
    name = family.name
    if name == "binomial":
        n = np.ones_like(mu) if trials is None else trials
        return rng.binomial(n.astype(np.int64), mu).astype(np.float64)
    if name == "poisson":
        return rng.poisson(mu).astype(np.float64)
    if name == "gaussian":
        return rng.normal(mu, math.sqrt(phi))
    if name == "gamma":
        return rng.gamma(1.0 / phi, mu * phi)
    if name == "inverse_gaussian":
        return rng.wald(mu, 1.0 / phi)
    if name == "negative_binomial":
        k = float(family.k)  # type: ignore[attr-defined]
        return rng.negative_binomial(k, k / (k + mu)).astype(np.float64)
    raise SimulationError(f"no random generator for family {name!r}; simulate one of the built-in families")


def _resolve_family(family: str | Family, link: str | Link | None, k: float | None) -> tuple[Family, Link]:
    fam = get_family(family, k=k)
    return fam, fam.link_object(link)


def _cluster_sizes(n_clusters: int, cluster_size: int | Sequence[int] | NDArray[np.int64]) -> NDArray[np.int64]:
    if isinstance(n_clusters, bool) or int(n_clusters) != n_clusters or n_clusters < 1:
        raise SimulationError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    sizes = np.asarray(cluster_size)
    if sizes.ndim == 0:
        sizes = np.full(int(n_clusters), sizes)
    if sizes.shape != (n_clusters,):
        raise SimulationError(
            f"cluster_size must be one size or one per cluster ({n_clusters}), got {sizes.size} values"
        )
    if not np.all(sizes == np.round(sizes)) or np.any(sizes < 1):
        raise SimulationError("cluster sizes must be positive integers")
    return sizes.astype(np.int64)


def simulate_glmm(
    beta: Sequence[float] | Mapping[str, float],
    Q: ArrayLike,
    *,
    n_clusters: int,
    cluster_size: int | Sequence[int] = 10,
    family: str | Family = "poisson",
    link: str | Link | None = None,
    covariates: pd.DataFrame | Mapping[str, ArrayLike] | None = None,
    x_grid: ArrayLike | None = None,
    random: Sequence[str] = ("(Intercept)",),
    trials: int | ArrayLike = 1,
    phi: float | None = None,
    shape: float | None = None,
    k: float | None = None,
    seed: Seed = 0,
    response: str = "y",
    group: str = "cluster",
) -> pd.DataFrame:
    """Simulate a GLMM data set ``y_ij | γ_i ~ family(h(x_ijᵀβ + u_ijᵀγ_i))``, ``γ_i ~ N(0, Q)``.

    Args:
        beta: fixed effects. A sequence ``(β0, β1, …)`` names the covariates ``x1, x2, …``;
            a mapping ``{"(Intercept)": β0, "NAP": β1}`` names them itself. An intercept is
            always included (missing from a mapping means β0 = 0).
        Q: covariance of the random effects: a variance (random intercept), a vector of
            variances (diagonal Q) or a q×q matrix, for the terms listed in ``random``.
        n_clusters: number of clusters m.
        cluster_size: observations per cluster, one number or one per cluster.
        family: family name or object ("poisson", "binomial", "gaussian", "Gamma",
            "inverse.gaussian", "negative_binomial" with ``k``).
        link: link name or object; default canonical.
        covariates: optional values for the covariates, one row per observation
            (``sum(cluster_size)`` rows, cluster by cluster). Without it (and without
            ``x_grid``) covariates are drawn independently from N(0, 1).
        x_grid: optional covariate grid used in every cluster, shape ``(n,)`` for one covariate
            or ``(n, p)``; sets the cluster size to ``n``.
        random: the terms with a random effect: ``"(Intercept)"`` and/or covariate names.
        trials: binomial number of trials (scalar or one per observation).
        phi: dispersion (gaussian: σ²; Gamma: 1/shape; inverse Gaussian: φ).
        shape: Gamma shape, an alternative to ``phi = 1/shape``.
        k: negative binomial k (when ``family`` is given by name).
        seed: int or SeedSequence; the same seed gives the same data set.
        response, group: names of the response and cluster columns.

    Returns:
        DataFrame with columns ``group`` (cluster label 1…m), the covariates, ``response`` and,
        for the binomial family, ``trials``. ``df.attrs`` holds the true parameters and the
        random effects (``"random_effects"``, nested lists of shape ``(m, q)``). Count
        responses (binomial, Poisson, negative binomial) are integer columns.
    """
    fam, lnk = _resolve_family(family, link, k)
    phi_value = _dispersion(fam, phi, shape)
    if isinstance(beta, Mapping):
        beta_map = {str(name): float(value) for name, value in beta.items()}
        intercept = beta_map.pop("(Intercept)", 0.0)
        names = list(beta_map)
        slopes = np.array([beta_map[n] for n in names], dtype=np.float64)
    else:
        values = np.atleast_1d(np.asarray(beta, dtype=np.float64))
        if values.ndim != 1 or values.size == 0:
            raise SimulationError("beta must be a non-empty sequence (β0, β1, …) or a mapping name → value")
        intercept, slopes = float(values[0]), values[1:]
        names = [f"x{j}" for j in range(1, values.size)]
    p = len(names)
    for term in random:
        if term != "(Intercept)" and term not in names:
            raise SimulationError(f"random term {term!r} is not a covariate of beta ({', '.join(names) or 'none'})")
    cov = _covariance(Q, len(random))

    rng_x, rng_re, rng_y = _streams(seed, 3)
    if x_grid is not None:
        if covariates is not None:
            raise SimulationError("give either covariates or x_grid, not both")
        grid = np.asarray(x_grid, dtype=np.float64)
        grid = grid[:, None] if grid.ndim == 1 else grid
        if grid.ndim != 2 or grid.shape[1] != p:
            raise SimulationError(f"x_grid must have one column per covariate ({p}), got shape {np.shape(x_grid)}")
        sizes = _cluster_sizes(n_clusters, grid.shape[0])
        X = np.tile(grid, (int(n_clusters), 1))
    else:
        sizes = _cluster_sizes(n_clusters, cluster_size)
        n = int(sizes.sum())
        if covariates is None:
            X = rng_x.standard_normal((n, p))
        else:
            frame = pd.DataFrame(covariates)
            missing = [c for c in names if c not in frame.columns]
            if missing:
                raise SimulationError(f"covariates lack column(s) {', '.join(missing)} named in beta")
            if len(frame) != n:
                raise SimulationError(f"covariates have {len(frame)} rows but the clusters hold {n} observations")
            X = frame[names].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise SimulationError("covariates must be finite")

    cluster_index = np.repeat(np.arange(int(n_clusters)), sizes)
    gamma = draw_random_effects(rng_re, cov, int(n_clusters))
    Z = np.column_stack(
        [np.ones(X.shape[0]) if term == "(Intercept)" else X[:, names.index(term)] for term in random]
    ) if random else np.zeros((X.shape[0], 0))
    eta = intercept + X @ slopes + np.sum(Z * gamma[cluster_index], axis=1)
    mu = lnk.inverse(eta)

    trials_arr = None
    if fam.name == "binomial":
        trials_arr = np.broadcast_to(np.asarray(trials, dtype=np.float64), eta.shape).copy()
        if np.any(trials_arr < 1) or np.any(trials_arr != np.round(trials_arr)):
            raise SimulationError("trials must be positive integers")
    elif np.any(np.asarray(trials) != 1):
        raise SimulationError(f"trials only applies to the binomial family, not {fam.name!r}")
    y = draw_response(rng_y, fam, mu, trials=trials_arr, phi=phi_value)

    data: dict[str, NDArray] = {group: cluster_index + 1}
    for j, name in enumerate(names):
        data[name] = X[:, j]
    counts = fam.name in ("binomial", "poisson", "negative_binomial")
    data[response] = y.astype(np.int64) if counts else y
    if trials_arr is not None:
        data["trials"] = trials_arr.astype(np.int64)
    df = pd.DataFrame(data)
    df.attrs.update(
        {
            "beta": {"(Intercept)": intercept, **dict(zip(names, slopes.tolist(), strict=True))},
            "Q": cov.tolist(),
            "random": list(random),
            "family": fam.name,
            "link": lnk.name,
            "phi": phi_value,
            "random_effects": gamma.tolist(),
        }
    )
    return df


def _dispersion(fam: Family, phi: float | None, shape: float | None) -> float:
    if shape is not None:
        if fam.name != "gamma":
            raise SimulationError(f"shape applies to the Gamma family only, not {fam.name!r}; use phi")
        if phi is not None:
            raise SimulationError("give either phi or shape (phi = 1/shape), not both")
        if not shape > 0:
            raise SimulationError(f"Gamma shape must be positive, got {shape}")
        return 1.0 / float(shape)
    if fam.fixed_dispersion:
        if phi is not None and phi != 1.0:
            raise SimulationError(f"family {fam.name!r} has dispersion fixed at 1; drop phi")
        return 1.0
    if phi is None:
        raise SimulationError(f"family {fam.name!r} needs a dispersion: pass phi=... (Gamma: or shape=...)")
    if not (math.isfinite(phi) and phi > 0):
        raise SimulationError(f"phi must be positive, got {phi}")
    return float(phi)


@dataclass(frozen=True)
class ClusterCurves:
    """Result of :func:`simulate_cluster_curves`.

    ``curves`` is ``(m, len(x))``: row i is ``h(β0 + β1 x + γ0i + γ1i x)``; ``mean_curve`` is
    their average over clusters (the notes' solid "mean" line) and ``not_mean`` is
    ``h(β0 + β1 x)`` (the dashed line); ``random_effects`` is ``(m, 2)`` (γ0, γ1).
    """

    x: NDArray[np.float64]
    curves: NDArray[np.float64]
    mean_curve: NDArray[np.float64]
    not_mean: NDArray[np.float64]
    random_effects: NDArray[np.float64]

    def to_frame(self, n_curves: int | None = None) -> pd.DataFrame:
        """Long DataFrame (cluster, x, mu) of the first ``n_curves`` curves, for plotting."""
        rows = self.curves if n_curves is None else self.curves[:n_curves]
        m, n = rows.shape
        return pd.DataFrame({"cluster": np.repeat(np.arange(1, m + 1), n), "x": np.tile(self.x, m), "mu": rows.ravel()})


def simulate_cluster_curves(
    m: int = 1000,
    x: ArrayLike | None = None,
    *,
    beta: Sequence[float] = (-2.0, 0.3),
    Q: ArrayLike = (0.2**2, 0.07**2),
    slope: bool = True,
    link: str | Link = "log",
    seed: Seed = 0,
) -> ClusterCurves:
    """The notes' simulation example: ``m`` cluster mean curves on an x grid.

    Defaults reproduce the notes' log-link example (β = (−2, 0.3), Q = diag(0.2², 0.07²),
    x from −10 to 10 in 201 steps, m = 1000); the logit example is ``beta=(3, 1),
    Q=(4, 1), link="logit"``. With ``slope=False`` only the random intercept (variance
    ``Q[0, 0]``) is used. Q is a variance, a pair of variances or a full 2×2 matrix.
    """
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise SimulationError(f"m (number of clusters) must be a positive integer, got {m!r}")
    x_arr = np.linspace(-10.0, 10.0, 201) if x is None else np.asarray(x, dtype=np.float64)
    if x_arr.ndim != 1:
        raise SimulationError("x must be a 1-D grid of covariate values")
    b = np.asarray(beta, dtype=np.float64)
    if b.shape != (2,):
        raise SimulationError("beta must be (β0, β1)")
    cov = _covariance(Q)
    if cov.shape == (1, 1):
        cov = np.array([[cov[0, 0], 0.0], [0.0, 0.0]])
    if cov.shape != (2, 2):
        raise SimulationError("Q must be a variance, two variances or a 2×2 covariance matrix")
    if not slope:
        cov = np.array([[cov[0, 0], 0.0], [0.0, 0.0]])
    lnk = get_link(link)
    (rng,) = _streams(seed, 1)
    gamma = draw_random_effects(rng, cov, int(m))
    eta = (b[0] + gamma[:, [0]]) + (b[1] + gamma[:, [1]]) * x_arr[None, :]
    curves = lnk.inverse(eta)
    return ClusterCurves(x_arr, curves, curves.mean(axis=0), lnk.inverse(b[0] + b[1] * x_arr), gamma)


#: Fixed effects (intercept, NAP) near lme4 1.1-31's Laplace fit of Richness ~ NAP + (1 | Beach)
#: to the RIKZ data: (Intercept) 1.6623, NAP −0.5039, Beach standard deviation 0.4743.
BEACHES_BETA: tuple[float, float] = (1.66, -0.50)
#: Random-intercept standard deviation near the same fit.
BEACHES_TAU0: float = 0.47


def simulate_beaches(
    seed: Seed = 0,
    beta: Sequence[float] = BEACHES_BETA,
    tau0: float = BEACHES_TAU0,
    n_beaches: int = 9,
    per_beach: int = 5,
    nap: ArrayLike | None = None,
) -> pd.DataFrame:
    """A beaches-like data set from the Poisson random-intercept model of the notes.

    ``Richness_ij | γ_i ~ Poisson(exp(β0 + β1·NAP_ij + γ_i))``, ``γ_i ~ N(0, τ0²)``, with
    ``n_beaches`` beaches and ``per_beach`` samples per beach. NAP (height relative to mean
    tidal level) is drawn from N(0.35, 1.0²) truncated to [−1.4, 2.3], like the real data,
    unless given (``n_beaches·per_beach`` values, beach by beach).

    Returns:
        DataFrame with columns ``Sample`` (1…n), ``Richness``, ``NAP``, ``Beach`` (1…n_beaches);
        ``attrs`` holds the true parameters and random effects.
    """
    b = np.asarray(beta, dtype=np.float64)
    if b.shape != (2,):
        raise SimulationError("beta must be (intercept, NAP effect)")
    if not (math.isfinite(tau0) and tau0 >= 0):
        raise SimulationError(f"tau0 is a standard deviation and must be ≥ 0, got {tau0}")
    sizes = _cluster_sizes(n_beaches, per_beach)
    n = int(sizes.sum())
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    nap_seed, model_seed = ss.spawn(2)
    if nap is None:
        rng = np.random.default_rng(nap_seed)
        nap_arr = np.empty(0)
        while nap_arr.size < n:
            draws = rng.normal(0.35, 1.0, size=2 * n)
            nap_arr = np.concatenate([nap_arr, draws[(draws >= -1.4) & (draws <= 2.3)]])
        nap_arr = np.round(nap_arr[:n], 3)
    else:
        nap_arr = np.asarray(nap, dtype=np.float64)
        if nap_arr.shape != (n,):
            raise SimulationError(f"nap must hold n_beaches·per_beach = {n} values, got shape {nap_arr.shape}")
    df = simulate_glmm(
        {"(Intercept)": float(b[0]), "NAP": float(b[1])},
        tau0**2,
        n_clusters=n_beaches,
        cluster_size=per_beach,
        family="poisson",
        covariates={"NAP": nap_arr},
        seed=model_seed,
        response="Richness",
        group="Beach",
    )
    df.insert(0, "Sample", np.arange(1, n + 1))
    return df[["Sample", "Richness", "NAP", "Beach"]]
