"""Mutant: says the GLMM beats the GLM when its AIC is larger (comparison reversed).

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def glmm_beats_glm(X, y, cluster):
    return glmm_aic(X, y, cluster) > binary_glm_aic(X, y, "logit")
