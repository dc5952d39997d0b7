"""The IMM's opt-in stopped model (``imm_sojourn_stop_s``): parked rows, braking, births, frame changes."""

from __future__ import annotations

import numpy as np

from sensor_fusion.tracking.filters import IMMFilter, stop_log_odds
from sensor_fusion.tracking.motion import Stopped
from sensor_fusion.tracking.tracker import Tracker, TrackerConfig
from tests.tracking.test_tracker import DT_NS, dets, run

STOP = TrackerConfig(imm_sojourn_stop_s=30.0)


def _parked_row(cfg: TrackerConfig, seed: int) -> tuple[int, float]:
    """Ten cars side by side (2.5 m apart, 1.8 m wide), each box missed in 30 % of frames, 0.25 m
    of noise, 8 s: (distinct track ids published on the cars, share of track-frames over 2 m/s)."""
    rng = np.random.default_rng(seed)
    cars = np.column_stack([np.arange(10) * 2.5, np.full(10, 10.0)])
    tracker = Tracker(cfg)
    ids: set[tuple[int, int]] = set()
    fast = n = 0
    for k in range(80):
        seen = rng.random(len(cars)) > 0.3
        z = cars[seen] + rng.normal(0.0, 0.25, (int(seen.sum()), 2))
        out = tracker.step(k * DT_NS, dets(k * DT_NS, z, pos_std=0.4, yaw=np.pi / 2))
        if k < 10 or not len(out):
            continue
        speed = np.hypot(out.state[:, 2], out.state[:, 3])
        fast, n = fast + int((speed > 2.0).sum()), n + len(speed)
        for i, c in enumerate(cars):
            d = np.hypot(*(out.state[:, :2] - c).T)
            if d.min() < 1.0:
                ids.add((i, int(out.ids[np.argmin(d)])))
    return len(ids), fast / max(n, 1)


def test_a_row_of_parked_cars_keeps_its_tracks_still() -> None:
    """Without the stopped model a track whose car is missed takes the neighbour's box 2.5 m away
    as motion and hops along the row (parking_lot 723: 551 ID switches in 10 s). Not all hops go:
    a track two boxes old is still as likely moving as stopped."""
    base = [_parked_row(TrackerConfig(imm_sojourn_stop_s=0.0), s) for s in range(6)]
    stop = [_parked_row(STOP, s) for s in range(6)]
    ids_base, ids_stop = sum(b[0] for b in base), sum(s[0] for s in stop)
    fast_base, fast_stop = np.mean([b[1] for b in base]), np.mean([s[1] for s in stop])
    # six seeds: 187 ids and 18 % of track-frames over 2 m/s without; 97 and 5.5 % with
    assert ids_stop <= 0.6 * ids_base, (ids_base, ids_stop)
    assert fast_stop <= 0.4 * fast_base, (fast_base, fast_stop)


def test_a_moving_car_does_not_stop_within_a_frame() -> None:
    """Cars at 8 and 4.5 m/s: no box that falls behind by 2 sigma makes the stopped mode take the
    estimate (it cannot brake to zero within 0.1 s), so the last frame's velocity is the car's."""
    rng = np.random.default_rng(2)
    t = np.arange(50)[:, None] * 0.1
    v = np.array([[8.0, 1.0], [-2.0, 4.0]])
    truth = np.stack([v[0] * t, np.array([30.0, -10.0]) + v[1] * t], axis=1)
    tracker = Tracker(TrackerConfig(accel_std_mps2=0.5, imm_sojourn_stop_s=30.0))
    *_, (_k, _stamp, out) = run(tracker, truth, rng)
    assert len(out) == 2
    for m in range(2):
        i = int(np.argmin(np.hypot(*(out.state[:, :2] - truth[-1, m]).T)))
        assert np.hypot(*(out.state[i, 2:] - v[m])) < 0.3
    assert (tracker._t.mu[:, 2] < 0.01).all()


def test_the_stopped_model_stands_still() -> None:
    x = np.array([[1.0, 2.0, 3.0, -1.0, 0.2]])
    P = np.eye(5)[None] * 0.5
    xs, Ps = Stopped().predict(x, P, 0.1, np.array([1.0]))
    np.testing.assert_allclose(xs, [[1.0, 2.0, 0.0, 0.0, 0.0]])
    assert np.all(Ps[0, 2:, :] == 0.0) and np.all(Ps[0, :, 2:] == 0.0)
    assert np.all(np.diag(Ps[0])[:2] >= 0.5)


def test_a_birth_is_judged_stopped_or_moving_by_its_measured_velocity() -> None:
    var0 = 64.0
    v = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0]])
    P = np.stack([var0 * np.eye(2), 0.09 * np.eye(2), 0.09 * np.eye(2)])
    lo = stop_log_odds(v, P, var0)
    assert abs(lo[0]) < 1e-12 and lo[1] > 5.0 and lo[2] < -100.0
    bank = IMMFilter(0.5, 0.3, (4.0, 2.0, 30.0))
    x4 = np.column_stack([np.zeros((3, 2)), v])
    P4 = np.zeros((3, 4, 4))
    P4[:, :2, :2] = 0.04 * np.eye(2)
    P4[:, 2:, 2:] = P
    _, _, mu = bank.init(x4, P4, var0)
    np.testing.assert_allclose(mu[0], [1 / 3, 1 / 6, 1 / 2])  # nothing measured: even odds, stopped or not
    assert mu[1, 2] > 0.99 and mu[2, 2] < 1e-9


def test_change_frame_restarts_the_stopped_mode() -> None:
    """In base_link before the heading, "at rest" is "moving with the vehicle": the stopped model
    is off there, and at the change to odom the parked car (relative -5 m/s) is the one judged
    stopped, not the car driving along."""
    tracker = Tracker(TrackerConfig(frame_id="base_link", moving_frame=True, imm_sojourn_stop_s=30.0))
    rng = np.random.default_rng(0)
    for k in range(20):
        parked = np.array([30.0 - 5.0 * k * 0.1, 5.0])
        along = np.array([15.0, -3.0])
        z = np.stack([parked, along]) + rng.normal(0, 0.1, (2, 2))
        tracker.step(k * DT_NS, dets(k * DT_NS, z, frame_id="base_link"))
    assert (tracker._t.mu[:, 2] < 1e-6).all()  # off while the frame moves
    tracker.change_frame("odom", np.eye(4), np.array([5.0, 0.0, 0.0]), 0.0)
    t = tracker._t
    parked, along = np.argmax(t.xm[:, 0, 1]), np.argmin(t.xm[:, 0, 1])
    assert t.mu[parked, 2] > 0.99 and t.mu[along, 2] < 1e-6
    np.testing.assert_allclose(t.xm[:, 2, 2:], 0.0)
    assert np.all(np.isfinite(t.Pm)) and not tracker.config.moving_frame


def test_new_tracks_start_stopped_as_often_as_the_scene_s_tracks_are() -> None:
    """The birth odds follow the confirmed tracks: a row of parked cars makes new tracks start
    mostly stopped, a stream of moving cars mostly moving (Laplace's rule, forgotten over 10 s)."""
    parked = Tracker(STOP)
    moving = Tracker(STOP)
    rng = np.random.default_rng(1)
    cars = np.column_stack([np.arange(10) * 6.0, np.full(10, 10.0)])
    for k in range(30):
        z = cars + rng.normal(0, 0.1, cars.shape)
        parked.step(k * DT_NS, dets(k * DT_NS, z))
        moving.step(k * DT_NS, dets(k * DT_NS, z + [[12.0 * k * 0.1, 0.0]]))
    assert parked._filter.birth_stop_prob > 0.9
    assert moving._filter.birth_stop_prob < 0.1


def test_three_model_bank_equals_filterpy_imm() -> None:
    """CV + CT + stopped against filterpy's IMMEstimator over the same three models (no braking
    bound, so the transition matrix is one for all tracks, as IMMEstimator's)."""
    from filterpy.common import Q_discrete_white_noise
    from filterpy.kalman import IMMEstimator, KalmanFilter

    from sensor_fusion.tracking import imm
    from sensor_fusion.tracking.motion import ConstantVelocity
    from tests.tracking.test_imm import _CTFilter

    rng = np.random.default_rng(1)
    N, dt, accel, turn = 3, 0.1, 1.5, 0.5
    bank = IMMFilter(turn, 0.3, (4.0, 2.0, 30.0), max_lateral_accel=np.inf)
    x4 = np.column_stack([rng.normal(0, 10, (N, 2)), rng.normal(0, 2, (N, 2))])
    P4 = np.tile(np.diag([0.2, 0.2, 4.0, 4.0]), (N, 1, 1))
    xm, Pm, mu = bank.init(x4, P4)
    xm[:, 1, 4] = rng.uniform(-0.4, 0.4, N)  # the reference turn model divides by the turn rate
    Pi = imm.transition_matrix(dt, [4.0, 2.0, 30.0])
    H, R = np.eye(2, 5), np.diag([0.04, 0.09])
    refs = []
    for i in range(N):
        cv, stop = KalmanFilter(dim_x=5, dim_z=2), KalmanFilter(dim_x=5, dim_z=2)
        cv.F = np.zeros((5, 5))
        cv.F[:4, :4] = ConstantVelocity.transition(dt)
        cv.Q = np.zeros((5, 5))
        cv.Q[:4, :4] = Q_discrete_white_noise(2, dt=dt, var=accel**2, block_size=2, order_by_dim=False)
        stop.F = np.diag([1.0, 1.0, 0.0, 0.0, 0.0])
        stop.Q = np.zeros((5, 5))
        stop.Q[:2, :2] = cv.Q[:2, :2]
        ct = _CTFilter(dt, accel, turn)
        for j, kf in enumerate((cv, ct, stop)):
            kf.x, kf.P, kf.H, kf.R = xm[i, j].copy(), Pm[i, j].copy(), H, R
        refs.append(IMMEstimator([cv, ct, stop], mu[i].copy(), Pi))
    for _ in range(12):
        xm, Pm, mu = bank.predict(xm, Pm, mu, dt, np.full(N, accel))
        for ref in refs:
            ref.predict()
        z = xm[:, 0, :2] + rng.normal(0.0, 0.3, (N, 2))
        xm, Pm, mu = bank.update(xm, Pm, mu, z, H, np.broadcast_to(R, (N, 2, 2)))
        x, P = bank.combine(xm, Pm, mu)
        for i, ref in enumerate(refs):
            ref.update(z[i])
            np.testing.assert_allclose(mu[i], ref.mu, rtol=0, atol=1e-8)
            np.testing.assert_allclose(x[i], ref.x, rtol=0, atol=1e-8)
            np.testing.assert_allclose(P[i], ref.P, rtol=0, atol=1e-8)


def test_young_movers_are_not_held_by_the_stopped_prior() -> None:
    """A new track starts stopped or moving by the scene's odds. Gated on the moment-matched
    Gaussian, a stopped-led young track gated out its object's next box (a car at 5 m/s crossing
    another: a new track every frame; a car at 30 m/s seen by LiDAR alone). The mixture keeps one
    track each."""
    rng = np.random.default_rng(3)
    t = np.arange(60)[:, None] * 0.1 - 3.0
    a = np.array([20.0, 0.0]) + np.array([5.0, 0.0]) * t
    b = np.array([20.0, 0.0]) + 5.0 * np.array([np.cos(0.5), np.sin(0.5)]) * t
    truth = np.stack([a, b], axis=1)
    tracker = Tracker(STOP)
    for k, _stamp, out in run(tracker, truth, rng, pos_std=0.15):
        if k >= 5:
            assert len(out) == 2, k
    assert set(out.ids.tolist()) == {1, 2}
    fast = Tracker(STOP)
    for k in range(30):
        out = fast.step(k * DT_NS, dets(k * DT_NS, [[30.0 * k * 0.1, 5.0]]))
    assert out.ids.tolist() == [1] and abs(out.state[0, 2] - 30.0) < 0.5


def _mixture_sq_reference(xm, Pm, mu, Pc, z, R, dt):
    """The mixture distance written out in numpy, every pair (the kernel's reference)."""
    from sensor_fusion.tracking.association import mahalanobis_sq_timed

    def logdet(P):
        t = dt[None, :]
        a = P[:, None, 0, 0] + 2 * t * P[:, None, 0, 2] + t * t * P[:, None, 2, 2] + R[None, :, 0, 0]
        c = P[:, None, 1, 1] + 2 * t * P[:, None, 1, 3] + t * t * P[:, None, 3, 3] + R[None, :, 1, 1]
        b = (
            0.5 * (P[:, None, 0, 1] + P[:, None, 1, 0])
            + 0.5 * t * (P[:, None, 0, 3] + P[:, None, 2, 1] + P[:, None, 1, 2] + P[:, None, 3, 0])
            + t * t * 0.5 * (P[:, None, 2, 3] + P[:, None, 3, 2])
            + 0.5 * (R[None, :, 0, 1] + R[None, :, 1, 0])
        )
        return np.log(a * c - b * b)

    terms = []
    for k in range(xm.shape[1]):
        d2 = mahalanobis_sq_timed(xm[:, k, :4], Pm[:, k, :4, :4], z, R, dt)
        with np.errstate(divide="ignore"):
            terms.append(np.log(mu[:, k])[:, None] + 0.5 * (logdet(Pc) - logdet(Pm[:, k])) - 0.5 * d2)
    return -2.0 * np.logaddexp.reduce(np.stack(terms), axis=0)


def test_the_mixture_kernel_matches_numpy_and_cuts_only_beyond_the_gate() -> None:
    from sensor_fusion.tracking.association import mixture_sq

    rng = np.random.default_rng(5)
    T, D, M = 40, 60, 3
    xm = np.zeros((T, M, 5))
    xm[:, :, :2] = rng.uniform(-20, 20, (T, 1, 2)) + rng.normal(0, 0.5, (T, M, 2))
    xm[:, :2, 2:4] = rng.normal(0, 8, (T, 2, 2))
    A = rng.normal(size=(T, M, 5, 5)) * 0.5
    Pm = A @ np.swapaxes(A, -1, -2) + 0.05 * np.eye(5)
    Pm[:, 2, 2:, :] = Pm[:, 2, :, 2:] = 0.0  # the stopped model
    mu = rng.dirichlet(np.ones(M), T)
    mu[0] = [0.5, 0.5, 0.0]  # an empty mode
    bank = IMMFilter(0.5, 0.3, (4.0, 2.0, 30.0))
    _, Pc = bank.combine(xm, Pm, mu)
    z = rng.uniform(-22, 22, (D, 2))
    B = rng.normal(size=(D, 2, 2)) * 0.3
    R = B @ np.swapaxes(B, -1, -2) + 0.02 * np.eye(2)
    dt = rng.uniform(-0.05, 0.1, D)
    ref = _mixture_sq_reference(xm, Pm, mu, Pc, z, R, dt)
    np.testing.assert_allclose(mixture_sq(xm, Pm, mu, Pc, z, R, dt), ref, rtol=1e-9, atol=1e-9)
    cut = np.full(T, 18.4)
    got = mixture_sq(xm, Pm, mu, Pc, z, R, dt, cut)
    inside = ref <= cut[:, None]
    np.testing.assert_allclose(got[inside], ref[inside], rtol=1e-9, atol=1e-9)
    assert np.all(got[~inside] > cut[:, None].repeat(D, 1)[~inside])  # cut or exact, never inside
    assert np.isinf(got).mean() > 0.5  # the bound does skip most far pairs


def test_a_reset_keeps_ids_increasing_and_a_new_frame_is_fixed() -> None:
    tracker = Tracker(TrackerConfig(frame_id="base_link", moving_frame=True))
    for k in range(3):
        tracker.step(k * DT_NS, dets(k * DT_NS, [[10.0, 0.0]], frame_id="base_link"))
    tracker.reset("base_link")  # a time jump: same frame, ids go on
    assert tracker._next_id == 2 and tracker.config.moving_frame and not tracker._filter.stop_on
    tracker.reset("odom")  # the ego aligned, tracks not carried over
    assert tracker.config.moving_frame is False and tracker._filter.stop_on
    tracker.reset()
    assert tracker._next_id == 1
