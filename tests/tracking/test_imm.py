"""IMM: batched maths against filterpy's IMMEstimator, the turn model, and tracking a turning target."""

from __future__ import annotations

import math

import numpy as np
import pytest
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import IMMEstimator, KalmanFilter

from sensor_fusion.core.types import Detections
from sensor_fusion.tracking import imm, kalman
from sensor_fusion.tracking.filters import IMMFilter
from sensor_fusion.tracking.motion import ConstantVelocity, CoordinatedTurn
from sensor_fusion.tracking.tracker import Tracker, TrackerConfig
from tests.tracking.test_tracker import DT_NS, dets

ATOL = 1e-8


def _spd(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    A = rng.normal(size=(n, n)) * scale
    return A @ A.T + 0.1 * np.eye(n)


# ---------------------------------------------------------------- against filterpy


def test_imm_equals_filterpy_two_linear_models() -> None:
    """CV with low and high process noise: mixing, model-conditioned KFs, mode probabilities, combination."""
    rng = np.random.default_rng(0)
    N, dt = 3, 0.1
    accel = (0.2, 4.0)
    Pi = np.array([[0.95, 0.05], [0.10, 0.90]])
    F = ConstantVelocity.transition(dt)
    Qs = [Q_discrete_white_noise(2, dt=dt, var=a**2, block_size=2, order_by_dim=False) for a in accel]
    H = ConstantVelocity.H_POS
    R = np.diag([0.3, 0.2])

    xm = rng.normal(0.0, 2.0, (N, 2, 4))
    Pm = np.stack([np.stack([_spd(rng, 4) for _ in range(2)]) for _ in range(N)])
    mu = rng.dirichlet([2.0, 2.0], N)
    refs = []
    for i in range(N):
        filters = []
        for j in range(2):
            kf = KalmanFilter(dim_x=4, dim_z=2)
            kf.x, kf.P, kf.F, kf.Q, kf.H, kf.R = xm[i, j].copy(), Pm[i, j].copy(), F, Qs[j], H, R
            filters.append(kf)
        refs.append(IMMEstimator(filters, mu[i].copy(), Pi))

    # A target that changes its acceleration half-way (the high-noise model should take over).
    truth = np.zeros((N, 4))
    truth[:, 2:] = rng.normal(0.0, 5.0, (N, 2))
    mu_seen = []
    for k in range(12):
        acc = 0.0 if k < 6 else 20.0
        truth[:, 2] += acc * dt
        truth[:, :2] += truth[:, 2:] * dt

        cbar, x0, P0 = imm.mix(mu, Pi, xm, Pm)
        xm = np.stack([kalman.predict(x0[:, j], P0[:, j], F, Qs[j])[0] for j in range(2)], axis=1)
        Pm = np.stack([kalman.predict(x0[:, j], P0[:, j], F, Qs[j])[1] for j in range(2)], axis=1)
        for i, ref in enumerate(refs):
            ref.predict()
            np.testing.assert_allclose(cbar[i], ref.cbar, rtol=0, atol=ATOL)
            for j in range(2):
                np.testing.assert_allclose(xm[i, j], ref.filters[j].x, rtol=0, atol=ATOL)
                np.testing.assert_allclose(Pm[i, j], ref.filters[j].P, rtol=0, atol=ATOL)
            # filterpy's prior combination weights with the previous posterior mu (see imm docstring).
            x_pri, P_pri = imm.combine(mu[i], xm[i], Pm[i])
            np.testing.assert_allclose(x_pri, ref.x, rtol=0, atol=ATOL)
            np.testing.assert_allclose(P_pri, ref.P, rtol=0, atol=ATOL)

        z = truth[:, :2] + rng.normal(0.0, 0.2, (N, 2))
        xm, Pm, ll = imm.update_models(xm, Pm, z, H, np.broadcast_to(R, (N, 2, 2)))
        mu = imm.mode_probabilities(cbar, ll)
        mu_seen.append(mu[:, 1].copy())
        x, P = imm.combine(mu, xm, Pm)
        for i, ref in enumerate(refs):
            ref.update(z[i])
            np.testing.assert_allclose(np.exp(ll[i]), ref.likelihood, rtol=1e-9, atol=0)
            np.testing.assert_allclose(mu[i], ref.mu, rtol=0, atol=ATOL)
            for j in range(2):
                np.testing.assert_allclose(xm[i, j], ref.filters[j].x, rtol=0, atol=ATOL)
                np.testing.assert_allclose(Pm[i, j], ref.filters[j].P, rtol=0, atol=ATOL)
            np.testing.assert_allclose(x[i], ref.x, rtol=0, atol=ATOL)
            np.testing.assert_allclose(P[i], ref.P, rtol=0, atol=ATOL)
    # The mode probabilities really moved (the comparison is not of a degenerate, one-model IMM).
    assert (np.ptp(mu_seen, axis=0) > 0.1).all(), mu_seen


def _ct_reference(x: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    """Scalar coordinated-turn step and Jacobian, written out independently (omega != 0)."""
    px, py, vx, vy, w = x
    s, c = math.sin(w * T), math.cos(w * T)
    f = np.array(
        [
            px + (s * vx - (1 - c) * vy) / w,
            py + ((1 - c) * vx + s * vy) / w,
            c * vx - s * vy,
            s * vx + c * vy,
            w,
        ]
    )
    J = np.eye(5)
    J[0, 2], J[0, 3], J[1, 2], J[1, 3] = s / w, -(1 - c) / w, (1 - c) / w, s / w
    J[2, 2], J[2, 3], J[3, 2], J[3, 3] = c, -s, s, c
    # d/dw of the position rows by the quotient rule
    J[0, 4] = (T * c * vx - T * s * vy) / w - (s * vx - (1 - c) * vy) / w**2
    J[1, 4] = (T * s * vx + T * c * vy) / w - ((1 - c) * vx + s * vy) / w**2
    J[2, 4] = -T * s * vx - T * c * vy
    J[3, 4] = T * c * vx - T * s * vy
    return f, J


class _CTFilter(KalmanFilter):
    """filterpy KalmanFilter whose predict is the coordinated-turn EKF (for IMMEstimator)."""

    def __init__(self, dt: float, accel: float, turn: float):
        super().__init__(dim_x=5, dim_z=2)
        self.dt = dt
        self.Q = np.zeros((5, 5))
        self.Q[:4, :4] = Q_discrete_white_noise(2, dt=dt, var=accel**2, block_size=2, order_by_dim=False)
        self.Q[4, 4] = (turn * dt) ** 2

    def predict(self, u=None) -> None:
        self.x, J = _ct_reference(self.x, self.dt)
        self.P = J @ self.P @ J.T + self.Q


def test_cv_ct_bank_equals_filterpy_imm() -> None:
    """The tracker's IMM bank (CV + CT EKF, 5 states) against IMMEstimator over the same models."""
    rng = np.random.default_rng(1)
    N, dt, accel, turn = 4, 0.1, 1.5, 0.5
    bank = IMMFilter(turn_accel_std=turn, init_turn_rate_std=0.3, sojourn_s=(4.0, 2.0))
    x4 = np.column_stack([rng.normal(0, 10, (N, 2)), rng.normal(0, 6, (N, 2))])
    P4 = np.stack([_spd(rng, 4) for _ in range(N)])
    xm, Pm, mu = bank.init(x4, P4)
    xm[:, 1, 4] = rng.uniform(-0.4, 0.4, N)  # start the turn model off zero turn rate
    np.testing.assert_allclose(mu, np.tile([4 / 6, 2 / 6], (N, 1)))
    Pi = imm.transition_matrix(dt, [4.0, 2.0])
    F5 = np.zeros((5, 5))
    F5[:4, :4] = ConstantVelocity.transition(dt)
    H = np.eye(2, 5)
    R = np.diag([0.04, 0.09])
    refs = []
    for i in range(N):
        cv = KalmanFilter(dim_x=5, dim_z=2)
        cv.F = F5
        cv.Q = np.zeros((5, 5))
        cv.Q[:4, :4] = Q_discrete_white_noise(2, dt=dt, var=accel**2, block_size=2, order_by_dim=False)
        ct = _CTFilter(dt, accel, turn)
        for j, kf in enumerate((cv, ct)):
            kf.x, kf.P, kf.H, kf.R = xm[i, j].copy(), Pm[i, j].copy(), H, R
        refs.append(IMMEstimator([cv, ct], mu[i].copy(), Pi))

    for k in range(15):
        xm, Pm, mu = bank.predict(xm, Pm, mu, dt, np.full(N, accel))
        for i, ref in enumerate(refs):
            ref.predict()
            np.testing.assert_allclose(mu[i], ref.cbar, rtol=0, atol=ATOL)  # bank's mu after predict = cbar
            for j in range(2):
                np.testing.assert_allclose(xm[i, j], ref.filters[j].x, rtol=0, atol=ATOL)
                np.testing.assert_allclose(Pm[i, j], ref.filters[j].P, rtol=0, atol=ATOL)
        if k % 4 == 3:
            # A missed detection: predict only. Our mode probabilities are then cbar; filterpy keeps
            # the last posterior (it assumes an update after every predict), so set it to cbar too.
            for ref in refs:
                ref.mu = ref.cbar.copy()
                ref._compute_mixing_probabilities()
            continue
        z = xm[:, 1, :2] + rng.normal(0.0, 0.3, (N, 2))  # near the turn model's prediction
        xm, Pm, mu = bank.update(xm, Pm, mu, z, H, np.broadcast_to(R, (N, 2, 2)))
        x, P = bank.combine(xm, Pm, mu)
        for i, ref in enumerate(refs):
            ref.update(z[i])
            np.testing.assert_allclose(mu[i], ref.mu, rtol=0, atol=ATOL)
            np.testing.assert_allclose(x[i], ref.x, rtol=0, atol=ATOL)
            np.testing.assert_allclose(P[i], ref.P, rtol=0, atol=ATOL)
    assert np.isfinite(xm).all()


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("w", [0.4, -0.25, 2e-3, 5e-5, -1e-6])
def test_ct_jacobian_and_reference(w: float) -> None:
    T = 0.1
    x = np.array([[1.0, -2.0, 7.0, 3.0, w]])
    f, F = CoordinatedTurn.transition(x, T)
    # Central finite differences of f.
    eps = 1e-6
    J = np.zeros((5, 5))
    for k in range(5):
        d = np.zeros((1, 5))
        d[0, k] = eps
        J[:, k] = (
            CoordinatedTurn.transition(x + d, T)[0][0] - CoordinatedTurn.transition(x - d, T)[0][0]
        ) / (2 * eps)
    np.testing.assert_allclose(F[0], J, rtol=0, atol=1e-6)
    if abs(w) > 1e-3:
        f_ref, J_ref = _ct_reference(x[0], T)
        np.testing.assert_allclose(f[0], f_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(F[0], J_ref, rtol=0, atol=1e-10)
    # Speed is preserved and the velocity turns by w T.
    assert np.hypot(*f[0, 2:4]) == pytest.approx(np.hypot(7.0, 3.0), rel=1e-12)
    ang = math.atan2(f[0, 3], f[0, 2]) - math.atan2(3.0, 7.0)
    assert ang == pytest.approx(w * T, abs=1e-12)


def test_ct_series_branch_is_continuous_and_zero_turn_is_cv() -> None:
    T = 0.1
    th = CoordinatedTurn.SMALL_THETA
    x = np.array([[0.0, 0.0, 8.0, -2.0, 0.0]] * 2)
    x[0, 4], x[1, 4] = (1 - 1e-6) * th / T, (1 + 1e-6) * th / T  # either side of the switch
    (f0, f1), (F0, F1) = CoordinatedTurn.transition(x, T)
    # Across the switch f changes by the first-order term F[:, 4] dw only (no jump), F by ~dw.
    dw = x[1, 4] - x[0, 4]
    np.testing.assert_allclose(f1 - f0, F0[:, 4] * dw, rtol=0, atol=1e-14)
    np.testing.assert_allclose(F0, F1, rtol=0, atol=10 * dw)
    z = np.array([[3.0, 4.0, 8.0, -2.0, 0.0]])
    f, F = CoordinatedTurn.transition(z, T)
    np.testing.assert_array_equal(f[0, :4], ConstantVelocity.transition(T) @ z[0, :4])
    np.testing.assert_array_equal(F[0, :4, :4], ConstantVelocity.transition(T))


def test_ct_follows_a_circle_exactly() -> None:
    """No process noise: 20 steps of the CT model land on the circle of radius v / w."""
    v, w, T = 8.0, 0.3, 0.1
    x = np.array([[0.0, 0.0, v, 0.0, w]])
    for _ in range(20):
        x, _F = CoordinatedTurn.transition(x, T)
    t = 20 * T
    expect = [
        v / w * math.sin(w * t),
        v / w * (1 - math.cos(w * t)),
        v * math.cos(w * t),
        v * math.sin(w * t),
    ]
    np.testing.assert_allclose(x[0, :4], expect, rtol=0, atol=1e-10)


def test_transition_matrix() -> None:
    tau = [4.0, 2.0]
    Pi = imm.transition_matrix(0.1, tau)
    np.testing.assert_allclose(Pi.sum(axis=1), 1.0)
    np.testing.assert_allclose(imm.transition_matrix(0.0, tau), np.eye(2), atol=1e-15)
    # Markov chain: two steps of 0.1 s are one of 0.2 s; leaving rate 1 / tau.
    np.testing.assert_allclose(Pi @ Pi, imm.transition_matrix(0.2, tau), atol=1e-14)
    np.testing.assert_allclose(imm.transition_matrix(1e-4, tau)[:, 1][0] / 1e-4, 1 / 4.0, rtol=1e-3)
    mu = imm.stationary_probabilities(tau)
    np.testing.assert_allclose(mu @ Pi, mu, atol=1e-15)


def test_mode_probabilities_survive_far_measurements() -> None:
    cbar = np.array([[0.7, 0.3]])
    mu = imm.mode_probabilities(cbar, np.array([[-5000.0, -4990.0]]))  # exp() of these underflows
    a = 0.7 * np.exp(-10) / (0.7 * np.exp(-10) + 0.3)
    np.testing.assert_allclose(mu, [[a, 1.0 - a]], rtol=1e-12)
    assert np.isfinite(mu).all() and mu.sum() == pytest.approx(1.0)


# ---------------------------------------------------------------- tracking a turning target


def _turning_truth(K: int, v: float = 8.0, w: float = 0.3, dt: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(K) * dt
    pos = np.column_stack([v / w * np.sin(w * t), v / w * (1 - np.cos(w * t))])
    vel = np.column_stack([v * np.cos(w * t), v * np.sin(w * t)])
    return pos, vel


def _track_turn(model: str, seed: int, yaw: float | np.ndarray = np.nan) -> dict:
    rng = np.random.default_rng(seed)
    K = 120  # 12 s: 3.6 rad of turn
    pos, vel = _turning_truth(K)
    # every confirmed track published (coasting ones too): this measures the filters' lag
    tracker = Tracker(TrackerConfig(motion_model=model, output_max_coast_s=math.inf))
    err, verr, yerr, ids = [], [], [], set()
    for k in range(K):
        stamp = k * DT_NS
        y = yaw[k] if isinstance(yaw, np.ndarray) else yaw
        out = tracker.step(stamp, dets(stamp, pos[k] + rng.normal(0, 0.2, (1, 2)), yaw=y))
        if k < 20 or len(out) == 0:
            continue
        i = int(np.argmin(np.hypot(*(out.state[:, :2] - pos[k]).T)))  # nearest track: lag, not id luck
        ids.add(int(out.ids[i]))
        err.append(np.sum((out.state[i, :2] - pos[k]) ** 2))
        verr.append(np.sum((out.state[i, 2:] - vel[k]) ** 2))
        heading = math.atan2(vel[k, 1], vel[k, 0])
        yerr.append(abs((out.yaw[i] - heading + np.pi) % (2 * np.pi) - np.pi))
    return {
        "rmse": math.sqrt(np.mean(err)),
        "vel_rmse": math.sqrt(np.mean(verr)),
        "max_yaw_err": max(yerr),
        "ids": ids,
        "n": len(err),
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_turning_target_imm_beats_cv(seed: int) -> None:
    """Constant turn 0.3 rad/s at 8 m/s, 0.2 m noise at 10 Hz: IMM follows the turn, CV lags."""
    cv, im = _track_turn("cv", seed), _track_turn("imm", seed)
    assert im["n"] == cv["n"] == 100
    assert im["ids"] == {1}  # one track through the whole turn
    assert im["rmse"] < 0.25, im
    assert im["rmse"] < 0.6 * cv["rmse"], (im, cv)
    assert im["vel_rmse"] < 0.6 * cv["vel_rmse"], (im, cv)


def test_imm_heading_follows_velocity() -> None:
    """Box yaw unmeasured, or reported backwards (flipped by pi): the IMM box turns with the motion."""
    assert _track_turn("imm", 3)["max_yaw_err"] < 0.2
    _pos, vel = _turning_truth(120)
    backwards = np.arctan2(vel[:, 1], vel[:, 0]) + np.pi + np.random.default_rng(4).normal(0, 0.05, 120)
    assert _track_turn("imm", 3, yaw=backwards)["max_yaw_err"] < 0.2
    # "cv" keeps its flip-only rule: an unmeasured yaw does not turn with the target.
    assert _track_turn("cv", 3)["max_yaw_err"] > 1.0


def test_imm_straight_line_as_good_as_cv() -> None:
    """On a straight constant-velocity target the IMM costs little against plain CV."""
    out = {}
    for model in ("cv", "imm"):
        tracker = Tracker(TrackerConfig(motion_model=model))
        r = np.random.default_rng(6)
        errs = []
        for k in range(80):
            p = np.array([2.0, 1.0]) + np.array([6.0, -3.0]) * k * 0.1
            o = tracker.step(k * DT_NS, dets(k * DT_NS, p + r.normal(0, 0.2, (1, 2))))
            if k >= 20:
                errs.append(np.sum((o.state[0, :2] - p) ** 2))
        out[model] = math.sqrt(np.mean(errs))
    assert out["imm"] < 1.25 * out["cv"], out


def test_imm_empty_and_reset() -> None:
    tracker = Tracker()
    out = tracker.step(0, Detections.empty(0, "odom"))
    assert len(out) == 0 and out.state.shape == (0, 4) and out.cov.shape == (0, 4, 4)
    for k in range(4):
        out = tracker.step(k * DT_NS, dets(k * DT_NS, [[k * 0.5, 0.0]]))
    assert out.state.shape == (1, 4) and out.cov.shape == (1, 4, 4)
    assert out.state.flags.c_contiguous and np.allclose(out.cov, out.cov.transpose(0, 2, 1))
    assert tracker._t.xm.shape == (1, tracker._filter.M, 5) and np.allclose(tracker._t.mu.sum(axis=1), 1.0)


def _pulled_sideways(max_lateral_accel: float) -> list[tuple[float, float]]:
    """A young track at 25 m/s (0.8 s of boxes in its lane), pulled one lane (3.7 m) sideways over
    0.4 s by uncertain boxes (1 m std: a neighbour's sparse boxes, as on highway seed 2), then
    coasting: (heading rad, speed m/s) of the combined estimate per coasting frame."""
    tracker = Tracker(TrackerConfig(max_lateral_accel_mps2=max_lateral_accel))
    rng = np.random.default_rng(0)
    out = []
    for k in range(18):
        x = -25.0 * k * 0.1
        if k < 8:
            d = dets(k * DT_NS, np.array([[x, 0.0]]) + rng.normal(0, 0.2, (1, 2)), pos_std=0.5, yaw=np.pi)
        elif k < 12:
            y = 3.7 * (k - 7) / 4
            d = dets(k * DT_NS, np.array([[x, y]]) + rng.normal(0, 0.2, (1, 2)), pos_std=1.0, yaw=np.pi)
        else:
            d = dets(k * DT_NS, np.zeros((0, 2)))
        tracker.step(k * DT_NS, d)
        if k >= 12:
            t = tracker._t
            x5, _ = tracker._filter.combine(t.xm, t.Pm, t.mu)
            out.append((math.atan2(-x5[0, 3], -x5[0, 2]), float(np.hypot(x5[0, 2], x5[0, 3]))))
    return out


def test_fast_track_turns_no_faster_than_the_tyres_allow() -> None:
    """The highway velocity tail: a track pulled sideways by a neighbour's boxes kept turning at
    0.35 rad/s at 25 m/s (the turning model's rate unbounded: 9 m/s^2 sideways) and swung its
    heading toward the oncoming lane. With the lateral-acceleration bound its coasting turn stays
    within a_max / v and the swing is much smaller."""
    bounded, free = _pulled_sideways(8.0), _pulled_sideways(math.inf)
    for (h0, _), (h1, v) in zip(bounded, bounded[1:]):
        assert abs(h1 - h0) / 0.1 <= 8.0 / v + 1e-6, (h1 - h0, v)
    assert abs(bounded[-1][0]) < 0.75 * abs(free[-1][0]), (bounded[-1], free[-1])
