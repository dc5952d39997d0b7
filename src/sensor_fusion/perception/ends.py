"""What a LiDAR sees just past a cluster's ends: a vehicle is bounded, a façade piece runs on.

Under a low LiDAR ceiling (KITTI's HDL-64E: highest beam +2 deg) a building front seen face-on is
cut at 2.2-3.7 m within ~60 m, and doors, passages and what stands in front cut it into 5-15 m
pieces: a truck's side by length, height and flatness (issue 13: walls labelled TRUCK, 0.85). What
the sweep still tells apart is the end. A vehicle is a bounded body: the beams that pass just past
its end, at the heights it spans, travel on to what lies behind it (the road beyond, a wall, the
next street), unless something nearer hides that end. A façade piece ends where the next surface
of the same front begins (a pier, the next building, at the same range), where glass returns
nothing, or behind something nearer; a recess deeper than the margin or a passage shows depth.

:func:`end_states` sorts each end of a cluster into one of those cases. Behind means farther than
the cluster's face at that end (the line of its returns there) extended past it, so an oblique
façade continuing past a gap is not mistaken for depth. What is behind is split into the road (a
vehicle's end shows the road between it and what stands beyond) and the rest, whose least depth
tells a recess or doorway of the same front. The rules using it are in ``lidar.unbounded_clusters``
(``structure_bounded_ends``, ``structure_recess_max_m``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .boxfit import CX, CY, LENGTH, WIDTH, YAW
from .clustering import group_by_label
from .ground import AZ_BINS, az_bin

# what an end shows besides returns behind it (bit flags; 0: nothing at the cluster's elevations:
# glass, sky, or road too far to return)
CONTINUES = 1  # a non-ground return on the face's line, within the margin
HIDDEN = 2  # a non-ground return nearer than the face's line by more than the margin

_ELEVATION_TOL = math.tan(math.radians(0.1))  # a beam keeps its elevation; finer than any ring spacing
# the face extended past the end is trusted this far in range: its direction's error, and a front
# that bends, grow with the extension (farther returns count as behind, nearer ones as hiding it)
_EXTEND_MAX_M = 3.0
_FACE_MIN_M = 0.5  # a box edge shorter than this is a cluster's thickness, not a measured face
# the face at an end is the line through the cluster's returns within 4 m of its outermost one (the
# face that ends there: at a box's outermost corner the other face looks away; 4 m averages a
# façade's relief, recesses and piers every 1-3 m, and stays within a car's side), when at least 5
# of them, with a standard deviation over 0.3 m along it (more than range noise), form a line:
# their variance across it under 5 % of that along it (std ratio 0.22; a face's relief and noise,
# <= 0.25 m std over 4 m, give 0.01-0.03). An L of two faces (a rear 1.8-2.5 m wide and the side
# round its corner) gives 0.1-0.25: the box's edge is the face there, as where the returns are few
_END_BAND_M = 4.0
_END_MIN_RETURNS = 5
_END_SPREAD_MIN_M = 0.3
_END_LINE_MAX_RATIO = 0.05


@njit(cache=True, inline="always")
def _cross(ax: float, ay: float, bx: float, by: float) -> float:
    return ax * by - ay * bx


@njit(cache=True)
def sweep_bins(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sweep's returns grouped by azimuth bin (``ground.az_bin``), as ``group_by_label``'s
    (order, starts, counts) over AZ_BINS + 1 labels: the rules looking past a cluster's ends or under
    it read a few bins each. Non-finite returns (a grid sensor's empty cells: no return, not a return
    nowhere) go to the extra bin, never looked into."""
    n_pts = pts.shape[0]
    bin_of = np.empty(n_pts, np.int64)
    for i in range(n_pts):
        if np.isfinite(pts[i, 0]) and np.isfinite(pts[i, 1]) and np.isfinite(pts[i, 2]):
            bin_of[i] = az_bin(np.float64(pts[i, 0]), np.float64(pts[i, 1]))
        else:
            bin_of[i] = AZ_BINS
    return group_by_label(bin_of, AZ_BINS + 1)


@njit(cache=True)
def end_states(
    pts: np.ndarray,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray],
    point_label: np.ndarray,
    sensor_z_m: float,
    obj: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    fit: np.ndarray,
    window_rad: float,
    margin_m: float,
    ground: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per azimuth end of each of ``clusters``: ((N, 2) returns behind it, (N, 2) CONTINUES | HIDDEN,
    (N, 2) of those behind on the ground, (N, 2) the least depth of the others whose ray meets the
    face's extension within the trusted length, inf if none).

    ``pts`` is the whole sweep, sensor-centred (ground included), ``bins`` its
    :func:`sweep_bins`; ``point_label`` (len(pts)) the
    cluster label of each return (-1: ground, or dropped before clustering: out of range, over an
    overhang; these count only as depth, so an end they alone hide or continue keeps its cluster);
    non-finite returns are skipped. ``obj`` the clustered returns, grouped
    by ``order`` / ``starts`` / ``counts``; ``fit`` (N, ...) the clusters' boxes. Per end, the returns
    within ``window_rad`` of azimuth past the cluster's outermost return, between its lowest and
    highest elevation, are compared with the range at which their ray meets the face at that end
    (the principal line of the cluster's returns near it, or the box's edge facing the sensor where
    they are too few), extended past it (by at most ``_EXTEND_MAX_M`` in range): farther by more
    than ``margin_m`` is behind (ground returns too: the road beyond); non-ground returns nearer by
    more than that hide the end, and within it continue the face. ``ground`` (len(pts)) marks the
    returns on the ground (the road beyond a vehicle; the rest is what stands behind it)."""
    by_bin, first, n_in = bins  # each end looks into a few bins

    n = clusters.shape[0]
    n_behind = np.zeros((n, 2), np.int32)
    flags = np.zeros((n, 2), np.int8)
    n_ground = np.zeros((n, 2), np.int32)
    nearest = np.full((n, 2), np.inf)
    for k in range(n):
        c = clusters[k]
        cx, cy = fit[k, CX], fit[k, CY]
        rc = max(math.sqrt(cx * cx + cy * cy), 1e-3)
        dx, dy = cx / rc, cy / rc
        lo, hi = np.inf, -np.inf
        e_lo, e_hi = np.inf, -np.inf
        outer = np.zeros((2, 2))  # the outermost return at each end (x, y)
        for j in range(starts[c], starts[c] + counts[c]):
            p = order[j]
            x, y, z = np.float64(obj[p, 0]), np.float64(obj[p, 1]), np.float64(obj[p, 2])
            da = math.atan2(dx * y - dy * x, dx * x + dy * y)
            if da < lo:
                lo = da
                outer[0, 0], outer[0, 1] = x, y
            if da > hi:
                hi = da
                outer[1, 0], outer[1, 1] = x, y
            te = (z - sensor_z_m) / max(math.sqrt(x * x + y * y), 1e-3)
            e_lo = min(e_lo, te)
            e_hi = max(e_hi, te)
        e_lo -= _ELEVATION_TOL
        e_hi += _ELEVATION_TOL
        # the box's corners, and per end the corner farthest round in azimuth
        ux, uy = math.cos(fit[k, YAW]), math.sin(fit[k, YAW])
        vx, vy = -uy, ux
        hl, hw = 0.5 * fit[k, LENGTH], 0.5 * fit[k, WIDTH]
        a_c = math.atan2(cy, cx)
        for end in range(2):
            sgn = 1.0 if end == 1 else -1.0
            edge = hi if end == 1 else lo  # the outermost return's azimuth, from the centre's
            best, bx, by, bi, bj = -np.inf, 0.0, 0.0, 1.0, 1.0
            for si in (-1.0, 1.0):
                for sj in (-1.0, 1.0):
                    px, py = cx + si * hl * ux + sj * hw * vx, cy + si * hl * uy + sj * hw * vy
                    da = sgn * math.atan2(dx * py - dy * px, dx * px + dy * py)
                    if da > best:
                        best, bx, by, bi, bj = da, px, py, si, sj
            # where the returns near this end are too few for a line: of the two box edges meeting
            # there (the end edge across the box, the side edge along it), the one facing the
            # sensor by its outward normal (the direction's sign does not change the intersection
            # below). An edge under _FACE_MIN_M is a thin cluster's thickness, not a face the sweep
            # measured (a façade piece seen obliquely shows its 0.1-0.3 m side at its near end)
            end_face = bi * ux * bx + bi * uy * by < 0.0 and 2.0 * hw >= _FACE_MIN_M
            side_face = bj * vx * bx + bj * vy * by < 0.0 and 2.0 * hl >= _FACE_MIN_M
            if end_face and not side_face or not side_face and hw > hl:
                lx, ly = bj * vx, bj * vy  # along the end edge
            else:
                lx, ly = bi * ux, bi * uy  # along the side edge
            # the face as the returns near this end show it (a box fitted to an L of two fronts
            # runs its edge up to a metre off either): the principal line of the returns within
            # _END_BAND_M of the outermost one, through that one
            ox, oy = outer[end, 0], outer[end, 1]
            n_b = 0
            sx = sy = sxx = syy = sxy = 0.0
            for j in range(starts[c], starts[c] + counts[c]):
                p = order[j]
                x, y = np.float64(obj[p, 0]), np.float64(obj[p, 1])
                if (x - ox) ** 2 + (y - oy) ** 2 > _END_BAND_M**2:
                    continue
                n_b += 1
                sx += x
                sy += y
                sxx += x * x
                syy += y * y
                sxy += x * y
            if n_b >= _END_MIN_RETURNS:
                mx, my = sx / n_b, sy / n_b
                cxx, cyy, cxy = sxx / n_b - mx * mx, syy / n_b - my * my, sxy / n_b - mx * my
                th = 0.5 * math.atan2(2.0 * cxy, cxx - cyy)
                root = math.sqrt(0.25 * (cxx - cyy) ** 2 + cxy * cxy)
                along, across = 0.5 * (cxx + cyy) + root, 0.5 * (cxx + cyy) - root  # variances
                if along > _END_SPREAD_MIN_M**2 and across <= _END_LINE_MAX_RATIO * along:
                    lx, ly = math.cos(th), math.sin(th)
                    # through the outermost return, moved onto the fitted line
                    t0 = (ox - mx) * lx + (oy - my) * ly
                    bx, by = mx + t0 * lx, my + t0 * ly
            r_corner = math.sqrt(bx * bx + by * by)
            a_end = a_c + edge
            a_far = a_end + sgn * window_rad
            b0 = az_bin(math.cos(min(a_end, a_far)), math.sin(min(a_end, a_far)))
            b1 = az_bin(math.cos(max(a_end, a_far)), math.sin(max(a_end, a_far)))
            nb = (b1 - b0) % AZ_BINS
            behind = 0
            hidden = False
            cont = False
            for t in range(-1, nb + 2):  # the bins either side too: the bin edges are not the window's
                b = (b0 + t) % AZ_BINS
                for q in range(first[b], first[b] + n_in[b]):
                    i = by_bin[q]
                    if point_label[i] == c:  # its own (group_by_label's clusters are label ids)
                        continue
                    x, y, z = np.float64(pts[i, 0]), np.float64(pts[i, 1]), np.float64(pts[i, 2])
                    r = math.sqrt(x * x + y * y)
                    if r < 1e-3:
                        continue
                    da = sgn * (math.atan2(dx * y - dy * x, dx * x + dy * y) - edge)
                    if da <= 0.0 or da > window_rad:
                        continue
                    te = (z - sensor_z_m) / r
                    if te < e_lo or te > e_hi:
                        continue
                    # where this ray meets the face's line past the corner
                    # (parallel or diverging: the face runs off past this ray, as far as trusted)
                    den = _cross(x / r, y / r, lx, ly)
                    r_exp = r_corner + _EXTEND_MAX_M
                    met = False  # the ray meets the face's extension where it is trusted
                    if abs(den) > 1e-9:
                        tt = _cross(bx, by, lx, ly) / den
                        if tt > 0.0:
                            r_exp = min(max(tt, r_corner - _EXTEND_MAX_M), r_corner + _EXTEND_MAX_M)
                            met = abs(tt - r_corner) <= _EXTEND_MAX_M
                    d = r - r_exp
                    if d > margin_m:
                        behind += 1
                        if ground[i]:
                            n_ground[k, end] += 1
                        elif met and d < nearest[k, end]:  # elsewhere the depth is only a bound
                            nearest[k, end] = d
                    elif point_label[i] >= 0:
                        if d < -margin_m:
                            hidden = True
                        else:
                            cont = True
            n_behind[k, end] = behind
            flags[k, end] = (CONTINUES if cont else 0) | (HIDDEN if hidden else 0)
    return n_behind, flags, n_ground, nearest


@njit(cache=True)
def gap_shows_depth(
    pts: np.ndarray,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray],
    ax: float,
    ay: float,
    bx: float,
    by: float,
    margin_m: float,
) -> bool:
    """Whether a return between the azimuths of ``a`` and ``b`` (the ends of a gap on a face's line,
    sensor-centred) lies farther than the segment a-b by more than ``margin_m`` along its ray, as
    the end rules measure: seen obliquely, the gap between two vehicles in a row shows the next
    one's end face, under a metre past the line across it but metres along the ray.

    An opening shows depth: the beams through the gap between two vehicles, a passage or a doorway
    travel on to the road, the pavement or what stands beyond. A pane of glass, or a gap hidden by
    what stands in front, returns nothing past the line. ``pts`` is the whole sweep (ground
    included), ``bins`` its :func:`sweep_bins`; non-finite returns are never looked at."""
    by_bin, first, n_in = bins
    ln = math.sqrt((bx - ax) ** 2 + (by - ay) ** 2)
    if ln < 1e-9:
        return False
    ex, ey = (bx - ax) / ln, (by - ay) / ln
    turn = _cross(ax, ay, bx, by)  # the gap's azimuth span, signed
    if abs(turn) < 1e-9:
        return False  # seen edge-on: no beam passes it
    b0 = az_bin(ax, ay) if turn > 0.0 else az_bin(bx, by)
    b1 = az_bin(bx, by) if turn > 0.0 else az_bin(ax, ay)
    nb = (b1 - b0) % AZ_BINS
    for t in range(nb + 1):
        b = (b0 + t) % AZ_BINS
        for q in range(first[b], first[b] + n_in[b]):
            i = by_bin[q]
            x, y = np.float64(pts[i, 0]), np.float64(pts[i, 1])
            # strictly between the two rays (the same turn from a, then on to b)
            if _cross(ax, ay, x, y) * turn <= 0.0 or _cross(x, y, bx, by) * turn <= 0.0:
                continue
            r = math.sqrt(x * x + y * y)
            den = _cross(x / r, y / r, ex, ey)
            if abs(den) < 1e-9:
                continue
            if r - _cross(ax, ay, ex, ey) / den > margin_m:  # past where its ray meets the line
                return True
    return False
