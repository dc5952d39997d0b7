"""Oriented box fitting for LiDAR clusters (L-shape fitting, closeness criterion).

A LiDAR sees at most two faces of a box, so the cluster mean lies on the
visible side; the box must be fitted to the faces. For each candidate heading
the points are projected on the two box axes and scored by the closeness
criterion of Zhang et al. (IV 2017, "Efficient L-Shape Fitting for Vehicle
Detection Using Laser Scanners"): sum over points of ``1 / max(d, d0)``, with
``d`` the distance to the nearer of the two nearest rectangle edges. It
prefers headings where points hug two perpendicular edges, which works for
both L- and I-shaped clusters; the area criterion favours diagonal boxes on
sparse clusters. A coarse sweep over [0, pi/2) is refined around the best
angle, on a strided subsample of the cluster (faces are vertical, so the BEV
footprint repeats every beam; a few hundred points pin the heading).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Columns of the array returned by fit_boxes.
CX, CY, LENGTH, WIDTH, YAW, Z_MIN, Z_MAX, GROUND_Z, BODY_WIDTH = range(9)
N_FIT_COLS = 9
BODY_TOP_BAND_M = 0.3  # points this close to the cluster top are "roof", not "body"

_CLOSENESS_D0_M = 0.01  # floor on the edge distance, as in Zhang et al.
_FINE_STEPS = 10  # refinement steps on each side of the coarse optimum


@njit(cache=True)
def _closeness(bx: np.ndarray, by: np.ndarray, m: int, theta: float) -> float:
    c = np.cos(theta)
    s = np.sin(theta)
    min1 = np.inf
    max1 = -np.inf
    min2 = np.inf
    max2 = -np.inf
    for i in range(m):
        c1 = bx[i] * c + by[i] * s
        c2 = -bx[i] * s + by[i] * c
        min1 = min(min1, c1)
        max1 = max(max1, c1)
        min2 = min(min2, c2)
        max2 = max(max2, c2)
    score = 0.0
    for i in range(m):
        c1 = bx[i] * c + by[i] * s
        c2 = -bx[i] * s + by[i] * c
        d1 = min(max1 - c1, c1 - min1)
        d2 = min(max2 - c2, c2 - min2)
        score += 1.0 / max(min(d1, d2), _CLOSENESS_D0_M)
    return score


@njit(cache=True)
def fit_boxes(
    xyz: np.ndarray,
    ground_z: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    angle_step_rad: float,
    max_fit_points: int,
) -> np.ndarray:
    """One row per entry of ``clusters`` with columns CX..GROUND_Z (float64).

    LENGTH >= WIDTH; YAW is the heading of the long side wrapped to
    [-pi/2, pi/2); CX, CY is the rectangle centre. Z_MIN/Z_MAX are the
    cluster's z extremes, GROUND_Z the mean local ground under its points.
    BODY_WIDTH is the extent across the long side of the points lower than
    ``BODY_TOP_BAND_M`` below the top: a roof seen from above adds depth to
    an end-on car's box but not to its body.
    """
    nc = clusters.shape[0]
    out = np.empty((nc, N_FIT_COLS))
    bx = np.empty(max_fit_points)
    by = np.empty(max_fit_points)
    half_pi = 0.5 * np.pi
    n_coarse = max(1, int(np.round(half_pi / angle_step_rad)))
    step = half_pi / n_coarse
    for ci in range(nc):
        k = clusters[ci]
        s0 = starts[k]
        n = counts[k]
        mx = 0.0
        my = 0.0
        zmax = -np.inf
        for t in range(n):
            p = order[s0 + t]
            mx += xyz[p, 0]
            my += xyz[p, 1]
            zmax = max(zmax, np.float64(xyz[p, 2]))
        mx /= n
        my /= n  # centring keeps float precision far from the origin

        stride = max(1, (n + max_fit_points - 1) // max_fit_points)
        m = 0
        for t in range(0, n, stride):
            p = order[s0 + t]
            bx[m] = xyz[p, 0] - mx
            by[m] = xyz[p, 1] - my
            m += 1

        best = -1.0
        best_th = 0.0
        for a in range(n_coarse):
            th = a * step
            sc = _closeness(bx, by, m, th)
            if sc > best:
                best = sc
                best_th = th
        coarse_th = best_th
        for a in range(-_FINE_STEPS, _FINE_STEPS + 1):
            if a == 0:
                continue
            th = coarse_th + a * step / _FINE_STEPS
            sc = _closeness(bx, by, m, th)
            if sc > best:
                best = sc
                best_th = th

        c = np.cos(best_th)
        s = np.sin(best_th)
        min1 = np.inf
        max1 = -np.inf
        min2 = np.inf
        max2 = -np.inf
        zmin = np.inf
        body_z = zmax - BODY_TOP_BAND_M
        bmin1 = np.inf
        bmax1 = -np.inf
        bmin2 = np.inf
        bmax2 = -np.inf
        gsum = 0.0
        for t in range(n):
            p = order[s0 + t]
            px = xyz[p, 0] - mx
            py = xyz[p, 1] - my
            c1 = px * c + py * s
            c2 = -px * s + py * c
            min1 = min(min1, c1)
            max1 = max(max1, c1)
            min2 = min(min2, c2)
            max2 = max(max2, c2)
            z = np.float64(xyz[p, 2])
            zmin = min(zmin, z)
            if z <= body_z:
                bmin1 = min(bmin1, c1)
                bmax1 = max(bmax1, c1)
                bmin2 = min(bmin2, c2)
                bmax2 = max(bmax2, c2)
            gsum += ground_z[p]
        m1 = 0.5 * (min1 + max1)
        m2 = 0.5 * (min2 + max2)
        l1 = max1 - min1
        l2 = max2 - min2
        yaw = best_th
        body_w = bmax2 - bmin2 if bmax2 >= bmin2 else l2
        if l2 > l1:
            l1, l2 = l2, l1
            yaw += half_pi
            body_w = bmax1 - bmin1 if bmax1 >= bmin1 else l2
        yaw = (yaw + half_pi) % np.pi - half_pi
        out[ci, CX] = mx + m1 * c - m2 * s
        out[ci, CY] = my + m1 * s + m2 * c
        out[ci, LENGTH] = l1
        out[ci, WIDTH] = l2
        out[ci, YAW] = yaw
        out[ci, Z_MIN] = zmin
        out[ci, Z_MAX] = zmax
        out[ci, GROUND_Z] = gsum / n
        out[ci, BODY_WIDTH] = body_w
    return out
