"""Shared settings for the property (fuzz) tests of every entry point that reads bytes or
untrusted values (tests named ``*_fuzz.py``, marked ``fuzz``).

Two profiles, chosen by ``SF_FUZZ_PROFILE``:

* ``short`` (default, what ``make test`` runs): ``max_examples`` per property as each test
  asks (50-200), derandomised so the suite is repeatable; the whole fuzz suite takes well
  under a minute.
* ``long``: ``SF_FUZZ_EXAMPLES`` cases per entry point (default 10,000; an entry point fuzzed
  by several properties splits them with ``long_share``), random seeds; run by
  ``scripts/fuzz.py --profile long`` (see docs/development.md#fuzzing).

Every example runs under a wall-clock hang guard (``SF_FUZZ_HANG_S``, default 10 s): an
input that makes a decoder loop or allocate for ever fails as :class:`Hang`, not as a stuck
suite. Hypothesis' own per-example deadline is off, because a loaded shared machine makes
it flaky; the hang guard catches what matters.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

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


def fuzz_settings(short: int = 100, long_share: float = 1.0) -> settings:
    """Settings of one property: ``short`` examples in the short profile, else the long count
    times ``long_share`` (its part of its entry point's cases)."""
    n = short if PROFILE == "short" else max(1, int(LONG_EXAMPLES * long_share))
    return settings(_BASE, max_examples=n)


_COUNTS: dict[str, int] = {}


def _count() -> None:
    """Examples run per test (explicit, generated and shrinking ones), written at exit to
    ``SF_FUZZ_COUNTS`` when set: how scripts/fuzz.py reports the cases each property ran."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    if not os.environ.get("SF_FUZZ_COUNTS"):
        return
    if not _COUNTS:
        atexit.register(_write_counts)
    _COUNTS[test] = _COUNTS.get(test, 0) + 1
    if _COUNTS[test] % 500 == 1:  # also on the way, so a run cut short still says what it did
        _write_counts()


def _write_counts() -> None:
    with open(os.environ["SF_FUZZ_COUNTS"], "w") as f:
        json.dump(_COUNTS, f, indent=1, sort_keys=True)


def scratch_dir(prefix: str) -> Path:
    """A temporary directory for the files a property writes, removed when the run ends."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, d, True)
    return d


class Hang(AssertionError):
    """One example ran longer than the hang guard."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_S, count: bool = True):
    """Fail the example (``Hang``) if its body runs longer than ``seconds`` (SIGALRM, main thread);
    ``count``: this body is one example (False for a second guard within the same example)."""

    def _raise(signum, frame):
        raise Hang(f"example ran longer than {seconds} s (a hang)")

    if count:
        _count()
    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
