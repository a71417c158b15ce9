"""Shared test settings.

Hypothesis runs derandomized (the same examples on every run and machine), without an example
database and without deadlines: CI machines are shared and timing belongs in benchmarks.
Set HYPOTHESIS_PROFILE=explore locally to search with fresh random examples.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, database=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@contextlib.contextmanager
def time_bound(seconds: float, what: str = "the grader hung") -> Iterator[None]:
    """Fail the test (TimeoutError) if it runs longer than ``seconds``: an attack on the sandbox
    must never hang the grader, so tests of it are bounded."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"test exceeded its {seconds:g} s bound: {what}")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _isolation_for_the_suite() -> None:
    """Official grading insists on the namespace + chroot sandbox. On a machine that cannot give
    it, the suite runs with the strongest level that works, named through GLMM_ISOLATION (as a
    course server would); the fail-closed behaviour itself is tested with the variable removed."""
    if os.environ.get("GLMM_ISOLATION"):
        return
    from graders.sandbox import IsolationUnavailable, select_isolation

    try:
        select_isolation("auto", official=True)
    except IsolationUnavailable:
        try:
            os.environ["GLMM_ISOLATION"] = select_isolation("auto").level
        except IsolationUnavailable:
            pass  # no sandbox at all: the grading tests fail and say why


_isolation_for_the_suite()
