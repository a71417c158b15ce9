"""Mutant: One random intercept shared by all beaches.

This file holds only what differs from the answer key: the catalogue appends it to
``key.py`` (later definitions replace earlier ones) to make the full wrong solution.
"""


def simulate_beaches(beta0, beta1, tau0, n_beaches, per_beach, nap, rng):
    nap = np.asarray(nap, dtype=float)
    beach = np.repeat(np.arange(1, n_beaches + 1), per_beach)
    gamma = rng.normal(0.0, tau0)
    eta = beta0 + beta1 * nap + gamma
    richness = rng.poisson(np.exp(eta))
    return pd.DataFrame({"Richness": richness.astype(int), "NAP": nap, "Beach": beach})
