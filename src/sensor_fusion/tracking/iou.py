"""Rotated-box overlap (bird's-eye-view and 3D IoU), batched over box pairs.

The tracker's ``iou3d`` association metric (AB3DMOT-style baseline) needs the
IoU of every predicted track box with every detection box. Two rotated
rectangles intersect in a convex polygon whose vertices are among: corners of
one box inside the other, and crossings of their edges (at most 4 + 4 + 16
candidates). Taking the valid candidates, ordering them by angle about their
mean and applying the shoelace formula gives the area with fixed-size arrays,
so every pair is computed at once in numpy; pairs whose circumscribed circles
do not touch are skipped.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def box_corners_bev(centers_xy: np.ndarray, lengths_widths: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Counter-clockwise BEV corners (N, 4, 2) of boxes with length along ``yaw``."""
    half = 0.5 * np.asarray(lengths_widths, dtype=np.float64)
    local = np.stack(
        [
            np.stack([half[:, 0], half[:, 1]], -1),
            np.stack([-half[:, 0], half[:, 1]], -1),
            np.stack([-half[:, 0], -half[:, 1]], -1),
            np.stack([half[:, 0], -half[:, 1]], -1),
        ],
        axis=1,
    )  # (N, 4, 2)
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], axis=1)  # (N, 2, 2)
    return np.einsum("nij,nkj->nki", R, local) + np.asarray(centers_xy, dtype=np.float64)[:, None, :]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(K, P) mask of ``points`` (K, P, 2) inside CCW convex ``poly`` (K, 4, 2), boundary included."""
    edges = np.roll(poly, -1, axis=1) - poly  # (K, 4, 2)
    rel = points[:, :, None, :] - poly[:, None, :, :]  # (K, P, 4, 2)
    return (_cross(edges[:, None, :, :], rel) >= -1e-9).all(axis=2)


def intersection_area_paired(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Area (K,) of the overlap of CCW convex quads ``ca[k]`` and ``cb[k]`` (K, 4, 2)."""
    K = ca.shape[0]
    if K == 0:
        return np.zeros(0)
    ea = np.roll(ca, -1, axis=1) - ca
    eb = np.roll(cb, -1, axis=1) - cb
    # Edge crossings: a_i + t ea_i = b_j + u eb_j with t, u in [0, 1].
    p = ca[:, :, None, :]
    r = ea[:, :, None, :]
    qp = cb[:, None, :, :] - p  # (K, 4, 4, 2)
    s = eb[:, None, :, :]
    denom = _cross(r, s)  # (K, 4, 4)
    par = np.abs(denom) < _EPS
    safe = np.where(par, 1.0, denom)
    t = _cross(qp, s) / safe
    u = _cross(qp, r) / safe
    cross_ok = ~par & (t >= 0.0) & (t <= 1.0) & (u >= 0.0) & (u <= 1.0)
    cross_pts = (p + t[..., None] * r).reshape(K, 16, 2)

    pts = np.concatenate([ca, cb, cross_pts], axis=1)  # (K, 24, 2)
    ok = np.concatenate([_inside(ca, cb), _inside(cb, ca), cross_ok.reshape(K, 16)], axis=1)
    n = ok.sum(axis=1)
    centre = (pts * ok[..., None]).sum(axis=1) / np.maximum(n, 1)[:, None]
    rel = pts - centre[:, None, :]
    ang = np.where(ok, np.arctan2(rel[..., 1], rel[..., 0]), 10.0)  # invalid ones sort last
    order = np.argsort(ang, axis=1, kind="stable")
    srt = np.take_along_axis(rel, order[..., None], axis=1)
    # Pad with the first vertex: repeated points add zero area to the shoelace sum.
    pad = np.arange(24)[None, :] >= n[:, None]
    srt = np.where(pad[..., None], srt[:, :1, :], srt)
    area = 0.5 * np.abs(_cross(srt, np.roll(srt, -1, axis=1)).sum(axis=1))
    return np.where(n >= 3, area, 0.0)


def iou_pairwise(
    centers_a: np.ndarray,
    sizes_a: np.ndarray,
    yaw_a: np.ndarray,
    centers_b: np.ndarray,
    sizes_b: np.ndarray,
    yaw_b: np.ndarray,
    bev: bool = False,
) -> np.ndarray:
    """IoU (A, B) of every box in A with every box in B.

    Boxes are centres (N, 3) m, sizes (N, 3) (length, width, height) m and
    yaw (N,) rad about +z. ``bev=True`` gives the bird's-eye-view IoU
    (footprints only); otherwise the 3D IoU with the height overlap of upright
    boxes. Degenerate boxes (zero area/volume) have IoU 0 with everything.
    """
    na, nb = centers_a.shape[0], centers_b.shape[0]
    out = np.zeros((na, nb))
    if na == 0 or nb == 0:
        return out
    ra = 0.5 * np.hypot(sizes_a[:, 0], sizes_a[:, 1])
    rb = 0.5 * np.hypot(sizes_b[:, 0], sizes_b[:, 1])
    dist = np.hypot(
        centers_a[:, None, 0] - centers_b[None, :, 0], centers_a[:, None, 1] - centers_b[None, :, 1]
    )
    ia, ib = np.nonzero(dist <= ra[:, None] + rb[None, :])
    if ia.size == 0:
        return out
    corners_a = box_corners_bev(centers_a[:, :2], sizes_a[:, :2], yaw_a)
    corners_b = box_corners_bev(centers_b[:, :2], sizes_b[:, :2], yaw_b)
    inter = intersection_area_paired(corners_a[ia], corners_b[ib])
    if bev:
        size_a = sizes_a[ia, 0] * sizes_a[ia, 1]
        size_b = sizes_b[ib, 0] * sizes_b[ib, 1]
    else:
        top = np.minimum(centers_a[ia, 2] + 0.5 * sizes_a[ia, 2], centers_b[ib, 2] + 0.5 * sizes_b[ib, 2])
        bottom = np.maximum(centers_a[ia, 2] - 0.5 * sizes_a[ia, 2], centers_b[ib, 2] - 0.5 * sizes_b[ib, 2])
        inter = inter * np.maximum(top - bottom, 0.0)
        size_a = np.prod(sizes_a[ia], axis=1)
        size_b = np.prod(sizes_b[ib], axis=1)
    union = size_a + size_b - inter
    out[ia, ib] = np.where(union > _EPS, inter / np.where(union > _EPS, union, 1.0), 0.0)
    return out
