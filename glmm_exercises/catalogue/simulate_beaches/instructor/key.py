"""Answer key for simulate-beaches, written the way a student would."""

import numpy as np
import pandas as pd


def simulate_beaches(beta0, beta1, tau0, n_beaches, per_beach, nap, rng):
    nap = np.asarray(nap, dtype=float)
    beach = np.repeat(np.arange(1, n_beaches + 1), per_beach)
    gamma = rng.normal(0.0, tau0, size=n_beaches)  # one random intercept per beach
    eta = beta0 + beta1 * nap + gamma[beach - 1]
    richness = rng.poisson(np.exp(eta))
    return pd.DataFrame({"Richness": richness.astype(int), "NAP": nap, "Beach": beach})
