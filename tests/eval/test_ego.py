"""eval/ego.py: ego errors on known offsets, position RMSE, the GPS averaging bound."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.eval.ego import EgoPoses, ego_errors, gps_average_bound, position_rmse
from tests.eval.common import MS


def test_ego_rmse_known_offset():
    t = np.arange(50) * 100 * MS + 1_700_000_000 * 10**9  # realistic epoch stamps
    x, y = 2.0 * np.arange(50) * 0.1, np.zeros(50)

    def yaw_at(stamps):  # turning at 0.2 rad/s through +-pi
        return np.pi - 0.5 + 0.2 * (stamps - t[0]) / 1e9

    truth = EgoPoses(t, x, y, wrap_angle(yaw_at(t)))
    te = t[0] + 5 * MS + np.arange(21) * 250 * MS  # slower, other phase, runs past the truth end
    xe = 2.0 * (te - t[0]) / 1e9 + 0.3
    est = (te, xe, np.full(te.size, 0.4), wrap_angle(yaw_at(te) + np.radians(2.0)))
    r = ego_errors(truth, est)
    assert r["ego_position_rmse"] == pytest.approx(0.5, abs=1e-6)
    assert r["ego_yaw_rmse_deg"] == pytest.approx(2.0, abs=1e-6)
    assert r["ego_num_samples"] == 49  # the first truth pose precedes the estimate


def test_position_rmse():
    truth = np.zeros((4, 2))
    meas = np.array([[3.0, 4.0], [0.0, 5.0], [np.nan, np.nan], [-5.0, 0.0]])
    assert position_rmse(truth, meas) == pytest.approx(5.0)


def test_gps_average_bound():
    """The running mean of the fix errors from the first fix on, scored inside the window only;
    unsorted stamps and NaN rows are handled; white noise gives ~ sigma * sqrt(2 H_n / n)."""
    st = np.array([3, 1, 2, 4]) * 10**9
    err = np.array([[0.0, 0.0], [2.0, 0.0], [np.nan, 1.0], [0.0, -4.0]])
    # sorted: 2 (t1), NaN (t2, dropped), 0 (t3), -4 in y (t4): running means (2,0), (1,0), (2/3,-4/3)
    assert gps_average_bound(st, err, 0, 10**10) == pytest.approx(np.sqrt((4 + 1 + 4 / 9 + 16 / 9) / 3))
    assert gps_average_bound(st, err, 3 * 10**9, 4 * 10**9) == pytest.approx(np.sqrt((1 + 20 / 9) / 2))
    assert np.isnan(gps_average_bound(st, err, 5 * 10**9, 6 * 10**9))
    assert np.isnan(gps_average_bound(np.array([]), np.zeros((0, 2)), 0, 10**10))
    assert gps_average_bound(np.array([np.nan, 1e9]), np.ones((2, 2)), 0, 10**10) == pytest.approx(np.sqrt(2))
    rng = np.random.default_rng(0)
    n, trials, sigma = 100, 200, 0.5
    ms = [gps_average_bound(np.arange(n), rng.normal(0.0, sigma, (n, 2)), 0, n) ** 2 for _ in range(trials)]
    expected = 2 * sigma**2 * np.sum(1.0 / np.arange(1, n + 1)) / n
    assert np.mean(ms) == pytest.approx(expected, rel=0.1)
