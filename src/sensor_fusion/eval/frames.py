"""Per-frame object arrays for scoring, and pairing truth frames with estimate frames.

Evaluation sees truth and estimates through one container so that every metric
is written once; converters from the core ``Tracks``/``Detections`` keep the
offline runner free of per-object Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sensor_fusion.core.types import Detections, Tracks


@dataclass
class FrameObjects:
    """One frame of truth or estimates, all in the same fixed frame (e.g. ``odom``)."""

    stamp_ns: int
    ids: np.ndarray  # (N,) int64, unique within the frame
    labels: np.ndarray  # (N,) int64 ObjectClass
    centers: np.ndarray  # (N, 3) m
    sizes: np.ndarray  # (N, 3) l, w, h m
    yaw: np.ndarray  # (N,) rad
    velocity: np.ndarray  # (N, 2) m/s, NaN where unknown
    scores: np.ndarray  # (N,) existence probability for tracks, detection score, 1 for truth

    def __post_init__(self) -> None:
        # Coerce once here so that metrics can index and stack without checks (no copy when already right).
        self.stamp_ns = int(self.stamp_ns)
        self.ids = np.asarray(self.ids, dtype=np.int64).reshape(-1)
        n = self.ids.shape[0]
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(n)
        self.centers = np.asarray(self.centers, dtype=np.float64).reshape(n, 3)
        self.sizes = np.asarray(self.sizes, dtype=np.float64).reshape(n, 3)
        self.yaw = np.asarray(self.yaw, dtype=np.float64).reshape(n)
        self.velocity = np.asarray(self.velocity, dtype=np.float64).reshape(n, 2)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(n)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def empty(cls, stamp_ns: int) -> FrameObjects:
        z = np.zeros(0)
        return cls(stamp_ns, z, z, z, z, z, z, z)

    def select(self, idx: np.ndarray) -> FrameObjects:
        """Subset by boolean mask or index array (same stamp)."""
        return FrameObjects(
            self.stamp_ns,
            self.ids[idx],
            self.labels[idx],
            self.centers[idx],
            self.sizes[idx],
            self.yaw[idx],
            self.velocity[idx],
            self.scores[idx],
        )

    @classmethod
    def from_tracks(cls, tracks: Tracks) -> FrameObjects:
        """Tracker output; ``scores`` is the existence probability."""
        return cls(
            tracks.stamp_ns,
            tracks.ids,
            tracks.labels,
            tracks.centers,
            tracks.sizes,
            tracks.yaw,
            tracks.velocity,
            tracks.existence,
        )

    @classmethod
    def from_detections(cls, det: Detections) -> FrameObjects:
        """Detector output; detections carry no identity, so ids are row indices."""
        return cls(
            det.stamp_ns,
            np.arange(len(det)),
            det.labels,
            det.centers,
            det.sizes,
            det.yaw,
            det.velocity,
            det.scores,
        )


FramePair = tuple[FrameObjects, FrameObjects]


def match_frames(
    truth: Sequence[FrameObjects], est: Sequence[FrameObjects], tolerance_ns: int
) -> list[FramePair]:
    """Pair every truth frame with the estimate frame nearest in time, within ``tolerance_ns``.

    A truth frame with no estimate within tolerance gets an empty estimate at its own
    stamp, so missing tracker output counts as misses instead of silently vanishing.
    Ties go to the earlier estimate. An estimate frame may serve several truth frames
    when the tolerance allows it; positions are compared as stamped (no extrapolation),
    so keep the tolerance small against object speed.
    """
    if tolerance_ns < 0:
        raise ValueError(f"tolerance_ns must be >= 0, got {tolerance_ns}")
    if not est:
        return [(t, FrameObjects.empty(t.stamp_ns)) for t in truth]
    est_stamps = np.array([e.stamp_ns for e in est], dtype=np.int64)
    order = np.argsort(est_stamps, kind="stable")
    est_sorted = est_stamps[order]
    truth_stamps = np.array([t.stamp_ns for t in truth], dtype=np.int64)
    right = np.searchsorted(est_sorted, truth_stamps, side="left")  # first est >= truth
    left = np.clip(right - 1, 0, len(est_sorted) - 1)
    right_c = np.clip(right, 0, len(est_sorted) - 1)
    d_left = np.abs(truth_stamps - est_sorted[left])
    d_right = np.abs(est_sorted[right_c] - truth_stamps)
    pick = np.where(d_left <= d_right, left, right_c)
    ok = np.minimum(d_left, d_right) <= tolerance_ns
    return [
        (t, est[int(order[p])] if good else FrameObjects.empty(t.stamp_ns))
        for t, p, good in zip(truth, pick, ok)
    ]
