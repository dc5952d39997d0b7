"""Steps between consecutive GNSS fixes (ego/gnss_steps.py) and what the filter does with them."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.ego.config import EgoConfig
from sensor_fusion.ego.estimator import EgoEstimator
from sensor_fusion.ego.gnss_steps import (
    CHI2,
    Step,
    StepDetector,
    bound_factor,
    median_factor,
    sample_weight,
    track_displacement,
)
from sensor_fusion.ego.state import Measurement
from sensor_fusion.ego.track_align import fit_rotation
from tests.ego.robot_sim import T_BASE_GPS, T_BASE_IMU, robot_config, simulate
from tests.ego.test_robot import run
from tests.ego.test_state import make_state

LEVER = np.array([-0.2, 0.1, 0.6])
DT_NS = 400_000_000  # 2.5 Hz


def _fixes(n: int, seed: int, jumps=()) -> np.ndarray:
    """Antenna fixes (n, 2) of a drive east at 1 m/s: the truth plus a Gauss-Markov error (0.85
    m, 60 s) and 0.3 m white noise (the generator's robot receiver), plus ``jumps`` (k0, k1,
    east, north) over fixes [k0, k1)."""
    rng = np.random.default_rng(seed)
    phi = np.exp(-0.4 / 60.0)
    g = np.zeros((n, 2))
    g[0] = rng.normal(0.0, 0.85, 2)
    for k in range(1, n):
        g[k] = phi * g[k - 1] + np.sqrt(1.0 - phi * phi) * rng.normal(0.0, 0.85, 2)
    z = np.stack([0.4 * np.arange(n), np.zeros(n)], 1) + g + rng.normal(0.0, 0.3, (n, 2))
    for k0, k1, e, nn in jumps:
        z[k0:k1] += (e, nn)
    return z


def _feed(z: np.ndarray) -> list[tuple[float | None, tuple | None]]:
    """Each fix through test/classify/record with the filter dead-reckoning the truth: (its
    test over the flag bound, flagged past 1; its classification)."""
    det = StepDetector()
    s = make_state(v=(1.0, 0.0, 0.0))
    cov = np.eye(3) * 0.9**2
    out = []
    for k, zk in enumerate(z):
        s.p = np.array([0.4 * k, 0.0, 0.0]) - LEVER
        m = Measurement(k * DT_NS, np.array([zk[0], zk[1], 0.0]), cov)
        chi = det.test(s, m, LEVER)
        flagged = chi is not None and chi > det.bound
        kind = det.classify(m.stamp_ns, flagged) if chi is not None else None
        out.append((None if chi is None else chi / det.bound, None if kind is None else (kind[0], k)))
        det.record(s, m, LEVER, flagged)
    return out


def test_the_fix_to_fix_noise_is_learnt_and_rarely_flagged():
    """500 fixes (200 s) of drift plus white noise: the noise is learnt from the steps (about
    0.45 m per axis, not the receiver's 0.9 m), so the drift (0.85 m, three times the white noise)
    flags nothing but a chi2(2) 0.999 tail, and a 2 m jump at the end is flagged (with the
    reported variance it would be 1.6 sigma)."""
    out = _feed(_fixes(501, seed=3, jumps=[(500, 501, 2.0, 0.0)]))
    flagged = sum(1 for chi, _ in out[:500] if chi is not None and chi > 1.0)
    assert flagged <= 3
    assert out[500][0] > 1.0 and 4.0 / (2.0 * 0.81) < CHI2


def test_a_jump_while_the_reference_still_grows_opens_and_returns_once():
    """An 8 m jump over fixes 2-5, while the reference holds fewer than 5 fixes: one open at its
    start, one return at its end (with the reference's lag taken at opening, the growing
    reference opened the jump twice and returned only from the newer one)."""
    out = _feed(_fixes(40, seed=6, jumps=[(2, 6, 5.6, -5.6)]))
    assert [k for _, k in out if k is not None and k[0] != "same"] == [("open", 2), ("return", 6)]


def test_a_jump_opens_at_its_start_and_returns_at_its_end():
    """A 3 m jump over 25 fixes (10 s): 'open' at its first fix, 'return' at the first fix after
    it, no other step near it (the median of the recent fixes follows the jumped level, and
    restarts from the fix that returned)."""
    out = _feed(_fixes(200, seed=4, jumps=[(100, 125, 2.1, -2.1)]))
    kinds = [k for _, k in out if k is not None and k[0] in ("open", "return")]
    assert ("open", 100) in kinds and ("return", 125) in kinds
    assert all(k[1] in (100, 125) or not 90 < k[1] < 135 for k in kinds)


def test_an_outlier_fix_opens_and_returns_at_once():
    """One fix 3 m off: the next fix is back at the level of the fixes before (the median of the
    recent fixes has not moved), so the step it opened returns at once; not left open."""
    det_out = _feed(_fixes(120, seed=5, jumps=[(80, 81, 0.0, 3.0)]))
    assert det_out[80][1] == ("open", 80)
    assert det_out[81][1] == ("return", 81)


def test_track_displacement_integrates_the_wheel_track():
    """1 m/s east until 1.0 s then north (samples every 0.1 s, linear between): from 0.5 s to
    1.5 s, 0.45 m east and 0.55 m north."""
    tv = tuple((int(k * 1e8), 1.0 if k < 10 else 0.0, 0.0 if k < 10 else 1.0) for k in range(21))
    d = track_displacement(tv, 500_000_000, 1_500_000_000)
    assert d == pytest.approx([0.45, 0.55], abs=1e-9)
    assert track_displacement(tv, 1_000_000_000, 4_000_000_000) is None  # samples end 2 s before
    one = ((1_000_000_000, 1.0, 0.5),)  # one sample: held throughout, back to the start fix too
    assert track_displacement(one, 800_000_000, 1_200_000_000) == pytest.approx([0.4, 0.2])
    assert track_displacement(one, 2_800_000_000, 3_200_000_000) is None  # 2.2 s old
    assert track_displacement((), 0, 400_000_000) is None


def test_a_return_from_a_jump_the_filter_took_reseeds_it_there():
    """An 8 m jump from 3 s to 14 s, as the robot starts to move: the episode outlasts the level
    the filter held (since its first fix, a few seconds) and the filter, its heading still
    unknown, takes the jump. Its end is a step back by the same vector: the filter is re-seeded
    onto the fixes at once (metre-level error afterwards) instead of gating them as multipath
    until they outlast the jumped level (1.5 m on the code without the step test; 2.4 m while
    the standstill before the start could not pin the gyro bias, before session 45)."""
    sim = simulate(60.0, seed=7, gps_jump=(3.0, 14.0, 0.0, 8.0))
    est, rec = run(sim, robot_config(gps_reinit_after_rejections=25, gnss_steps=True))
    assert est.counters["gps_multipath_returns"] == 1
    assert est.counters["gps_reinit"] == 0
    assert rec[rec[:, 0] > 17.0, 3].max() < 1.0
    est, rec = run(sim, robot_config(gps_reinit_after_rejections=25, gnss_steps=False))
    assert rec[rec[:, 0] > 17.0, 3].max() > 1.2


@pytest.mark.parametrize(("seed", "first_fix_s"), [(0, 1.0), (2, 1.0), (4, 1.0), (0, 0.0), (2, 0.0)])
def test_a_jump_from_the_fix_after_the_start_fix_is_a_step_from_it(seed, first_fix_s):
    """The filter starts from the first fix, and an 8 m jump holds every later fix until 14 s
    (dev robot seed 36). The start fix is the step detector's first reference, so the jump is a
    step from it and its end a return (a re-seed onto the true fixes). Before, the steps started
    at the second fix, which made the jumped level the reference: the end of the jump read as a
    new jump and the true fixes were gated for tens of seconds (7-16 m off after 17 s). Two
    orderings: the IMU and wheels running a second before the first fix (as on the robot bags),
    and all starting together, when the filter starts with one wheel sample since its start
    fix (its track held from it: it had none to compare the first step with)."""
    sim = simulate(60.0, seed=seed, gps_jump=(first_fix_s + 0.3, 14.0, 0.0, 8.0))
    sim.gps = [f for f in sim.gps if f.stamp_ns - sim.stamps[0] >= first_fix_s * 1e9]
    est, rec = run(sim, robot_config(gps_reinit_after_rejections=25, gnss_steps=True))
    assert est.counters["gps_multipath_returns"] == 1
    assert est.counters["gps_reinit"] == 0
    assert rec[rec[:, 0] > 17.0, 3].max() < 1.2


def test_the_first_step_from_a_start_with_its_heading_uses_the_velocity_at_the_next_fix():
    """A start that knows its heading (the IMU's yaw) while the vehicle moves at 3 m/s: the start
    state's velocity is a guess (0), so the motion to the next fix is the velocity there times
    the interval, not the trapezoid from 0 (half of it: a 0.6 m false step at 2.5 Hz)."""
    det = StepDetector()
    cov = np.eye(3) * 0.9**2
    s0 = make_state(v=(0.0, 0.0, 0.0))
    det.start(s0, Measurement(0, np.array([0.0, 0.0, 0.0]), cov), LEVER)
    s1 = make_state(v=(3.0, 0.0, 0.0))
    chi = det.test(s1, Measurement(DT_NS, np.array([1.2, 0.0, 0.0]), cov), LEVER)
    assert chi == pytest.approx(0.0, abs=1e-12)
    det = StepDetector()
    det.record(s0, Measurement(0, np.array([0.0, 0.0, 0.0]), cov), LEVER, False)  # as before
    chi = det.test(s1, Measurement(DT_NS, np.array([1.2, 0.0, 0.0]), cov), LEVER)
    assert chi * det._var == pytest.approx(0.6**2)


def test_a_level_part_keeps_a_jumped_newest_fix_out_of_the_heading_fit():
    """A 10 m track, fixes with 0.9 m noise, the newest one on a 4 m jumped level (held-out robot
    seed 1: the filter had taken that level, and the heading aligned on it). As a candidate break
    the fix bends the rotation towards it (the split test cannot see a step that the rotation
    absorbs: 2 deg off on average over 40 noise draws, 28 deg at worst); as a level part (a step
    opened it) it has its own shift and the rotation is the one of the fixes before it."""
    th = 0.3
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    d = np.stack([np.arange(25) * 0.4, np.zeros(25)], 1)
    var = np.full(25, 0.81)
    lvl = np.zeros(25, dtype=np.int64)
    lvl[-1] = 1
    bent = []
    for seed in range(40):
        z = d @ rot.T + np.random.default_rng(seed).normal(0.0, 0.9, (25, 2))
        z[-1] += (0.0, 4.0)
        clean = fit_rotation(d[:-1], z[:-1], var[:-1])[0]
        assert fit_rotation(d, z, var, level=lvl)[0] == pytest.approx(clean, abs=1e-12)
        bent.append(abs(fit_rotation(d, z, var, part=lvl)[0] - clean))
    assert np.degrees(np.mean(bent)) > 1.0


def test_a_return_replayed_after_a_late_message_reseeds_again():
    """The same 8 m jump, with the wheel message stamped just before the returning fix delivered
    after it: the filter rolls back and replays that fix, and the re-seed (a decision of its
    first processing) must be applied again, as in order (it was lost: 9.5 m of error)."""
    sim = simulate(60.0, seed=7, gps_jump=(3.0, 14.0, 0.0, 8.0))
    cfg = robot_config(gps_reinit_after_rejections=25, gnss_steps=True)
    est = EgoEstimator(cfg, T_base_imu=T_BASE_IMU, T_base_gps=T_BASE_GPS)
    t_ret = next(f.stamp_ns for f in sim.gps if (f.stamp_ns - sim.stamps[0]) / 1e9 >= 14.0)
    late = max(w[0] for w in sim.wheel if w[0] < t_ret)
    ev = sorted([(f.stamp_ns, 0, f) for f in sim.gps] + [(w[0], 1, w) for w in sim.wheel if w[0] != late])
    ev = [e[1:] for e in ev]
    ev.insert(next(i for i, (kind, m) in enumerate(ev) if kind == 0 and m.stamp_ns == t_ret) + 1,
              (1, next(w for w in sim.wheel if w[0] == late)))  # fmt: skip
    k, err = 0, []
    for i, smp in enumerate(sim.imu):
        est.add_imu(smp)
        while k < len(ev) and (ev[k][1].stamp_ns if ev[k][0] == 0 else ev[k][1][0]) <= sim.stamps[i]:
            kind, m = ev[k]
            k += 1
            est.add_gps(m) if kind == 0 else est.add_wheel_odometry(*m)
        if est.initialized and sim.t[i] > 17.0:
            err.append(float(np.linalg.norm(est.latest().position[:2] - sim.pos[i, :2])))
    assert est.counters["gps_rollbacks"] >= 1
    assert est.counters["gps_multipath_returns"] == 1
    assert max(err) < 1.0


def test_gnss_steps_needs_the_wheel_track():
    assert EgoConfig(gnss_steps=True, wheel_scale_std=0.0).cross_checks()
    assert not EgoConfig(gnss_steps=True).cross_checks()


def test_back_to_back_jumps_return_together():
    """A 3 m jump east that changes straight into one of (-1, 3.5) m, then clear (val seed 102):
    the step back to the clear fixes is minus the sum of the two open steps, not either one, so
    it returns from both (it opened a third level, which held the clear fixes as multipath)."""
    out = _feed(_fixes(200, seed=9, jumps=[(100, 110, 3.0, 0.0), (110, 125, -1.0, 3.5)]))
    kinds = [k for _, k in out if k is not None and k[0] in ("open", "return") and 90 < k[1] < 135]
    assert kinds == [("open", 100), ("open", 110), ("return", 125)]


def test_a_jump_among_the_first_fixes_is_found_once_the_noise_is_learnt():
    """A 3 m jump from the 4th fix for 10 s: with the reported variance doubled (the noise not yet
    learnt) its step is only 2.4 sigma, so the filter takes it. Once the noise is learnt the first
    steps are tested again: the jump is an open level the filter holds (followed), and its end is
    a return from it, not a new jump that would hold the true fixes as multipath."""
    out = _feed(_fixes(80, seed=9, jumps=[(3, 28, 0.0, 3.0)]))
    assert out[3][0] < 1.0  # not flagged at the time
    kinds = [k for _, k in out if k is not None and k[0] in ("open", "return")]
    assert kinds == [("return", 28)]


@pytest.mark.parametrize("rho", [0.0, 0.5, 1.0, 3.0])
def test_the_heading_free_median_table_matches_a_monte_carlo(rho):
    """The median of (|d + n| - |d|)^2 per unit variance, at |d| = rho sigma (the table the
    heading-free noise is learnt with): 2 ln 2 standing still, about a third of that at rho 1."""
    rng = np.random.default_rng(7)
    n = rng.normal(size=(400_000, 2))
    r = np.hypot(rho + n[:, 0], n[:, 1]) - rho
    assert median_factor(np.array(rho)) == pytest.approx(np.median(r * r), rel=0.02)


@pytest.mark.parametrize(("n", "rho"), [(10, 0.0), (30, 0.0), (100, 0.0), (30, 3.0), (40, 0.7)])
def test_the_flag_bound_keeps_false_flags_near_one_in_a_thousand(n, rho):
    """A variance learnt as the median of ``n`` steps is itself random: half the truth in about
    one draw of ten from ten steps. Against chi2(2)'s 0.999 point alone a white-noise step is
    flagged several times more often than one in a thousand (validation seed 53: a 1.3 m step
    of 0.3 m white noise, flagged as the robot starts); the widened bound keeps it near that."""
    rng = np.random.default_rng(n)
    draws = 200_000
    d = rng.normal(size=(draws, n, 2))
    r2 = (np.hypot(rho + d[..., 0], d[..., 1]) - rho) ** 2
    var = np.median(r2 / median_factor(np.full(n, rho)), axis=1)
    bound = CHI2 * bound_factor(float(sample_weight(np.full(n, rho)).sum()))
    false = np.mean(rng.chisquare(2, draws) / var > bound)
    assert 0.0004 < false < 0.002
    if n == 10:
        assert np.mean(rng.chisquare(2, draws) / var > CHI2) > 0.004


@pytest.mark.parametrize("speed", [0.0, 0.5, 1.5])
def test_the_noise_is_learnt_standing_still_and_driving(speed):
    """Heading unknown, 0.3 m white noise per axis (a fix difference: 0.18 m^2 per axis), a robot
    standing or driving 0.2-0.6 m between fixes: the learnt variance is the same. Scaled as a 1-D
    residual whatever the motion, the steps of a robot standing still learnt three times too much
    (validation seed 124: a 3 m jump among the first fixes was never found)."""
    rng = np.random.default_rng(11)
    det = StepDetector()
    s = make_state(aligned=False)
    cov = np.eye(3) * 0.9**2
    for k in range(100):
        s.track_v = tuple((int(j * 1e8), speed, 0.0) for j in range(4 * k + 2))
        truth = np.array([speed * 0.4 * k, 0.0])
        m = Measurement(k * DT_NS, np.array([*(truth + rng.normal(0.0, 0.3, 2)), 0.0]), cov)
        chi = det.test(s, m, LEVER)
        flagged = chi is not None and chi > det.bound
        if chi is not None:
            det.classify(m.stamp_ns, flagged)
        det.record(s, m, LEVER, flagged)
    assert det.variance(0.81) == pytest.approx(0.18, rel=0.3)


def test_a_jump_the_review_missed_is_known_by_its_reverse():
    """The first fixes twice as noisy as the rest (0.6 m white): the ten steps the noise is first
    learnt from give four times the later variance, and a 3 m jump from the 4th fix passes the
    review. When it ends, its step back is minus that early step and a jump by the noise learnt
    since: a return from the level the filter took, not a new jump (validation seed 125: the true
    fixes held as multipath for 23 s)."""
    z = _fixes(80, seed=9, jumps=[(3, 38, 0.0, 3.0)])
    z[:12] += np.random.default_rng(4).normal(0.0, 0.52, (12, 2))  # 0.6 m white in all
    out = _feed(z)
    kinds = [k for _, k in out if k is not None and k[0] in ("open", "return")]
    assert kinds == [("return", 38)]


def test_a_heading_free_return_is_matched_by_the_length_of_the_motion():
    """Heading unknown, the step vectors hold the motion driven between the fixes, of known length
    and unknown ENU direction. A 3 m jump east while driving 0.6 m east per fix: the step back is
    matched (the motion's sum has its known length); another jump whose step is 4 m from the
    reversal is not. Taken as a variance of driven^2 per axis, as before, it was matched."""
    det = StepDetector()
    det._var, det.bound = 0.2, 14.8
    drive = np.array([0.6, 0.0])
    det.open = [Step(0, np.array([3.0, 0.0]) + drive, drive, epoch=1)]
    assert det._returns_to(np.array([-3.0, 0.0]) + drive, drive, 1) == 0
    other = np.array([-1.5, 3.0]) + drive
    assert det._returns_to(other, drive, 1) is None
    e = other + det.open[0].vec
    assert float(e @ e) <= det.bound * (2 * det._var + 2 * float(drive @ drive))  # the old test took it
    # across a change of heading state only the lengths are known: the triangle inequality
    assert det._returns_to(np.array([-3.0, 0.0]) + drive, drive, 2) == 0


def test_the_step_back_from_a_single_outlier_fix_opens_no_level():
    """Heading unknown, the reference is the previous fix alone. A white-noise tail fix steps out
    just under the bound and the next steps back just over it (10 Hz fixes, robot seed 245:
    chi 13.7 out, 21.3 back): the step back is minus the step out, so the fix is back at the level
    before the outlier, not on a new level (which held the true fixes for 14.5 s). A jump's
    start is not taken for one, nor a step back after an ordinary step out."""
    det = StepDetector()
    det._var, det.bound = 0.157, 14.9
    det._samples.extend([(0.2, 0.0)] * 100)  # the noise learnt
    still = np.zeros(2)
    out = Step(0, np.array([-1.3, -0.67]), still, epoch=1)
    det._last = (out, 2.14)  # 13.7 times the variance
    det._vec, det._motion, det._epoch = np.array([1.56, 0.95]), still, 1
    assert float(det._vec @ det._vec) / det._var > det.bound  # flagged
    assert det.classify(10**9, True) is None  # back: no level opened
    det._vec = np.array([5.0, 0.5])  # a 5 m jump: 3.7 m from minus the step out
    assert det.classify(10**9, True)[0] == "open"
    det.open, det._last = [], (out, 0.5)  # an ordinary step out (3 times the variance)
    det._vec = np.array([1.56, 0.95])
    assert det.classify(10**9, True)[0] == "open"
    det.open, det._last = [], None  # the previous fix flagged or classified: nothing to come back from
    assert det.classify(10**9, True)[0] == "open"
