"""Fixtures shared by the ego tests: one 80 s S-curve drive and the estimator run over it."""

from __future__ import annotations

import pytest

from tests.ego.test_estimator import Run, Sim, run_filter, simulate


@pytest.fixture(scope="session")
def drive() -> Sim:
    return simulate(80.0, "s_curve", seed=1)


@pytest.fixture(scope="session")
def drive_run(drive) -> Run:
    """In-order run over ``drive`` (read only: several test modules share it)."""
    return run_filter(drive)
