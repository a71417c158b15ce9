"""Typed errors of the reference engine.

Every error carries a one-line message that names the problem and says what to do.
The command-line layer turns them into messages and exit codes in one place.
"""

from __future__ import annotations


class ModelInputError(ValueError):
    """Base class: the model specification or the data cannot be used as given."""


class UnknownFamilyError(ModelInputError):
    """The family name is not one the engine knows."""


class UnknownLinkError(ModelInputError):
    """The link name is not one the engine knows."""


class LinkNotAllowedError(ModelInputError):
    """The link exists but is not accepted for this family (as in R)."""


class InvalidResponseError(ModelInputError):
    """The response (or trials / weights) is not valid for the family."""


class FormulaError(ModelInputError):
    """The formula cannot be parsed or names columns that do not exist."""


class DesignMatrixError(ModelInputError):
    """The design matrix holds NaN/inf or has the wrong shape."""


class ConvergenceError(RuntimeError):
    """An iterative fit did not converge; the message says what to try."""


class ConvergenceWarning(UserWarning):
    """A fit finished but a diagnostic (gradient, singularity, separation) deserves attention."""
