"""Tracker: batched Kalman maths against filterpy, and scenario behaviour."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_fusion.core.classes import SENSOR_LIDAR, SENSOR_RADAR, ObjectClass
from sensor_fusion.core.types import Detections
from sensor_fusion.tracking import kalman
from sensor_fusion.tracking.motion import ConstantVelocity
from sensor_fusion.tracking.tracker import Tracker, TrackerConfig

NS = 1_000_000_000
DT_NS = 100_000_000  # 10 Hz


def dets(
    stamp_ns: int,
    xy: np.ndarray,
    *,
    vel: np.ndarray | None = None,
    labels: np.ndarray | int = int(ObjectClass.CAR),
    pos_std: float = 0.2,
    yaw: np.ndarray | float = 0.0,
    scores: float = 0.9,
    sensors: int = SENSOR_LIDAR,
    frame_id: str = "odom",
) -> Detections:
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    n = len(xy)
    return Detections(
        stamp_ns=stamp_ns,
        frame_id=frame_id,
        centers=np.column_stack([xy, np.full(n, 0.8)]),
        sizes=np.tile([4.5, 1.8, 1.6], (n, 1)),
        yaw=np.broadcast_to(np.asarray(yaw, dtype=np.float64), (n,)).copy(),
        labels=np.broadcast_to(np.asarray(labels, dtype=np.int64), (n,)).copy(),
        scores=np.full(n, scores),
        velocity=np.full((n, 2), np.nan) if vel is None else np.asarray(vel, dtype=np.float64).reshape(n, 2),
        pos_cov=np.tile(np.eye(2) * pos_std**2, (n, 1, 1)),
        sensors=np.full(n, sensors, np.uint8),
    )


def run(tracker: Tracker, truth: np.ndarray, rng: np.random.Generator, pos_std: float = 0.2, visible=None):
    """Feed noisy detections of ``truth`` (K, M, 2) at 10 Hz; yield (k, stamp, tracks)."""
    for k in range(truth.shape[0]):
        stamp = k * DT_NS
        vis = np.ones(truth.shape[1], bool) if visible is None else visible[k]
        z = truth[k][vis] + rng.normal(0.0, pos_std, (int(vis.sum()), 2))
        yield k, stamp, tracker.step(stamp, dets(stamp, z, pos_std=pos_std))


def id_of_nearest(tracks, point: np.ndarray, max_dist: float = 2.0) -> int | None:
    if len(tracks) == 0:
        return None
    d = np.hypot(*(tracks.state[:, :2] - point).T)
    i = int(np.argmin(d))
    return int(tracks.ids[i]) if d[i] < max_dist else None


# ---------------------------------------------------------------- filterpy reference


def test_batched_kalman_equals_filterpy() -> None:
    rng = np.random.default_rng(0)
    N = 6
    model = ConstantVelocity()
    accel = rng.uniform(0.5, 3.0, N)
    x = rng.normal(0, 5, (N, 4))
    A = rng.normal(size=(N, 4, 4))
    P = A @ A.transpose(0, 2, 1) + np.eye(4)

    refs = []
    for i in range(N):
        kf = KalmanFilter(dim_x=4, dim_z=2)
        kf.x = x[i].copy()
        kf.P = P[i].copy()
        refs.append(kf)

    for _step in range(8):
        dt = float(rng.uniform(0.02, 0.3))
        x, P = model.predict(x, P, dt, accel)
        for i, kf in enumerate(refs):
            kf.F = ConstantVelocity.transition(dt)
            kf.Q = Q_discrete_white_noise(2, dt=dt, var=accel[i] ** 2, block_size=2, order_by_dim=False)
            kf.predict()
        # Some tracks get (x, y), some (x, y, vx, vy), some nothing.
        kind = rng.integers(0, 3, N)
        for m_dim, H, sel in (
            (2, ConstantVelocity.H_POS, kind == 1),
            (4, ConstantVelocity.H_POS_VEL, kind == 2),
        ):
            idx = np.flatnonzero(sel)
            z = rng.normal(0, 5, (idx.size, m_dim))
            B = rng.normal(size=(idx.size, m_dim, m_dim))
            R = B @ B.transpose(0, 2, 1) + 0.05 * np.eye(m_dim)
            x[idx], P[idx] = kalman.linear_update(x[idx], P[idx], z, H, R)
            for j, i in enumerate(idx):
                refs[i].update(z[j], R=R[j], H=H)
        for i, kf in enumerate(refs):
            np.testing.assert_allclose(x[i], kf.x, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(P[i], kf.P, rtol=1e-9, atol=1e-9)
        assert np.array_equal(P, P.transpose(0, 2, 1))


def test_tracker_filter_equals_filterpy_per_object() -> None:
    """End to end ("cv" model): each (well separated) track follows filterpy fed with its detections."""
    cfg = TrackerConfig(
        motion_model="cv",
        min_hits=1,
        existence_birth=0.6,
        existence_confirm=0.6,
        confirm_max_velocity_std_mps=math.inf,  # published from the first frame, velocity unknown
    )
    tracker = Tracker(cfg)
    rng = np.random.default_rng(1)
    starts = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    vels = np.array([[5.0, 0.0], [0.0, -3.0], [2.0, 2.0]])
    R = np.eye(2) * 0.2**2
    refs = []
    radar_vel = np.array([[np.nan, np.nan], [0.1, -3.2], [np.nan, np.nan]])  # object 1 has radar velocity
    for k in range(20):
        stamp = k * DT_NS + (k % 3) * 7_000_000  # uneven dt
        z = starts + vels * stamp / NS + rng.normal(0, 0.2, (3, 2))
        out = tracker.step(stamp, dets(stamp, z, vel=radar_vel))
        if k == 0:
            for i in range(3):
                kf = KalmanFilter(dim_x=4, dim_z=2)
                kf.x = np.r_[z[i], np.nan_to_num(radar_vel[i])]
                vv = cfg.velocity_meas_std_mps**2 if i == 1 else cfg.init_velocity_std_mps**2
                kf.P = np.diag([0.0, 0.0, vv, vv])
                kf.P[:2, :2] = R
                refs.append(kf)
            prev = stamp
            continue
        dt = (stamp - prev) / NS
        prev = stamp
        for i, kf in enumerate(refs):
            kf.F = ConstantVelocity.transition(dt)
            kf.Q = Q_discrete_white_noise(
                2, dt=dt, var=cfg.accel_std_mps2**2, block_size=2, order_by_dim=False
            )
            kf.predict()
            if i == 1:
                R4 = np.diag([0.0, 0.0, cfg.velocity_meas_std_mps**2, cfg.velocity_meas_std_mps**2])
                R4[:2, :2] = R
                kf.update(np.r_[z[i], radar_vel[i]], R=R4, H=np.eye(4))
            else:
                kf.update(z[i], R=R, H=ConstantVelocity.H_POS)
        assert out.ids.tolist() == [1, 2, 3]
        for i, kf in enumerate(refs):
            np.testing.assert_allclose(out.state[i], kf.x, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(out.cov[i], kf.P, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- scenarios


def test_two_constant_velocity_objects() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(50)[:, None] * 0.1  # 5 s at 10 Hz
    v = np.array([[8.0, 1.0], [-2.0, 4.0]])
    truth = np.stack([np.array([0.0, 0.0]) + v[0] * t, np.array([30.0, -10.0]) + v[1] * t], axis=1)
    # The objects truly keep their velocity, so a low process noise is the right model here
    # (the default, for manoeuvring traffic, trades velocity noise for agility).
    tracker = Tracker(TrackerConfig(accel_std_mps2=0.5))
    ids_seen = set()
    for k, _stamp, out in run(tracker, truth, rng):
        if k >= 5:
            assert len(out) == 2
            ids_seen.update(out.ids.tolist())
        assert np.isfinite(out.state).all()
    assert len(ids_seen) == 2
    assert out.ids.dtype == np.int64
    for m in range(2):
        i = int(np.argmin(np.hypot(*(out.state[:, :2] - truth[-1, m]).T)))
        assert np.hypot(*(out.state[i, :2] - truth[-1, m])) < 0.3
        assert np.hypot(*(out.state[i, 2:] - v[m])) < 0.3
    assert out.labels.tolist() == [int(ObjectClass.CAR)] * 2
    assert (out.existence > 0.9).all()
    assert (out.hits == 50).all()
    assert (out.age_ns == 49 * DT_NS).all()
    assert (out.sensors == SENSOR_LIDAR).all()
    np.testing.assert_allclose(out.sizes, [[4.5, 1.8, 1.6]] * 2)
    np.testing.assert_allclose(out.z, [0.8, 0.8])


@pytest.mark.parametrize("angle_deg", [90.0, 30.0, 180.0])
def test_crossing_objects_keep_ids(angle_deg: float) -> None:
    rng = np.random.default_rng(3)
    t = np.arange(60)[:, None] * 0.1 - 3.0
    # Both pass through (20, 0) at the same instant (t = 3 s), at 5 m/s; 180 is head-on.
    ang = np.radians(angle_deg)
    a = np.array([20.0, 0.0]) + np.array([5.0, 0.0]) * t
    b = np.array([20.0, 0.0]) + 5.0 * np.array([np.cos(ang), np.sin(ang)]) * t
    truth = np.stack([a, b], axis=1)
    tracker = Tracker()
    owner: dict[int, int] = {}
    for k, _stamp, out in run(tracker, truth, rng, pos_std=0.15):
        if k < 5:
            continue
        assert len(out) == 2
        for m in range(2):
            tid = id_of_nearest(out, truth[k, m])
            assert tid is not None
            owner.setdefault(m, tid)
            if np.hypot(*(truth[k, 0] - truth[k, 1])) > 1.0:  # unambiguous away from the crossing point
                assert owner[m] == tid, f"id switch at frame {k}"
    assert owner[0] != owner[1]


def test_occlusion_keeps_id() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(60)[:, None] * 0.1
    truth = (np.array([0.0, 5.0]) + np.array([6.0, -1.0]) * t)[:, None, :]
    visible = np.ones((60, 1), bool)
    visible[25:35] = False  # 1 s without detections
    tracker = Tracker()
    before = after = None
    for k, _stamp, out in run(tracker, truth, rng, visible=visible):
        if k == 24:
            before = out.ids.tolist()
            assert not out.coasting.any()
        if k == 25:  # one frame without an update: still published, marked coasting
            assert out.ids.tolist() == before and out.coasting.all()
        if 26 <= k < 35:  # coasting past output_max_coast_s: kept internally, not published
            assert len(out) == 0 and tracker.num_tracks == 1
        if k == 59:
            after = out.ids.tolist()
    assert before == [1] and after == [1]
    assert tracker.num_tracks == 1
    assert np.hypot(*(out.state[0, :2] - truth[-1, 0])) < 0.3


def test_single_false_positive_never_confirmed() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(40)[:, None] * 0.1
    truth = (np.array([0.0, 0.0]) + np.array([3.0, 0.0]) * t)[:, None, :]
    tracker = Tracker()
    confirmed_ids = set()
    for k in range(40):
        stamp = k * DT_NS
        z = truth[k] + rng.normal(0, 0.2, (1, 2))
        if k == 10:
            z = np.vstack([z, [[40.0, 40.0]]])
        out = tracker.step(stamp, dets(stamp, z))
        confirmed_ids.update(out.ids.tolist())
        if k == 10:
            assert tracker.num_tracks == 2  # the false positive is a tentative track
        if k == 16:
            assert tracker.num_tracks == 1  # gone within 0.6 s (existence decay, not max_age_s)
    assert confirmed_ids == {1}


def test_time_backwards_resets(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(6)
    tracker = Tracker()
    for k in range(10):
        stamp = 10 * NS + k * DT_NS
        out = tracker.step(stamp, dets(stamp, [[k * 0.5, 0.0]] + rng.normal(0, 0.1, (1, 2))))
    assert out.ids.tolist() == [1]
    with caplog.at_level(logging.WARNING, logger="sensor_fusion.tracking.tracker"):
        out = tracker.step(NS, dets(NS, [[0.0, 0.0]]))  # bag loop: back to t = 1 s
    assert any("time went back" in r.getMessage() for r in caplog.records)
    assert len(out) == 0 and tracker.num_tracks == 1 and out.stamp_ns == NS
    for k in range(1, 10):
        stamp = NS + k * DT_NS
        out = tracker.step(stamp, dets(stamp, [[k * 0.5, 0.0]]))
    assert out.ids.tolist() == [2]  # new track, ids never reused within one tracker
    assert out.age_ns.tolist() == [9 * DT_NS]
    assert abs(out.state[0, 2] - 5.0) < 0.5

    # A tiny step back (out-of-order input) is dt = 0, no reset, clock stays.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        out2 = tracker.step(stamp - 5_000_000, dets(stamp, [[4.5, 0.0]]))
    assert not caplog.records and out2.ids.tolist() == [2] and out2.stamp_ns == stamp
    np.testing.assert_allclose(out2.state[0, 2:], out.state[0, 2:], atol=0.5)

    tracker.reset()
    assert tracker.num_tracks == 0
    out = tracker.step(0, dets(0, [[0.0, 0.0]], scores=1.0))
    assert tracker._t.ids.tolist() == [1]  # reset() is a fresh tracker


def test_nan_detections_dropped(caplog: pytest.LogCaptureFixture) -> None:
    tracker = Tracker()
    rng = np.random.default_rng(8)
    with caplog.at_level(logging.WARNING, logger="sensor_fusion.tracking"):
        for k in range(20):
            stamp = k * DT_NS
            d = dets(
                stamp,
                np.array([[k * 0.4, 0.0], [0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]) + rng.normal(0, 0.1, (4, 2)),
            )
            d.centers[1, 0] = np.nan
            d.pos_cov[2, 0, 0] = np.inf
            d.pos_cov[3] = np.array([[1.0, 2.0], [2.0, 1.0]])  # not positive definite
            d.sizes[0] = np.nan  # size not measured: fine, kept
            d.yaw[0] = np.nan  # yaw not measured: fine, kept
            d.velocity[0] = [np.inf, 0.0]  # velocity not measured
            out = tracker.step(stamp, d)
            for arr in (out.state, out.cov, out.z, out.sizes, out.yaw, out.existence, out.label_probs):
                assert np.isfinite(arr).all()
    assert sum("dropped 3 of 4" in r.getMessage() for r in caplog.records) == 20
    assert out.ids.tolist() == [1]
    assert abs(out.state[0, 2] - 4.0) < 0.5


def test_wrong_frame_dropped(caplog: pytest.LogCaptureFixture) -> None:
    tracker = Tracker()
    with caplog.at_level(logging.WARNING):
        tracker.step(0, dets(0, [[0.0, 0.0]], frame_id="base_link"))
        tracker.step(DT_NS, dets(DT_NS, [[0.0, 0.0]], frame_id="base_link"))
    assert tracker.num_tracks == 0
    assert sum("base_link" in r.getMessage() for r in caplog.records) == 1  # warned once per frame name
    with pytest.raises(ValueError, match="pos_cov"):
        d = dets(0, [[0.0, 0.0]])
        d.pos_cov = np.zeros((2, 2, 2))
        tracker.step(0, d)


def test_same_stamp_updates_without_predict() -> None:
    cfg = TrackerConfig(
        min_hits=1, existence_birth=0.7, existence_confirm=0.6, confirm_max_velocity_std_mps=math.inf
    )
    tracker = Tracker(cfg)
    tracker.step(NS, dets(NS, [[0.0, 0.0]]))
    out = tracker.step(NS, dets(NS, [[0.1, 0.0]], sensors=SENSOR_RADAR))  # second detector, same stamp
    assert out.hits.tolist() == [2] and out.sensors.tolist() == [SENSOR_RADAR]
    assert out.age_ns.tolist() == [0]
    assert 0.0 < out.state[0, 0] < 0.1
    assert out.cov[0, 0, 0] < 0.2**2  # two fused measurements, no process noise added


def test_radar_velocity_is_used() -> None:
    """One frame with a measured velocity gives a tight velocity estimate at once."""
    tracker = Tracker(TrackerConfig(min_hits=1, existence_birth=0.7, existence_confirm=0.6))
    out = tracker.step(0, dets(0, [[0.0, 0.0]], vel=[[7.0, -1.0]]))
    np.testing.assert_allclose(out.state[0, 2:], [7.0, -1.0])
    assert out.cov[0, 2, 2] == pytest.approx(0.5**2)
    out = tracker.step(DT_NS, dets(DT_NS, [[0.7, -0.1]], vel=[[7.0, -1.0]]))
    np.testing.assert_allclose(out.state[0], [0.7, -0.1, 7.0, -1.0], atol=1e-6)


def test_yaw_flip_and_class_votes() -> None:
    cfg = TrackerConfig(yaw_from_velocity_min_speed_mps=float("inf"), min_hits=1, existence_birth=0.7)
    tracker = Tracker(cfg)
    out = tracker.step(0, dets(0, [[0.0, 0.0]], yaw=0.1, labels=int(ObjectClass.TRUCK), scores=0.6))
    for k in range(1, 12):
        stamp = k * DT_NS
        # Detector reports the box the other way round: 0.1 + pi. Labels mostly CAR.
        label = int(ObjectClass.CAR) if k % 4 else int(ObjectClass.UNKNOWN)
        out = tracker.step(stamp, dets(stamp, [[0.0, 0.0]], yaw=0.1 + np.pi - 0.02 * k, labels=label))
    # Stays near 0.1 - 0.02 k (mod pi flip), never jumps by pi.
    assert abs(out.yaw[0] - (0.1 - 0.22)) < 0.1
    assert out.labels.tolist() == [int(ObjectClass.CAR)]
    assert 0.8 < out.label_probs[0] < 1.0

    # With a confident velocity the box yaw points along the motion.
    tracker = Tracker(TrackerConfig(min_hits=1, existence_birth=0.7))
    out = tracker.step(0, dets(0, [[0.0, 0.0]], vel=[[-5.0, 0.0]], yaw=0.0))
    assert abs(abs(out.yaw[0]) - np.pi) < 1e-9


def test_iou3d_association_tracks_objects() -> None:
    rng = np.random.default_rng(9)
    t = np.arange(40)[:, None] * 0.1
    truth = np.stack([np.array([0.0, 0.0]) + [5.0, 0.0] * t, np.array([0.0, 10.0]) + [-4.0, 0.0] * t], axis=1)
    tracker = Tracker(TrackerConfig(association="iou3d"))
    out = [o for _k, _s, o in run(tracker, truth, rng, pos_std=0.1)][-1]
    assert sorted(out.ids.tolist()) == [1, 2]
    for m in range(2):
        assert id_of_nearest(out, truth[-1, m], max_dist=0.5) is not None


def test_config_validation() -> None:
    TrackerConfig().validate()
    with pytest.raises(ValueError, match="gate_prob"):
        TrackerConfig(gate_prob=1.5).validate()
    with pytest.raises(ValueError, match="min_hits"):
        TrackerConfig(min_hits=0).validate()
    with pytest.raises(ValueError, match="association"):
        Tracker(TrackerConfig(association="euclid"))
    with pytest.raises(ValueError, match="existence_delete < existence_birth"):
        TrackerConfig(existence_birth=0.05).validate()
    with pytest.raises(ValueError, match="PEDESTRIANS"):
        TrackerConfig(gate_prob_per_class={"PEDESTRIANS": 0.99}).validate()
    with pytest.raises(ValueError, match="bogus: unknown parameter\n  min_hit: unknown parameter"):
        TrackerConfig.from_dict({"min_hit": 3, "bogus": 1, "max_age_s": 1.0})
    cfg = TrackerConfig.from_dict(
        {"max_age_s": 1.5, "gate_prob_per_class.PEDESTRIAN": 0.99, "accel_std_mps2_per_class": {"CAR": 3.0}}
    )
    assert cfg.max_age_s == 1.5 and cfg.gate_prob_per_class == {"PEDESTRIAN": 0.99}
    assert cfg.accel_std_table()[ObjectClass.CAR] == 3.0
    assert cfg.gate_table()[ObjectClass.PEDESTRIAN] == pytest.approx(9.2103, abs=1e-3)


def test_deterministic() -> None:
    def once() -> list:
        rng = np.random.default_rng(10)
        t = np.arange(30)[:, None] * 0.1
        truth = np.stack([[0.0, 0.0] + np.array([4.0, 1.0]) * t, [5.0, 5.0] + np.array([-1.0, 0.5]) * t], 1)
        return [(o.ids.copy(), o.state.copy()) for _k, _s, o in run(Tracker(), truth, rng)]

    a, b = once(), once()
    for (ia, sa), (ib, sb) in zip(a, b):
        assert np.array_equal(ia, ib) and np.array_equal(sa, sb)


def test_output_is_a_copy_and_only_confirmed() -> None:
    tracker = Tracker()
    for k in range(3):
        out = tracker.step(k * DT_NS, dets(k * DT_NS, [[0.0, 0.0], [50.0, 0.0]] if k < 2 else [[0.0, 0.0]]))
    assert out.ids.tolist() == [1]  # object 2 had 2 hits: tentative, not reported
    assert tracker.num_tracks == 2
    out.state[:] = 1e6
    out.cov[:] = np.nan
    again = tracker.step(3 * DT_NS, dets(3 * DT_NS, [[0.0, 0.0]]))
    assert np.isfinite(again.cov).all() and abs(again.state[0, 0]) < 1.0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.sampled_from([2, 4]))
def test_update_shrinks_covariance(seed: int, m: int) -> None:
    """Posterior P is symmetric PSD and below the prior (P- - P+ is PSD): a measurement never adds doubt."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(5, 4, 4)) * rng.uniform(0.01, 10)
    P = A @ A.transpose(0, 2, 1) + 1e-3 * np.eye(4)
    B = rng.normal(size=(5, m, m)) * rng.uniform(0.01, 10)
    R = B @ B.transpose(0, 2, 1) + 1e-3 * np.eye(m)
    H = ConstantVelocity.H_POS if m == 2 else ConstantVelocity.H_POS_VEL
    x, P2 = kalman.linear_update(np.zeros((5, 4)), P, rng.normal(size=(5, m)), H, R)
    assert np.array_equal(P2, P2.transpose(0, 2, 1))
    scale = np.abs(P).max()
    assert (np.linalg.eigvalsh(P2) >= -1e-9 * scale).all()
    assert (np.linalg.eigvalsh(P - P2) >= -1e-9 * scale).all()
    assert np.isfinite(x).all()


@pytest.mark.parametrize("confirmed_first", [True, False])
def test_newborn_track_does_not_steal_from_established(confirmed_first: bool) -> None:
    """An outlier spawns a newborn beside an established track; the next detection stays with the old one."""
    tracker = Tracker(TrackerConfig(confirmed_first=confirmed_first))
    for k in range(20):
        out = tracker.step(k * DT_NS, dets(k * DT_NS, [[0.5 * k, 0.0]]))
    assert out.ids.tolist() == [1]
    # Outlier 1.2 m to the side: outside the established gate -> a tentative track is born there.
    out = tracker.step(20 * DT_NS, dets(20 * DT_NS, [[10.0, 1.2]]))
    assert tracker.num_tracks == 2
    # Back near the path, 0.6 m off: inside the old track's gate, but nearer (in d^2) the newborn,
    # whose unknown velocity makes its gate wide.
    out = tracker.step(21 * DT_NS, dets(21 * DT_NS, [[10.5, 0.6]]))
    updated = tracker._t.ids[tracker._t.last_update_ns == 21 * DT_NS].tolist()
    assert updated == ([1] if confirmed_first else [2])


def _two_streams(tracker: Tracker, offset: float, vel_b=(10.0, 0.0), frames: int = 20):
    """Object A drives along x at 10 m/s; stream B is a second detection ``offset`` m to its side
    moving at ``vel_b``; returns the set of track ids seen per frame."""
    seen = []
    for k in range(frames):
        stamp = k * DT_NS
        a = np.array([10.0 * k * 0.1, 0.0])
        b = np.array([vel_b[0] * k * 0.1, offset + vel_b[1] * k * 0.1])
        tracks = tracker.step(stamp, dets(stamp, np.vstack([a, b]), pos_std=0.1))
        seen.append(set(tracks.ids.tolist()))
    return seen


def test_overlapping_tracks_of_one_object_merge_into_the_older_id() -> None:
    """A detection split in two 1 m apart (both outside each other's gate) starts two tracks of
    one object; their boxes overlap, so after merge_after_s they merge and the older id stays."""
    cfg = dict(motion_model="cv", suppress_birth_in_gate=False, gate_prob=0.9)
    alone = _two_streams(Tracker(TrackerConfig(**cfg, merge_min_overlap=0.0)), offset=0.7)
    assert len(alone[-1]) == 2  # without merging: a duplicate track for good
    merged = _two_streams(Tracker(TrackerConfig(**cfg)), offset=0.7)
    first = next(k for k, s in enumerate(merged) if s)
    assert all(1 in s for s in merged[first:])  # the first id is kept throughout
    # the split keeps starting tracks; each lives until it has overlapped for 0.3 s (4 frames)
    runs, n = [], 0
    for s in merged[first:]:
        n = n + 1 if len(s) > 1 else 0
        runs.append(n)
    assert max(runs) <= 4 and merged[first + 3] == {1}


def test_neighbours_and_crossers_are_not_merged() -> None:
    cfg = dict(motion_model="cv")
    side_by_side = _two_streams(Tracker(TrackerConfig(**cfg)), offset=3.5)  # adjacent lanes
    assert len(side_by_side[-1]) == 2
    # B crosses A's path at right angles: the boxes overlap for a moment, the velocities differ
    tr = Tracker(TrackerConfig(**cfg))
    seen = []
    for k in range(30):
        stamp = k * DT_NS
        a = np.array([-15.0 + 1.0 * k, 0.0])
        b = np.array([0.0, -15.0 + 1.0 * k])
        seen.append(set(tr.step(stamp, dets(stamp, np.vstack([a, b]))).ids.tolist()))
    assert len(seen[-1]) == 2 and seen[5] == seen[-1]


def test_capture_time_of_each_box_is_used() -> None:
    """A car at 30 m/s seen 80 ms after the frame stamp (a rotating LiDAR's far side): with the
    box's capture time the track sits on the car at the stamp; without it, 2.4 m ahead."""
    v, lag = 30.0, 0.08
    errs = {}
    for case, timed, use in (("used", True, True), ("none given", False, True), ("ignored", True, False)):
        tracker = Tracker(TrackerConfig(motion_model="imm", use_capture_time=use))
        for k in range(30):
            stamp = k * DT_NS
            d = dets(stamp, [v * (k * 0.1 + lag), 5.0])
            if timed:
                d.time_offset_s = np.array([lag])
            out = tracker.step(stamp, d)
        errs[case] = out.state[0, 0] - v * 2.9
    assert abs(errs["used"]) < 0.2
    assert abs(errs["none given"] - v * lag) < 0.3 and abs(errs["ignored"] - v * lag) < 0.3


def test_radar_centroid_on_a_long_vehicle_does_not_drag_its_track() -> None:
    """A stationary bus (LiDAR: 12 m box at x = 20) and, every frame too, a radar detection placed
    with a car-sized prior 2 m short of its centre: with the shape slack the radar barely moves
    the track; without it the track settles between the two."""
    offsets = {}
    for slack in (True, False):
        tracker = Tracker(TrackerConfig(motion_model="cv", shape_slack=slack))
        for k in range(30):
            stamp = k * DT_NS
            d = dets(stamp, [[20.0, 0.0]], labels=int(ObjectClass.BUS))
            d.sizes[:] = [12.0, 2.5, 3.0]
            out = tracker.step(stamp, d)
            if k >= 5:
                r = dets(stamp, [[18.0, 0.0]], vel=[[0.0, 0.0]], pos_std=0.5, sensors=SENSOR_RADAR)
                out = tracker.step(stamp, r)  # same stamp: the radar update of this frame
        assert len(out) == 1
        offsets[slack] = 20.0 - out.state[0, 0]
    assert offsets[True] < 0.05 and offsets[False] > 0.15, offsets


def _after_neighbour_box(score: float, low_score_gate_prob: float = 0.99) -> bool:
    """A car track at 25 m/s (1.2 s of boxes, 0.5 m std); then its own box is missing and a box of
    the next lane's car (3.7 m to the side, 1 m std: far and sparse) is there. Updated by it?"""
    tracker = Tracker(TrackerConfig(low_score_gate_prob=low_score_gate_prob))
    rng = np.random.default_rng(0)
    for k in range(12):
        xy = np.array([[2.5 * k, 0.0]]) + rng.normal(0, 0.2, (1, 2))
        tracker.step(k * DT_NS, dets(k * DT_NS, xy, pos_std=0.5))
    tracker.step(12 * DT_NS, dets(12 * DT_NS, np.array([[30.0, 3.7]]), pos_std=1.0, scores=score))
    assert len(tracker._t) == 1  # a low-score box never starts a track; a high-score one matched
    return bool(tracker._t.last_update_ns[0] == 12 * DT_NS)


def test_low_score_box_of_the_next_lane_does_not_extend_a_track():
    """Second stage (ByteTrack): a low-score box extends a track only inside the stricter
    low_score_gate_prob gate (d^2 <= 9.2); at the full gate (18.4) the next lane's weak box pulled
    tracks sideways (highway seed 1: into the oncoming lane, a 50 m/s velocity error). A
    high-score box at the same place is still taken (first stage, full gate)."""
    assert _after_neighbour_box(0.9)
    assert not _after_neighbour_box(0.2)
    assert _after_neighbour_box(0.2, low_score_gate_prob=0.9999)  # the old gate took it


# ---------------------------------------------------------------- frame change (heading alignment)


def _pose(theta: float, p: tuple[float, float]) -> np.ndarray:
    T = np.eye(4)
    c, s = math.cos(theta), math.sin(theta)
    T[:2, :2] = [[c, -s], [s, c]]
    T[:2, 3] = p
    return T


@pytest.mark.parametrize("motion_model", ["imm", "cv"])
def test_change_frame_makes_relative_velocities_absolute(motion_model):
    """A track in a moving, turning base_link (velocity relative to the vehicle) carried into odom:
    a parked car reads still there, a car driving alongside reads its own speed, ids kept."""
    theta, p0, v_e, w = 0.7, (30.0, -4.0), np.array([8.0, 6.0]), 0.2  # ego in odom: 10 m/s, turning
    T = _pose(theta, p0)
    R = T[:2, :2]
    x_b = np.array([[12.0, 3.0], [-6.0, -3.5]])  # two cars in base_link
    v_world = np.array([[0.0, 0.0], [5.0, -2.0]])
    # what a tracker in base_link measures: v_b = R'(V - v_e) - w x (-y, x)
    v_b = (v_world - v_e) @ R - w * np.column_stack([-x_b[:, 1], x_b[:, 0]])
    tr = Tracker(TrackerConfig(frame_id="base_link", motion_model=motion_model))
    tr.step(0, dets(0, x_b, vel=v_b, frame_id="base_link"))
    ids = tr._t.ids.copy()
    tr.change_frame("odom", T, v_e, w)
    assert tr.config.frame_id == "odom"
    x, P = tr._filter.combine(tr._t.xm, tr._t.Pm, tr._t.mu)
    np.testing.assert_allclose(x[:, :2], x_b @ R.T + p0, atol=1e-9)
    # measured velocities (std 0.5 m/s): carried; the at-rest prior's swap moves them by < 0.1 m/s
    np.testing.assert_allclose(x[:, 2:4], v_world, atol=0.1)
    np.testing.assert_array_equal(tr._t.ids, ids)
    assert np.all(np.linalg.eigvalsh(P[:, :4, :4]) > 0)  # still a covariance
    # the next frame's boxes in odom update the same tracks: no new track, no id lost
    stamp = DT_NS
    xy_next = x_b @ R.T + p0 + v_world * 0.1
    tr.step(stamp, dets(stamp, xy_next, vel=v_world))
    np.testing.assert_array_equal(np.sort(tr._t.ids), np.sort(ids))


def test_change_frame_a_track_whose_velocity_is_still_its_prior_reads_at_rest_in_the_new_frame():
    """Born a frame before the switch from a box (no velocity measured), a track's velocity is its
    prior, at rest relative to the moving vehicle: carried over it must read at rest in odom (as a
    track born there would), not moving with the vehicle at 10 m/s."""
    T, v_e, w = _pose(0.7, (30.0, -4.0)), np.array([8.0, 6.0]), 0.2
    # the moving models' prior swap (the stopped model's restart: test_stopped.py)
    tr = Tracker(TrackerConfig(frame_id="base_link", imm_sojourn_stop_s=0.0))
    tr.step(0, dets(0, [[12.0, 3.0]], frame_id="base_link"))
    tr.change_frame("odom", T, v_e, w)
    x, P = tr._filter.combine(tr._t.xm, tr._t.Pm, tr._t.mu)
    np.testing.assert_allclose(x[0, 2:4], [0.0, 0.0], atol=1e-6)
    assert np.sqrt(np.linalg.eigvalsh(P[0, 2:4, 2:4]).max()) > 0.9 * TrackerConfig().init_velocity_std_mps
