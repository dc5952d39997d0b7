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

:class:`StructureVotes` does the same for small structure (poles, signs, walls of car height,
hedges, fence panels), which one sweep often cannot tell from a car or a person once a parked car
hides most of it or range thins it out; closer, the same element was judged structure by its
shape. These cells hold votes, not marks: a cluster of an object merged with such an element is
judged structure in some sweeps too, so each cell counts the sweeps in which structure stood in
it and those in which a kept object did, and only a clear lead for structure counts. Parked cars
and people standing by a wall are kept objects in most sweeps; a hedge is structure in most.
"""

from __future__ import annotations

import numpy as np

_KEY_SPAN = np.int64(1 << 31)  # cell index range per axis: +-1e9 cells, any odometry


def cell_keys(xy: np.ndarray, cell_m: float) -> np.ndarray:
    """(N,) int64 keys of the ``cell_m`` cells holding points (N, 2)."""
    ij = np.floor(np.asarray(xy, np.float64) / cell_m).astype(np.int64)
    return (ij[:, 0] + _KEY_SPAN) * (2 * _KEY_SPAN) + (ij[:, 1] + _KEY_SPAN)


def cell_centres(keys: np.ndarray, cell_m: float) -> np.ndarray:
    """(N, 2) centres of the cells with ``keys`` (:func:`cell_keys`' inverse)."""
    k = np.asarray(keys, np.int64).view(np.uint64)  # the keys wrap past 2**63; unsigned they do not
    span = np.uint64(2 * _KEY_SPAN)
    ij = np.column_stack([(k // span).astype(np.int64), (k % span).astype(np.int64)]) - _KEY_SPAN
    return (ij + 0.5) * cell_m


class _CellGrid:
    """Sorted cell keys in one fixed frame with the stamp each was last touched; cells untouched
    for ``hold_s`` are dropped, and a new frame or a stamp going back starts afresh."""

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

    def _keep(self, live: np.ndarray) -> None:
        self._keys, self._stamps = self._keys[live], self._stamps[live]

    def start(self, stamp_ns: int, frame_id: str) -> None:
        """Begin a sweep: forget everything on a new frame or a stamp that goes back (a bag
        replayed again, a clock reset), and the cells not touched within ``hold_s``."""
        if frame_id != self.frame_id or (self._last_ns is not None and stamp_ns < self._last_ns):
            self.clear()
            self.frame_id = frame_id
        self._last_ns = stamp_ns
        live = self._stamps >= stamp_ns - self.hold_ns
        if not live.all():
            self._keep(live)

    def _lookup(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index of each point's cell, whether the cell is held) for points (N, 2)."""
        k = cell_keys(xy, self.cell_m)
        i = np.minimum(np.searchsorted(self._keys, k), len(self._keys) - 1)
        return i, self._keys[i] == k


class StructureMemory(_CellGrid):
    """Cells (``cell_m`` squares in one fixed frame) marked as structure, each kept ``hold_s``."""

    def held_keys(self) -> np.ndarray:
        """Keys of the marked cells (:func:`cell_centres` places them)."""
        return self._keys

    def marked(self, xy: np.ndarray) -> np.ndarray:
        """(N,) True for points (N, 2) in the fixed frame that fall in a live marked cell."""
        if not len(self._keys) or not len(xy):
            return np.zeros(len(xy), bool)
        return self._lookup(xy)[1]

    def mark(self, xy: np.ndarray, stamp_ns: int) -> None:
        """Mark the cells of points (N, 2) in the fixed frame as structure seen at ``stamp_ns``."""
        if not len(xy):
            return
        k = np.unique(cell_keys(xy, self.cell_m))
        keys = np.concatenate([self._keys, k])
        stamps = np.concatenate([self._stamps, np.full(len(k), stamp_ns, np.int64)])
        order = np.lexsort((-stamps, keys))  # per key, the latest stamp first
        keys, stamps = keys[order], stamps[order]
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        self._keys, self._stamps = keys[first], stamps[first]


class StructureVotes(_CellGrid):
    """Per cell, the sweeps (within ``hold_s`` of the cell's last vote) in which structure stood in
    it and those in which a kept object did; structure holds a cell when it leads by more than
    ``margin`` sweeps."""

    def __init__(self, cell_m: float, hold_s: float, margin: int):
        super().__init__(cell_m, hold_s)
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = int(margin)
        self._structure = np.empty(0, np.int64)
        self._objects = np.empty(0, np.int64)

    def clear(self) -> None:
        super().clear()
        self._structure = np.empty(0, np.int64)
        self._objects = np.empty(0, np.int64)

    def _keep(self, live: np.ndarray) -> None:
        super()._keep(live)
        self._structure, self._objects = self._structure[live], self._objects[live]

    def held_keys(self) -> np.ndarray:
        """Keys of the cells structure holds (:func:`cell_centres` places them)."""
        return self._keys[self._structure > self._objects + self.margin]

    def structure(self, xy: np.ndarray) -> np.ndarray:
        """(N,) True for points (N, 2) in the fixed frame whose cell structure holds."""
        if not len(self._keys) or not len(xy):
            return np.zeros(len(xy), bool)
        i, held = self._lookup(xy)
        return held & (self._structure[i] > self._objects[i] + self.margin)

    def vote(self, structure_xy: np.ndarray, object_xy: np.ndarray, stamp_ns: int) -> None:
        """One sweep's votes: each cell holding points of ``structure_xy`` (N, 2) counts one
        structure sweep, each holding points of ``object_xy`` one object sweep."""
        ks = np.unique(cell_keys(structure_xy, self.cell_m))
        ko = np.unique(cell_keys(object_xy, self.cell_m))
        new = np.setdiff1d(np.union1d(ks, ko), self._keys, assume_unique=True)
        if len(new):
            order = np.argsort(np.concatenate([self._keys, new]), kind="stable")
            zeros = np.zeros(len(new), np.int64)
            self._keys = np.concatenate([self._keys, new])[order]
            self._stamps = np.concatenate([self._stamps, zeros])[order]
            self._structure = np.concatenate([self._structure, zeros])[order]
            self._objects = np.concatenate([self._objects, zeros])[order]
        for keys, count in ((ks, self._structure), (ko, self._objects)):
            if len(keys):
                i = np.searchsorted(self._keys, keys)
                count[i] += 1
                self._stamps[i] = stamp_ns
