"""Static initialisation (ego/init.py): tilt from gravity, the start at the first fix's own
stamp, the start heading; then the estimator starting while cruising, late, with a known
heading, and its datum."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sensor_fusion.core.geometry import matrix_to_quat, rpy_to_matrix, wrap_angle
from sensor_fusion.core.types import ImuSample
from sensor_fusion.ego import eskf
from sensor_fusion.ego.config import NAN3, EgoConfig
from sensor_fusion.ego.estimator import EgoEstimator
from sensor_fusion.ego.init import Initializer, tilt_from_gravity
from sensor_fusion.ego.propagation import Propagator
from sensor_fusion.ego.state import Measurement
from tests.ego.test_estimator import (
    NS,
    T_BASE_GPS,
    T_BASE_IMU,
    G,
    errors_after,
    run_filter,
    sim_config,
    simulate,
)

T0 = 1_000 * NS
STEP = 10_000_000
LEVER = T_BASE_GPS[:3, 3]
ROLL, PITCH = 0.1, -0.05


def sample(k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Base-frame IMU sample k at rest on a tilted base (roll 0.1, pitch -0.05), turning gyro."""
    f = rpy_to_matrix(ROLL, PITCH, 0.3).T @ np.array([0.0, 0.0, G])
    return T0 + k * STEP, np.array([0.0, 0.0, 0.01 * k]), f


def initializer(**kw) -> Initializer:
    cfg = EgoConfig(**kw).validate()
    return Initializer(cfg, LEVER, Propagator(cfg, T_BASE_IMU).base_yaw)


def fix(stamp_ns: int, z=(10.0, 20.0, 1.0)) -> Measurement:
    return Measurement(stamp_ns, np.array(z), np.eye(3) * 0.25)


def test_tilt_from_gravity():
    for roll, pitch, yaw in ((0.0, 0.0, 0.0), (0.3, -0.2, 2.0), (-0.6, 0.4, -1.0)):
        f = rpy_to_matrix(roll, pitch, yaw).T @ np.array([0.0, 0.0, G])  # f = R' (0, 0, g) at rest
        assert tilt_from_gravity(f) == pytest.approx((roll, pitch), abs=1e-12)


def test_starts_at_the_fix_stamp():
    """The first state is at the fix's stamp (between two IMU samples: readings interpolated),
    tilted as the specific force says, at the fix minus the lever arm, heading unknown; the
    samples after the fix come back for replay."""
    init = initializer()
    for k in range(20):
        assert init.add_imu(*sample(k), None)
    tf = T0 + 14 * STEP + 4_000_000
    init.add_fix(fix(tf))
    start = init.try_start()
    s = start.state
    assert s.t_ns == tf and not s.aligned and not start.yaw_from_imu
    np.testing.assert_allclose(s.w_meas, sample(14)[1] + 0.4 * (sample(15)[1] - sample(14)[1]), rtol=1e-15)
    assert [m[0] for m in start.later_imu] == [sample(k)[0] for k in range(15, 20)]
    roll, pitch, yaw = eskf.rpy_from_quat(s.q)
    assert (roll, pitch, yaw) == pytest.approx((ROLL, PITCH, 0.0), abs=1e-12)
    np.testing.assert_allclose(s.p + eskf.quat_to_rot(s.q) @ LEVER, [10.0, 20.0, 1.0], atol=1e-12)
    np.testing.assert_array_equal(s.v, 0.0)
    cfg = EgoConfig()
    lh2 = LEVER[0] ** 2 + LEVER[1] ** 2
    assert s.P[0, 0] == pytest.approx(0.25 + lh2) and s.P[2, 2] == pytest.approx(0.25)
    assert s.P[3, 3] == cfg.init_velocity_std_mps**2 and s.P[8, 8] == cfg.init_yaw_std_rad**2
    assert init.try_start() is None  # consumed


def test_waits_for_the_imu_and_drops_fixes_older_than_the_buffer():
    init = initializer()
    for k in range(20):
        init.add_imu(*sample(k), None)
    init.add_fix(fix(T0 + 25 * STEP))  # ahead of the IMU: wait
    assert init.try_start() is None
    for k in range(20, 30):
        init.add_imu(*sample(k), None)
    assert init.try_start().state.t_ns == T0 + 25 * STEP
    # A fix older than every buffered sample (the buffer keeps init_max_gps_imu_dt_s) is dropped.
    init = initializer()
    for k in range(200):
        init.add_imu(*sample(k), None)
    init.add_fix(fix(T0 + 50 * STEP))
    assert init.try_start() is None
    init.add_imu(*sample(200), None)
    assert init.try_start() is None  # not retried: the next fix will do


def test_imu_order_before_the_start():
    init = initializer()
    for k in range(20):
        init.add_imu(*sample(k), None)
    assert not init.add_imu(*sample(19), None)  # not newer: dropped
    assert not init.add_imu(*sample(15), None)
    t_back = T0 - 2 * NS  # a jump back (bag loop): the buffer starts over
    assert init.add_imu(t_back, *sample(0)[1:], None)
    assert init.newest[0] == t_back
    init.add_fix(fix(T0 + 5 * STEP))
    assert init.try_start() is None  # the samples before the jump are gone


def test_start_heading_from_config_or_imu_orientation():
    init = initializer(init_yaw_rad=1.2, init_yaw_std_rad=0.1)
    for k in range(20):
        init.add_imu(*sample(k), None)
    init.add_fix(fix(T0 + 15 * STEP))
    s = init.try_start().state
    assert s.aligned and eskf.rpy_from_quat(s.q)[2] == pytest.approx(1.2, abs=1e-12)
    assert s.P[8, 8] == pytest.approx(0.01) and s.P[0, 0] == pytest.approx(0.25)  # no lever-arm term
    # The IMU's orientation output (world ENU <- IMU) at or before the fix gives the heading.
    q_wi = matrix_to_quat(rpy_to_matrix(0.0, 0.0, -2.0) @ T_BASE_IMU[:3, :3])
    for yaw_at, expect in ((10, True), (16, False)):
        init = initializer(use_imu_orientation_yaw=True, imu_orientation_yaw_std_rad=0.05)
        for k in range(20):
            init.add_imu(*sample(k), q_wi if k == yaw_at else None)
        init.add_fix(fix(T0 + 15 * STEP))
        start = init.try_start()
        assert start.yaw_from_imu is expect and start.state.aligned is expect
        if expect:
            assert eskf.rpy_from_quat(start.state.q)[2] == pytest.approx(-2.0, abs=1e-9)
            assert start.state.P[8, 8] == pytest.approx(0.05**2)


def test_first_fix_late_while_moving():
    """The first fix arrives 200 ms after its stamp (latency) at 27 m/s: the filter starts at
    the fix's own stamp and replays the IMU since, so the start position is where the car was
    when the fix was measured (not 5.4 m behind the car), and the pose covers the
    displacement since (velocity still unknown)."""
    sim = simulate(5.0, "highway", seed=8, gps_std=0.5)
    i_fix = int(sim.gps_idx[1])
    est = EgoEstimator(sim_config(), T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS)
    for i in range(i_fix + 21):
        est.add_imu(sim.imu[i])
    assert est.add_gps(sim.gps[1])
    assert est.initialized and est.stamp_ns == sim.imu[i_fix + 20].stamp_ns
    pose = est.pose_at(sim.imu[i_fix].stamp_ns)
    assert pose is not None
    assert np.linalg.norm(pose.position[:2] - sim.pos[i_fix, :2]) < 3 * 0.5 * math.sqrt(2)
    assert est.counters["imu_used"] == 20
    latest = est.latest()
    d = np.linalg.norm(sim.pos[i_fix + 20, :2] - sim.pos[i_fix, :2])
    assert d > 5.0 and np.sqrt(latest.pose_cov[0, 0]) > d / 3  # 200 ms at unknown speed


def test_initialise_while_cruising(drive):
    """Start at 10 m/s mid-S-curve, or at 27 m/s: no false standstill, no gated fixes (the
    zero initial velocity must be inside its uncertainty), yaw aligns and converges."""
    highway = simulate(40.0, "highway", seed=8, gps_std=0.5)
    for sim, start, stop, t_eval in ((drive, 2000, 6000, 40.0), (highway, 0, None, 20.0)):
        run = run_filter(sim, start=start, stop=stop)
        est = run.est
        assert est.counters["zupt_updates"] == 0
        assert est.counters["yaw_aligned"] == 1
        assert est.counters["gps_rejected_gate"] <= 1
        e, ey, _, _ = errors_after(sim, run, t_eval)
        assert math.degrees(np.sqrt(np.mean(ey**2))) < 1.0
        assert np.sqrt(np.mean(np.sum(e**2, axis=1))) < 0.8


def test_known_initial_heading(drive):
    """A start heading from config or from the IMU's orientation output skips GPS alignment."""
    yaw0 = float(drive.yaw[0])
    R_wi = rpy_to_matrix(0.0, 0.0, yaw0) @ T_BASE_IMU[:3, :3]
    q_wi = matrix_to_quat(R_wi)
    for cfg, orient in (
        (sim_config(init_yaw_rad=yaw0 + 0.05, init_yaw_std_rad=0.1), None),
        (sim_config(use_imu_orientation_yaw=True), q_wi),
    ):
        est = EgoEstimator(cfg, T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS)
        for k in range(12):
            s = drive.imu[k]
            est.add_imu(ImuSample(s.stamp_ns, "imu", s.angular_velocity, s.linear_acceleration, orient))
        assert est.add_gps(dataclasses.replace(drive.gps[0], stamp_ns=drive.imu[11].stamp_ns))
        assert est.yaw_aligned and est.counters["yaw_aligned"] == 0
        assert abs(wrap_angle(est.latest().yaw - yaw0)) < 0.06
        assert est.latest().pose_cov[5, 5] < 0.02


def test_datum_from_first_fix(drive):
    est = EgoEstimator(sim_config(datum=NAN3), T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS)
    for k in range(30):
        est.add_imu(drive.imu[k])
    assert est.add_gps(drive.gps[1])
    assert est.datum == (drive.gps[1].latitude, drive.gps[1].longitude, drive.gps[1].altitude)
    np.testing.assert_allclose(est.latest().position + T_BASE_GPS[:3, 3], 0.0, atol=0.2)
