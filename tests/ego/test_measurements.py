"""Measurement models and gated updates (ego/measurements.py): every model's H against finite
differences of its residual, the input checks, standstill detection, gating, re-seeding and
the constraint schedule; then the updates at work in the simulated drives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.core.geodesy import enu_to_geodetic
from sensor_fusion.core.geometry import make_transform, wrap_angle
from sensor_fusion.core.types import GpsFix
from sensor_fusion.ego import eskf
from sensor_fusion.ego.config import EgoConfig
from sensor_fusion.ego.estimator import EgoEstimator
from sensor_fusion.ego.measurements import (
    Updater,
    body_velocity,
    body_velocity_measurement,
    gps_position,
    heading,
    is_still,
    nhc,
    sanitize_gps_cov,
    zupt,
)
from sensor_fusion.ego.state import FilterState, Measurement
from tests.ego.test_estimator import (
    ACCEL_BIAS,
    DATUM,
    GPS_EVERY,
    GPS_STD,
    GYRO_BIAS,
    T_BASE_GPS,
    T_BASE_IMU,
    G,
    errors_after,
    initialised_estimator,
    run_filter,
    sim_config,
    simulate,
)
from tests.ego.test_state import make_state, perturbed

LEVER = T_BASE_GPS[:3, 3]
CFG = EgoConfig().validate()
COUNTERS = (
    "gps_accepted",
    "gps_rejected_gate",
    "gps_reinit",
    "vel_accepted",
    "vel_rejected",
    "imu_yaw_accepted",
    "imu_yaw_rejected",
    "nhc_updates",
    "zupt_updates",
)


def moving_state(aligned: bool = True) -> FilterState:
    return make_state(
        v=(8.0, -3.0, 0.4),
        rpy=(0.05, -0.08, 2.2),
        w=(0.01, -0.02, 0.3),
        bg=(0.001, 0.002, -0.003),
        aligned=aligned,
    )


def assert_jacobian(model, s: FilterState, eps: float = 1e-6, atol: float = 1e-7) -> None:
    """H of ``model(s)`` == -d y / d dx by central differences (y = z - h(x), z fixed)."""
    lin = model(s)
    Hn = np.zeros_like(lin.H)
    for j in range(15):
        d = np.zeros(15)
        d[j] = eps
        Hn[:, j] = -(model(perturbed(s, d)).y - model(perturbed(s, -d)).y) / (2 * eps)
    np.testing.assert_allclose(lin.H, Hn, atol=atol)
    assert np.abs(lin.H).max() > 0.1  # not vacuous


def test_model_jacobians_match_finite_differences():
    s = moving_state()
    z3 = np.array([1.0, 2.0, 3.0])
    vel = Measurement(0, np.array([8.5, 0.1, -0.2]), np.diag([0.1, 0.2, 0.3]), kind="vel")
    assert_jacobian(lambda x: gps_position(x, z3, np.eye(3), LEVER), s)
    assert_jacobian(lambda x: body_velocity(x, vel), s)
    assert_jacobian(lambda x: heading(x, 2.0, 0.01), s)
    assert_jacobian(lambda x: nhc(x, 0.1, 0.2), s)
    assert_jacobian(lambda x: zupt(x, 0.02, 1e-3), s)


def test_model_residuals_and_noise():
    s = moving_state()
    R_wb = eskf.quat_to_rot(s.q)
    z = np.array([1.0, 2.0, 3.0])
    lin = gps_position(s, z, np.eye(3) * 4.0, LEVER)
    np.testing.assert_allclose(lin.y, z - s.p - R_wb @ LEVER, atol=1e-12)
    np.testing.assert_array_equal(lin.R, np.eye(3) * 4.0)
    vb = R_wb.T @ s.v
    lin = nhc(s, 0.1, 0.2)
    np.testing.assert_allclose(lin.y, -vb[1:], atol=1e-12)
    np.testing.assert_allclose(lin.R, np.diag([0.01, 0.04]))
    assert nhc(moving_state(aligned=False), 0.1, 0.2).y.shape == (1,)  # vertical only
    lin = zupt(s, 0.02, 1e-3)  # no step since the last constraint: the newest sample
    np.testing.assert_allclose(lin.y, np.concatenate([-s.v, s.w_meas - s.bg]))
    np.testing.assert_allclose(np.diag(lin.R), [4e-4] * 3 + [1e-6 / s.dt_s] * 3)
    s.w_int, s.w_int_s = np.array([0.01, -0.02, 0.03]) * 0.1, 0.1  # the gyro's mean over 0.1 s
    lin = zupt(s, 0.02, 1e-3)
    np.testing.assert_allclose(lin.y[3:], np.array([0.01, -0.02, 0.03]) - s.bg)
    np.testing.assert_allclose(np.diag(lin.R)[3:], [1e-6 / 0.1] * 3)
    # heading residual wraps: measured -3.1 with the filter at 3.1 is 0.083 rad, not -6.2
    lin = heading(make_state(rpy=(0.0, 0.0, 3.1)), -3.1, 0.01)
    assert lin.y[0] == pytest.approx(2 * math.pi - 6.2, abs=1e-12)


def test_body_velocity_rows():
    """Only the measured axes; while yaw is unknown only the vertical one (None if absent)."""
    m = body_velocity_measurement(5, np.array([10.0, np.nan, 0.1]), np.diag([0.01, 9.0, 0.04]))
    assert m.rows == (0, 2) and m.kind == "vel"
    np.testing.assert_array_equal(m.cov, np.diag([0.01, 0.04]))
    assert body_velocity(moving_state(), m).y.shape == (2,)
    lin = body_velocity(moving_state(aligned=False), m)
    assert lin.y.shape == (1,) and lin.R[0, 0] == 0.04
    fwd = body_velocity_measurement(5, np.array([10.0, np.nan, np.nan]), np.eye(3))
    assert body_velocity(moving_state(aligned=False), fwd) is None
    assert body_velocity_measurement(5, np.full(3, np.nan), np.eye(3)) is None
    assert body_velocity_measurement(5, np.zeros(3), -np.eye(3)) is None  # not PD
    assert body_velocity_measurement(5, np.zeros(3), np.full((3, 3), np.nan)) is None
    skew = body_velocity_measurement(5, np.zeros(3), np.array([[1.0, 0.2, 0], [0.0, 1, 0], [0, 0, 1]]))
    np.testing.assert_array_equal(skew.cov, skew.cov.T)  # symmetrised


def test_sanitize_gps_cov():
    fallback = np.eye(3) * 25.0
    np.testing.assert_array_equal(sanitize_gps_cov(np.full((3, 3), np.nan), 0.05, 5.0), fallback)
    np.testing.assert_array_equal(sanitize_gps_cov(np.eye(2), 0.05, 5.0), fallback)
    np.testing.assert_array_equal(sanitize_gps_cov(np.diag([1.0, 0.0, 1.0]), 0.05, 5.0), fallback)
    np.testing.assert_allclose(
        sanitize_gps_cov(np.diag([1e-6, 2.0, 3.0]), 0.05, 5.0), np.diag([0.0025, 2.0, 3.0])
    )
    C = np.array([[1.0, 0.3, 0.0], [0.1, 2.0, 0.0], [0.0, 0.0, 3.0]])
    np.testing.assert_allclose(sanitize_gps_cov(C, 0.05, 5.0)[0, 1], 0.2)  # symmetrised
    not_pd = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(sanitize_gps_cov(not_pd, 0.05, 5.0), np.diag([1.0, 1.0, 1.0]))


def test_is_still():
    """Standing: quiet IMU, tiny and well-known speed; any one of those failing is not still."""
    P = np.eye(15) * 1e-4
    s = make_state(P=P)
    g = np.array([0.0, 0.0, -G])
    assert is_still(s, CFG, g)
    for change in (
        lambda x: setattr(x, "imu_var", np.full(6, CFG.zupt_accel_std_mps2**2 * 2)),  # vibrating
        lambda x: setattr(x, "imu_mean", np.array([0, 0, 0.05, 0, 0, G])),  # turning
        lambda x: setattr(x, "v", np.array([0.5, 0, 0])),  # moving
        lambda x: setattr(x, "imu_mean", np.array([0, 0, 0, 0.5, 0, G])),  # accelerating
        lambda x: x.P.__setitem__((3, 3), 4.0),  # speed unknown
        lambda x: setattr(x, "imu_weight", 0.5),  # less than one window of IMU samples yet
    ):
        x = make_state(P=P)
        change(x)
        assert not is_still(x, CFG, g)


def test_a_start_at_rest_learns_the_gyro_bias_in_its_first_seconds():
    """A robot powered on at rest, its wheel encoders reading 0: the IMU statistics start empty
    and fill in one window (zupt_window_s), so the standstill updates begin within a second and
    pin the gyro's z bias before the drive. They began after ~8 s once (the variance started
    at 1e6 and had to decay under the threshold), so a robot that drives off within seconds of
    power-on (the generator's robot: ~4 s) met its turn-on bias only through the slow GNSS
    heading."""
    sim = simulate(3.0, "static", seed=4)
    est = EgoEstimator(sim_config(), T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS)
    for i, s in enumerate(sim.imu):
        est.add_imu(s)
        if i in sim.gps_idx:
            est.add_gps(sim.gps[int(np.searchsorted(sim.gps_idx, i))])
        if i % 10 == 0 and est.initialized:  # 10 Hz encoders at rest
            est.add_wheel_odometry(s.stamp_ns, np.zeros(3), np.eye(3) * 0.02**2)
    assert est.counters["zupt_updates"] >= 15  # 10 Hz from within the first second
    bg_z_true = float((T_BASE_IMU[:3, :3] @ GYRO_BIAS)[2])
    sd = math.sqrt(est.P[14, 14])
    assert sd < 0.1 * sim_config().init_gyro_bias_std_rad_s
    assert abs(est.nominal["bg"][2] - bg_z_true) < 3 * sd


def updater(**kw) -> tuple[Updater, dict[str, int]]:
    counters = dict.fromkeys(COUNTERS, 0)
    return Updater(EgoConfig(**kw).validate(), LEVER, counters), counters


def test_gps_update_while_yaw_unknown():
    """Unaligned: the fix does not correct the heading, and the lever arm's unknown direction
    counts as noise: a fix 0.5 m off (|l_h| = 0.5 m, fix std 0.1 m) is fused, where the same
    fix is gated once the heading is known."""
    P = np.eye(15) * 1e-4
    P[8, 8] = math.pi**2
    P[0, 8] = P[8, 0] = 0.005  # would pull yaw along if it were not kept out
    for aligned in (False, True):
        up, counters = updater()
        s = make_state(P=np.eye(15) * 1e-4 if aligned else P, aligned=aligned, rpy=(0.0, 0.0, 1.0))
        z = s.p + eskf.quat_to_rot(s.q) @ LEVER + np.array([0.0, 0.5, 0.0])
        assert up.gps(s, Measurement(s.t_ns, z, np.eye(3) * 0.01)) is not aligned
        assert counters["gps_accepted"] == int(not aligned)
    up, _ = updater()
    s = make_state(P=P, aligned=False, rpy=(0.0, 0.0, 1.0))
    z = s.p + eskf.quat_to_rot(s.q) @ LEVER + [0.3, 0.3, 0.0]
    assert up.gps(s, Measurement(s.t_ns, z, np.eye(3) * 0.01))
    assert up.last_correction[8] == 0.0 and up.last_correction[0] > 0.0
    assert not np.delete(s.P[8], 8).any()


def test_gps_gate_counts_and_reseeds():
    """Gated fixes leave the state; after gps_reinit_after_rejections in a row the position
    is re-seeded from the fix and the velocity inflated; replays are not counted."""
    up, counters = updater(gps_reinit_after_rejections=3)
    s = make_state(P=np.eye(15) * 0.01)
    far = s.p + eskf.quat_to_rot(s.q) @ LEVER + np.array([30.0, 0.0, 0.0])
    before = s.copy()
    assert not up.gps(s, Measurement(s.t_ns, far, np.eye(3) * 0.04, first=False))
    assert counters["gps_rejected_gate"] == 0
    for _ in range(2):
        assert not up.gps(s, Measurement(s.t_ns, far, np.eye(3) * 0.04))
        np.testing.assert_array_equal(s.p, before.p)
    assert counters["gps_rejected_gate"] == 2 and counters["gps_reinit"] == 0
    assert not up.gps(s, Measurement(s.t_ns, far, np.eye(3) * 0.04))
    assert counters["gps_reinit"] == 1
    np.testing.assert_allclose(s.p + eskf.quat_to_rot(s.q) @ LEVER, far, atol=1e-12)
    assert s.P[0, 0] == 0.04 and s.P[3, 3] == CFG.init_velocity_std_mps**2 and s.P[0, 3] == 0.0


def test_constraints_at_their_rate():
    """NHC while moving, ZUPT at standstill, neither before 1 / constraint_rate_hz has passed."""
    up, counters = updater()
    s = moving_state()
    t = s.t_ns + up.constraint_period_ns
    up.constrain(s, t - 1)
    assert counters["nhc_updates"] == 0
    s.t_ns = t
    up.constrain(s, t)
    assert counters["nhc_updates"] == 1 and s.t_nhc_ns == t
    still = make_state(P=np.eye(15) * 1e-4)
    still.t_nhc_ns = t
    still.t_ns = t + up.constraint_period_ns
    up.constrain(still, still.t_ns)
    assert counters["zupt_updates"] == 1 and counters["nhc_updates"] == 1
    off, c2 = updater(use_nhc=False, use_zupt=False)
    off.constrain(s, t + 10 * up.constraint_period_ns)
    assert c2["nhc_updates"] == c2["zupt_updates"] == 0


def test_velocity_and_yaw_updates_gate():
    up, counters = updater()
    s = moving_state()
    vb = eskf.quat_to_rot(s.q).T @ s.v
    ok = Measurement(s.t_ns, vb + [0.05, 0.0, 0.0], np.eye(1) * 0.01, kind="vel", rows=(0,))
    assert up.velocity(s, ok) and counters["vel_accepted"] == 1
    bad = Measurement(s.t_ns, vb + 30.0, np.eye(3) * 0.01, kind="vel")
    assert not up.velocity(s, bad) and counters["vel_rejected"] == 1
    yaw = eskf.rpy_from_quat(s.q)[2]
    assert up.yaw(s, Measurement(s.t_ns, np.array([yaw + 0.01, 0, 0]), np.eye(1) * 0.01, kind="yaw"))
    assert not up.yaw(s, Measurement(s.t_ns, np.array([yaw + 2.0, 0, 0]), np.eye(1) * 1e-4, kind="yaw"))
    assert counters["imu_yaw_accepted"] == 1 and counters["imu_yaw_rejected"] == 1


def test_static_vehicle():
    """At rest (ZUPT engages): the antenna position averages the fixes; roll/pitch ~ 0.

    Yaw is unobservable at rest, so the *base* position carries an unknown lever-arm offset
    of at most 2 |l_h|; what GPS observes, the antenna position, is what must average down.
    """
    sim = simulate(40.0, "static", seed=2)
    run = run_filter(sim)
    est = run.est
    assert est.counters["zupt_updates"] > 100
    lever = T_BASE_GPS[:3, 3]
    yaw_err = wrap_angle(run.yaw - sim.yaw[run.idx])
    m = sim.t[run.idx] >= 20.0
    ant_est = run.pos[m] + np.stack(
        [np.cos(run.yaw[m]) * lever[0], np.sin(run.yaw[m]) * lever[0], np.full(m.sum(), lever[2])], 1
    )
    ant_true = sim.pos[run.idx[m]] + np.stack(
        [
            np.cos(sim.yaw[run.idx[m]]) * lever[0],
            np.sin(sim.yaw[run.idx[m]]) * lever[0],
            np.full(m.sum(), lever[2]),
        ],
        1,
    )
    e = ant_est - ant_true
    rmse = np.sqrt(np.mean(e**2, axis=0))
    print(
        f"static: antenna position RMSE per axis {np.round(rmse, 3)} m (GPS std {GPS_STD} m/axis), "
        f"base error at end {np.linalg.norm(run.pos[-1] - sim.pos[run.idx[-1]]):.2f} m with yaw error "
        f"{math.degrees(abs(yaw_err[-1])):.0f} deg"
    )
    assert rmse.max() < GPS_STD / 3
    assert np.abs(e[-1]).max() < GPS_STD / 3
    assert np.linalg.norm(run.pos[-1] - sim.pos[run.idx[-1]]) < GPS_STD / 3 + 2 * np.linalg.norm(lever[:2])
    pose = est.latest()
    roll, pitch, _ = eskf.rpy_from_quat(pose.quaternion)
    # At rest tilt and accelerometer bias are inseparable: tilt error ~ |ba_horizontal| / g (0.4 deg here).
    tol = np.linalg.norm((T_BASE_IMU[:3, :3] @ ACCEL_BIAS)[:2]) / G + math.radians(0.2)
    assert abs(roll) < tol and abs(pitch) < tol
    assert not est.yaw_aligned  # yaw is unobservable at rest
    assert pose.pose_cov[5, 5] > 1.0
    np.testing.assert_allclose(pose.velocity, 0.0, atol=0.02)


def test_stop_and_go():
    """A 10 s stop mid-drive: ZUPT holds the car still (no drift, gyro bias refined), and the
    filter drives off again without lag."""
    sim = simulate(75.0, "stop_go", seed=6)
    run = run_filter(sim)
    est = run.est
    assert 50 < est.counters["zupt_updates"] < 110  # ~10 Hz for < 10 s: only while stopped
    stopped = (sim.t[run.idx] > 39.0) & (sim.t[run.idx] < 48.0)
    e = run.pos[stopped] - sim.pos[run.idx[stopped]]
    assert np.sqrt(np.mean(np.sum(e**2, axis=1))) < 0.8
    ey_stop = wrap_angle(run.yaw[stopped] - sim.yaw[run.idx[stopped]])
    # heading held while stopped: no drift away from the truth (the zero-velocity update may
    # still *correct* yaw through its correlation with the velocity error at the stop)
    assert math.degrees(np.abs(ey_stop).max()) < 1.0
    assert abs(ey_stop[-1]) <= abs(ey_stop[0]) + math.radians(0.1)
    e2, ey, _, _ = errors_after(sim, run, 30.0)
    assert np.sqrt(np.mean(np.sum(e2**2, axis=1))) < 0.8
    assert math.degrees(np.sqrt(np.mean(ey**2))) < 1.0


LEVER_MOUNT = make_transform(T_BASE_IMU[:3, :3], np.array([0.0, 0.0, 0.5]))  # the shipped car's height


def _stop_and_go_to(t_end_s: float, cfg: EgoConfig, between: int = 0, seed: int = 6, late: bool = False):
    """The stop-and-go drive (stop 39-48 s) with the IMU 0.5 m above base_link, run to
    ``t_end_s``; with ``between`` > 0 a body velocity (the truth) stamped 3 ms after every
    ``between``-th IMU sample, fused when the next sample arrives (split IMU steps), or with
    ``late`` 3 ms before it, after it (a rollback and a replay). Returns the estimator and the
    gyro z-bias std at 39 s."""
    sim = simulate(75.0, "stop_go", seed=seed, T_base_imu=LEVER_MOUNT)
    est = EgoEstimator(cfg, T_base_imu=LEVER_MOUNT, T_base_gps=T_BASE_GPS)
    sd_39 = None
    for i, s in enumerate(sim.imu):
        est.add_imu(s)
        if i in sim.gps_idx:
            est.add_gps(sim.gps[int(np.searchsorted(sim.gps_idx, i))])
        if between and i % between == 0 and est.initialized:
            vb = np.array([np.hypot(*sim.vel[i, :2]), np.nan, np.nan])
            est.add_body_velocity(s.stamp_ns + (-3_000_000 if late else 3_000_000), vb, np.eye(3) * 0.1**2)
        if sim.t[i] == pytest.approx(39.0):
            sd_39 = math.sqrt(est.P[14, 14])
        if sim.t[i] == pytest.approx(t_end_s):
            break
    return est, sd_39


def test_standstill_is_seen_through_an_imu_lever_arm():
    """An IMU 0.5 m above base_link: moving its specific force to the base origin subtracts the
    differenced gyro noise times the lever (0.2 m/s^2 here at 100 Hz), which hid every
    standstill from the accelerometer test. The stop must still be seen, and the gyro's mean
    over each update's period must pin its z bias there."""
    est, sd_39 = _stop_and_go_to(48.0, sim_config())
    assert 50 < est.counters["zupt_updates"] < 110  # the stop (39-48 s) at 10 Hz, no more
    # z of base_link is the IMU's -z (mounted upside down): its turn-on bias seen in base axes
    bg_z_true = float((T_BASE_IMU[:3, :3] @ GYRO_BIAS)[2])
    bg_z_sd = math.sqrt(est.P[14, 14])
    # ~9 s of 3e-4 rad/s/sqrt(Hz) samples: 1e-4 rad/s; one sample per update would leave ~2.5e-4
    assert bg_z_sd < 0.5 * sd_39 and bg_z_sd < 2e-4
    assert abs(est.nominal["bg"][2] - bg_z_true) < 3 * bg_z_sd


def test_standstill_without_nhc_takes_the_gyro_mean_of_the_stop_only():
    """Standstill updates alone (``use_nhc`` off): the gyro mean of the first update must start
    at the last due constraint, not at the start of the drive (its turns read as bias)."""
    est, _ = _stop_and_go_to(48.0, sim_config(use_nhc=False))
    assert 50 < est.counters["zupt_updates"] < 110
    bg_z_true = float((T_BASE_IMU[:3, :3] @ GYRO_BIAS)[2])
    assert abs(est.nominal["bg"][2] - bg_z_true) < 3 * math.sqrt(est.P[14, 14])


def test_split_imu_steps_leave_the_standstill_statistics_alone():
    """Measurements stamped between IMU samples split the step at their stamps; the readings
    interpolated there mix two steps' lever-arm terms and are not samples. At rest the window
    statistics must be those of the plain run, well under the standstill test's limit."""
    plain, _ = _stop_and_go_to(45.0, sim_config())
    split, _ = _stop_and_go_to(45.0, sim_config(), between=1)
    a, b = plain._s, split._s
    np.testing.assert_allclose(b.imu_var, a.imu_var, rtol=1e-6)
    np.testing.assert_allclose(b.imu_mean, a.imu_mean, rtol=1e-9, atol=1e-12)
    assert b.imu_weight == pytest.approx(a.imu_weight, rel=1e-12)
    assert math.sqrt(b.imu_var[3:6].max()) < 0.5 * CFG.zupt_accel_std_mps2


def test_constraint_updates_are_counted_once_through_replays():
    """A late measurement rolls the filter back and replays the IMU, constraints included: the
    diagnostics count each constraint update once, as in the same drive without it."""
    plain, _ = _stop_and_go_to(48.0, sim_config())
    late, _ = _stop_and_go_to(48.0, sim_config(), between=10, late=True)
    assert late.counters["gps_rollbacks"] > plain.counters["gps_rollbacks"] + 100  # every late measurement
    for k in ("zupt_updates", "nhc_updates"):
        assert abs(late.counters[k] - plain.counters[k]) <= 2, (k, late.counters[k], plain.counters[k])


def test_body_velocity_aiding():
    """add_body_velocity (radar Doppler ego-motion, wheel odometry): with a known start heading
    a 10 Hz forward-speed measurement fixes the speed within a second (GPS alone needs many
    fixes); a late measurement equals the in-order one; bad input is refused and counted."""
    sim = simulate(6.0, "highway", seed=8, gps_std=0.5)
    cfg = sim_config(init_yaw_rad=float(sim.yaw[0]), init_yaw_std_rad=0.02)
    rng = np.random.default_rng(3)
    speed_meas = {i: 27.0 + rng.normal(0.0, 0.03) for i in range(15, len(sim.imu), 10)}

    def run(delay: int, stop: int, with_vel: bool = True, last: int = 10**9) -> EgoEstimator:
        est = EgoEstimator(cfg, T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS)
        due: dict[int, list[int]] = {}
        for i in speed_meas:
            if i <= last:
                due.setdefault(i + delay, []).append(i)
        for i in range(stop):
            est.add_imu(sim.imu[i])
            if i in sim.gps_idx:
                est.add_gps(sim.gps[int(np.searchsorted(sim.gps_idx, i))])
            for j in due.get(i, ()) if with_vel else ():
                est.add_body_velocity(
                    sim.imu[j].stamp_ns, np.array([speed_meas[j], np.nan, np.nan]), np.eye(3) * 0.05**2
                )
        return est

    a = run(0, 120)
    b = run(0, 120, with_vel=False)
    va = np.linalg.norm(a.latest().velocity[:2]) - 27.0
    vb = np.linalg.norm(b.latest().velocity[:2]) - 27.0
    assert a.counters["vel_accepted"] >= 9 and a.counters["vel_rejected"] == 0
    assert abs(va) < 0.1 and abs(va) < abs(vb)
    h = np.array([math.cos(sim.yaw[119]), math.sin(sim.yaw[119])])  # along-track variance
    var_a, var_b = (h @ e.latest().twist_cov[:2, :2] @ h for e in (a, b))
    assert var_a < 0.2 * var_b
    late = run(7, 127)  # every measurement 70 ms late: rollbacks
    ref = run(0, 127, last=119)  # the same measurements (the last one arrives at 126), in order
    assert late.counters["gps_rollbacks"] >= 10
    np.testing.assert_allclose(late.latest().position, ref.latest().position, atol=1e-6)
    np.testing.assert_allclose(late.latest().velocity, ref.latest().velocity, atol=1e-6)
    t = a.stamp_ns
    assert not a.add_body_velocity(t, np.full(3, np.nan), np.eye(3))  # nothing measured
    assert not a.add_body_velocity(t, np.array([27.0, 0.0, 0.0]), -np.eye(3))  # not PD
    assert not EgoEstimator(cfg).add_body_velocity(t, np.zeros(3), np.eye(3))  # not initialised
    assert a.counters["vel_rejected"] == 2


def test_outlier_fix_rejected(drive):
    est, i = initialised_estimator(drive, 2000)
    j = int(np.searchsorted(drive.gps_idx, i))
    est.add_imu(drive.imu[i])
    bad = drive.antenna[j] + np.array([50.0, 0.0, 0.0])
    lat, lon, alt = enu_to_geodetic(*bad, *DATUM)
    before = est.nominal["p"]
    ok = est.add_gps(
        GpsFix(drive.imu[i].stamp_ns, "gps", float(lat), float(lon), float(alt), np.eye(3) * GPS_STD**2)
    )
    assert not ok
    assert est.counters["gps_rejected_gate"] == 1
    np.testing.assert_array_equal(est.nominal["p"], before)
    assert not est.add_gps(GpsFix(drive.imu[i].stamp_ns, "gps", 0.0, 0.0, 0.0, np.eye(3), status=-1))
    assert est.counters["gps_no_fix"] == 1


def _persistent_jump(drive, gnss_steps: bool, n_after: int) -> tuple[EgoEstimator, list[bool], float]:
    """The car drive's filter after 2000 IMU samples, then ``n_after`` fixes shifted 30 m east
    for good: (the filter, each shifted fix's result, the final horizontal error against the
    shifted truth, m)."""
    est = EgoEstimator(sim_config(gnss_steps=gnss_steps), T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS)
    fix_at = {int(i): j for j, i in enumerate(drive.gps_idx)}
    i0 = 2000
    for i in range(i0):
        est.add_imu(drive.imu[i])
        if i in fix_at:
            est.add_gps(drive.gps[fix_at[i]])
    shift = np.array([30.0, 0.0, 0.0])
    results = []
    for k in range(i0, i0 + n_after * GPS_EVERY):
        est.add_imu(drive.imu[k])
        if k % GPS_EVERY == 0:
            j = k // GPS_EVERY
            results.append(
                est.add_gps_enu(drive.imu[k].stamp_ns, drive.gps_enu[j] + shift, np.eye(3) * GPS_STD**2)
            )
    err = est.latest().position - (drive.pos[k] + shift)
    return est, results, float(np.linalg.norm(err[:2]))


def test_gps_jump_reseeds_after_consecutive_rejections(drive):
    """Without the step test: a persistent 30 m GPS jump is gated at first, then trusted after N
    rejections."""
    n = sim_config().gps_reinit_after_rejections
    est, results, err = _persistent_jump(drive, False, n + 10)
    assert results[: n - 1] == [False] * (n - 1)
    assert est.counters["gps_reinit"] == 1
    assert all(results[n + 1 :])
    assert err < 2.0


def test_a_persistent_step_is_multipath_until_it_outlasts_the_level_before_it(drive):
    """With the step test (ego/gnss_steps.py) the same jump is a step: multipath, not counted
    towards a re-seed, while it is younger than the level the filter held before it (the
    duration rule of ``Multipath._track_test``); then its fixes count, and N of them re-seed the
    filter onto it."""
    n = sim_config().gps_reinit_after_rejections
    est, results, _ = _persistent_jump(drive, True, n + 10)
    assert not any(results)
    assert est.counters["gps_reinit"] == 0
    assert est.counters["gps_multipath_gated"] == n + 10
    held_s = (drive.imu[2000].stamp_ns - est._updater.multipath._level_t0) * 1e-9
    per_s = 1e9 / (GPS_EVERY * (drive.imu[1].stamp_ns - drive.imu[0].stamp_ns))
    est, results, err = _persistent_jump(drive, True, int(held_s * per_s) + n + 10)
    assert est.counters["gps_reinit"] == 1
    assert all(results[-8:])
    assert err < 3.0  # 1.5 m fixes, 2 s after a re-seed that ended 25 s of dead reckoning
