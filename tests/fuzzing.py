"""Shared settings for the property (fuzz) tests of every entry point that reads bytes or
untrusted values (tests named ``*_fuzz.py``, marked ``fuzz``).

Two profiles, chosen by ``SF_FUZZ_PROFILE``:

* ``short`` (default, what ``make test`` runs): ``max_examples`` per property as each test
  asks (50-200), derandomised so the suite is repeatable; the whole fuzz suite takes well
  under a minute.
* ``long``: ``SF_FUZZ_EXAMPLES`` cases per property (default 10,000), random seeds; run by
  ``scripts/fuzz.py --profile long`` (see docs/reliability.md).

Every example runs under a wall-clock hang guard (``SF_FUZZ_HANG_S``, default 10 s): an
input that makes a decoder loop or allocate for ever fails as :class:`Hang`, not as a stuck
suite. Hypothesis' own per-example deadline is off, because a loaded shared machine makes
it flaky; the hang guard catches what matters.
"""

from __future__ import annotations

import contextlib
import os
import signal

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("SF_FUZZ_PROFILE", "short")
LONG_EXAMPLES = int(os.environ.get("SF_FUZZ_EXAMPLES", "10000"))
HANG_S = float(os.environ.get("SF_FUZZ_HANG_S", "10"))

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "sf-fuzz-short", deadline=None, derandomize=True, database=None, suppress_health_check=_SLOW_OK
)
settings.register_profile(
    "sf-fuzz-long", deadline=None, database=None, suppress_health_check=_SLOW_OK, print_blob=True
)
if PROFILE not in ("short", "long"):
    raise ValueError(f"SF_FUZZ_PROFILE must be 'short' or 'long', got {PROFILE!r}")
_BASE = settings.get_profile(f"sf-fuzz-{PROFILE}")


def fuzz_settings(short: int = 100) -> settings:
    """Settings of one property: ``short`` examples in the short profile, the long count else."""
    return settings(_BASE, max_examples=short if PROFILE == "short" else LONG_EXAMPLES)


class Hang(AssertionError):
    """One example ran longer than the hang guard."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_S):
    """Fail the example (``Hang``) if its body runs longer than ``seconds`` (SIGALRM, main thread)."""

    def _raise(signum, frame):
        raise Hang(f"example ran longer than {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
