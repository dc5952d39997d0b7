"""ATE / RPE (evo), odometry jumps and the GNSS correlated part on hand-built trajectories."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sensor_fusion.eval.bags import odom_base_poses
from sensor_fusion.eval.ego import (
    EgoPoses,
    ego_coverage,
    ego_trajectory_metrics,
    gps_correlated_rmse,
    odom_max_jump,
    relative_pose_errors,
)

DT_NS = 20_000_000  # truth at 50 Hz, as the generator writes it


def _truth(duration_s: float = 30.0, speed: float = 5.0, yaw_rate: float = 0.0) -> EgoPoses:
    st = np.arange(int(duration_s * 50) + 1, dtype=np.int64) * DT_NS + 1_000_000_000
    t = (st - st[0]) * 1e-9
    if yaw_rate == 0.0:
        return EgoPoses(st, speed * t, np.zeros_like(t), np.zeros_like(t))
    r = speed / yaw_rate
    yaw = yaw_rate * t
    return EgoPoses(st, r * np.sin(yaw), r * (1.0 - np.cos(yaw)), yaw)


def test_constant_offset_has_its_size_as_ate_and_no_rpe() -> None:
    truth = _truth()
    est = EgoPoses(truth.stamp_ns[::5], truth.x[::5] + 0.6, truth.y[::5] - 0.8, truth.yaw[::5])
    m = ego_trajectory_metrics(truth, est)
    assert m["ego_ate_m"] == pytest.approx(1.0, abs=1e-9)
    assert m["ego_rpe_1s_m"] == pytest.approx(0.0, abs=1e-9) and m["ego_rpe_10s_m"] == pytest.approx(
        0.0, abs=1e-9
    )


def test_drift_gives_rpe_proportional_to_the_delta() -> None:
    truth = _truth(duration_s=40.0)
    t = (truth.stamp_ns - truth.stamp_ns[0]) * 1e-9
    drift = 0.02  # m/s along track: the estimate's speed is 0.4 % high
    est = EgoPoses(truth.stamp_ns, truth.x + drift * t, truth.y, truth.yaw)
    m = ego_trajectory_metrics(truth, est)
    assert m["ego_rpe_1s_m"] == pytest.approx(0.02, rel=1e-6)
    assert m["ego_rpe_10s_m"] == pytest.approx(0.2, rel=1e-6)
    assert m["ego_ate_m"] == pytest.approx(drift * np.sqrt(np.mean(t**2)), rel=1e-6)
    assert m["ego_rpe_10s_world_m"] == pytest.approx(0.2, rel=1e-6)  # a drift is a drift in both


def test_heading_error_on_a_curve_shows_in_rpe_not_as_a_constant() -> None:
    truth = _truth(duration_s=30.0, speed=5.0, yaw_rate=0.1)
    # a 1 deg heading offset: relative motion over d seconds is rotated, error ~ 2 sin(0.5 deg) x distance
    est = EgoPoses(truth.stamp_ns, truth.x, truth.y, truth.yaw + np.radians(1.0))
    m = ego_trajectory_metrics(truth, est)
    assert m["ego_ate_m"] == pytest.approx(0.0, abs=1e-9)
    chord = 2 * 50.0 * np.sin(0.05)  # 1 s at 5 m/s on a 50 m radius
    assert m["ego_rpe_1s_m"] == pytest.approx(2 * np.sin(np.radians(0.5)) * chord, rel=1e-3)
    assert m["ego_rpe_1s_world_m"] == pytest.approx(0.0, abs=1e-9)  # the path itself is right


def test_metrics_are_nan_without_overlap_and_for_deltas_longer_than_it() -> None:
    truth = _truth(duration_s=5.0)
    later = EgoPoses(truth.stamp_ns + 10 * 10**9, truth.x, truth.y, truth.yaw)
    assert np.isnan(ego_trajectory_metrics(truth, later)["ego_ate_m"])
    m = ego_trajectory_metrics(truth, truth)
    assert m["ego_ate_m"] == 0.0 and m["ego_rpe_1s_m"] == 0.0 and np.isnan(m["ego_rpe_10s_m"])


def test_odom_jump_is_the_step_beyond_the_truth() -> None:
    truth = _truth(duration_s=10.0, speed=10.0)
    st = truth.stamp_ns[::5]  # odometry at 10 Hz: 1 m per step
    x = truth.x[::5] + 0.003 * np.sin(np.arange(st.size))
    assert odom_max_jump(truth, EgoPoses(st, x, truth.y[::5], truth.yaw[::5])) < 0.007
    y = truth.y[::5].copy()
    y[40:] += 0.5  # a GPS correction taken as a jump
    assert odom_max_jump(truth, EgoPoses(st, x, y, truth.yaw[::5])) == pytest.approx(0.5, abs=0.01)


def test_gps_correlated_rmse_over_the_window() -> None:
    st = np.arange(10, dtype=np.int64) * 10**9
    e = np.zeros((10, 2))
    e[:5] = [3.0, 4.0]
    e[5:] = [0.6, 0.8]
    assert gps_correlated_rmse(st, e, 5 * 10**9, 9 * 10**9) == pytest.approx(1.0)
    assert gps_correlated_rmse(st, e, 0, 9 * 10**9) == pytest.approx(np.sqrt(0.5 * 25 + 0.5 * 1))
    assert np.isnan(gps_correlated_rmse(st, e, 20 * 10**9, 30 * 10**9))


def _stamp(ns: int) -> SimpleNamespace:
    return SimpleNamespace(sec=int(ns // 10**9), nanosec=int(ns % 10**9))


def _odometry(st, x, y, yaw) -> list[SimpleNamespace]:
    """nav_msgs/Odometry look-alikes (only the fields the reader uses)."""
    return [
        SimpleNamespace(
            header=SimpleNamespace(stamp=_stamp(s), frame_id="map"),
            child_frame_id="base_link",
            pose=SimpleNamespace(
                pose=SimpleNamespace(
                    position=SimpleNamespace(x=a, y=b, z=0.0),
                    orientation=SimpleNamespace(x=0.0, y=0.0, z=np.sin(0.5 * c), w=np.cos(0.5 * c)),
                )
            ),
        )
        for s, a, b, c in zip(st, x, y, yaw, strict=True)
    ]


def _tf(st, parent, child, x, y, yaw) -> list[SimpleNamespace]:
    """tf2_msgs/TFMessage look-alikes, one transform each."""
    return [
        SimpleNamespace(
            transforms=[
                SimpleNamespace(
                    header=SimpleNamespace(stamp=_stamp(s), frame_id=parent),
                    child_frame_id=child,
                    transform=SimpleNamespace(
                        translation=SimpleNamespace(x=a, y=b, z=0.0),
                        rotation=SimpleNamespace(x=0.0, y=0.0, z=np.sin(0.5 * c), w=np.cos(0.5 * c)),
                    ),
                )
            ]
        )
        for s, a, b, c in zip(st, x, y, yaw, strict=True)
    ]


def test_odom_jump_is_read_on_the_continuous_odom_frame_not_the_map_pose() -> None:
    """The odometry topic carries the map pose (steps with each fix); ``odom -> base_link`` on /tf must
    be the one scored, and the odometry only when the bag has no such transform."""
    truth = _truth(duration_s=10.0, speed=10.0)
    st, x, yaw = truth.stamp_ns[::5], truth.x[::5], truth.yaw[::5]
    y_map = truth.y[::5].copy()
    y_map[40:] += 0.5  # a fix moves the map pose
    odom = _odometry(st, x, y_map, yaw)
    tf = _tf(st, "map", "odom", np.zeros(st.size), y_map - truth.y[::5], np.zeros(st.size))
    tf += _tf(st, "odom", "base_link", x + 3.0, truth.y[::5] - 2.0, yaw)  # continuous, own origin
    assert odom_max_jump(truth, odom_base_poses(tf, odom)) < 1e-6
    assert odom_max_jump(truth, odom_base_poses([], odom)) == pytest.approx(0.5, abs=0.01)  # no /tf
    only_map = _tf(st, "map", "odom", np.zeros(st.size), y_map - truth.y[::5], np.zeros(st.size))
    assert odom_max_jump(truth, odom_base_poses(only_map, odom)) == pytest.approx(0.5, abs=0.01)


def test_odom_rpe_is_invariant_to_odom_origin_and_blind_to_map_steps() -> None:
    """RPE on ``odom`` scores the continuous frame as it is (own origin and rotation); the map pose's
    fix steps show in ``ego_rpe`` and not in ``odom_rpe``."""
    truth = _truth(duration_s=30.0, speed=5.0, yaw_rate=0.05)
    st, x, y, yaw = truth.stamp_ns[::5], truth.x[::5], truth.y[::5], truth.yaw[::5]
    a = 0.7  # odom's origin: rotated and shifted against the truth's world frame
    ox, oy = np.cos(a) * x - np.sin(a) * y + 3.0, np.sin(a) * x + np.cos(a) * y - 2.0
    m_odom = relative_pose_errors(truth, EgoPoses(st, ox, oy, yaw + a), prefix="odom")
    assert m_odom["odom_rpe_1s_m"] == pytest.approx(0.0, abs=1e-3)  # interpolation chords only
    assert m_odom["odom_rpe_10s_m"] == pytest.approx(0.0, abs=1e-3)
    y_map = y.copy()
    y_map[st.size // 2 :] += 0.5
    m_map = relative_pose_errors(truth, EgoPoses(st, x, y_map, yaw))
    assert m_map["ego_rpe_10s_m"] > 0.1 and "odom_rpe_10s_m" not in m_map


def test_coverage_counts_from_the_first_motion() -> None:
    """Issue 15: coverage >= 0.9 means the heading known within 12 s of motion; standing still first
    cannot count against it (no heading is observable), a vehicle moving from the start is unchanged."""
    moving = _truth(duration_s=100.0, speed=1.0)
    t0 = int(moving.stamp_ns[0])
    assert ego_coverage(moving, t0 + 10 * 10**9, int(moving.stamp_ns[-1])) == pytest.approx(0.9, abs=0.002)
    st = moving.stamp_ns
    t = (st - st[0]) * 1e-9
    x = np.clip(t - 20.0, 0.0, None)  # 20 s standing, then 1 m/s
    parked_first = EgoPoses(st, x, np.zeros_like(x), np.zeros_like(x))
    # odometry from 28 s (8 s of motion): 72 of 80 s of motion covered
    assert ego_coverage(parked_first, t0 + 28 * 10**9, int(st[-1])) == pytest.approx(0.9, abs=0.002)
    assert ego_coverage(parked_first, t0, int(st[-1])) == 1.0
