"""Fixtures shared by the BEV tests (``random_weights`` and ``short_bag`` live in tests/conftest.py:
the training tests use them too)."""

from __future__ import annotations

import pytest

from sensor_fusion.core.calibration import load_calibration


@pytest.fixture(scope="module")
def calibration(repo):
    return load_calibration(repo / "config" / "calibration.yaml")
