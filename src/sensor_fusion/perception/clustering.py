"""BEV occupancy clustering: connected components of occupied grid cells.

Points are binned into a bird's-eye grid and occupied cells are joined with
union-find, in O(points + occupied cells) whatever the density; that is why it
is used instead of DBSCAN/Euclidean clustering (a KD-tree radius query per
point). Two kinds of link:

1. Isotropic, unconditional: 8-neighbours, widened at range to bridge the
   LiDAR column spacing (``range * link_angle``, at most 4 cells). Objects
   with at least one empty cell between them, i.e. gaps of ``2 * cell_m`` or
   more (wider at range), stay separate.
2. Along the line of sight: a surface seen at a grazing angle ``g`` (a car's
   side from the next lane) returns one point per column, spaced
   ``range * column_spacing / sin(g)`` apart *radially* -- over a metre at
   15 m -- and a roof seen from a sensor just above it returns rings spaced
   metres apart. Cells are linked to cells up to ``radial_link_m(range)`` away
   (``elevated_link_m`` when either cell's lowest point is ``elevated_min_m``
   above ground: a roof or bonnet, which cannot stand alone) in a strip about
   one cell wide along the ray. These links come after the isotropic ones and
   only while the merged component's BEV bounding box diagonal stays within
   ``merge_max_m``, so an object in front of a long wall is not swallowed by
   it. Objects behind one another on one ray, closer than the radial link
   length, still merge (caveat).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@njit(cache=True)
def _union_bounded(parent: np.ndarray, box: np.ndarray, a: int, b: int, max_diag2: float) -> None:
    """Union a and b if their roots' joint bounding box (cell units) has diag^2 <= max_diag2."""
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra == rb:
        return
    x0 = min(box[ra, 0], box[rb, 0])
    x1 = max(box[ra, 1], box[rb, 1])
    y0 = min(box[ra, 2], box[rb, 2])
    y1 = max(box[ra, 3], box[rb, 3])
    dx = x1 - x0 + 1
    dy = y1 - y0 + 1
    if dx * dx + dy * dy > max_diag2:
        return
    lo, hi = (ra, rb) if ra < rb else (rb, ra)
    parent[hi] = lo
    box[lo, 0] = x0
    box[lo, 1] = x1
    box[lo, 2] = y0
    box[lo, 3] = y1


@njit(cache=True)
def label_bev(
    x: np.ndarray,
    y: np.ndarray,
    hag: np.ndarray,
    cell_m: float,
    half_extent_m: float,
    link_angle_rad: float,
    radial_link_per_m: float,
    radial_link_max_m: float,
    elevated_min_m: float,
    elevated_link_m: float,
    merge_max_m: float,
    grid: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Component label (int32, 0..n_labels-1) per point, and n_labels.

    ``hag`` is each point's height above ground. Radial link length is
    ``min(radial_link_per_m * range, radial_link_max_m)``. ``grid`` is a flat
    int32 scratch buffer of size ``ng * ng`` with
    ``ng = ceil(2 * half_extent_m / cell_m)``, all -1 on entry; it is restored
    to all -1 on exit so callers can reuse it without clearing. Labels are
    numbered in order of first point, so output is deterministic.
    """
    n = x.shape[0]
    ng = int(np.sqrt(grid.shape[0]) + 0.5)
    inv = 1.0 / cell_m
    pcell = np.empty(n, np.int64)
    occ = np.empty(n, np.int64)
    m = 0
    for p in range(n):
        ix = min(max(int((np.float64(x[p]) + half_extent_m) * inv), 0), ng - 1)
        iy = min(max(int((np.float64(y[p]) + half_extent_m) * inv), 0), ng - 1)
        c = ix * ng + iy
        pcell[p] = c
        if grid[c] < 0:
            grid[c] = m
            occ[m] = c
            m += 1

    # Per-cell centroid and lowest height above ground.
    sx = np.zeros(m)
    sy = np.zeros(m)
    cnt = np.zeros(m)
    low = np.full(m, np.inf)
    for p in range(n):
        k = grid[pcell[p]]
        sx[k] += x[p]
        sy[k] += y[p]
        cnt[k] += 1.0
        low[k] = min(low[k], np.float64(hag[p]))
    for k in range(m):
        sx[k] /= cnt[k]
        sy[k] /= cnt[k]

    parent = np.arange(m)
    # Pass 1: isotropic neighbours, unconditional.
    for k in range(m):
        c = occ[k]
        ix = c // ng
        iy = c % ng
        rng = np.sqrt(sx[k] * sx[k] + sy[k] * sy[k])
        r = min(max(1, int(np.ceil(rng * link_angle_rad * inv))), 4)
        for dx in range(-r, r + 1):
            jx = ix + dx
            if jx < 0 or jx >= ng:
                continue
            for dy in range(-r, r + 1):
                jy = iy + dy
                if jy < 0 or jy >= ng or (dx == 0 and dy == 0):
                    continue
                j = grid[jx * ng + jy]
                if j >= 0:
                    ra = _find(parent, k)
                    rb = _find(parent, j)
                    if ra != rb:
                        if ra < rb:
                            parent[rb] = ra
                        else:
                            parent[ra] = rb

    # Pass 2: line-of-sight links, bounded by the merged component's size. Offsets
    # are measured between cell centroids (a grazing surface puts one LiDAR column
    # per cell, so the centroid is that column's position) to avoid quantisation.
    box = np.empty((m, 4), np.int64)  # ix0, ix1, iy0, iy1 per root
    box[:, 0] = ng
    box[:, 1] = -1
    box[:, 2] = ng
    box[:, 3] = -1
    for k in range(m):
        root = _find(parent, k)
        ix = occ[k] // ng
        iy = occ[k] % ng
        box[root, 0] = min(box[root, 0], ix)
        box[root, 1] = max(box[root, 1], ix)
        box[root, 2] = min(box[root, 2], iy)
        box[root, 3] = max(box[root, 3], iy)
    max_diag2 = (merge_max_m * inv) ** 2
    for k in range(m):
        rng = np.sqrt(sx[k] * sx[k] + sy[k] * sy[k])
        reach = min(radial_link_per_m * rng, radial_link_max_m)
        if low[k] >= elevated_min_m:
            reach = max(reach, elevated_link_m)
        if reach < 1.5 * cell_m or rng < 1e-6:
            continue  # pass 1 already links adjacent cells
        ux = sx[k] / rng
        uy = sy[k] / rng
        lat_tol = max(cell_m, rng * link_angle_rad)
        ix = occ[k] // ng
        iy = occ[k] % ng
        kk = int(reach * inv) + 1
        # Walk the strip along its dominant grid axis; per step, the cells across it.
        along_x = abs(ux) >= abs(uy)
        slope = uy / ux if along_x else ux / uy
        half = lat_tol * inv / max(abs(ux), abs(uy)) + 1.0
        for a in range(-kk, kk + 1):
            centre = a * slope
            for b in range(int(np.floor(centre - half)), int(np.ceil(centre + half)) + 1):
                jx = ix + a if along_x else ix + b
                jy = iy + b if along_x else iy + a
                if jx < 0 or jx >= ng or jy < 0 or jy >= ng:
                    continue
                j = grid[jx * ng + jy]
                if j < 0 or j == k:
                    continue
                dx = sx[j] - sx[k]
                dy = sy[j] - sy[k]
                if abs(dx * ux + dy * uy) <= reach and abs(dy * ux - dx * uy) <= lat_tol:
                    _union_bounded(parent, box, k, j, max_diag2)

    comp = np.full(m, -1, np.int32)
    cell_label = np.empty(m, np.int32)
    n_labels = 0
    for k in range(m):
        root = _find(parent, k)
        if comp[root] < 0:
            comp[root] = n_labels
            n_labels += 1
        cell_label[k] = comp[root]

    labels = np.empty(n, np.int32)
    for p in range(n):
        labels[p] = cell_label[grid[pcell[p]]]
    for k in range(m):
        grid[occ[k]] = -1
    return labels, n_labels


@njit(cache=True)
def group_by_label(labels: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counting sort: (order, starts, counts) so cluster k is ``order[starts[k]:starts[k]+counts[k]]``."""
    n = labels.shape[0]
    counts = np.zeros(n_labels, np.int64)
    for p in range(n):
        counts[labels[p]] += 1
    starts = np.zeros(n_labels, np.int64)
    acc = 0
    for k in range(n_labels):
        starts[k] = acc
        acc += counts[k]
    pos = starts.copy()
    order = np.empty(n, np.int64)
    for p in range(n):
        lab = labels[p]
        order[pos[lab]] = p
        pos[lab] += 1
    return order, starts, counts
