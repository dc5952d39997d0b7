"""Radar in clutter: the chi-square static test and mirror ghosts behind reflectors (radar_clutter.py)."""

from __future__ import annotations

import numpy as np

from sensor_fusion.perception.frame_detector import FrameDetector
from sensor_fusion.perception.radar import RadarDetector, RadarDetectorConfig

from .test_radar import NOISE, T_RADAR, make_scan


def test_stationary_return_rejected_at_speed_with_an_uncertain_ego_velocity():
    """At 25 m/s turning, with the ego velocity 1 m/s off and a filter that says so (1 m/s std),
    poles read a compensated Doppler of ~1 m/s: within their variance, so they start nothing."""
    rng = np.random.default_rng(3)
    v_true, w = np.array([25.0, 0.0]), 0.2
    poles = np.array([[20.0, 6.0, 1.0], [35.0, -7.0, 1.0], [50.0, 8.0, 1.0], [70.0, -9.0, 1.0]])
    scan = make_scan(poles, np.zeros((4, 2)), v_true, w, np.full(4, 8.0), rng, NOISE)
    v_est = v_true + np.array([1.0, 0.0])
    det = RadarDetector()
    out = det.detect(scan, T_RADAR, v_est, w, "base_link", np.eye(2) * 1.0**2, 0.01**2)
    assert len(out) == 0
    assert det.last_stats["static_rejected"] == 4
    assert (det.last_point_labels == -2).all()
    # the same error with a confident ego filter: the poles are (wrongly) moving
    det.detect(scan, T_RADAR, v_est, w, "base_link", np.eye(2) * 0.02**2, 0.0)
    assert det.last_stats["moving"] == 4


def test_slow_mover_is_kept_with_a_good_ego_estimate():
    """A pedestrian stepping away at 0.35 m/s, ego at 10 m/s known to 1 cm/s: 3.5 sigma of the
    Doppler noise, so it is moving (a fixed 0.3 m/s floor plus an assumed 0.1 m/s ego error
    dropped it)."""
    rng = np.random.default_rng(0)
    p = np.array([[15.0, 5.0, 1.0]])
    u = (p[0, :2] - T_RADAR[:2, 3]) / np.linalg.norm(p[0, :2] - T_RADAR[:2, 3])
    scan = make_scan(p, 0.35 * u[None], np.array([10.0, 0.0]), 0.0, np.array([-5.0]), rng)
    det = RadarDetector()
    out = det.detect(scan, T_RADAR, np.array([10.0, 0.0]), 0.0, "base_link", np.eye(2) * 0.01**2, 0.0)
    assert det.last_stats["moving"] == 1
    assert len(out) == 1
    assert abs(out.radial[0] - 0.35) < 0.05


def _wall_scene(rng: np.random.Generator, ghost: bool = True):
    """Ego at 10 m/s; a wall along y = 9 (stationary returns every 2 m), a car at y = 4 driving
    at 6 m/s, and (``ghost``) its mirror image behind the wall at y = 14, 8 dB weaker, with the
    Doppler of the mirrored velocity (the wall is parallel to the car's motion: the same)."""
    v_ego = np.array([10.0, 0.0])
    wall = np.column_stack([np.arange(12.0, 48.0, 2.0), np.full(18, 9.0), np.full(18, 1.0)])
    car = np.array([[28.0, 4.0, 0.6], [29.5, 4.0, 0.6], [31.0, 4.0, 0.6]])
    pts = [wall, car]
    vel = [np.zeros((18, 2)), np.tile([6.0, 0.0], (3, 1))]
    rcs = [np.full(18, 10.0), np.full(3, 6.0)]
    if ghost:
        pts.append(car * np.array([1.0, -1.0, 1.0]) + np.array([0.0, 18.0, 0.0]))
        vel.append(np.tile([6.0, 0.0], (3, 1)))
        rcs.append(np.full(3, -2.0))
    scan = make_scan(np.vstack(pts), np.vstack(vel), v_ego, 0.0, np.concatenate(rcs), rng, NOISE)
    return scan, v_ego


def test_ghost_behind_a_wall_is_rejected_and_counted():
    det = RadarDetector()
    scan, v_ego = _wall_scene(np.random.default_rng(5))
    out = det.detect(scan, T_RADAR, v_ego, 0.0, "base_link", np.eye(2) * 0.05**2, 0.0)
    assert det.last_stats["reflectors"] >= 1
    refl = det.last_reflectors
    assert np.any(np.abs(refl.center[:, 1] - 9.0) < 0.5)
    assert len(out) == 1 and abs(out.centers[0, 1] - 4.0) < 1.5
    assert det.last_stats["rejected_ghost_mirror"] == 1
    assert det.last_stats["rejected_ghost"] == 1
    assert (det.last_point_labels == -4).sum() == 3
    # without its partner the same cluster behind the wall is a real object (seen over a low rail)
    scan, _ = _wall_scene(np.random.default_rng(5), ghost=False)
    lone = det.detect(scan, T_RADAR, v_ego, 0.0, "base_link", np.eye(2) * 0.05**2, 0.0)
    assert len(lone) == 1 and det.last_stats["rejected_ghost_mirror"] == 0
    # and the counts add up per radar for /diagnostics
    fd = FrameDetector.__new__(FrameDetector)
    fd.radar, fd.radar_counts = det, {}
    det.detect(
        _wall_scene(np.random.default_rng(6))[0], T_RADAR, v_ego, 0.0, "base_link", np.eye(2) * 0.05**2
    )
    fd._count_radar("radar_front")
    det.detect(
        _wall_scene(np.random.default_rng(7))[0], T_RADAR, v_ego, 0.0, "base_link", np.eye(2) * 0.05**2
    )
    fd._count_radar("radar_front")
    assert fd.radar_counts["radar_front"]["ghosts_rejected_mirror"] == 2


def test_mirror_rule_keeps_an_oncoming_car_behind_a_barrier():
    """Behind a median barrier an oncoming car is real: its mirror image holds a car driving the
    other way, whose mirrored Doppler does not match. (At 25 m/s the oncoming car's raw Doppler
    would be twice a barrier return's at half its range: a double bounce by that rule.)"""
    rng = np.random.default_rng(2)
    v_ego = np.array([20.0, 0.0])
    barrier = np.column_stack([np.arange(10.0, 60.0, 2.5), np.full(20, 3.0), np.full(20, 0.6)])
    car = np.array([[40.0, 1.0, 0.6], [41.5, 1.0, 0.6]])
    oncoming = np.array([[40.0, 5.0, 0.6], [41.5, 5.0, 0.6]])
    pts = np.vstack([barrier, car, oncoming])
    vel = np.vstack([np.zeros((20, 2)), np.tile([19.0, 0.0], (2, 1)), np.tile([-25.0, 0.0], (2, 1))])
    rcs = np.concatenate([np.full(20, 8.0), np.full(2, 7.0), np.full(2, 5.0)])
    scan = make_scan(pts, vel, v_ego, 0.0, rcs, rng, NOISE)
    det = RadarDetector(RadarDetectorConfig(cluster_eps_across_m=1.5))
    out = det.detect(scan, T_RADAR, v_ego, 0.0, "base_link", np.eye(2) * 0.05**2, 0.0)
    assert det.last_stats["reflectors"] >= 1
    assert det.last_stats["rejected_ghost_mirror"] == 0
    assert len(out) == 2


def test_centroid_spread_term_covers_a_single_return_anywhere_on_the_object():
    """One return on a car's side: it may lie anywhere across it (variance width^2 / 12), which
    pos_centroid_spread_fraction 1 adds and the default (0, as before) leaves out."""
    rng = np.random.default_rng(1)
    scan = make_scan(
        np.array([[30.0, 0.0, 0.6]]), np.array([[8.0, 0.0]]), np.zeros(2), 0.0, np.array([10.0]), rng
    )
    off = RadarDetector().detect(scan, T_RADAR, np.zeros(2), 0.0)
    on = RadarDetector(RadarDetectorConfig(pos_centroid_spread_fraction=1.0)).detect(
        scan, T_RADAR, np.zeros(2), 0.0
    )
    assert len(off) == len(on) == 1
    extra = np.linalg.eigvalsh(on.pos_cov[0]) - np.linalg.eigvalsh(off.pos_cov[0])
    # a car end-on: the visible width across the LOS is 1.8 m, its depth along 4.5 m
    assert np.allclose(np.sort(extra), np.sort([1.8**2 / 12.0, 4.5**2 / 12.0]), rtol=1e-6)
