"""Local ground height under each LiDAR point, from a coarse BEV grid.

Each grid cell keeps its few lowest z values; the cell's estimate is the
``reject_lowest + 1``-th lowest (one isolated low return, e.g. multipath, does
not drag the ground down). Cells whose lowest return is an object (a car body
filling the cell) are then pulled down to a slope-limited lower envelope of
their neighbours: ``h[i] = min_j(est[j] + max_slope * dist(i, j))``, computed
exactly like a chamfer distance transform in two raster passes. That bounds the
ground under an object by the visible ground around it, follows any slope up
to ``max_slope`` without fitting a model, and costs O(points + cells).

Chosen over a RANSAC plane because a single plane fails on crowned roads and
slope changes, and over per-ring (scan-line) methods because the input here is
an unordered cloud without ring indices.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_REJECT_LOWEST = 3  # bounds the per-cell sorted buffer


@njit(cache=True)
def ground_height(
    xyz: np.ndarray,
    range_min_m: float,
    range_max_m: float,
    cell_m: float,
    max_slope: float,
    reject_lowest: int,
) -> np.ndarray:
    """Ground z (float32, metres) under each point; NaN where the point is dropped.

    Dropped: any non-finite coordinate, or horizontal range outside
    ``[range_min_m, range_max_m)``. The grid is a square of side
    ``2 * range_max_m`` centred on the sensor origin.
    """
    n = xyz.shape[0]
    ng = int(np.ceil(2.0 * range_max_m / cell_m))
    k = reject_lowest + 1
    low = np.full((ng * ng, k), np.inf)
    cnt = np.zeros(ng * ng, np.int32)
    cell_of = np.full(n, -1, np.int64)
    rmin2 = range_min_m * range_min_m
    rmax2 = range_max_m * range_max_m
    inv = 1.0 / cell_m
    for i in range(n):
        x = np.float64(xyz[i, 0])
        y = np.float64(xyz[i, 1])
        z = np.float64(xyz[i, 2])
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
            continue
        r2 = x * x + y * y
        if r2 < rmin2 or r2 >= rmax2:
            continue
        ix = min(max(int((x + range_max_m) * inv), 0), ng - 1)
        iy = min(max(int((y + range_max_m) * inv), 0), ng - 1)
        c = ix * ng + iy
        cell_of[i] = c
        cnt[c] += 1
        if z < low[c, k - 1]:  # insertion into the k lowest, kept sorted
            j = k - 1
            while j > 0 and low[c, j - 1] > z:
                low[c, j] = low[c, j - 1]
                j -= 1
            low[c, j] = z

    h = np.full((ng, ng), np.inf)
    for c in range(ng * ng):
        if cnt[c] > 0:
            h[c // ng, c % ng] = low[c, min(cnt[c], k) - 1]

    # Slope-limited lower envelope (two-pass chamfer, 8-neighbour metric).
    a = max_slope * cell_m
    b = a * np.sqrt(2.0)
    for i in range(ng):
        for j in range(ng):
            v = h[i, j]
            if i > 0:
                v = min(v, h[i - 1, j] + a)
                if j > 0:
                    v = min(v, h[i - 1, j - 1] + b)
                if j < ng - 1:
                    v = min(v, h[i - 1, j + 1] + b)
            if j > 0:
                v = min(v, h[i, j - 1] + a)
            h[i, j] = v
    for i in range(ng - 1, -1, -1):
        for j in range(ng - 1, -1, -1):
            v = h[i, j]
            if i < ng - 1:
                v = min(v, h[i + 1, j] + a)
                if j < ng - 1:
                    v = min(v, h[i + 1, j + 1] + b)
                if j > 0:
                    v = min(v, h[i + 1, j - 1] + b)
            if j < ng - 1:
                v = min(v, h[i, j + 1] + a)
            h[i, j] = v

    out = np.full(n, np.nan, np.float32)
    for i in range(n):
        c = cell_of[i]
        if c >= 0:
            out[i] = h[c // ng, c % ng]
    return out


@njit(cache=True)
def select_above_ground(
    xyz: np.ndarray, ground_z: np.ndarray, z_min_m: float, z_max_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points with ``z_min_m < z - ground <= z_max_m``: (xyz, ground z, height above ground,
    the (N,) mask of the input points kept, for per-point attributes such as times).

    One fused pass instead of numpy's masks and fancy-index copies (three
    temporaries the size of the cloud); NaN ground (dropped points) fails both tests.
    """
    n = xyz.shape[0]
    keep = np.zeros(n, np.bool_)
    m = 0
    for i in range(n):
        h = xyz[i, 2] - ground_z[i]
        if h > z_min_m and h <= z_max_m:
            keep[i] = True
            m += 1
    out = np.empty((m, 3), np.float32)
    gz = np.empty(m, np.float32)
    hag = np.empty(m, np.float32)
    j = 0
    for i in range(n):
        if keep[i]:
            out[j, 0] = xyz[i, 0]
            out[j, 1] = xyz[i, 1]
            out[j, 2] = xyz[i, 2]
            gz[j] = ground_z[i]
            hag[j] = xyz[i, 2] - ground_z[i]
            j += 1
    return out, gz, hag, keep
