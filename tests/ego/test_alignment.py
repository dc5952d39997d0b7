"""Yaw alignment (ego/alignment.py): heading from the GPS chord (straight and turning tracks),
from the filter's velocity, from a heading measurement; the turn about world z; when the
aligner aligns and gives the heading up; then the estimator aligning on simulated drives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.ego import eskf
from sensor_fusion.ego.alignment import (
    Aligner,
    align_from_chord,
    align_from_velocity,
    align_to_heading,
    turn_heading,
)
from sensor_fusion.ego.config import EgoConfig
from sensor_fusion.ego.state import FilterState, Measurement
from tests.ego.test_estimator import NS, T_BASE_GPS, errors_after, run_filter, simulate
from tests.ego.test_state import make_state

CFG = EgoConfig().validate()
LEVER = T_BASE_GPS[:3, 3]
T0 = 1_000 * NS


def antenna(s: FilterState) -> np.ndarray:
    return s.p + eskf.quat_to_rot(s.q) @ LEVER


def yaw_of(s: FilterState) -> float:
    return eskf.rpy_from_quat(s.q)[2]


def track(heading0: float, yaw_rate: float, speed: float, duration_s: float, offset: float):
    """Fixes every 0.2 s on a path of constant curvature: (stamps, east, north, true yaw,
    filter yaw = true yaw - offset, as a filter integrating the gyro from a wrong start)."""
    t = np.arange(0.0, duration_s + 1e-9, 0.2)
    yaw = heading0 + yaw_rate * t
    if yaw_rate:
        rad = speed / yaw_rate
        e, n = rad * (np.sin(yaw) - np.sin(heading0)), -rad * (np.cos(yaw) - np.cos(heading0))
    else:
        e, n = speed * t * math.cos(heading0), speed * t * math.sin(heading0)
    return T0 + np.round(t * NS).astype(np.int64), e + 5.0, n - 3.0, yaw, yaw - offset


def chords(stamps, e, n, filter_yaw, var_h: float = 0.25) -> dict:
    return {int(st): (float(e[i]), float(n[i]), var_h, float(filter_yaw[i])) for i, st in enumerate(stamps)}


def unaligned_at(filter_yaw: float, v=(4.0, 0.0, 0.0)) -> FilterState:
    return make_state(rpy=(0.02, -0.01, filter_yaw), v=v, aligned=False, P=np.eye(15) * 0.5)


def test_chord_on_a_straight_track():
    """Straight at 10 m/s, heading 1.2 rad, filter yaw -0.5: aligned to 1.2; yaw std the best
    chord's (sqrt(2 * 0.25) / 30 m); velocity turned along the new heading; antenna unmoved."""
    stamps, e, n, _, fyaw = track(1.2, 0.0, 10.0, 3.0, offset=1.7)
    buf = chords(stamps, e, n, fyaw)
    buf[int(stamps[0]) - 6 * NS] = (0.0, 0.0, 0.25, 0.0)  # older than align_window_s: pruned
    s = unaligned_at(-0.5)
    ant = antenna(s)
    assert align_from_chord(s, buf, int(stamps[-1]), CFG, LEVER)
    assert s.aligned and yaw_of(s) == pytest.approx(1.2, abs=1e-9)
    std = math.sqrt(0.5) / 30.0
    assert s.P[8, 8] == pytest.approx(std**2, rel=1e-9)
    np.testing.assert_allclose(s.v, [4.0 * math.cos(1.2), 4.0 * math.sin(1.2), 0.0], atol=1e-12)
    assert s.P[3, 3] == pytest.approx((0.5 + 4.0 * std) ** 2) and s.P[3, 4] == 0.0 and s.P[3, 8] == 0.0
    np.testing.assert_allclose(antenna(s), ant, atol=1e-12)
    assert len(buf) == len(stamps)


def test_chord_in_a_turn_takes_the_heading_mid_interval():
    """On a circle (0.2 rad/s at 10 m/s) every chord points along the heading at the middle of
    its interval, so the filter's own yaws at both ends give the exact offset (using the yaw at
    either end instead would be off by up to 0.3 rad here)."""
    stamps, e, n, yaw, fyaw = track(0.7, 0.2, 10.0, 3.0, offset=1.7)
    s = unaligned_at(float(fyaw[-1]))
    assert align_from_chord(s, chords(stamps, e, n, fyaw), int(stamps[-1]), CFG, LEVER)
    assert wrap_angle(yaw_of(s) - yaw[-1]) == pytest.approx(0.0, abs=1e-9)


def test_chord_needs_speed_and_baseline():
    s = unaligned_at(-0.5)
    before = s.copy()
    slow = track(1.2, 0.0, 1.0, 3.0, offset=1.7)  # below align_min_speed_mps
    short = track(1.2, 0.0, 10.0, 1.6, offset=1.7)  # below align_baseline_s
    for stamps, e, n, _, fyaw in (slow, short):
        assert not align_from_chord(s, chords(stamps, e, n, fyaw), int(stamps[-1]), CFG, LEVER)
    assert not s.aligned
    np.testing.assert_array_equal(s.q, before.q)
    np.testing.assert_array_equal(s.P, before.P)


def test_velocity_gives_the_course_with_its_uncertainty():
    """Course 3.0 rad at 12 m/s known to 0.1 m/s, filter yaw -3.0 (across +-pi): yaw = course;
    the new yaw error is n . dv / |v|, so its covariance with the velocity is 0.01 n / 12 and
    its variance 0.01 / 144, raised to the floor align_min_std_rad^2."""
    course, speed = 3.0, 12.0
    P = np.eye(15) * 0.5
    P[3:6, 3:6] = np.eye(3) * 0.01
    s = make_state(v=(speed * math.cos(course), speed * math.sin(course), 0.0), rpy=(0, 0, -3.0), P=P)
    s.aligned = False
    ant = antenna(s)
    assert align_from_velocity(s, CFG, LEVER)
    assert s.aligned and wrap_angle(yaw_of(s) - course) == pytest.approx(0.0, abs=1e-12)
    n = np.array([-math.sin(course), math.cos(course)])
    np.testing.assert_allclose(s.P[8, 3:5], 0.01 * n / speed, atol=1e-15)
    assert s.P[8, 8] == pytest.approx(max(0.01 / speed**2, CFG.align_min_std_rad**2))
    np.testing.assert_allclose(antenna(s), ant, atol=1e-12)
    # Direction not known well enough (velocity std 5 m/s): no alignment, nothing changed.
    P[3:6, 3:6] = np.eye(3) * 25.0
    s = make_state(v=(speed, 0.0, 0.0), P=P, aligned=False)
    q = s.q.copy()
    assert not align_from_velocity(s, CFG, LEVER) and not s.aligned
    np.testing.assert_array_equal(s.q, q)


def test_turn_heading_keeps_the_antenna_and_turns_the_tilt_errors():
    P = np.eye(15) * 0.1
    P[6, 6], P[7, 7] = 0.01, 0.04
    s = make_state(rpy=(0.1, -0.1, 0.5), P=P)
    ant = antenna(s)
    Pt = turn_heading(s, math.pi / 2, LEVER)
    roll, pitch, yaw = eskf.rpy_from_quat(s.q)
    assert (roll, pitch, yaw) == pytest.approx((0.1, -0.1, 0.5 + math.pi / 2), abs=1e-12)
    np.testing.assert_allclose(antenna(s), ant, atol=1e-12)
    assert Pt[6, 6] == pytest.approx(0.04) and Pt[7, 7] == pytest.approx(0.01)


def test_heading_measurement_aligns():
    counters = {"yaw_aligned": 0, "imu_yaw_accepted": 0}
    aligner = Aligner(CFG, LEVER, counters)
    s = unaligned_at(-3.1)
    m = Measurement(s.t_ns, np.array([3.1, 0.0, 0.0]), np.array([[0.0025]]), kind="yaw", rows=(0,))
    aligner.heading(s, m)
    assert s.aligned and m.result and counters["imu_yaw_accepted"] == 1
    assert wrap_angle(yaw_of(s) - 3.1) == pytest.approx(0.0, abs=1e-12)
    assert s.P[8, 8] == 0.0025 and not np.delete(s.P[8], 8).any()
    s2 = unaligned_at(0.3)
    align_to_heading(s2, 2.0, 0.01, LEVER)
    assert yaw_of(s2) == pytest.approx(2.0, abs=1e-12) and s2.P[8, 8] == 0.01


def test_aligner_aligns_after_the_baseline_and_gives_up_a_lost_heading():
    """Fixes of a straight 10 m/s track, filter at rest with an unknown velocity: the chord
    aligns at the first fix align_baseline_s after the first one (counted once); a yaw std
    above unalign_yaw_std_rad makes the heading unknown again."""
    counters = {"yaw_aligned": 0, "imu_yaw_accepted": 0}
    aligner = Aligner(CFG, LEVER, counters)
    s = unaligned_at(0.0, v=(0.0, 0.0, 0.0))
    stamps, e, n, _, _ = track(-2.0, 0.0, 10.0, 3.0, offset=0.0)
    aligned_at = None
    for i, st in enumerate(stamps):
        aligner.after_fix(s, Measurement(int(st), np.array([e[i], n[i], 0.0]), np.eye(3) * 0.25))
        if s.aligned and aligned_at is None:
            aligned_at = (st - stamps[0]) / NS
    assert aligned_at == pytest.approx(CFG.align_baseline_s)
    assert counters["yaw_aligned"] == 1 and yaw_of(s) == pytest.approx(-2.0, abs=1e-9)
    s.P[8, 8] = (CFG.unalign_yaw_std_rad * 1.1) ** 2
    aligner.after_fix(s, Measurement(int(stamps[-1]) + NS, np.zeros(3), np.eye(3)))
    assert not s.aligned
    # A replayed fix (first=False) aligns but is not counted again.
    s = unaligned_at(0.0, v=(0.0, 0.0, 0.0))
    aligner.clear()
    for i, st in enumerate(stamps):
        aligner.after_fix(s, Measurement(int(st), np.array([e[i], n[i], 0.0]), np.eye(3) * 0.25, first=False))
    assert s.aligned and counters["yaw_aligned"] == 1


def test_yaw_converges_from_any_initial_heading():
    for yaw0 in (-2.5, 0.3, 2.9):
        sim = simulate(45.0, "s_curve", seed=5, yaw0=yaw0)
        run = run_filter(sim)
        _, ey, _, _ = errors_after(sim, run, 30.0)
        assert math.degrees(np.abs(ey).max()) < 2.0, yaw0


def test_heading_from_velocity_when_cruising():
    """Started at 27 m/s: the heading comes from the filter's velocity as soon as its
    direction is known to align_max_std_rad (well under a second), not after a 2 s chord."""
    sim = simulate(10.0, "highway", seed=8, gps_std=0.5)
    run = run_filter(sim)
    t = sim.t[run.idx]
    ey = wrap_angle(run.yaw - sim.yaw[run.idx])
    k = int(np.argmax(run.var_yaw < 1.0))  # first record after alignment
    assert run.est.counters["yaw_aligned"] == 1
    assert t[k] < 1.0
    assert abs(ey[k]) < 3.0 * math.sqrt(run.var_yaw[k])
    assert math.degrees(np.abs(ey[t >= 3.0]).max()) < 1.0
