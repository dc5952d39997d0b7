"""Vertical structure of each BEV column: overhangs removed, columns taller than any object flagged.

Clustering is in the bird's-eye view, so anything above an object joins it: a street tree's crown
over a parked car made one 4.6 m tall cluster that the height limit dropped, car and all (issue 13,
urban_clutter). Real stacks cut such overhangs (crowns, balconies, sign boards, wires) by looking
up each column of the cloud: returns above an empty vertical gap wider than any gap inside a road
user belong to something else. Conversely, a column whose returns continue without a gap above
``z_max`` (the highest point kept) is a façade, a trunk or a pole: taller than any vehicle
(<= 4.3 m), and a cluster made mostly of such columns is structure however little of it shows
below ``z_max`` (a 2.7 m façade piece between two recesses had passed as a truck seen end-on).

Gaps are measured against the LiDAR's own vertical sampling: a solid vertical face returns a
point every ``range x beam spacing`` metres, so a gap is empty space only when it is wider than
the largest window band of a vehicle (glass returns little) plus one beam spacing there.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def column_filter(
    xyz: np.ndarray,
    hag: np.ndarray,
    cell_m: float,
    range_max_m: float,
    z_max_m: float,
    gap_m: float,
    gap_per_m: float,
    float_min_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, tall) per point of a sensor-centred cloud already above the ground cut.

    Per ``cell_m`` BEV cell, points are walked up from the lowest: the column stops at the first
    empty vertical gap wider than ``gap_m + gap_per_m x range``; points above it are overhang
    (not kept). A cell whose lowest point is higher than ``float_min_m`` is overhang whole
    (nothing this detector reports floats that high: a crown, a sign board). Points higher than
    ``z_max_m`` are not kept either; ``tall`` marks points of cells whose column reaches above it.
    """
    n = xyz.shape[0]
    keep = np.zeros(n, np.bool_)
    tall = np.zeros(n, np.bool_)
    if n == 0:
        return keep, tall
    ng = int(np.ceil(2.0 * range_max_m / cell_m))
    inv = 1.0 / cell_m
    key = np.empty(n)
    for i in range(n):
        ix = min(max(int((np.float64(xyz[i, 0]) + range_max_m) * inv), 0), ng - 1)
        iy = min(max(int((np.float64(xyz[i, 1]) + range_max_m) * inv), 0), ng - 1)
        # cell-major, then height (heights are far below 1e3 m)
        key[i] = (ix * ng + iy) * 1e3 + min(max(np.float64(hag[i]), 0.0), 999.0)
    srt = np.argsort(key)
    s = 0
    while s < n:
        cell = np.floor(key[srt[s]] * 1e-3)
        e = s
        while e < n and np.floor(key[srt[e]] * 1e-3) == cell:
            e += 1
        p0 = srt[s]
        if hag[p0] <= float_min_m:
            r = np.hypot(np.float64(xyz[p0, 0]), np.float64(xyz[p0, 1]))
            gap = gap_m + gap_per_m * r
            top = e
            prev = hag[p0]
            for t in range(s + 1, e):
                h = hag[srt[t]]
                if h - prev > gap:
                    top = t
                    break
                prev = h
            # taller than any road user without a gap, and returns above z_max over it: a façade
            # (its windows may break the column), a trunk under its crown, a pole under its lamp
            reaches = prev > float_min_m and hag[srt[e - 1]] > z_max_m
            for t in range(s, top):
                p = srt[t]
                if hag[p] <= z_max_m:
                    keep[p] = True
                    tall[p] = reaches
        s = e
    return keep, tall
