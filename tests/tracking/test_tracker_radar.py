"""Tracker with radar: Doppler (radial) updates, velocity covariances, radar-initialised births, trust."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.core.classes import SENSOR_CAMERA, SENSOR_LIDAR, SENSOR_RADAR, ObjectClass
from sensor_fusion.core.types import Detections
from sensor_fusion.tracking.config import DEFAULT_TRUST
from sensor_fusion.tracking.tracker import Tracker, TrackerConfig
from tests.tracking.test_tracker import DT_NS, dets

MODELS = ["cv", "imm"]


def fast(**kw) -> TrackerConfig:
    """Tracks confirmed at birth, so a single frame shows in the output."""
    return TrackerConfig(
        **{
            "min_hits": 1,
            "existence_birth": 0.7,
            "existence_confirm": 0.6,
            "confirm_max_velocity_std_mps": math.inf,  # published at once, velocity known or not
            # the moving models' Kalman maths; the stopped model's mixture: test_stopped.py
            "imm_sojourn_stop_s": 0.0,
            **kw,
        }
    )


def radar(
    stamp: int,
    xy,
    *,
    vel=None,
    vel_cov=None,
    radial=None,
    los=None,
    radial_var: float | None = 0.1**2,
    pos_std: float = 1.0,
    labels: int = int(ObjectClass.CAR),
) -> Detections:
    """Radar-only detections; ``radial``/``los``/``vel_cov`` set as the optional attributes."""
    d = dets(stamp, xy, vel=vel, sensors=SENSOR_RADAR, pos_std=pos_std, labels=labels)
    n = len(d)
    d.sizes[:] = [1.0, 1.0, 1.0]  # radar "boxes": not to be trusted
    d.yaw[:] = 1.0
    if vel_cov is not None:
        d.vel_cov = np.broadcast_to(np.asarray(vel_cov, dtype=np.float64), (n, 2, 2)).copy()
    if radial is not None:
        d.radial = np.asarray(radial, dtype=np.float64).reshape(n)
        d.los = np.asarray(los, dtype=np.float64).reshape(n, 2)
        if radial_var is not None:
            d.radial_var = np.full(n, radial_var)
    return d


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------- Doppler


@pytest.mark.parametrize("model", MODELS)
def test_doppler_informs_velocity_along_line_of_sight_only(model: str) -> None:
    """A new track (velocity unknown, std 8 m/s) gets one radial speed: known along l, untouched across."""
    cfg = fast(motion_model=model)
    tracker = Tracker(cfg)
    p, v = np.array([20.0, 5.0]), np.array([6.0, -2.0])
    l = unit(p - [35.0, -9.0])  # line of sight from a radar at (35, -9): mixed signs
    lp = np.array([-l[1], l[0]])
    out0 = tracker.step(0, dets(0, p[None]))
    P0 = out0.cov[0, 2:, 2:].copy()
    err0 = out0.state[0, 2:] - v
    out = tracker.step(0, radar(0, p[None], radial=[l @ v], los=[3 * l], radial_var=0.05**2))
    assert out.ids.tolist() == [1] and tracker.num_tracks == 1  # updated, no new track
    P, err = out.cov[0, 2:, 2:], out.state[0, 2:] - v
    s0 = cfg.init_velocity_std_mps**2
    assert l @ P0 @ l == pytest.approx(s0) and l @ P @ l < 0.05**2 * 1.01  # along: 64 -> 0.0025
    assert lp @ P @ lp == pytest.approx(lp @ P0 @ lp, rel=1e-9)  # across: unchanged
    assert abs(l @ err) < 1e-3 * abs(l @ err0)  # velocity error along l gone
    assert lp @ err == pytest.approx(lp @ err0, abs=1e-9)  # ... and unchanged across
    assert out.sensors.tolist() == [SENSOR_RADAR]  # a separate step(): its own sensors
    # radial_var is optional: velocity_meas_std_mps then.
    tracker = Tracker(cfg)
    tracker.step(0, dets(0, p[None]))
    out = tracker.step(0, radar(0, p[None], radial=[l @ v], los=[l], radial_var=None))
    assert l @ out.cov[0, 2:, 2:] @ l == pytest.approx(1 / (1 / s0 + 1 / cfg.velocity_meas_std_mps**2))


def test_doppler_running_track_cv() -> None:
    """Tracked 1.5 s with LiDAR positions, with or without radial speeds: the radial ones tighten the
    velocity along the line of sight (10x here) and leave it across the line of sight as it was."""
    res = {}
    for use_radar in (False, True):
        rng = np.random.default_rng(0)
        tracker = Tracker(TrackerConfig(motion_model="cv"))
        v, p0 = np.array([6.0, -2.0]), np.array([20.0, 5.0])
        for k in range(15):
            stamp, p = k * DT_NS, p0 + v * k * 0.1
            out = tracker.step(stamp, dets(stamp, p[None] + rng.normal(0, 0.2, (1, 2))))
            if use_radar:
                l = unit(p)
                out = tracker.step(stamp, radar(stamp, p[None], radial=[l @ v + rng.normal(0, 0.1)], los=[l]))
        l = unit(p)
        lp = np.array([-l[1], l[0]])
        P = out.cov[0, 2:, 2:]
        res[use_radar] = (l @ P @ l, lp @ P @ lp)
    assert res[True][0] < 0.2 * res[False][0]
    assert res[True][1] == pytest.approx(res[False][1], rel=0.05)


def test_doppler_input_validation() -> None:
    tracker = Tracker(fast())
    d = radar(0, [[1.0, 1.0]], radial=[1.0], los=[[1.0, 0.0]])
    d.los = None
    with pytest.raises(ValueError, match="los"):
        tracker.step(0, d)
    d = radar(0, [[1.0, 1.0]], radial=[1.0], los=[[1.0, 0.0]])
    d.radial = np.zeros(3)
    with pytest.raises(ValueError, match="radial"):
        tracker.step(0, d)
    # NaN radial / zero line of sight: that row simply has no Doppler (a position update still).
    tracker.step(0, dets(0, [[0.0, 0.0], [10.0, 0.0]]))
    out = tracker.step(0, radar(0, [[0.0, 0.0], [10.0, 0.0]], radial=[np.nan, 3.0], los=[[1, 0], [0, 0]]))
    assert np.isfinite(out.state).all() and np.allclose(out.state[:, 2:], 0.0)
    assert (out.cov[:, 2, 2] == pytest.approx(8.0**2)) and (out.hits == 2).all()


@pytest.mark.parametrize("model", MODELS)
def test_radial_only_velocity_uses_the_doppler_update(model: str) -> None:
    """A detector's radial-only "velocity" (min-norm v = r l, 15 m/s across) flagged ``radial_only``
    is fused as the radial speed it is, not as a velocity that claims "0 across the line of sight"."""
    l, r = unit([1.0, -1.0]), 4.0
    C = 0.1**2 * np.outer(l, l) + 15.0**2 * np.outer([l[1], -l[0]], [l[1], -l[0]])

    def run(flag: bool | None, with_velocity: bool = True) -> np.ndarray:
        tracker = Tracker(fast(motion_model=model))
        tracker.step(0, dets(0, [[10.0, 2.0]]))
        for k in range(5):  # the object truly moves across the line of sight as well
            stamp = k * DT_NS
            tracker.step(stamp, dets(stamp, [[10.0, 2.0 + 0.3 * k]]))
            vel = [r * l] if with_velocity else None
            d = radar(stamp, [[10.0, 2.0 + 0.3 * k]], vel=vel, radial=[r], los=[l])
            if with_velocity:
                d.vel_cov = C[None]
            if flag is not None:
                d.radial_only = np.array([flag])
            out = tracker.step(stamp, d)
        return np.r_[out.state[0], out.cov[0].ravel()]

    np.testing.assert_allclose(run(True), run(None, with_velocity=False), rtol=0, atol=1e-12)
    assert not np.allclose(run(False), run(True))  # unflagged: the velocity (and its covariance) is used


# ---------------------------------------------------------------- velocity covariance


@pytest.mark.parametrize("model", MODELS)
def test_vel_cov_replaces_fixed_velocity_std(model: str) -> None:
    C = np.array([[0.09, 0.05], [0.05, 1.0]])
    tracker = Tracker(fast(motion_model=model))
    d = dets(0, [[0.0, 0.0], [30.0, 0.0]], vel=[[5.0, 1.0], [2.0, 2.0]])
    d.vel_cov = np.stack([C, np.full((2, 2), np.nan)])  # second row: unusable -> velocity ignored
    out = tracker.step(0, d)
    np.testing.assert_allclose(out.state[0, 2:], [5.0, 1.0])
    np.testing.assert_allclose(out.cov[0, 2:, 2:], C)
    np.testing.assert_allclose(out.state[1, 2:], [0.0, 0.0])
    np.testing.assert_allclose(out.cov[1, 2:, 2:], 8.0**2 * np.eye(2))
    # An update with vel_cov: the information adds (same stamp: no prediction in between).
    d = dets(0, [[0.0, 0.0]], vel=[[5.0, 1.0]])
    d.vel_cov = C[None]
    out = tracker.step(0, d)
    np.testing.assert_allclose(out.cov[0, 2:, 2:], C / 2, rtol=1e-9)


# ---------------------------------------------------------------- radar at birth


@pytest.mark.parametrize("model", MODELS)
def test_radar_gives_a_new_lidar_track_its_velocity(model: str) -> None:
    """Same frame: a LiDAR box starts a track; the radar detection of the same object (within the
    gate) updates that new track instead of starting another, and the track is born moving."""
    v = np.array([7.0, -3.0])
    tracker = Tracker(fast(motion_model=model))
    out = tracker.step(0, dets(0, [[10.0, 2.0]]))  # reference: LiDAR alone, velocity unknown
    assert np.allclose(out.state[0, 2:], 0.0)

    tracker = Tracker(fast(motion_model=model))
    lidar = dets(0, [[10.0, 2.0], [40.0, -5.0]])
    rad = radar(0, [[10.4, 2.3]], vel=[v])
    both = Detections(
        0,
        "odom",
        *(np.concatenate([getattr(lidar, f), getattr(rad, f)]) for f in
          ("centers", "sizes", "yaw", "labels", "scores", "velocity", "pos_cov", "sensors")),
    )  # fmt: skip
    out = tracker.step(0, both)
    assert tracker.num_tracks == 2 and out.ids.tolist() == [1, 2]
    np.testing.assert_allclose(out.state[0, 2:], v, atol=0.02 * np.linalg.norm(v))
    assert out.cov[0, 2, 2] < 0.3 and out.cov[0, 3, 3] < 0.3  # radar's 0.5 m/s std, not 8
    assert np.allclose(out.state[1, 2:], 0.0)  # the other object had no radar
    assert out.sensors.tolist() == [SENSOR_LIDAR | SENSOR_RADAR, SENSOR_LIDAR]
    np.testing.assert_allclose(out.sizes[0], [4.5, 1.8, 1.6])  # radar's box did not count
    heading = np.arctan2(v[1], v[0])  # the LiDAR box said yaw 0
    if model == "imm":
        assert abs(out.yaw[0] - heading) < 0.5 * abs(heading)  # steered towards the motion
    else:
        assert out.yaw[0] == 0.0  # cv: flip-only rule, and 0 is within 90 degrees of the motion


@pytest.mark.parametrize("model", MODELS)
def test_radar_radial_speed_at_birth(model: str) -> None:
    """A new LiDAR track matched by a Doppler-only radar detection: born with l' v = r."""
    v = np.array([7.0, -3.0])
    l = unit([10.0, 2.0])
    tracker = Tracker(fast(motion_model=model))
    tracker.step(0, dets(0, [[10.0, 2.0]]))
    out = tracker.step(0, radar(0, [[10.2, 2.1]], radial=[l @ v], los=[l]))
    assert tracker.num_tracks == 1
    assert l @ out.state[0, 2:] == pytest.approx(l @ v, abs=0.01)


def test_radar_only_birth_with_velocity() -> None:
    tracker = Tracker(fast())
    out = tracker.step(0, radar(0, [[10.0, 2.0]], vel=[[0.0, -6.0]], vel_cov=0.2**2 * np.eye(2)))
    assert out.ids.tolist() == [1]
    np.testing.assert_allclose(out.state[0], [10.0, 2.0, 0.0, -6.0])
    np.testing.assert_allclose(out.cov[0, 2:, 2:], 0.2**2 * np.eye(2))
    assert out.labels.tolist() == [int(ObjectClass.UNKNOWN)]  # radar's CAR label is not trusted
    # the box is not trusted either: the first LiDAR box replaces it outright, then smoothing
    out = tracker.step(DT_NS, dets(DT_NS, [[10.0, 1.4]], labels=int(ObjectClass.TRUCK), yaw=-1.5))
    np.testing.assert_allclose(out.sizes[0], [4.5, 1.8, 1.6])
    assert out.labels.tolist() == [int(ObjectClass.TRUCK)]
    assert abs(np.sin(out.yaw[0] + np.pi / 2)) < 0.2  # along -y (detection yaw or the motion)


# ---------------------------------------------------------------- trust


def test_radar_spawn_rules() -> None:
    def spawned(cfg: TrackerConfig, d: Detections) -> int:
        tracker = Tracker(cfg)
        tracker.step(0, d)
        return tracker.num_tracks

    cfg = fast()
    assert spawned(cfg, radar(0, [[5.0, 5.0]])) == 0  # no velocity: radar does not spawn
    assert spawned(cfg, radar(0, [[5.0, 5.0]], radial=[5.0], los=[[1.0, 0.0]])) == 0  # radial only
    assert spawned(cfg, radar(0, [[5.0, 5.0]], vel=[[4.0, 0.0]])) == 1  # well-measured velocity
    assert spawned(cfg, radar(0, [[5.0, 5.0]], vel=[[0.2, 0.0]])) == 0  # too slow (clutter)
    assert spawned(cfg, radar(0, [[5.0, 5.0]], vel=[[4.0, 0.0]], vel_cov=4.0 * np.eye(2))) == 0  # std 2
    off = fast(trust={"RADAR": {"may_spawn": False}})
    assert spawned(off, radar(0, [[5.0, 5.0]], vel=[[4.0, 0.0]])) == 0
    # radar that may spawn like LiDAR
    anyway = fast(trust={"RADAR": {"spawn_needs_velocity": False}})
    assert spawned(anyway, radar(0, [[5.0, 5.0]])) == 1
    # a detection fused from LiDAR and radar spawns on LiDAR's right; camera may spawn by default
    d = radar(0, [[5.0, 5.0]])
    d.sensors[:] = SENSOR_LIDAR | SENSOR_RADAR
    assert spawned(cfg, d) == 1
    assert (
        spawned(fast(trust={"CAMERA": {"may_spawn": False}}), dets(0, [[1.0, 1.0]], sensors=SENSOR_CAMERA))
        == 0
    )


def test_radar_that_may_not_spawn_still_updates() -> None:
    tracker = Tracker(fast(trust={"RADAR": {"may_spawn": False}}))
    tracker.step(0, dets(0, [[0.0, 0.0]], yaw=0.3))
    out = tracker.step(0, radar(0, [[0.3, 0.0], [30.0, 0.0]], vel=[[5.0, 0.0], [5.0, 0.0]]))
    assert tracker.num_tracks == 1 and out.hits.tolist() == [2]
    assert out.state[0, 2] == pytest.approx(5.0, abs=0.05)
    np.testing.assert_allclose(out.sizes[0], [4.5, 1.8, 1.6])  # LiDAR box kept (radar untrusted)
    assert out.labels.tolist() == [int(ObjectClass.CAR)]
    # may_update false: radar is ignored altogether
    tracker = Tracker(fast(trust={"RADAR": {"may_update": False}}))
    tracker.step(0, dets(0, [[0.0, 0.0]]))
    out = tracker.step(0, radar(0, [[0.3, 0.0]], vel=[[5.0, 0.0]]))
    assert out.hits.tolist() == [1] and out.state[0, 2] == 0.0


def test_untrusted_box_does_not_overwrite_trusted() -> None:
    tracker = Tracker(fast(motion_model="cv", yaw_from_velocity_min_speed_mps=float("inf")))
    tracker.step(0, dets(0, [[0.0, 0.0]], yaw=0.2, labels=int(ObjectClass.PEDESTRIAN)))
    for k in range(1, 6):
        out = tracker.step(k * DT_NS, radar(k * DT_NS, [[0.0, 0.0]], pos_std=0.3))
    np.testing.assert_allclose(out.sizes[0], [4.5, 1.8, 1.6])
    assert out.yaw[0] == pytest.approx(0.2) and out.z[0] == pytest.approx(0.8)
    assert out.labels.tolist() == [int(ObjectClass.PEDESTRIAN)] and out.label_probs[0] > 0.99
    # untrusted_class_vote_weight > 0: radar labels vote a little
    tracker = Tracker(fast(untrusted_class_vote_weight=0.5))
    out = tracker.step(0, radar(0, [[0.0, 0.0]], vel=[[3.0, 0.0]]))
    assert out.labels.tolist() == [int(ObjectClass.CAR)]


def test_trust_config() -> None:
    cfg = TrackerConfig.from_dict({"trust.RADAR.may_spawn": False, "trust.CAMERA": {"trust_size": True}})
    assert cfg.trust["RADAR"] == {**DEFAULT_TRUST["RADAR"], "may_spawn": False}
    assert cfg.trust["CAMERA"]["trust_size"] is True and cfg.trust["LIDAR"] == DEFAULT_TRUST["LIDAR"]
    cfg = TrackerConfig.from_dict({"trust": {"BEV": {"trust_class": False}}})
    assert cfg.trust["BEV"]["trust_class"] is False and cfg.trust["BEV"]["may_spawn"] is True
    assert TrackerConfig().trust == DEFAULT_TRUST and TrackerConfig().trust is not DEFAULT_TRUST
    with pytest.raises(ValueError, match="RADR"):
        TrackerConfig.from_dict({"trust.RADR.may_spawn": False})
    with pytest.raises(ValueError, match="may_spwan"):
        TrackerConfig.from_dict({"trust.RADAR.may_spwan": False})
    with pytest.raises(ValueError, match="must be a bool"):
        TrackerConfig.from_dict({"trust.RADAR.may_spawn": "no"})
    with pytest.raises(ValueError, match="motion_model"):
        TrackerConfig.from_dict({"motion_model": "ctrv"})
    with pytest.raises(ValueError, match="imm_sojourn_ct_s"):
        TrackerConfig.from_dict({"imm_sojourn_ct_s": 0.0})
    # lookup tables: a fused LiDAR+radar detection is size-trusted (LiDAR), a radar-only one is not
    tables = TrackerConfig().trust_tables()
    assert tables["trust_size"][SENSOR_LIDAR | SENSOR_RADAR] and not tables["trust_size"][SENSOR_RADAR]
    assert tables["spawn_velocity"][SENSOR_RADAR] and not tables["spawn_plain"][SENSOR_RADAR]
    assert all(tables[k][0] for k in ("may_update", "trust_class", "trust_size", "trust_yaw", "spawn_plain"))


def test_ab3dmot_baseline_options_combine() -> None:
    """iou3d + cv + radar off: tracks LiDAR boxes, and radar input changes nothing."""
    cfg = {"association": "iou3d", "motion_model": "cv", "trust.RADAR.may_update": False}
    rng = np.random.default_rng(3)
    runs = []
    for with_radar in (False, True):
        tracker = Tracker(TrackerConfig.from_dict(cfg))
        r = np.random.default_rng(4)
        outs = []
        for k in range(40):
            stamp = k * DT_NS
            truth = np.array([[0.5 * k, 0.0], [20.0 - 0.4 * k, 8.0]])
            out = tracker.step(stamp, dets(stamp, truth + r.normal(0, 0.1, (2, 2))))
            if with_radar:
                out = tracker.step(
                    stamp, radar(stamp, truth + rng.normal(0, 0.5, (2, 2)), vel=[[5, 0], [-4, 0]])
                )
            outs.append(out)
        runs.append(outs)
    assert sorted(runs[0][-1].ids.tolist()) == [1, 2]
    for a, b in zip(*runs):
        assert (
            np.array_equal(a.ids, b.ids) and np.array_equal(a.state, b.state) and np.array_equal(a.cov, b.cov)
        )


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", ["radial", "velocity"])
def test_oncoming_radar_cluster_beside_a_far_track_does_not_update_it(model: str, kind: str) -> None:
    """Urban seed 8 (10 s): a car track 100 m out at 12 m/s, its velocity known from LiDAR boxes and
    Doppler, took a radar cluster of the oncoming car 2 m beside it (inside the position gate at that
    range) with a Doppler of -9.7 m/s and was left at 44 m/s. The velocity the detection carries must
    lie inside the track's gate too (``velocity_gate``); with the position gate alone it fails."""
    rng = np.random.default_rng(3)
    tracker = Tracker(TrackerConfig(motion_model=model))
    v, p0 = np.array([12.0, 0.0]), np.array([80.0, -1.0])
    for k in range(25):
        stamp, p = k * DT_NS, p0 + v * k * 0.1
        tracker.step(stamp, dets(stamp, p[None] + rng.normal(0, 0.5, (1, 2)), pos_std=1.0))
        l = unit(p)
        tracker.step(stamp, radar(stamp, p[None], radial=[l @ v + rng.normal(0, 0.1)], los=[l], pos_std=0.7))
    out = tracker.step(stamp, dets(stamp, p[None], pos_std=1.0))
    assert out.ids.size == 1 and np.allclose(out.state[0, 2:], v, atol=0.7)
    before = out.state[0].copy()
    q = p + [-1.5, 2.0]  # the oncoming car's cluster, 2.5 m away at 100 m
    if kind == "radial":
        onc = radar(stamp, q[None], radial=[-9.65], los=[unit(q)], pos_std=1.0)
    else:
        onc = radar(stamp, q[None], vel=[[-9.65, 0.0]], vel_cov=np.eye(2) * 0.5**2, pos_std=1.0)
    out = tracker.step(stamp, onc)
    after = out.state[out.ids == out.ids.min()][0]
    assert np.allclose(after, before, atol=0.05), (before, after)  # not updated by it


@pytest.mark.parametrize("model", MODELS)
def test_first_doppler_of_a_track_tracked_by_positions_alone_is_taken(model: str) -> None:
    """Highway seed 3 (10 s): a truck at 23.6 m/s, five LiDAR boxes after birth, was estimated at
    -13.8 +- 2.0 m/s (the zero-velocity prior it started from lags more than the covariance says);
    its first Doppler is the best velocity evidence it gets and must not be gated out, so the velocity
    gate only applies to tracks whose velocity a sensor has measured."""
    tracker = Tracker(TrackerConfig(motion_model=model))
    # the truck's box centres as the detector gave them (its centre moves along the truck at first)
    xs = [124.1, 123.98, 123.3, 120.61, 118.29, 116.26]
    for k, x in enumerate(xs):
        stamp, p = k * DT_NS, np.array([x, 11.9])
        tracker.step(stamp, dets(stamp, p[None], pos_std=0.6))
    v = np.array([-23.6, 0.0])
    vx0 = tracker._filter.combine(tracker._t.xm, tracker._t.Pm, tracker._t.mu)[0][0, 2]
    l = unit(p)
    tracker.step(stamp, radar(stamp, p[None], radial=[l @ v], los=[l], pos_std=0.7))
    vx1 = tracker._filter.combine(tracker._t.xm, tracker._t.Pm, tracker._t.mu)[0][0, 2]
    assert vx0 > -20.0 and vx1 < vx0 - 3.0 and tracker.num_tracks == 1, (vx0, vx1)
