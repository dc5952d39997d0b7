"""Overlapped-track removal: two tracks whose footprints share the ground are one object.

Two solid objects cannot occupy the same ground, so a pair of tracks whose boxes overlap, moving
alike, for a while is one object tracked twice -- typically after one input's position was
biased past the other's gate (a radar centroid placed with a car-sized prior on a truck), after
which each input keeps its own track alive. Autoware's multi_object_tracker removes such
overlapped trackers after its association; this is the same idea on the batched track table.
The wait (``merge_after_s``) lets objects that cross or merge lanes pass each other: their
overlap is brief.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.iou import box_corners_bev, intersection_area_paired
from sensor_fusion.tracking.track_table import TrackTable

__all__ = ["OverlapMerger"]

_NS = 1_000_000_000
_MIN_AREA_M2 = 0.05  # footprints smaller than this (no size measured yet) overlap nothing


class OverlapMerger:
    """Merges overlapping tracks; remembers since when each pair has overlapped.

    A pair (one confirmed at least) is merged once its footprints have overlapped by
    ``merge_min_overlap`` of the smaller one, with velocities within
    ``merge_max_speed_diff_mps``, for ``merge_after_s``. The survivor (id and state) is the
    track a shape-trusted sensor (LiDAR, BEV) updated last: its box is on the object, and it
    is the id the object is being tracked under; the other one was dragged off it (a radar
    centroid) or coasts. Between equals the older (smaller) id. Class votes add up; hits,
    existence and the sensor mask take the larger / union; the survivor is confirmed. A lost
    track that no box has found again (``Tracker``, ``keep_lost_tracks``) is not merged.
    """

    def __init__(self, config: TrackerConfig):
        self.min_overlap = float(config.merge_min_overlap)
        self.max_speed_diff_mps = float(config.merge_max_speed_diff_mps)
        self.wait_ns = int(round(config.merge_after_s * _NS))
        self.logit_delete = config.logit("existence_delete")
        self.reset()

    def reset(self) -> None:
        """Forget which pairs overlap (a new track set)."""
        self.overlap_since: dict[tuple[int, int], int] = {}  # (id, id) -> stamp the overlap began

    def merge(self, t: TrackTable, now: int) -> TrackTable:
        """Tracks ``t`` at stamp ``now`` with merged pairs reduced to their survivor.

        ``t`` is modified in place (the survivors' votes, hits, ...) and returned as is when
        nothing merges (the usual case), else as a new table without the merged-away rows.
        """
        x = np.einsum("nm,nmk->nk", t.mu, t.xm[..., :4])  # mixture mean (IMM) or the state (CV)
        # a lost track no box has found again is not being seen: it coasts, it does not merge (it
        # would come back with its coasted state, or take over its object's new track's id)
        dormant = t.dormant(self.logit_delete)
        # candidate pairs from a k-d tree (sparse: a dense N x N pass cost 11 ms at 200 tracks)
        radius = 0.5 * np.hypot(t.sizes[:, 0], t.sizes[:, 1])
        pairs = cKDTree(x[:, :2]).query_pairs(2.0 * float(radius.max()), output_type="ndarray")
        ia, ib = (pairs[:, 0], pairs[:, 1]) if len(pairs) else (np.zeros(0, np.int64),) * 2
        keep_pair = (
            (np.hypot(*(x[ia, :2] - x[ib, :2]).T) <= radius[ia] + radius[ib])
            & (np.hypot(*(x[ia, 2:4] - x[ib, 2:4]).T) <= self.max_speed_diff_mps)
            & (t.confirmed[ia] | t.confirmed[ib])
            & ~(dormant[ia] | dormant[ib])
        )
        ia, ib = ia[keep_pair], ib[keep_pair]
        if ia.size == 0:  # the usual case
            self.overlap_since = {}
            return t
        inter = intersection_area_paired(
            box_corners_bev(x[ia, :2], t.sizes[ia, :2], t.yaw[ia]),
            box_corners_bev(x[ib, :2], t.sizes[ib, :2], t.yaw[ib]),
        )
        area = t.sizes[:, 0] * t.sizes[:, 1]
        small = np.minimum(area[ia], area[ib])
        # of the smaller footprint; degenerate boxes (no size measured yet) overlap nothing
        overlap = np.where(small > _MIN_AREA_M2, inter / np.maximum(small, _MIN_AREA_M2), 0.0)
        sel = overlap >= self.min_overlap
        ia, ib, overlap = ia[sel], ib[sel], overlap[sel]
        # pairs are few (usually none): a dict of when each started overlapping, greedy merging
        since = {
            (int(t.ids[a]), int(t.ids[b])): self.overlap_since.get((int(t.ids[a]), int(t.ids[b])), now)
            for a, b in zip(ia, ib)
        }
        self.overlap_since = since
        alive = np.ones(len(t), bool)
        for k in np.argsort(-overlap, kind="stable"):
            a, b = ia[k], ib[k]
            if not (alive[a] and alive[b]) or now - since[(int(t.ids[a]), int(t.ids[b]))] < self.wait_ns:
                continue
            keep, drop = (a, b) if t.ids[a] < t.ids[b] else (b, a)
            if t.shape_ns[drop] > t.shape_ns[keep]:
                keep, drop = drop, keep  # the box a shape-trusted sensor updated last survives
            t.votes[keep] += t.votes[drop]
            t.hits[keep] = max(t.hits[keep], t.hits[drop])
            t.logit[keep] = max(t.logit[keep], t.logit[drop])
            t.sensors[keep] |= t.sensors[drop]
            # what either measured: a sensor's velocity (the velocity gate), a box's last update
            t.vel_measured[keep] |= t.vel_measured[drop]
            t.box_ns[keep] = max(t.box_ns[keep], t.box_ns[drop])
            t.confirmed[keep] = True
            t.lost[keep] = False
            alive[drop] = False
        return t.keep(alive)
