"""Where the LiDAR detector has seen static structure, remembered in a fixed frame over sweeps.

Why: one sweep often cannot tell a building's front from a truck's side. Under a low LiDAR
ceiling (KITTI's HDL-64E: highest beam +2 deg) a façade seen face-on is a flat face 2-2.5 m tall
and 10-16 m long, as a truck's side is. Seconds earlier, approaching it, the same sweep pattern
showed its corner or its whole length (a cluster longer, wider or taller than any vehicle, or a
façade piece by ``lidar.facade_pieces``), and a building does not move. So the returns of such
clusters above any car's roof are remembered as occupied cells in the tracking frame (``odom``,
continuous), and a later truck-like cluster whose returns lie mostly in those cells is the same
structure. Cars never leave marks (their returns stay below the marking height) and a truck that
once merged with a wall leaves marks behind as soon as it moves.

A sparse hashed grid over numpy arrays (sorted cell keys, last-marked stamps): a few thousand
cells along the streets of the last seconds, looked up with ``searchsorted``.
"""

from __future__ import annotations

import numpy as np

_KEY_SPAN = np.int64(1 << 31)  # cell index range per axis: +-1e9 cells, any odometry


class StructureMemory:
    """Cells (``cell_m`` squares in one fixed frame) marked as structure, each kept ``hold_s``."""

    def __init__(self, cell_m: float, hold_s: float):
        if not cell_m > 0.0 or not hold_s >= 0.0:
            raise ValueError(f"cell_m must be > 0 and hold_s >= 0, got {cell_m}, {hold_s}")
        self.cell_m = float(cell_m)
        self.hold_ns = int(round(hold_s * 1e9))
        self.frame_id: str | None = None
        self._keys = np.empty(0, np.int64)  # sorted, unique
        self._stamps = np.empty(0, np.int64)
        self._last_ns: int | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def clear(self) -> None:
        self._keys = np.empty(0, np.int64)
        self._stamps = np.empty(0, np.int64)
        self._last_ns = None

    def start(self, stamp_ns: int, frame_id: str) -> None:
        """Begin a sweep: forget everything on a new frame or a stamp that goes back (a bag
        replayed again, a clock reset), and the cells not marked within ``hold_s``."""
        if frame_id != self.frame_id or (self._last_ns is not None and stamp_ns < self._last_ns):
            self.clear()
            self.frame_id = frame_id
        self._last_ns = stamp_ns
        live = self._stamps >= stamp_ns - self.hold_ns
        if not live.all():
            self._keys, self._stamps = self._keys[live], self._stamps[live]

    def _cell_keys(self, xy: np.ndarray) -> np.ndarray:
        ij = np.floor(np.asarray(xy, np.float64) / self.cell_m).astype(np.int64)
        return (ij[:, 0] + _KEY_SPAN) * (2 * _KEY_SPAN) + (ij[:, 1] + _KEY_SPAN)

    def marked(self, xy: np.ndarray) -> np.ndarray:
        """(N,) True for points (N, 2) in the fixed frame that fall in a live marked cell."""
        if not len(self._keys) or not len(xy):
            return np.zeros(len(xy), bool)
        k = self._cell_keys(xy)
        i = np.minimum(np.searchsorted(self._keys, k), len(self._keys) - 1)
        return self._keys[i] == k

    def mark(self, xy: np.ndarray, stamp_ns: int) -> None:
        """Mark the cells of points (N, 2) in the fixed frame as structure seen at ``stamp_ns``."""
        if not len(xy):
            return
        k = np.unique(self._cell_keys(xy))
        keys = np.concatenate([self._keys, k])
        stamps = np.concatenate([self._stamps, np.full(len(k), stamp_ns, np.int64)])
        order = np.lexsort((-stamps, keys))  # per key, the latest stamp first
        keys, stamps = keys[order], stamps[order]
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        self._keys, self._stamps = keys[first], stamps[first]
