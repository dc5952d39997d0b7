"""Association: gated assignment against brute force, Mahalanobis costs, rotated-box IoU."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2

from sensor_fusion.tracking.association import (
    cascade_assignment,
    chi2_1dof_ppf,
    chi2_2dof_ppf,
    gated_assignment,
    mahalanobis_sq,
)
from sensor_fusion.tracking.iou import box_corners_bev, iou_pairwise


def brute_force(cost: np.ndarray, allowed: np.ndarray) -> tuple[int, float, set]:
    """Best full matching by (most allowed pairs, then least cost of allowed pairs)."""
    n_rows, n_cols = cost.shape
    best = (0, 0.0, set())
    best_key = (0, 0.0)
    first = True
    if n_rows <= n_cols:
        candidates = (list(zip(range(n_rows), p)) for p in itertools.permutations(range(n_cols), n_rows))
    else:
        candidates = (list(zip(p, range(n_cols))) for p in itertools.permutations(range(n_rows), n_cols))
    for pairs in candidates:
        kept = {(r, c) for r, c in pairs if allowed[r, c]}
        total = sum(cost[r, c] for r, c in kept)
        key = (-len(kept), total)
        if first or key < best_key:
            best, best_key, first = (len(kept), total, kept), key, False
    return best


@pytest.mark.parametrize("seed", range(6))
def test_gated_assignment_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n_rows, n_cols = rng.integers(0, 7, size=2)
        cost = rng.uniform(-2.0, 20.0, size=(n_rows, n_cols))
        allowed = rng.random((n_rows, n_cols)) < rng.uniform(0.2, 1.0)
        rows, cols = gated_assignment(cost, allowed)
        n, total, pairs = brute_force(cost, allowed)
        got = set(zip(rows.tolist(), cols.tolist()))
        assert len(got) == n
        assert all(allowed[r, c] for r, c in got)
        assert cost[rows, cols].sum() == pytest.approx(total, abs=1e-9)
        assert got == pairs
        assert rows.dtype == np.int64 and cols.dtype == np.int64
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)


def test_ungated_equals_scipy() -> None:
    rng = np.random.default_rng(7)
    for shape in [(5, 5), (3, 8), (9, 4), (40, 40)]:
        cost = rng.uniform(0, 10, size=shape)
        rows, cols = gated_assignment(cost, np.ones(shape, bool))
        r0, c0 = linear_sum_assignment(cost)
        assert cost[rows, cols].sum() == pytest.approx(cost[r0, c0].sum())
        assert len(rows) == min(shape)


def test_gate_is_not_overridden_by_cheap_pairs() -> None:
    # The only allowed pair is (0, 1) with a high cost; the cheap pairs are gated.
    cost = np.array([[0.0, 100.0], [0.0, 0.0]])
    allowed = np.array([[False, True], [False, False]])
    rows, cols = gated_assignment(cost, allowed)
    assert rows.tolist() == [0] and cols.tolist() == [1]
    # Infinite / NaN costs are never matched even if marked allowed.
    cost = np.array([[np.inf, 1.0], [np.nan, 2.0]])
    rows, cols = gated_assignment(cost, np.ones((2, 2), bool))
    assert set(zip(rows.tolist(), cols.tolist())) == {(0, 1)}


@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (4, 0)])
def test_empty_inputs(shape: tuple[int, int]) -> None:
    rows, cols = gated_assignment(np.zeros(shape), np.ones(shape, bool))
    assert rows.shape == (0,) and cols.shape == (0,)
    assert mahalanobis_sq(np.zeros((shape[0], 2)), np.zeros((shape[0], 2, 2)), np.zeros((shape[1], 2)),
                          np.zeros((shape[1], 2, 2))).shape == shape  # fmt: skip


def test_all_gated() -> None:
    rows, cols = gated_assignment(np.ones((3, 3)), np.zeros((3, 3), bool))
    assert rows.size == 0 and cols.size == 0


def test_mahalanobis_matches_explicit_inverse() -> None:
    rng = np.random.default_rng(3)
    T, D = 7, 5

    def spd(n: int) -> np.ndarray:
        A = rng.normal(size=(n, 2, 2))
        return A @ A.transpose(0, 2, 1) + 0.1 * np.eye(2)

    pt, Pt, pd, Rd = rng.normal(size=(T, 2)) * 5, spd(T), rng.normal(size=(D, 2)) * 5, spd(D)
    d2 = mahalanobis_sq(pt, Pt, pd, Rd)
    for i in range(T):
        for j in range(D):
            e = pd[j] - pt[i]
            assert d2[i, j] == pytest.approx(e @ np.linalg.inv(Pt[i] + Rd[j]) @ e, rel=1e-10)
    bad = Pt.copy()
    bad[0] = -np.eye(2) * 10
    assert np.isinf(mahalanobis_sq(pt, bad, pd, Rd)[0]).all()


def test_chi2_gate_values() -> None:
    for p in (0.9, 0.99, 0.999):
        assert chi2_2dof_ppf(p) == pytest.approx(chi2.ppf(p, 2), rel=1e-12)
    p = np.array([0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999])
    np.testing.assert_allclose(chi2_1dof_ppf(p), chi2.ppf(p, 1), rtol=1e-12)


# ------------------------------------------------------------------ IoU


def _grid_iou(ca, sa, ya, cb, sb, yb, n: int = 700) -> float:
    """BEV IoU by sampling a fine grid (independent of the polygon clipping)."""
    corners = np.concatenate([box_corners_bev(ca[None, :2], sa[None, :2], np.array([ya]))[0],
                              box_corners_bev(cb[None, :2], sb[None, :2], np.array([yb]))[0]])  # fmt: skip
    lo, hi = corners.min(0), corners.max(0)
    xs, ys = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    pts = np.stack([xs.ravel(), ys.ravel()], 1)

    def inside(c, s, y):
        d = pts - c[:2]
        u = d[:, 0] * np.cos(y) + d[:, 1] * np.sin(y)
        v = -d[:, 0] * np.sin(y) + d[:, 1] * np.cos(y)
        return (np.abs(u) <= s[0] / 2) & (np.abs(v) <= s[1] / 2)

    a, b = inside(ca, sa, ya), inside(cb, sb, yb)
    return (a & b).sum() / max((a | b).sum(), 1)


def test_bev_iou_against_grid_sampling() -> None:
    rng = np.random.default_rng(11)
    n = 12
    ca = np.column_stack([rng.uniform(-1, 1, (n, 2)), np.zeros(n)])
    cb = np.column_stack([rng.uniform(-1, 1, (n, 2)), np.zeros(n)])
    sa, sb = rng.uniform(0.5, 4.0, (n, 3)), rng.uniform(0.5, 4.0, (n, 3))
    ya, yb = rng.uniform(-np.pi, np.pi, n), rng.uniform(-np.pi, np.pi, n)
    iou = iou_pairwise(ca, sa, ya, cb, sb, yb, bev=True)
    for i in range(n):
        assert iou[i, i] == pytest.approx(_grid_iou(ca[i], sa[i], ya[i], cb[i], sb[i], yb[i]), abs=0.01)


def test_iou_exact_cases() -> None:
    c = np.zeros((1, 3))
    s = np.array([[2.0, 2.0, 1.0]])
    z = np.zeros(1)
    assert iou_pairwise(c, s, z, c, s, z)[0, 0] == pytest.approx(1.0)
    # Same square turned 45 degrees: octagon of area 8 (sqrt 2 - 1).
    inter = 8 * (np.sqrt(2) - 1)
    expect = inter / (8 - inter)
    assert iou_pairwise(c, s, z, c, s, np.array([np.pi / 4]), bev=True)[0, 0] == pytest.approx(expect)
    assert iou_pairwise(c, s, z, c + [1.0, 0, 0], s, z)[0, 0] == pytest.approx(1 / 3)  # half overlap
    assert iou_pairwise(c, s, z, c + [0, 0, 0.5], s, z)[0, 0] == pytest.approx(1 / 3)  # height overlap
    assert iou_pairwise(c, s, z, c + [5.0, 0, 0], s, z)[0, 0] == 0.0
    assert iou_pairwise(c, s, z, c, np.zeros((1, 3)), z)[0, 0] == 0.0  # degenerate box
    assert iou_pairwise(c[:0], s[:0], z[:0], c, s, z).shape == (0, 1)


def test_cascade_confirmed_tracks_first() -> None:
    """A newborn track (cheap, wide gate) must not take an established track's detection."""
    cost = np.array([[5.0, 9.0, 1.0], [1.0, 0.5, 8.0], [2.0, 3.0, 4.0]])
    allowed = np.array([[True, False, False], [True, True, False], [True, True, True]])
    confirmed = np.array([False, False, True])
    rows, cols = gated_assignment(cost, allowed)  # joint: row 2 pays for rows 0/1's cheaper pairs
    assert dict(zip(rows.tolist(), cols.tolist()))[2] != 0
    rows, cols = cascade_assignment(cost, allowed, confirmed)
    assert rows.tolist() == [1, 2] and cols.tolist() == [1, 0]  # row 2 best first; rows sorted
    assert rows.dtype == cols.dtype == np.int64


@pytest.mark.parametrize("seed", range(4))
def test_cascade_without_tiers_is_the_joint_assignment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0.0, 10.0, (5, 4))
    allowed = rng.random((5, 4)) < 0.6
    joint = gated_assignment(cost, allowed)
    for confirmed in (np.ones(5, bool), np.zeros(5, bool)):
        out = cascade_assignment(cost, allowed, confirmed)
        assert all(np.array_equal(a, b) for a, b in zip(out, joint))
    confirmed = rng.random(5) < 0.5
    rows, cols = cascade_assignment(cost, allowed, confirmed)
    assert allowed[rows, cols].all() and len(set(cols.tolist())) == len(cols)
    assert np.all(np.diff(rows) > 0)
