"""People standing or walking side by side, merged into one cluster, split into persons (issue 13).

Two or three people side by side (a couple on a sidewalk, a group waiting to cross) stand closer
than the clustering's link distance, so they come out as one cluster 1.2-2.5 m long and under
1.2 m wide: a cyclist's footprint, and the box rules call it BICYCLE (urban_clutter 712 with
KITTI's LiDAR: 128 of the 188 pedestrians missed within 30 m were inside such a box). Three or
four standing in a ring are as wide as they are long, a short car's footprint (session 41).

The top profile along the cluster tells them apart. Each person is a head: a peak 0.2-0.3 m
above the shoulders beside it (head and neck), at 1.5-1.9 m for adults. A cyclist has one peak
that tall, its rider; its ends are wheels (<= 0.75 m) and its handlebars (<= 1.15 m) stay below
0.7 of the rider's top, so a peak must reach that share of the cluster's top to count. A car
roof is flat to a few centimetres, with no dip of a head's depth. Peaks are counted by their
prominence (the depth of the saddle to the nearest higher peak), which ignores the small bumps
of a torso, an arm or range noise. A run of empty bins wider than a few LiDAR columns is a gap
between bodies (the ground seen between them, or one hiding the other's near part), so it
counts as a saddle down to the ground.

Only adult heads count (1.4 m as measured): children side by side stay one box, and hedges and
car roofs with a bump stay whole (a first version counted heads from 1.0 m and cut parking-lot
hedges 1.1-1.25 m tall into "pedestrians"; docs/detection-tracking.md, session 26). The detector
runs this after its structure rules and judges the pieces again (``LidarDetector.detect``).

Why not a smaller link distance for everyone: a cyclist's frame and a person's swinging arms
leave gaps of the same size as the one between two people; only the heads say how many there are.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .structure import mark_wide_gaps, profile_bin, top_profile

GROUP_BIN_M = 0.1  # a head is 0.15-0.2 m wide; shoulder to shoulder, heads are 0.4-0.5 m apart
GROUP_MIN_LENGTH_M = 1.0  # shorter than two people side by side (2 x 0.45 m shoulders and a gap)
GROUP_MAX_LENGTH_M = 2.5  # the longest a cyclist's box gets (2.3 m) plus noise; longer: other rules
# a ring of three or four people facing each other is as wide as it is long (1.3-1.6 m: a short car's
# footprint, one CAR box); the heads, not the width, tell a group from a car roof or a hedge
GROUP_MAX_WIDTH_M = GROUP_MAX_LENGTH_M
GROUP_MAX_HEIGHT_M = 2.2  # the pedestrian and bicycle rules' tallest: taller clusters hold no group
PEAK_MIN_M = 1.4  # an adult's head as measured: 5th-percentile adult stature ~1.5 m, less a beam
PEAK_MIN_SHARE = 0.7  # of the cluster's top; a cyclist's handlebars reach <= 0.68 of its rider
HEAD_DIP_M = 0.2  # a head and neck above the shoulders: 0.25-0.3 m; flat roofs and noise: < 0.1 m
GAP_MIN_M = 0.2  # an empty run this long (and a few columns) is a gap between bodies
HEAD_MIN_SPACING_M = 0.35  # heads side by side: shoulders 0.4-0.46 m apart; one behind another more
SHOULDER_DROP_M = 0.4  # the shoulders are within this of the head's top ...
BODY_MIN_SPAN_M = 0.25  # ... and span this much: a torso seen from the side, a rider's hands not


@njit(cache=True)
def split_groups(
    xyz: np.ndarray,
    hag: np.ndarray,
    labels: np.ndarray,
    n_labels: int,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    fit: np.ndarray,
    dip_per_m: float,
    gap_angle_rad: float,
    gap_factor: float,
) -> int:
    """Split clusters of a person-group's footprint at the saddles between heads; relabels
    ``labels`` in place and returns the new n_labels.

    ``fit`` rows (cx, cy, length, width, yaw, ...) belong to ``clusters`` (sensor-centred frame).
    A peak counts when it reaches ``PEAK_MIN_M`` and ``PEAK_MIN_SHARE`` of the cluster's top and
    its prominence is at least ``HEAD_DIP_M`` or ``dip_per_m`` x range (the LiDAR's beam spacing
    there: a dip between two beams is not measured). Empty runs longer than ``GAP_MIN_M`` and
    ``gap_factor`` x range x ``gap_angle_rad`` (the link angle, ~2 column spacings) drop to the
    ground; shorter ones take the lower of their neighbours' tops (a missed column is no dip).
    """
    nb_max = 64
    top = np.empty(nb_max)
    filled = np.empty(nb_max)
    smooth = np.empty(nb_max)
    wide = np.zeros(nb_max, np.bool_)
    height = np.empty(nb_max)
    peaks = np.empty(nb_max, np.int64)
    cuts = np.empty(nb_max, np.int64)
    for ci in range(clusters.shape[0]):
        length, width = fit[ci, 2], fit[ci, 3]
        if length < GROUP_MIN_LENGTH_M or length > GROUP_MAX_LENGTH_M or width > GROUP_MAX_WIDTH_M:
            continue
        k = clusters[ci]
        cx, cy, yaw = fit[ci, 0], fit[ci, 1], fit[ci, 4]
        c, s = np.cos(yaw), np.sin(yaw)
        nb = min(nb_max, int(length / GROUP_BIN_M) + 1)
        r = np.hypot(cx, cy)
        s0, n = starts[k], counts[k]
        top_profile(xyz, hag, order, s0, n, cx, cy, c, s, length, GROUP_BIN_M, nb, top)
        gap_bins = int(np.ceil(max(GAP_MIN_M, gap_factor * r * gap_angle_rad) / GROUP_BIN_M - 1e-9))
        hmax = -np.inf
        for b in range(nb):
            hmax = max(hmax, top[b])
        thr = max(PEAK_MIN_M, PEAK_MIN_SHARE * hmax)
        if hmax < PEAK_MIN_M or hmax > GROUP_MAX_HEIGHT_M:
            continue
        dip = max(HEAD_DIP_M, dip_per_m * r)
        # empty runs of the raw profile wider than gap_bins are gaps between bodies: the ground
        mark_wide_gaps(top, nb, gap_bins, wide)
        # where columns are sparser than the bins (far, or along the line of sight, where a flat
        # top is sampled by the beams, not the columns), a bin may catch only lower returns: tops
        # are max-filtered over half the link angle (~one column spacing) along the profile, never
        # across a gap; what stays empty (a missed column or two) takes the lower neighbour's top
        sin_g = abs(c * cy - s * cx) / max(r, 1e-6)
        half = int(0.5 * r * gap_angle_rad / max(sin_g, 0.05) / GROUP_BIN_M)
        for b in range(nb):
            m = -np.inf
            if not wide[b]:
                for q in range(max(0, b - half), min(nb, b + half + 1)):
                    if not wide[q]:
                        m = max(m, top[q])
            smooth[b] = m
        b = 0
        while b < nb:
            if wide[b]:
                filled[b] = 0.0
                b += 1
            elif smooth[b] == -np.inf:
                e = b
                while e < nb and smooth[e] == -np.inf and not wide[e]:
                    e += 1
                fill = 0.0
                if b > 0 and e < nb and not wide[b - 1] and not wide[e]:
                    fill = min(smooth[b - 1], smooth[e])
                for q in range(b, e):
                    filled[q] = fill
                b = e
            else:
                filled[b] = smooth[b]
                b += 1
        # peaks (plateaus count once) with their prominence
        n_pk = 0
        b = 0
        while b < nb:
            e = b
            while e + 1 < nb and filled[e + 1] == filled[b]:
                e += 1
            left_low = b == 0 or filled[b - 1] < filled[b]
            right_low = e == nb - 1 or filled[e + 1] < filled[b]
            h = filled[b]
            if left_low and right_low and h >= thr:
                # saddle on each side: the lowest point before a higher bin (or the end)
                lo_l = h
                q = b - 1
                higher_l = False
                while q >= 0:
                    if filled[q] >= h:  # ties go to the left: of two equal heads one must show the dip
                        higher_l = True
                        break
                    lo_l = min(lo_l, filled[q])
                    q -= 1
                lo_r = h
                q = e + 1
                higher_r = False
                while q < nb:
                    if filled[q] > h:
                        higher_r = True
                        break
                    lo_r = min(lo_r, filled[q])
                    q += 1
                if higher_l and higher_r:
                    saddle = max(lo_l, lo_r)
                elif higher_l:
                    saddle = lo_l
                elif higher_r:
                    saddle = lo_r
                else:
                    saddle = -np.inf  # the highest peak
                if h - saddle >= dip:
                    peaks[n_pk] = (b + e) // 2
                    height[n_pk] = h
                    n_pk += 1
            b = e + 1
        # heads closer than two people's shoulders are one person's: keep the higher
        j = 1
        while j < n_pk:
            if (peaks[j] - peaks[j - 1]) * GROUP_BIN_M < HEAD_MIN_SPACING_M:
                drop = j if height[j] < height[j - 1] else j - 1
                for q in range(drop, n_pk - 1):
                    peaks[q] = peaks[q + 1]
                    height[q] = height[q + 1]
                n_pk -= 1
            else:
                j += 1
        if n_pk < 2:
            continue
        # cut in the middle of the lowest run of the raw profile between consecutive peaks (the
        # max filter widens a dip towards one side)
        for j in range(n_pk - 1):
            lo_v = np.inf
            for q in range(peaks[j] + 1, peaks[j + 1]):
                lo_v = min(lo_v, top[q])
            first, last = -1, -1
            for q in range(peaks[j] + 1, peaks[j + 1]):
                if top[q] == lo_v:
                    if first < 0:
                        first = q
                    last = q
                elif first >= 0:
                    break
            cuts[j] = (first + last + 1) // 2 if first >= 0 else peaks[j] + 1
        # every piece must hold a torso: shoulders near the head's height over a body's width
        ok = True
        for j in range(n_pk):
            lo = 0 if j == 0 else cuts[j - 1]
            hi = nb if j == n_pk - 1 else cuts[j]
            first, last = -1, -1
            for q in range(lo, hi):
                if top[q] >= height[j] - SHOULDER_DROP_M:
                    if first < 0:
                        first = q
                    last = q
            if (last - first + 1) * GROUP_BIN_M < BODY_MIN_SPAN_M - 1e-9:
                ok = False
        if not ok:
            continue
        for t in range(n):
            p = order[s0 + t]
            b = profile_bin(xyz, p, cx, cy, c, s, length, GROUP_BIN_M, nb)
            j = 0
            while j < n_pk - 1 and b >= cuts[j]:
                j += 1
            if j > 0:
                labels[p] = n_labels + j - 1
        n_labels += n_pk - 1
    return n_labels


WHEEL_END_M = 0.3  # a bicycle's wheel reaches 0.33-0.37 m in from each end (26-29" wheels)
WHEEL_END_MAX_SHARE = 0.6  # a wheel's top (<= 0.75 m) against a rider's (>= 1.5 m): <= 0.5


@njit(cache=True)
def end_top_share(
    xyz: np.ndarray,
    hag: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    clusters: np.ndarray,
    fit: np.ndarray,
) -> np.ndarray:
    """(N,) the lower of a cluster's two end tops (its outer ``WHEEL_END_M`` along the long axis)
    as a share of its top: a cyclist's ends are its wheels, under half its rider's height, where
    a flat-topped piece of a parked car or a row of people stands as tall at its ends."""
    out = np.zeros(clusters.shape[0])
    top = np.empty(64)
    for ci in range(clusters.shape[0]):
        k = clusters[ci]
        length = fit[ci, 2]
        c, s = np.cos(fit[ci, 4]), np.sin(fit[ci, 4])
        nb = min(64, int(length / GROUP_BIN_M) + 1)
        top_profile(
            xyz, hag, order, starts[k], counts[k], fit[ci, 0], fit[ci, 1], c, s, length, GROUP_BIN_M, nb, top
        )
        z = max(1, int(np.ceil(WHEEL_END_M / GROUP_BIN_M - 1e-9)))
        hmax, lo_end, hi_end = -np.inf, -np.inf, -np.inf
        for b in range(nb):
            hmax = max(hmax, top[b])
            if b < z:
                lo_end = max(lo_end, top[b])
            if b >= nb - z:
                hi_end = max(hi_end, top[b])
        if hmax > 0.0:
            out[ci] = max(0.0, min(lo_end, hi_end)) / hmax
    return out
