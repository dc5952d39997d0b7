"""The realistic GNSS model (sim/gnss.py) through simulate_gps: drift, multipath, covariance, RTK, Doppler."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.sim.gnss import FacadeMultipath, multipath_source
from sensor_fusion.sim.inertial import simulate_gps
from sensor_fusion.sim.scenarios import BASE, stream_rng

T_ANT = np.eye(4)
T_ANT[:3, 3] = [0.5, 0.2, 1.5]


class LineWorld:
    """The ego drives east at ``speed`` (vectorised ``ego_arrays``), optionally past buildings."""

    def __init__(self, speed: float = 0.0, yaw_rate: float = 0.0, facades=None) -> None:
        self.speed, self.yaw_rate, self.t0_ns = speed, yaw_rate, 0
        if facades is not None:
            self.facade_segments = np.asarray(facades, dtype=np.float64)

    def ego_arrays(self, stamps_ns):
        t = np.asarray(stamps_ns) * 1e-9
        n = len(t)
        z = np.zeros(n)
        return {
            "position": np.column_stack([self.speed * t, z, z]),
            "yaw": z,
            "velocity": np.column_stack([np.full(n, self.speed), z, z]),
            "yaw_rate": np.full(n, self.yaw_rate),
            "yaw_accel": z,
            "accel_body": np.column_stack([z, self.speed * self.yaw_rate + z, z]),
            "speed": np.full(n, self.speed),
        }


def _cfg(**kw) -> dict:
    return dict(BASE["gps"], **kw)


def test_gauss_markov_drift_has_the_configured_std_and_correlation() -> None:
    st = np.arange(40_000) * 200_000_000  # 5 Hz for 8000 s = 133 time constants
    cfg = _cfg(multipath_rate_hz=0.0)
    g = simulate_gps(LineWorld(), st, np.eye(4), cfg, stream_rng(0, "gps"))
    c = g.correlated_error
    assert np.std(c, axis=0) == pytest.approx([1.0, 1.0, 2.0], rel=0.15)
    assert np.corrcoef(c[1:, 0], c[:-1, 0])[0, 1] == pytest.approx(np.exp(-0.2 / 60.0), abs=2e-3)
    # one time constant later the correlation has dropped to 1/e
    lag = 300
    assert np.corrcoef(c[lag:, 0], c[:-lag, 0])[0, 1] == pytest.approx(np.exp(-1.0), abs=0.12)
    white = g.enu_measured - g.enu_true - c
    assert np.std(white, axis=0) == pytest.approx([0.2, 0.2, 0.4], rel=0.03)
    assert np.abs(np.corrcoef(white[1:, 0], white[:-1, 0])[0, 1]) < 0.03
    # reported: 0.8 x the stationary sigma, the same every fix (multipath is invisible to it)
    sig = 0.8 * np.sqrt(np.array([1.0, 1.0, 4.0]) + np.array([0.04, 0.04, 0.16]))
    assert np.allclose(g.covariance, np.diag(sig**2)) and (g.status == 0).all()


def test_white_model_reproduces_the_pre_issue_15_draws() -> None:
    st = np.arange(200) * 200_000_000
    cfg = _cfg(gnss_model="white", horizontal_std_m=0.5, vertical_std_m=1.0)
    g = simulate_gps(LineWorld(), st, np.eye(4), cfg, stream_rng(3, "gps"))
    expect = stream_rng(3, "gps").standard_normal((200, 3)) * [0.5, 0.5, 1.0]
    assert np.allclose(g.enu_measured - g.enu_true, expect, atol=1e-6)
    assert g.correlated_error is None and g.velocity is None


def test_multipath_jumps_come_from_buildings_and_the_base_rate() -> None:
    st = np.arange(20_000) * 200_000_000  # 4000 s at 5 Hz
    quiet = _cfg(multipath_rate_hz=0.0)
    g = simulate_gps(LineWorld(), st, np.eye(4), quiet, stream_rng(0, "gps"))
    assert not np.any(g.multipath_error)  # open sky, no base rate: never
    base = simulate_gps(LineWorld(), st, np.eye(4), _cfg(multipath_rate_hz=0.01), stream_rng(0, "gps"))
    starts = np.sum(np.diff(np.any(base.multipath_error != 0, axis=1).astype(int)) == 1)
    assert 20 <= starts <= 60  # ~0.01/s x 4000 s (less the time inside events)
    wall = [[[-100.0, 3.0], [100.0, 3.0]]]  # a facade 3 m north of the stationary antenna
    near = simulate_gps(LineWorld(facades=wall), st, np.eye(4), quiet, stream_rng(0, "gps"))
    on = np.any(near.multipath_error != 0, axis=1)
    assert 0.15 < on.mean() < 0.45  # 0.1/s x exp(-3/10) = 0.074 starts/s, 5 s each: ~27 %
    mag = np.hypot(*near.multipath_error[on, :2].T)
    assert mag.min() >= 2.5 - 1e-9 and mag.max() <= 7.5 + 1e-9 and not np.any(near.multipath_error[:, 2])
    # the jump is in the fix, but not in the correlated part or the reported covariance
    d = near.enu_measured - near.enu_true - near.correlated_error
    assert np.all(np.abs(d[on, :2]) >= np.abs(near.multipath_error[on, :2]) - 2.0)
    assert np.allclose(near.covariance, g.covariance)


def test_facade_multipath_distance_and_world_interface() -> None:
    fm = FacadeMultipath(np.array([[[0.0, 0.0], [10.0, 0.0]]]), peak_rate_hz=0.5, range_m=10.0)
    d = fm.distance(np.array([[5.0, 4.0], [-3.0, 4.0], [15.0, 0.0]]))
    assert np.allclose(d, [4.0, 5.0, 5.0])
    assert np.allclose(fm.multipath_rate_hz(np.array([[5.0, 0.0]])), 0.5)
    assert multipath_source(LineWorld()) is None
    assert isinstance(multipath_source(LineWorld(facades=[[[0, 0], [1, 0]]])), FacadeMultipath)


def test_rtk_fixed_is_centimetre_level_and_falls_back_to_float_in_multipath() -> None:
    st = np.arange(5000) * 100_000_000
    cfg = _cfg(rtk="fixed", multipath_rate_hz=0.0)
    g = simulate_gps(LineWorld(), st, np.eye(4), cfg, stream_rng(0, "gps"))
    err = g.enu_measured - g.enu_true
    assert np.sqrt(np.mean(err[:, :2] ** 2)) < 0.03 and (g.status == 2).all()
    assert np.sqrt(g.covariance[0, 0, 0]) == pytest.approx(0.8 * 0.01 * np.sqrt(1.25))
    wall = [[[-100.0, 2.0], [100.0, 2.0]]]
    m = simulate_gps(LineWorld(facades=wall), st, np.eye(4), cfg, stream_rng(0, "gps"))
    lost = np.sqrt(m.covariance[:, 0, 0]) > 0.1  # float-level reported sigma
    assert 0.1 < lost.mean() < 0.95
    e = m.enu_measured - m.enu_true
    assert np.sqrt(np.mean(e[lost, :2] ** 2)) > 5 * np.sqrt(np.mean(e[~lost, :2] ** 2))
    fl = simulate_gps(LineWorld(), st, np.eye(4), _cfg(rtk="float"), stream_rng(0, "gps"))
    assert 0.1 < np.std(fl.correlated_error[:, 0]) < 0.6


def test_doppler_velocity_is_the_antenna_velocity_and_leaves_fixes_unchanged() -> None:
    st = np.arange(3000) * 100_000_000
    w = LineWorld(speed=2.0, yaw_rate=0.5)
    off = simulate_gps(w, st, T_ANT, _cfg(), stream_rng(0, "gps"))
    on = simulate_gps(w, st, T_ANT, _cfg(velocity=True), stream_rng(0, "gps"))
    assert off.velocity is None and np.array_equal(off.latitude, on.latitude)
    # antenna 0.5 m ahead, 0.2 m left of base_link: v = (2 - 0.5 * 0.2, 0.5 * 0.5, 0)
    assert np.mean(on.velocity, axis=0) == pytest.approx([1.9, 0.25, 0.0], abs=0.01)
    assert np.std(on.velocity, axis=0) == pytest.approx([0.05, 0.05, 0.1], rel=0.1)
    assert np.allclose(on.velocity_cov, np.diag([0.05**2, 0.05**2, 0.1**2]))
