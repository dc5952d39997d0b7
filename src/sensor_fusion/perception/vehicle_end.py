"""A vehicle's end seen from afar: its upper part stands farther than its lower part.

Past ~40 m a 64-beam LiDAR puts three or four rows on a car seen from behind or from the front,
and the cluster is a 1-2 m wide patch about a metre tall: the footprint and height of a side-on
bicycle or a person, and the shape rules (:mod:`.size_class`) say so. The box is then centred on
the visible face, two metres short of the car's centre (issue 13: far cars in the held-out sweeps
are missed). What a vehicle's end has and a person or cyclist lacks is depth that grows with
height: a rear's bumper and boot lid stand 0.6-1.2 m in front of its rear window and roof, a
front's bumper 1-1.5 m in front of its windscreen. A person's legs and torso, a cyclist's wheels
and rider stand over the same place (a stride or a lean moves the upper half by a few tenths at
most, and a cyclist seen from behind, leaning forward, is no wider than 0.7 m).

:func:`upper_recession` measures, per cluster, how much farther from the sensor its upper half
stands than its lower half, and how wide it is across the line of sight. The rule
using it is in ``lidar.LidarDetector`` (``vehicle_end_recede_m``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def upper_recession(
    xyz: np.ndarray,
    hag: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster of ``clusters`` (``group_by_label``'s ``order`` / ``starts`` / ``counts``;
    ``xyz`` centred on the sensor in x and y, ``hag`` the height over the ground): the mean range
    of the returns in its upper half (by height) minus that of its lower half, in metres (0 where
    either half is empty), and its extent across the line of sight (the bearing span of all its
    returns times their mean range)."""
    n = clusters.shape[0]
    recede = np.zeros(n)
    across = np.zeros(n)
    for ci in range(n):
        k = clusters[ci]
        s, c = starts[k], counts[k]
        lo_h, hi_h = np.inf, -np.inf
        for j in range(s, s + c):
            h = hag[order[j]]
            lo_h = min(lo_h, h)
            hi_h = max(hi_h, h)
        mid = 0.5 * (lo_h + hi_h)
        r_lo = r_hi = 0.0
        n_lo = n_hi = 0
        sx = sy = 0.0
        for j in range(s, s + c):
            i = order[j]
            x, y = np.float64(xyz[i, 0]), np.float64(xyz[i, 1])
            r = np.sqrt(x * x + y * y)
            sx += x
            sy += y
            if hag[i] <= mid:
                r_lo += r
                n_lo += 1
            else:
                r_hi += r
                n_hi += 1
        if n_lo == 0 or n_hi == 0:
            continue
        recede[ci] = r_hi / n_hi - r_lo / n_lo
        # bearing span about the mean direction (no wrap at +-pi)
        norm = np.sqrt(sx * sx + sy * sy)
        if norm <= 0.0:
            continue
        ux, uy = sx / norm, sy / norm
        a_min, a_max = np.inf, -np.inf
        for j in range(s, s + c):
            i = order[j]
            x, y = np.float64(xyz[i, 0]), np.float64(xyz[i, 1])
            a = np.arctan2(ux * y - uy * x, ux * x + uy * y)
            a_min = min(a_min, a)
            a_max = max(a_max, a)
        across[ci] = (a_max - a_min) * (r_lo + r_hi) / (n_lo + n_hi)
    return recede, across
