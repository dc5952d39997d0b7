"""Cluster shape features that tell objects from static structure, and row splitting.

A street returns three kinds of cluster the box rules alone mistake for objects (issue 13):

- rows of parked cars linked bumper to bumper into one truck-length cluster: split where the
  height profile along the row drops below bonnet height (a car's profile never does between
  its bumpers) or where the row has a gap wider than the LiDAR's column spacing there;
- walls, fences and hedges: longer than any car and reaching the ground along their whole
  length, where a truck's or bus's side stands on a few wheels with its body clear of the road
  (``ground_contact``);
- vegetation: returns penetrate a bush or hedge, so its low points lie inside its footprint,
  where a solid body's lie on its visible faces (``interior_fraction``).

Poles, signs and trunks need no feature: taller than a person and narrower than a vehicle,
they match no class (see ``lidar.structure_shapes``). Why shape and not a static map or a learned
classifier: docs/detection-tracking.md, "Static structure".
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .ends import gap_shows_depth

PROFILE_BIN_M = 0.2  # bin of the along-row height profile (~ the clustering cell)
CAR_MIN_LENGTH_M = 3.5  # the shortest common cars (city cars 3.5-3.7 m)


@njit(cache=True)
def profile_bin(
    xyz: np.ndarray, p: int, cx: float, cy: float, c: float, s: float, length: float, bin_m: float, nb: int
) -> int:
    """The bin of point ``p`` along a fitted cluster's long axis (centre cx, cy; axis c, s), in
    bins of ``bin_m`` from its near end; points just outside the box go to the end bins."""
    u = (xyz[p, 0] - cx) * c + (xyz[p, 1] - cy) * s + 0.5 * length
    return min(max(int(u / bin_m), 0), nb - 1)


@njit(cache=True)
def top_profile(
    xyz: np.ndarray,
    hag: np.ndarray,
    order: np.ndarray,
    s0: int,
    n: int,
    cx: float,
    cy: float,
    c: float,
    s: float,
    length: float,
    bin_m: float,
    nb: int,
    top: np.ndarray,
) -> None:
    """Fill ``top[:nb]`` with each bin's highest height above ground (-inf where a bin is empty)
    for the cluster's points ``order[s0:s0 + n]``; the row and group splits read it."""
    top[:nb] = -np.inf
    for t in range(n):
        p = order[s0 + t]
        b = profile_bin(xyz, p, cx, cy, c, s, length, bin_m, nb)
        top[b] = max(top[b], np.float64(hag[p]))


@njit(cache=True)
def mark_wide_gaps(top: np.ndarray, nb: int, gap_bins: int, wide: np.ndarray) -> None:
    """Set ``wide[:nb]`` True on the empty bins (``top`` -inf) of runs at least ``gap_bins`` long,
    False elsewhere: the gaps between bodies (wider than a few LiDAR columns) in a top profile;
    the row and group splits cut there."""
    b = 0
    while b < nb:
        if top[b] == -np.inf:
            e = b
            while e < nb and top[e] == -np.inf:
                e += 1
            for q in range(b, e):
                wide[q] = e - b >= gap_bins
            b = e
        else:
            wide[b] = False
            b += 1


@njit(cache=True)
def split_rows(
    xyz: np.ndarray,
    hag: np.ndarray,
    labels: np.ndarray,
    n_labels: int,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    fit: np.ndarray,
    min_length_m: float,
    dip_m: float,
    body_min_m: float,
    body_min_length_m: float,
    gap_angle_rad: float,
    gap_factor: float,
    dip_below_top_m: float,
    body_slack_per_m: float,
    smooth_link_fraction: float,
) -> int:
    """Split clusters that are rows of bodies; relabels ``labels`` in place, returns n_labels.

    ``fit`` rows (cx, cy, length, width, yaw, ...) belong to ``clusters``; only those at least
    ``min_length_m`` long are examined. Along the long axis, bins whose highest point is below
    ``dip_m`` above ground, and empty runs longer than ``gap_factor`` x range x ``gap_angle_rad`` /
    sin(grazing angle) (the link angle, ~2 column spacings, along a surface seen at that angle),
    separate segments; a segment is a *body* if it reaches ``body_min_m`` and spans
    ``body_min_length_m``. With two bodies or more, each point goes to the nearest body.
    ``dip_below_top_m`` > 0 (the cabin pass, for clusters the fence rule would drop): bins that far
    below the cluster's highest also separate, the bodies (cabins) must be ``CAR_MIN_LENGTH_M``
    apart centre to centre to be split, and pieces beyond a wide empty run with no body of their own
    become clusters of their own (with one body or more). The height a body must reach is lowered
    by ``body_slack_per_m`` x range (a roof missed between beams), though its bins must still clear
    the separators' height; tops are max-filtered over +-``smooth_link_fraction`` x range x
    ``gap_angle_rad`` / sin(grazing angle) first (see the callers for the two passes' values).
    """
    nb_max = 512
    top = np.empty(nb_max)
    seg = np.empty(nb_max, np.int64)
    sep = np.zeros(nb_max, np.bool_)
    smooth = np.empty(nb_max)
    seg_lo = np.empty(nb_max, np.int64)
    seg_hi = np.empty(nb_max, np.int64)
    isl = np.empty(nb_max, np.int64)
    isl_label = np.empty(nb_max, np.int64)
    for ci in range(clusters.shape[0]):
        length = fit[ci, 2]
        if length < min_length_m:
            continue
        k = clusters[ci]
        cx, cy, yaw = fit[ci, 0], fit[ci, 1], fit[ci, 4]
        c, s = np.cos(yaw), np.sin(yaw)
        nb = min(nb_max, int(length / PROFILE_BIN_M) + 1)
        s0, n = starts[k], counts[k]
        top_profile(xyz, hag, order, s0, n, cx, cy, c, s, length, PROFILE_BIN_M, nb, top)
        # column spacing along the row at its range and grazing angle
        r = np.hypot(cx, cy)
        sin_g = abs(c * cy - s * cx) / max(r, 1e-6)
        gap_bins = int(np.ceil(gap_factor * r * gap_angle_rad / max(sin_g, 0.05) / PROFILE_BIN_M))
        # a bin that catches the edge of a column holds only its lower returns, so tops are
        # max-filtered over a window of columns first
        half = int(np.ceil(smooth_link_fraction * r * gap_angle_rad / max(sin_g, 0.05) / PROFILE_BIN_M))
        for b in range(nb):
            m = -np.inf
            for q in range(max(0, b - half), min(nb, b + half + 1)):
                m = max(m, top[q])
            smooth[b] = m
        # separators: low bins (a dip between bodies) and empty runs wider than gap_bins;
        # with dip_below_top_m, also bins that far below the cluster's top (a cabin's roof against
        # the bonnets and boots between two cars, where the gap between them is hidden)
        dip = dip_m
        if dip_below_top_m > 0.0:
            hmax = -np.inf
            for q in range(nb):
                hmax = max(hmax, top[q])
            dip = max(dip_m, hmax - dip_below_top_m)
        mark_wide_gaps(top, nb, gap_bins, sep)
        for b in range(nb):
            if top[b] != -np.inf:
                sep[b] = smooth[b] < dip
        n_seg = 0
        for b in range(nb):
            if sep[b]:
                continue
            if n_seg > 0 and seg_hi[n_seg - 1] == b - 1:
                seg_hi[n_seg - 1] = b
            else:
                seg_lo[n_seg] = b
                seg_hi[n_seg] = b
                n_seg += 1
        # keep bodies only
        n_body = 0
        for j in range(n_seg):
            hmax = -np.inf
            for q in range(seg_lo[j], seg_hi[j] + 1):
                hmax = max(hmax, top[q])
            if (
                hmax >= body_min_m - body_slack_per_m * r
                and (seg_hi[j] - seg_lo[j] + 1) * PROFILE_BIN_M >= body_min_length_m
            ):
                seg_lo[n_body] = seg_lo[j]
                seg_hi[n_body] = seg_hi[j]
                n_body += 1
        cabin = dip_below_top_m > 0.0
        if n_body < (1 if cabin else 2):
            continue
        multi = n_body >= 2
        if cabin and multi:
            # cabins of consecutive cars are at least a short car's length apart (3.5 m)
            for j in range(1, n_body):
                gap_c = 0.5 * (seg_lo[j] + seg_hi[j] - seg_lo[j - 1] - seg_hi[j - 1]) * PROFILE_BIN_M
                multi = multi and gap_c >= CAR_MIN_LENGTH_M
        # cabin pass: pieces beyond an empty run (the row seen through) with no body of their own
        # (a neighbour's bonnet or boot, a post) are cut off as clusters of their own
        n_isl = 0
        if cabin:
            b = 0
            while b < nb:
                if top[b] == -np.inf and sep[b]:  # a wide empty run ends the island before it
                    while b < nb and top[b] == -np.inf:
                        isl[b] = -1
                        b += 1
                    n_isl += 1
                else:
                    isl[b] = n_isl
                    b += 1
            n_isl += 1
            for q in range(n_isl):
                isl_label[q] = -2  # no point yet
            for j in range(n_body):
                isl_label[isl[seg_lo[j]]] = -1  # holds a body
        n_new = n_body - 1 if multi else 0
        for j in range(n_body):
            seg[j] = k if (j == 0 or not multi) else n_labels + j - 1
        for t in range(n):
            p = order[s0 + t]
            b = profile_bin(xyz, p, cx, cy, c, s, length, PROFILE_BIN_M, nb)
            if cabin and isl[b] >= 0 and isl_label[isl[b]] != -1:
                if isl_label[isl[b]] == -2:
                    isl_label[isl[b]] = n_labels + n_new
                    n_new += 1
                labels[p] = isl_label[isl[b]]
                continue
            best, best_d = 0, np.inf
            for j in range(n_body):
                d = 0 if seg_lo[j] <= b <= seg_hi[j] else min(abs(b - seg_lo[j]), abs(b - seg_hi[j]))
                if d < best_d:
                    best_d = d
                    best = j
            labels[p] = seg[best]
        n_labels += n_new
    return n_labels


@njit(cache=True)
def structure_features(
    xyz: np.ndarray,
    hag: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    fit: np.ndarray,
    contact_m: float,
    low_m: float,
    inside_m: float,
    flat_tol_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ground_contact, interior_fraction, flat_top) per fitted cluster.

    ``ground_contact``: of the occupied bins along the long axis, the fraction holding a point
    within ``contact_m`` of the ground. ``interior_fraction``: of the points lower than
    ``low_m`` above ground (below a car's bonnet: its bumpers, doors and wheels, all on its
    faces), the fraction farther than ``inside_m`` from every edge of the box. ``flat_top``: of
    the occupied bins, the fraction whose highest point is within ``flat_tol_m`` of the
    median of those: a car's cabin covers about half its length (its roof and its bonnet and boot
    are 0.4-0.6 m apart), a wall's top runs its whole length.
    """
    nc = clusters.shape[0]
    contact = np.zeros(nc)
    interior = np.zeros(nc)
    nb_max = 512
    occ = np.zeros(nb_max, np.bool_)
    low = np.zeros(nb_max, np.bool_)
    top = np.empty(nb_max)
    flat = np.zeros(nc)
    for ci in range(nc):
        k = clusters[ci]
        cx, cy, length, width, yaw = fit[ci, 0], fit[ci, 1], fit[ci, 2], fit[ci, 3], fit[ci, 4]
        c, s = np.cos(yaw), np.sin(yaw)
        nb = min(nb_max, int(length / PROFILE_BIN_M) + 1)
        occ[:nb] = False
        low[:nb] = False
        top[:nb] = -np.inf
        n_low = 0
        n_in = 0
        s0, n = starts[k], counts[k]
        for t in range(n):
            p = order[s0 + t]
            dx, dy = xyz[p, 0] - cx, xyz[p, 1] - cy
            u = dx * c + dy * s
            v = -dx * s + dy * c
            b = min(max(int((u + 0.5 * length) / PROFILE_BIN_M), 0), nb - 1)
            occ[b] = True
            h = hag[p]
            top[b] = max(top[b], np.float64(h))
            if h <= contact_m:
                low[b] = True
            if h <= low_m:
                n_low += 1
                if min(0.5 * length - abs(u), 0.5 * width - abs(v)) > inside_m:
                    n_in += 1
        n_occ = 0
        n_contact = 0
        n_flat = 0
        tops = np.empty(nb)
        for b in range(nb):
            if occ[b]:
                tops[n_occ] = top[b]
                n_occ += 1
        # the level the top holds over most of the length: a pole, a bollard or a person merged
        # at one end of a wall raises its maximum, not its median
        tlev = np.median(tops[:n_occ]) if n_occ > 0 else 0.0
        for b in range(nb):
            if occ[b]:
                if low[b]:
                    n_contact += 1
                if abs(top[b] - tlev) <= flat_tol_m:
                    n_flat += 1
        contact[ci] = n_contact / max(n_occ, 1)
        flat[ci] = n_flat / max(n_occ, 1)
        interior[ci] = n_in / max(n_low, 1)
    return contact, interior, flat


# finer than the ring spacing of 32-64 beam heads (0.2-0.4 deg); 128-beam heads with 0.1-0.125 deg
# spacing put two rings in some bins, which adds to the roughness of surfaces not facing the sensor
ROUGH_ELEVATION_BIN_RAD = np.radians(0.15)
# A spinning head's beam keeps one elevation (repeatable to ~0.001 deg); a mount tilted by 1 deg
# moves it by < 0.01 deg between neighbouring columns. Triples whose elevations differ by more are
# not one ring: a non-repetitive scan pattern, a cloud sampled otherwise (tests' face samples), or a
# mount tilted by more than a degree or two. They are skipped rather than measuring a roof's slope
# as roughness, and counted as candidates: in such clouds a few pass by coincidence, and the caller
# asks that most candidates be one-beam (lidar._RING_MIN_SHARE).
RING_ELEVATION_TOL_RAD = np.radians(0.01)


@njit(cache=True)
def surface_roughness(
    xyz: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    sensor_z: float,
    neighbour_rad: float,
    step_m: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median |second difference of range| along the scan rings (m), how many, of how many
    candidates) per cluster. With ``step_m`` > 0 a triple with a neighbour more than that nearer or
    farther is two surfaces, not one rough one, and is left out.

    ``xyz`` is relative to the sensor in x, y (base_link z, the sensor at ``sensor_z``). Returns of
    one ring (elevation bins of ROUGH_ELEVATION_BIN_RAD) are taken in azimuth order, and for three
    consecutive ones at most ``neighbour_rad`` apart, |r1 - (r0 + r2) / 2|. On a solid surface
    that is range noise (a 2 cm noise gives a median of ~1.7 cm); foliage returns come from leaves
    at different depths. Only returns of one beam count (RING_ELEVATION_TOL_RAD); the candidates
    are the triples of azimuth neighbours in one bin, one beam or not. NaN where ``sensor_z`` is
    NaN or nothing qualifies.
    """
    nc = clusters.shape[0]
    med = np.full(nc, np.nan)
    num = np.zeros(nc, np.int64)
    cand = np.zeros(nc, np.int64)
    if not np.isfinite(sensor_z):
        return med, num, cand
    for ci in range(nc):
        k = clusters[ci]
        s0, n = starts[k], counts[k]
        if n < 3:
            continue
        r = np.empty(n)
        az = np.empty(n)
        el = np.empty(n)
        ring = np.empty(n, np.int64)
        key = np.empty(n)
        for t in range(n):
            p = order[s0 + t]
            x, y, z = np.float64(xyz[p, 0]), np.float64(xyz[p, 1]), np.float64(xyz[p, 2])
            r[t] = np.sqrt(x * x + y * y)
            az[t] = np.arctan2(y, x)
            el[t] = np.arctan2(z - sensor_z, max(r[t], 1e-3))
            ring[t] = np.int64(np.floor(el[t] / ROUGH_ELEVATION_BIN_RAD))
            key[t] = ring[t] * 10.0 + (az[t] + np.pi) / (2.0 * np.pi)  # ring, then azimuth
        srt = np.argsort(key)
        d2 = np.empty(n)
        m = 0
        for t in range(1, n - 1):
            a, b, c = srt[t - 1], srt[t], srt[t + 1]
            if ring[a] != ring[b] or ring[c] != ring[b]:
                continue
            if abs(az[b] - az[a]) > neighbour_rad or abs(az[c] - az[b]) > neighbour_rad:
                continue
            cand[ci] += 1
            # one beam (RING_ELEVATION_TOL_RAD): at merely similar elevations a roof's slope along
            # the line of sight would read as roughness
            if abs(el[b] - el[a]) > RING_ELEVATION_TOL_RAD or abs(el[c] - el[b]) > RING_ELEVATION_TOL_RAD:
                continue
            if step_m > 0.0 and (abs(r[b] - r[a]) > step_m or abs(r[c] - r[b]) > step_m):
                continue
            d2[m] = abs(r[b] - 0.5 * (r[a] + r[c]))
            m += 1
        num[ci] = m
        if m > 0:
            med[ci] = np.median(d2[:m])
    return med, num, cand


@njit(cache=True)
def face_extent(
    xy: np.ndarray,
    hag: np.ndarray,
    faces: np.ndarray,
    h_min: np.ndarray,
    max_gap: np.ndarray,
    perp_tol_m: float,
    perp_tol_per_m: float,
    max_extent_m: float,
    pts: np.ndarray,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray],
    blind_max_gap: np.ndarray,
    depth_margin_m: float,
) -> np.ndarray:
    """(C,) each face's length plus how far it is seen to run on past both its ends (m).

    ``faces`` rows are (x0, y0, x1, y1): a cluster's face toward the sensor, in the sensor's x, y.
    Returns of any cluster within ``perp_tol_m`` (+ ``perp_tol_per_m`` per metre along, for the
    fitted heading's error) of the face's line, at least ``h_min`` above the ground, extend it
    while consecutive ones along the line are at most ``max_gap`` apart. Stops past
    ``max_extent_m``. A vehicle ends where it ends; a façade cut into pieces by doors, windows and
    what stands in front of it runs on at the same height along the same line. A longer gap, up to
    ``blind_max_gap`` (per face; 0: none), is crossed where the beams through it show no depth
    (:func:`ends.gap_shows_depth` on the whole sweep ``pts`` and its ``bins``, ``depth_margin_m``
    past the line along the ray): a ground-floor window whose glass returns nothing, not the gap between two
    trucks parked nose to tail, through which the road or the pavement beyond returns.
    """
    nc = faces.shape[0]
    out = np.zeros(nc)
    m = xy.shape[0]
    s_lo = np.empty(m)
    s_hi = np.empty(m)
    for ci in range(nc):
        x0, y0, x1, y1 = faces[ci, 0], faces[ci, 1], faces[ci, 2], faces[ci, 3]
        ln = np.hypot(x1 - x0, y1 - y0)
        if ln <= 0.0:
            continue
        ux, uy = (x1 - x0) / ln, (y1 - y0) / ln
        n_lo = 0
        n_hi = 0
        for p in range(m):
            if hag[p] < h_min[ci]:
                continue
            dx, dy = xy[p, 0] - x0, xy[p, 1] - y0
            s = dx * ux + dy * uy
            if s >= 0.0 and s <= ln:
                continue
            along = -s if s < 0.0 else s - ln
            if along > max_extent_m + max_gap[ci]:
                continue
            if abs(dx * uy - dy * ux) > perp_tol_m + perp_tol_per_m * along:
                continue
            if s < 0.0:
                s_lo[n_lo] = along
                n_lo += 1
            else:
                s_hi[n_hi] = along
                n_hi += 1
        ext = ln
        for side in range(2):
            arr, k = (s_lo, n_lo) if side == 0 else (s_hi, n_hi)
            if k == 0:
                continue
            v = np.sort(arr[:k])
            reach = 0.0
            for t in range(k):
                gap = v[t] - reach
                if gap > max_gap[ci]:
                    if gap > blind_max_gap[ci]:
                        break
                    # the gap's ends on the line: past the face's start (side 0) or its end
                    s0, s1 = (-reach, -v[t]) if side == 0 else (ln + reach, ln + v[t])
                    if gap_shows_depth(
                        pts, bins, x0 + s0 * ux, y0 + s0 * uy, x0 + s1 * ux, y0 + s1 * uy, depth_margin_m
                    ):
                        break
                reach = v[t]
            ext += reach
        out[ci] = ext
    return out
