"""What the beams just below a cluster show: a vehicle's underside, or a wall's base.

Under a low LiDAR ceiling a façade piece between parked cars, trees and doors is a truck's side by
length, height and flatness, and often by its ends too (``ends.py``). What a vehicle longer than a
car has and a wall has not is ground clearance: between its wheel groups the body stands 0.3 m
(low-floor bus) to 1.2 m (trailer) over the road. A beam passing just below its lowest return
travels on under it to the road beyond or the far side (a return farther than the face), or hits
the road at its face where the clearance is finer than the beam spacing. A wall's base stops it:
the return is at the face, off the ground. Wheels stop it too, so only a stretch of stopped beams
longer than any wheel group seen side-on says "wall" (tyres are 1.0-1.1 m across, with road
between tandem and tri-axle tyres near the ground where these beams pass).

:func:`underside` measures, per azimuth bin of a cluster whose lowest return there is low (a body's
underside, not a door head or a window sill high above a hidden base), the next return below it in
that bin, and keeps the number of bins seen through and the longest run of bins stopped by a solid
base. Beams hidden by something nearer say nothing about the base, but how much of it is hidden
says something: a façade piece behind a row of parked cars is seen only over their roofs, while a
vehicle in the street shows its wheels unless traffic stands in front of it (and then its end face
too). The rules using it are in ``lidar.unbounded_clusters`` (``structure_solid_base_m``,
``structure_hidden_base``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .boxfit import CX, CY, YAW
from .ground import AZ_BINS, az_bin

# a bin's lowest return must be this low over the ground to look under it: a car's or truck's body
# bottom (0.15-1.2 m) with the beam slack; a door head or sill over a hidden base is higher
UNDERSIDE_LOW_MAX_M = 1.0
# the next beam down is another beam: finer than any ring spacing, coarser than a beam's repeatability
_ELEVATION_TOL = math.tan(math.radians(0.05))
# a return within this of the face's range is at the face (range noise, relief, the face's obliquity
# over one bin); farther is under or past the body, nearer is something in front hiding the base
UNDERSIDE_MARGIN_M = 1.0
# a return at the face this far over its ground is a solid base, not the road at a vehicle's side
# (ground estimate noise on a graded road: a few centimetres)
SOLID_MIN_M = 0.05
# a nearer return this far over its ground hides the base: something standing in front (a parked
# car, a hedge), not the road or a kerb (0.1-0.2 m) the next beam down meets short of the face
HIDING_MIN_M = 0.3

_THROUGH, _SOLID, _OTHER = 1, 2, 0


@njit(cache=True)
def underside(
    pts: np.ndarray,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray],
    ground_z: np.ndarray,
    sensor_z_m: float,
    obj: np.ndarray,
    obj_hag: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    fit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """((N,) bins seen through below each of ``clusters``, (N,) its longest run of solid base, m,
    (N,) the share of its bins whose base is hidden).

    ``pts`` is the whole sweep, sensor-centred in x, y (base_link z), ground included, ``bins`` its
    ``ends.sweep_bins``, ``ground_z`` its ground height per return (NaN: unknown); ``obj`` /
    ``obj_hag`` the clustered returns and their height over the ground, grouped by ``order`` /
    ``starts`` / ``counts``; ``fit`` (N, ...) the clusters' boxes. Per azimuth bin
    (``ground.az_bin``) holding a cluster return at most ``UNDERSIDE_LOW_MAX_M`` over the ground,
    the highest return of the sweep in that bin below the cluster's lowest one is *through* when
    farther than it by more than ``UNDERSIDE_MARGIN_M``, *solid* when within that and more than
    ``SOLID_MIN_M`` over its ground. A run is consecutive bins, all solid; its length is along the
    box's long axis. In any of the cluster's bins, whatever the height of its lowest return there,
    that return below it is *hiding* when nearer than the face by more than ``UNDERSIDE_MARGIN_M``
    and more than ``HIDING_MIN_M`` over its ground: something in front stands over the base."""
    by_bin, first, n_in = bins
    n = clusters.shape[0]
    n_through = np.zeros(n, np.int32)
    run_m = np.zeros(n)
    hidden = np.zeros(n)
    for k in range(n):
        c = clusters[k]
        s0, m = starts[c], counts[c]
        ux, uy = math.cos(fit[k, YAW]), math.sin(fit[k, YAW])
        # per point: its bin, elevation (tan) and position along the box
        b = np.empty(m, np.int64)
        te = np.empty(m)
        for j in range(m):
            p = order[s0 + j]
            x, y, z = np.float64(obj[p, 0]), np.float64(obj[p, 1]), np.float64(obj[p, 2])
            b[j] = az_bin(x, y)
            te[j] = (z - sensor_z_m) / max(math.sqrt(x * x + y * y), 1e-3)
        srt = np.argsort(b)
        # the cluster's bins in azimuth order; a cluster across the bins' wrap starts after its gap
        start = 0
        gap = -1
        for j in range(m):
            nxt = b[srt[(j + 1) % m]] - b[srt[j]]
            if j == m - 1:
                nxt += AZ_BINS
            if nxt > gap:
                gap = nxt
                start = (j + 1) % m
        run_lo = run_hi = 0.0
        in_run = False
        prev_bin = -2
        n_bins = 0
        n_hidden = 0
        j = 0
        while j < m:
            jj = srt[(start + j) % m]
            bb = b[jj]
            # the bin's lowest return
            lo = jj
            t = j + 1
            while t < m and b[srt[(start + t) % m]] == bb:
                q = srt[(start + t) % m]
                if te[q] < te[lo]:
                    lo = q
                t += 1
            j = t
            p = order[s0 + lo]
            x, y = np.float64(obj[p, 0]), np.float64(obj[p, 1])
            r_face = math.sqrt(x * x + y * y)
            u = (x - fit[k, CX]) * ux + (y - fit[k, CY]) * uy
            kind = _OTHER
            n_bins += 1
            # the highest return of the bin below the cluster's lowest one
            best = -np.inf
            bi = -1
            for qq in range(first[bb], first[bb] + n_in[bb]):
                i = by_bin[qq]
                xi, yi = np.float64(pts[i, 0]), np.float64(pts[i, 1])
                ri = math.sqrt(xi * xi + yi * yi)
                if ri < 1e-3:
                    continue
                ti = (np.float64(pts[i, 2]) - sensor_z_m) / ri
                if ti < te[lo] - _ELEVATION_TOL and ti > best:
                    best = ti
                    bi = i
            if bi >= 0:
                xi, yi = np.float64(pts[bi, 0]), np.float64(pts[bi, 1])
                d = math.sqrt(xi * xi + yi * yi) - r_face
                if d < -UNDERSIDE_MARGIN_M and pts[bi, 2] - ground_z[bi] > HIDING_MIN_M:
                    n_hidden += 1  # NaN ground: not hiding
                if obj_hag[p] <= UNDERSIDE_LOW_MAX_M:
                    if d > UNDERSIDE_MARGIN_M:
                        kind = _THROUGH
                    elif d >= -UNDERSIDE_MARGIN_M and pts[bi, 2] - ground_z[bi] > SOLID_MIN_M:
                        kind = _SOLID  # NaN ground: not solid
            if kind == _THROUGH:
                n_through[k] += 1
            if kind == _SOLID and in_run and (bb - prev_bin) % AZ_BINS == 1:
                run_lo, run_hi = min(run_lo, u), max(run_hi, u)
            elif kind == _SOLID:
                in_run = True
                run_lo = run_hi = u
            else:
                in_run = False
            if in_run:
                run_m[k] = max(run_m[k], run_hi - run_lo)
            prev_bin = bb
        hidden[k] = n_hidden / max(n_bins, 1)
    return n_through, run_m, hidden
