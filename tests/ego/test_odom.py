"""REP-105 frames from the ego filter: odom is continuous through GNSS corrections, map -> odom
absorbs them, outputs come on a fixed grid of data time (ego/odom.py, EgoSource.feed)."""

from __future__ import annotations

import numpy as np

from sensor_fusion.core.calibration import Calibration
from sensor_fusion.core.geodesy import enu_to_geodetic
from sensor_fusion.core.types import GpsFix
from sensor_fusion.ego.estimator import EgoEstimator
from sensor_fusion.ego.frame_ego import EgoSource
from sensor_fusion.ego.odom import OdomFrame, tick_stamps
from sensor_fusion.ego.pose import EgoPose
from tests.ego.test_estimator import DATUM, T_BASE_GPS, T_BASE_IMU, sim_config, simulate

NS = 1_000_000_000
PERIOD_NS = NS // 30


def _source() -> EgoSource:
    return EgoSource(
        lambda: EgoEstimator(sim_config(), T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS),
        "odom",
        "base_link",
        Calibration(),
        max_extrapolation_ns=300_000_000,
        gap_coast_ns=NS,
        odometry_period_ns=PERIOD_NS,
    )


def _shifted(fix: GpsFix, shift_enu: np.ndarray) -> GpsFix:
    """``fix`` moved by ``shift_enu`` (m): a receiver jump (multipath, a new satellite set)."""
    from sensor_fusion.core.geodesy import geodetic_to_enu

    e, n, u = geodetic_to_enu(fix.latitude, fix.longitude, fix.altitude, *DATUM)
    lat, lon, alt = enu_to_geodetic(e + shift_enu[0], n + shift_enu[1], u + shift_enu[2], *DATUM)
    return GpsFix(fix.stamp_ns, fix.frame_id, float(lat), float(lon), float(alt), fix.covariance)


def _run(shift_from_s: float, shift: np.ndarray):
    sim = simulate(40.0, "s_curve", seed=3)
    ego = _source()
    t0 = sim.imu[0].stamp_ns
    fix_at = {int(i): j for j, i in enumerate(sim.gps_idx)}
    outs = []
    for i, sample in enumerate(sim.imu):
        items = [("imu", sample)]
        if i in fix_at:
            fix = sim.gps[fix_at[i]]
            if (fix.stamp_ns - t0) / NS >= shift_from_s:
                fix = _shifted(fix, shift)
            items.append(("gps", fix))
        outs += ego.feed(items)
    truth_t = sim.imu[0].stamp_ns + np.round(sim.t * NS).astype(np.int64)
    return sim, ego, outs, truth_t


def _steps_beyond_truth(positions: np.ndarray, stamps: np.ndarray, sim, truth_t) -> np.ndarray:
    """|step of the output position - step of the true position| between consecutive outputs (m)."""
    true = np.stack([np.interp(stamps, truth_t, sim.pos[:, k]) for k in range(2)], 1)
    return np.linalg.norm(np.diff(positions[:, :2], axis=0) - np.diff(true, axis=0), axis=1)


def test_odom_has_no_jump_when_gps_corrections_arrive_and_map_to_odom_absorbs_them():
    shift = np.array([1.2, -1.0, 0.0])  # every fix from 25 s on moves 1.6 m (~1 sigma of the fixes)
    sim, ego, outs, truth_t = _run(25.0, shift)
    assert len(outs) > 30 * 20  # 30 Hz from the alignment on
    stamps = np.array([o.stamp_ns for o in outs])
    assert np.all(np.diff(stamps) == PERIOD_NS) and np.all(stamps % PERIOD_NS == 0)
    map_pos = np.array([o.pose.position for o in outs])
    odom_pos = np.array([o.odom_position for o in outs])
    late = stamps[1:] >= sim.imu[0].stamp_ns + 25 * NS
    map_jump = _steps_beyond_truth(map_pos, stamps, sim, truth_t)[late].max()
    odom_jump = _steps_beyond_truth(odom_pos, stamps, sim, truth_t)[late].max()
    assert map_jump > 0.1, "the corrections should move the filter's (map) pose by a visible step"
    assert odom_jump < 0.02, f"odom -> base_link jumped {odom_jump:.3f} m with a GNSS correction"
    # map -> odom takes the corrections: against the same drive without the shift, 1 s after it
    # the filter (map) has moved most of the way, odom only by what the corrected velocity
    # integrates to (it follows over seconds: docs/ego.md)
    _, _, plain, _ = _run(25.0, np.zeros(3))
    i = int(np.searchsorted(stamps, sim.imu[0].stamp_ns + 26 * NS))
    d_map = np.dot(outs[i].pose.position - plain[i].pose.position, shift) / np.dot(shift, shift)
    d_odom = np.dot(outs[i].odom_position - plain[i].odom_position, shift) / np.dot(shift, shift)
    assert d_map > 0.3 and d_odom < 0.3 * d_map, (d_map, d_odom)
    # and the transforms compose to the filter's pose at every output
    for o in outs[::50]:
        np.testing.assert_allclose(o.T_map_odom @ o.T_odom_base, o.pose.T_world_base(), atol=1e-9)
    # detection frames between outputs: the frame pose is in odom, continuous with the outputs
    t = int(stamps[-10] + PERIOD_NS // 2)
    fe = ego.frame(t, (), (), "odom")
    assert fe.frame_id == "odom" and fe.pose is not None
    mid = 0.5 * (odom_pos[-10] + odom_pos[-9])
    np.testing.assert_allclose(fe.pose.position[:2], mid[:2], atol=0.01)


def _pose(t_ns: int, p, v) -> EgoPose:
    return EgoPose(t_ns, np.asarray(p, float), np.array([0, 0, 0, 1.0]), np.asarray(v, float),
                   np.zeros(3), np.eye(6), np.eye(6))  # fmt: skip


def test_odom_frame_integrates_velocity_holds_over_gaps_and_restarts_on_time_backwards():
    odom = OdomFrame(max_gap_ns=NS)
    o = odom.update(_pose(10 * NS, [5.0, 0, 0], [2.0, 0, 0]))
    np.testing.assert_allclose(o.odom_position, [5.0, 0, 0])  # starts at the filter: identity
    o = odom.update(_pose(11 * NS, [9.0, 0, 0], [2.0, 0, 0]))  # the filter jumped 2 m forward
    np.testing.assert_allclose(o.odom_position, [7.0, 0, 0])
    np.testing.assert_allclose(o.map_odom_translation, [2.0, 0, 0])
    o = odom.update(_pose(14 * NS, [20.0, 0, 0], [2.0, 0, 0]))  # 3 s gap: held, map -> odom absorbs
    np.testing.assert_allclose(o.odom_position, [7.0, 0, 0])
    assert odom.gaps == 1
    o = odom.update(_pose(2 * NS, [1.0, 1.0, 0], [0.0, 0, 0]))  # bag loop
    np.testing.assert_allclose(o.odom_position, [1.0, 1.0, 0])
    assert odom.restarts == 2


def test_output_stamps_lie_on_a_grid_of_data_time_strictly_before_the_filter_time():
    assert tick_stamps(None, 1_050, 100) == [1_000]
    assert tick_stamps(1_000, 1_350, 100) == [1_100, 1_200, 1_300]
    assert tick_stamps(1_300, 1_399, 100) == []
    assert tick_stamps(1_300, 1_400, 100) == []  # 1_400 waits for the next IMU sample (a fix at 1_400)
    assert tick_stamps(1_300, 1_401, 100) == [1_400]


def _yaw_pose(t_ns: int, p, yaw: float, speed: float, rate: float) -> EgoPose:
    """Planar pose heading ``yaw`` at ``speed`` along it, gyro yaw rate ``rate``."""
    q = np.array([0.0, 0.0, np.sin(0.5 * yaw), np.cos(0.5 * yaw)])
    v = speed * np.array([np.cos(yaw), np.sin(yaw), 0.0])
    return EgoPose(t_ns, np.asarray(p, float), q, v, np.array([0.0, 0.0, rate]), np.eye(6), np.eye(6))


def test_odom_heading_follows_the_gyro_not_the_filters_yaw_corrections():
    """The filter's yaw is turned by fixes (here 1 deg at 2 s) while the gyro says straight on:
    odom keeps the gyro's heading and drives straight along it, map -> odom takes the rotation
    (a GNSS-driven heading wander would otherwise bend odom's path: docs/ego.md)."""
    odom = OdomFrame(max_gap_ns=NS)
    dt = NS // 10
    outs = []
    for k in range(60):
        yaw = 0.0 if k < 20 else np.radians(1.0)  # a fix turned the filter's heading
        outs.append(odom.update(_yaw_pose(k * dt, [10.0 * k * 0.1, 0.0, 0.0], yaw, 10.0, 0.0)))
    last = outs[-1]
    odom_yaw = np.arctan2(last.T_odom_base[1, 0], last.T_odom_base[0, 0])
    assert abs(odom_yaw) < 1e-12 and np.isclose(last.map_odom_yaw, np.radians(1.0))
    assert abs(last.odom_position[1]) < 1e-9  # straight on in odom: the path agrees with its heading
    for o in outs[::7]:
        np.testing.assert_allclose(o.T_map_odom @ o.T_odom_base, o.pose.T_world_base(), atol=1e-9)
    # a real turn (the gyro's) is odom's: 0.2 rad/s for 1 s
    odom = OdomFrame(max_gap_ns=NS)
    for k in range(11):
        o = odom.update(_yaw_pose(k * dt, [0.0, 0.0, 0.0], 0.02 * k, 0.0, 0.2))
    assert np.isclose(o.map_odom_yaw, 0.0, atol=1e-12)
