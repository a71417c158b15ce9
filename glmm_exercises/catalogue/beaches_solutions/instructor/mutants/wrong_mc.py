"""Mutant: picks tempting wrong options in two multiple-choice questions.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


# the correct option of each question, recognised by its wording
KEY_PHRASES = {
    "why_random": "always gives smaller standard errors",
    "pooled_se": "too many parameters",
    "extra_fixed": "only B − 1 beach effects are identifiable",
    "random_params": "One: the variance",
}
