"""Options and input errors shared by the GLMM fitters (:mod:`reference.glmm`, :mod:`reference.glmm_nb`,
:mod:`reference.lmm`): every tolerance in one keyword-only record, :class:`GLMMOptions` (like
MixedModels.jl's ``optsummary``), and :func:`with_overrides` for keyword overrides of such a record.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

import numpy as np

from reference.errors import ModelInputError

__all__ = ["NAGQ_MESSAGE", "GLMMOptions", "NAGQError", "check_nagq", "with_overrides"]

NAGQ_MESSAGE = "nAGQ > 1 is only available for models with a single, scalar random-effects term"


class NAGQError(ModelInputError):
    """nAGQ is not an integer ≥ 0, or > 1 for a model that is not one scalar term."""


def check_nagq(nAGQ: Any) -> int:
    """``nAGQ`` as an int after lme4's checks (an integer from 0 to 25), else :class:`NAGQError`."""
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, int | np.integer) or nAGQ < 0:
        raise NAGQError(f"nAGQ must be an integer ≥ 0 (0, 1 = Laplace, or up to 25), got {nAGQ!r}")
    if nAGQ > 25:
        raise NAGQError(f"nAGQ = {nAGQ} is more than lme4's maximum of 25; use at most 25 nodes")
    return int(nAGQ)


@dataclass(frozen=True, kw_only=True)
class GLMMOptions:
    """All tolerances of :func:`glmer` in one place (keyword-only)."""

    pirls_tol: float = 1e-18  # stop PIRLS when the Newton decrement rhsᵀδ (≈ ‖δu‖²) falls below this …
    pirls_polish_tol: float = 1e-26  # … after one more step if it was above this (log det A is linear in u)
    pirls_maxit: int = 60
    optimizer_maxiter: int = 1000  # quasi-Newton iterations per stage
    optimizer_ftol: float = 1e-13  # stop when a step lowers the deviance by less than this (relative)
    optimizer_gtol: float = 1e-7  # stop when the projected gradient is below this
    fd_step: float = 1e-5  # relative step of central finite-difference gradients
    forward_differences: bool = True  # quasi-Newton stages: forward differences (then Newton polish)
    fd_forward_step: float = 1e-7  # relative step of forward differences
    stage1_ftol: float = 1e-9  # the nAGQ=0 stage only provides starting values (unless nAGQ=0)
    hessian_step: float = 1e-4  # relative step of the finite-difference Hessian (lme4: 1e-4)
    newton_maxit: int = 10  # Newton steps (one FD Hessian) before falling back to quasi-Newton
    newton_xtol: float = 1e-8  # Newton converged when every relative step is below this …
    newton_dec_tol: float = 1e-9  # … or the Newton decrement gᵀH⁻¹g (≈ 2 × deviance to gain) is
    hessian_refresh: float = 1e-3  # recompute the Hessian for the SEs if x moved more (relative)
    grad_check_tol: float = 2e-3  # lme4's check.conv.grad: max |H⁻¹ g| allowed
    singular_tol: float = 1e-4  # lme4's boundary tolerance on θ diagonals
    huge_sd: float = 10.0  # warn when a random-effect SD on a log/logit/… scale exceeds this (degenerate)
    boundary_tol: float = 1e-3  # a θ diagonal within this (× the θ scale) of its bound 0 is probed …
    boundary_probes: tuple[float, ...] = (1e-3, 0.1, 0.5, 1.0)  # … at these interior values (× the θ scale)
    boundary_restarts: int = 5  # searches restarted from a better interior probe at most this often
    dense_max: int = 64  # several terms: dense Cholesky up to this q, sparse LU above (see glmm_re)
    schur_max: int = 500  # several terms: eliminate the largest term when the others have ≤ this many columns (0: never)
    scale_fixed: bool = True  # fit with the fixed-effects columns centred and scaled (reported on the user's scale)
    gaussian_profiled: bool = True  # gaussian identity (no trials): the profiled ML fit of reference.lmm (exact, fast)

    def pirls_tolerances(self) -> dict[str, Any]:
        """Keyword tolerances of every PIRLS call of a fit (one place, so no caller forgets the polish step)."""
        return {"tol": self.pirls_tol, "polish_tol": self.pirls_polish_tol, "maxit": self.pirls_maxit}


_O = TypeVar("_O")


def with_overrides(options: _O, overrides: dict[str, Any]) -> _O:
    """``options`` (an options dataclass) with the fields named in ``overrides`` replaced; an unknown
    name is a one-line :class:`ModelInputError` listing the valid ones."""
    if not overrides:
        return options
    valid = [f.name for f in fields(options)]  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ModelInputError(f"unknown option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    return replace(options, **overrides)  # type: ignore[type-var]
