"""Road networks on flat ground (z = 0): centreline paths, lanes, and a raster ground map.

Conventions (right-hand traffic):

* A ``Path`` is an arc-length parametrised curve sampled at a uniform step, with
  exact heading and curvature carried along (no numerical differentiation), so
  lane followers get a smooth yaw and yaw rate ``v * curvature``.
* A ``Road`` is a centreline ``Path`` plus lanes. Lateral offsets ``d`` are
  positive to the left of the centreline direction. Lanes ``+1..+n`` travel
  along increasing centreline s and lie right of the centreline (``+1`` next to
  it); lanes ``-1..-n`` travel the other way on the left. Beyond the lanes lie a
  paved shoulder (bike lane in town) and an unpaved sidewalk.
* ``RoadMap`` paints every road into sparse raster tiles once (numba), so that
  ``ground_class`` is an O(1) lookup per point: 0 off-road, 1 asphalt, 2 lane
  marking (edge lines solid, lane separators dashed ``dash_on``/``dash_off``).
  Markings are suppressed where two roads' pavements overlap (intersections).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.spatial import cKDTree

GROUND_OFFROAD = 0
GROUND_ASPHALT = 1
GROUND_MARKING = 2

_TILE_SHIFT = 8  # tiles are 256 x 256 cells
_TILE = 1 << _TILE_SHIFT


def _resample(s: np.ndarray, xy: np.ndarray, heading: np.ndarray, curvature: np.ndarray, ds: float) -> Path:
    """Resample samples at increasing arc length ``s`` to a uniform step close to ``ds``."""
    length = float(s[-1] - s[0])
    m = max(int(np.ceil(length / ds)), 1) + 1
    su = np.linspace(s[0], s[-1], m)
    return Path(
        np.column_stack([np.interp(su, s, xy[:, 0]), np.interp(su, s, xy[:, 1])]),
        np.interp(su, s, heading),
        np.interp(su, s, curvature),
        length / (m - 1),
    )


@dataclass(frozen=True)
class Path:
    """Uniformly sampled planar curve: ``xy`` (M, 2), unwrapped ``heading`` (M,), ``curvature`` (M,)."""

    xy: np.ndarray
    heading: np.ndarray
    curvature: np.ndarray
    ds: float

    @property
    def length(self) -> float:
        return float((len(self.heading) - 1) * self.ds)

    @property
    def s(self) -> np.ndarray:
        return np.arange(len(self.heading)) * self.ds

    # -- construction -------------------------------------------------------------------------
    @staticmethod
    def from_curvature(
        start_xy: Sequence[float], heading0: float, segments: Sequence[tuple], ds: float = 0.25
    ) -> Path:
        """Integrate a piecewise-linear curvature profile.

        ``segments``: ``("straight", length)``, ``("arc", radius, angle_rad)`` (angle > 0 turns
        left), ``("clothoid", length, curvature_end)`` (curvature ramps linearly from the current
        value, which is how real roads enter bends).
        """
        knots_s, knots_k = [0.0], [0.0]
        for seg in segments:
            kind = seg[0]
            if kind == "straight":
                knots_s += [knots_s[-1], knots_s[-1] + float(seg[1])]
                knots_k += [0.0, 0.0]
            elif kind == "arc":
                radius, angle = float(seg[1]), float(seg[2])
                k = np.sign(angle) / radius
                knots_s += [knots_s[-1], knots_s[-1] + abs(angle) * radius]
                knots_k += [k, k]
            elif kind == "clothoid":
                knots_s.append(knots_s[-1] + float(seg[1]))
                knots_k.append(float(seg[2]))
            else:
                raise ValueError(f"unknown path segment {kind!r}")
        total = knots_s[-1]
        sub = 8  # integrate on a finer grid, keep every 8th sample
        m = max(int(np.ceil(total / ds)), 1)
        sf = np.linspace(0.0, total, m * sub + 1)
        # np.interp with repeated knots gives the right-hand value at curvature steps
        kf = np.interp(sf, np.asarray(knots_s), np.asarray(knots_k))
        h = heading0 + np.concatenate([[0.0], np.cumsum(0.5 * (kf[1:] + kf[:-1]) * np.diff(sf))])
        c, s_ = np.cos(h), np.sin(h)
        dsf = np.diff(sf)
        x = start_xy[0] + np.concatenate([[0.0], np.cumsum(0.5 * (c[1:] + c[:-1]) * dsf)])
        y = start_xy[1] + np.concatenate([[0.0], np.cumsum(0.5 * (s_[1:] + s_[:-1]) * dsf)])
        keep = slice(None, None, sub)
        return Path(np.column_stack([x[keep], y[keep]]), h[keep], kf[keep], total / m)

    @staticmethod
    def from_polyline(xy: np.ndarray, ds: float = 0.25) -> Path:
        """Resample an arbitrary polyline (M, 2); heading and curvature by finite differences."""
        xy = np.asarray(xy, dtype=np.float64)
        seg = np.diff(xy, axis=0)
        keep = np.concatenate([[True], np.hypot(seg[:, 0], seg[:, 1]) > 1e-9])
        xy = xy[keep]
        if len(xy) < 2:
            raise ValueError("a path needs at least two distinct points")
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        m = max(int(np.ceil(s[-1] / ds)), 1) + 1
        su = np.linspace(0.0, s[-1], m)
        pts = np.column_stack([np.interp(su, s, xy[:, 0]), np.interp(su, s, xy[:, 1])])
        d = np.gradient(pts, su, axis=0)
        h = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
        k = np.gradient(h, su) if m > 2 else np.zeros(m)
        return Path(pts, h, k, s[-1] / (m - 1))

    def offset(self, d: float, ds: float | None = None) -> Path:
        """The parallel curve at lateral offset ``d`` (left positive), re-parametrised by its own length."""
        n = np.column_stack([-np.sin(self.heading), np.cos(self.heading)])
        scale = 1.0 - d * self.curvature
        if np.any(scale <= 0.05):
            raise ValueError(f"offset {d} m exceeds the radius of curvature of the path")
        s_new = np.concatenate([[0.0], np.cumsum(0.5 * (scale[1:] + scale[:-1]) * self.ds)])
        return _resample(s_new, self.xy + d * n, self.heading, self.curvature / scale, ds or self.ds)

    def reversed(self) -> Path:
        return Path(self.xy[::-1].copy(), self.heading[::-1] + np.pi, -self.curvature[::-1], self.ds)

    def sub(self, s0: float, s1: float) -> Path:
        """The piece between arc lengths ``s0 < s1`` (clamped), resampled."""
        s0, s1 = max(0.0, s0), min(self.length, s1)
        m = max(int(np.ceil((s1 - s0) / self.ds)), 1) + 1
        su = np.linspace(s0, s1, m)
        xy, h, k = self.pose_at(su)
        return Path(xy, h, k, (s1 - s0) / (m - 1))

    @staticmethod
    def concat(paths: Sequence[Path], ds: float = 0.25) -> Path:
        """Join paths end to start (each must begin where the previous ends), keeping heading continuous."""
        s_all, xy_all, h_all, k_all = [], [], [], []
        s_off, h_prev = 0.0, None
        for p in paths:
            h = p.heading
            if h_prev is not None:
                h = h + 2.0 * np.pi * np.round((h_prev - h[0]) / (2.0 * np.pi))
                gap = float(np.hypot(*(p.xy[0] - xy_all[-1][-1])))
                if gap > 0.05:
                    raise ValueError(f"paths do not join (gap {gap:.3f} m)")
            s = s_off + p.s
            sl = slice(1, None) if s_all else slice(None)
            s_all.append(s[sl])
            xy_all.append(p.xy[sl])
            h_all.append(h[sl])
            k_all.append(p.curvature[sl])
            s_off, h_prev = float(s[-1]), float(h[-1])
        return _resample(
            np.concatenate(s_all), np.concatenate(xy_all), np.concatenate(h_all), np.concatenate(k_all), ds
        )

    # -- queries -----------------------------------------------------------------------------
    def pose_at(self, s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position (..., 2), heading (...,) and curvature (...,) at arc length(s) ``s`` (clamped)."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length)
        f = s / self.ds
        i = np.minimum(f.astype(np.int64), len(self.heading) - 2)
        t = f - i
        xy = self.xy[i] * (1.0 - t)[..., None] + self.xy[i + 1] * t[..., None]
        h = self.heading[i] * (1.0 - t) + self.heading[i + 1] * t
        k = self.curvature[i] * (1.0 - t) + self.curvature[i + 1] * t
        return xy, h, k

    def project(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest arc length and signed lateral offset (left positive) for (N, 2) points."""
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        tree = self.__dict__.get("_tree")
        if tree is None:
            tree = cKDTree(self.xy)
            object.__setattr__(self, "_tree", tree)
        _, i = tree.query(xy)
        best_s = np.zeros(len(xy))
        best_d2 = np.full(len(xy), np.inf)
        best_lat = np.zeros(len(xy))
        for a in (np.maximum(i - 1, 0), np.minimum(i, len(self.xy) - 2)):
            p0, p1 = self.xy[a], self.xy[a + 1]
            seg = p1 - p0
            L2 = np.maximum(np.einsum("ij,ij->i", seg, seg), 1e-18)
            t = np.clip(np.einsum("ij,ij->i", xy - p0, seg) / L2, 0.0, 1.0)
            foot = p0 + t[:, None] * seg
            r = xy - foot
            d2 = np.einsum("ij,ij->i", r, r)
            better = d2 < best_d2
            best_d2 = np.where(better, d2, best_d2)
            best_s = np.where(better, (a + t) * self.ds, best_s)
            cross = seg[:, 0] * r[:, 1] - seg[:, 1] * r[:, 0]
            best_lat = np.where(better, np.sign(cross) * np.sqrt(d2), best_lat)
        return best_s, best_lat


@dataclass
class Road:
    """A two-way road: centreline path, ``lanes_per_direction`` lanes of ``lane_width`` each way."""

    centre: Path
    lanes_per_direction: int = 1
    lane_width: float = 3.5
    shoulder: float = 0.5  # paved beyond the edge line, m (bike lane in town)
    sidewalk: float = 0.0  # unpaved walkway beyond the shoulder, m
    centre_line: str = "auto"  # dashed | solid | none; auto: dashed for one lane each way
    name: str = "road"

    def __post_init__(self) -> None:
        if self.lanes_per_direction < 1 or self.lane_width <= 0:
            raise ValueError(f"road {self.name}: need >= 1 lane per direction and a positive lane width")
        if self.centre_line not in ("auto", "dashed", "solid", "none"):
            raise ValueError(f"road {self.name}: centre_line must be auto|dashed|solid|none")

    @staticmethod
    def from_polyline(xy: np.ndarray, lanes_per_direction: int = 1, lane_width: float = 3.5, **kw) -> Road:
        return Road(Path.from_polyline(xy), lanes_per_direction, lane_width, **kw)

    @property
    def half_width(self) -> float:
        """Paved half width (lanes + shoulder), m."""
        return self.lanes_per_direction * self.lane_width + self.shoulder

    def lane_offset(self, lane: int) -> float:
        """Centreline offset of lane ``lane`` (``+k`` forward, ``-k`` backward, ``|k| = 1`` innermost)."""
        n = self.lanes_per_direction
        if lane == 0 or abs(lane) > n:
            raise ValueError(f"road {self.name} has lanes +-1..{n}, not {lane}")
        return -np.sign(lane) * (abs(lane) - 0.5) * self.lane_width

    def shoulder_offset(self, forward: bool = True) -> float:
        """Middle of the shoulder on the side that travels ``forward``."""
        d = self.lanes_per_direction * self.lane_width + 0.5 * self.shoulder
        return -d if forward else d

    def sidewalk_offset(self, right: bool = True) -> float:
        d = self.half_width + 0.5 * self.sidewalk
        return -d if right else d

    def offset_path(self, d: float, forward: bool = True) -> Path:
        """Path at offset ``d`` travelling with (``forward``) or against the centreline direction."""
        p = self.centre.offset(d)
        return p if forward else p.reversed()

    def lane_path(self, lane: int) -> Path:
        return self.offset_path(self.lane_offset(lane), lane > 0)

    def pose_at(self, s: np.ndarray | float, d: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """World position and centreline heading at centreline arc length ``s`` and offset ``d``."""
        xy, h, _ = self.centre.pose_at(s)
        d = np.asarray(d, dtype=np.float64)
        n = np.stack([-np.sin(h), np.cos(h)], axis=-1)
        return xy + d[..., None] * n, h

    def marking_lines(self) -> list[tuple[float, bool]]:
        """(offset, dashed) of every painted longitudinal line."""
        n, w = self.lanes_per_direction, self.lane_width
        style = self.centre_line if self.centre_line != "auto" else ("dashed" if n == 1 else "solid")
        lines = [] if style == "none" else [(0.0, style == "dashed")]
        for k in range(1, n):
            lines += [(k * w, True), (-k * w, True)]
        lines += [(n * w, False), (-n * w, False)]
        return lines


# -- builders ------------------------------------------------------------------------------------
def straight_road(start_xy: Sequence[float], heading: float, length: float, **kw) -> Road:
    return Road(Path.from_curvature(start_xy, heading, [("straight", length)]), **kw)


def curved_road(
    start_xy: Sequence[float],
    heading: float,
    length: float,
    radius: float,
    bend_deg: float = 50.0,
    first_straight: float = 60.0,
    straight_between: float = 40.0,
    **kw,
) -> Road:
    """S-curves: straight, then alternating left/right bends with clothoid entries and exits."""
    k = 1.0 / radius
    lc = float(np.clip(0.3 * radius, 15.0, 80.0))
    arc = max(np.radians(bend_deg) - k * lc, 0.0)
    segs: list[tuple] = [("straight", first_straight)]
    total, side = first_straight, 1.0
    while total < length:
        segs += [("clothoid", lc, side * k), ("arc", radius, side * arc), ("clothoid", lc, 0.0)]
        segs.append(("straight", straight_between))
        total += 2 * lc + arc * radius + straight_between
        side = -side
    return Road(Path.from_curvature(start_xy, heading, segs).sub(0.0, length), **kw)


def crossing_roads(
    centre_xy: Sequence[float], heading: float, a_before: float, a_after: float, b_half: float, **kw
) -> tuple[Road, Road]:
    """A 4-way intersection: road A along ``heading`` and road B crossing it at 90 deg (left to right)."""
    c = np.asarray(centre_xy, dtype=np.float64)
    u = np.array([np.cos(heading), np.sin(heading)])
    v = np.array([-u[1], u[0]])
    a = straight_road(c - a_before * u, heading, a_before + a_after, name="road_a", **kw)
    # B runs from the right side of A to its left, i.e. heading + 90 deg
    b = straight_road(c - b_half * v, heading + 0.5 * np.pi, 2.0 * b_half, name="road_b", **kw)
    return a, b


# -- raster ground map ---------------------------------------------------------------------------
@njit(cache=True)
def _sweep(
    xy, hd, ds, s0, s1, d_lo, d_hi, step, dash_on, dash_off, dashed, x0, y0, inv_res, tindex, tiles, bit
):
    """Paint (or, if ``tiles`` is empty, mark needed tiles of) the band d_lo..d_hi along s0..s1.

    Sample spacing ``step`` < cell / sqrt(2) so that no cell inside the band is skipped.
    """
    m = xy.shape[0]
    ntx, nty = tindex.shape
    ns = int((s1 - s0) / step) + 1
    nd = int((d_hi - d_lo) / step) + 1
    period = dash_on + dash_off
    for a in range(ns + 1):
        s = min(s0 + a * step, s1)
        if dashed and (s % period) >= dash_on:
            continue
        f = s / ds
        i = min(int(f), m - 2)
        t = f - i
        cx = xy[i, 0] * (1.0 - t) + xy[i + 1, 0] * t
        cy = xy[i, 1] * (1.0 - t) + xy[i + 1, 1] * t
        h = hd[i] * (1.0 - t) + hd[i + 1] * t
        nx, ny = -np.sin(h), np.cos(h)
        for b in range(nd + 1):
            d = min(d_lo + b * step, d_hi)
            fx = (cx + d * nx - x0) * inv_res
            fy = (cy + d * ny - y0) * inv_res
            if fx < 0.0 or fy < 0.0:
                continue
            ix, iy = int(fx), int(fy)
            tx, ty = ix >> 8, iy >> 8
            if tx >= ntx or ty >= nty:
                continue
            if tiles.shape[0] == 0:
                tindex[tx, ty] = 1
            else:
                k = tindex[tx, ty]
                if k >= 0:
                    tiles[k, iy & 255, ix & 255] |= bit


@njit(cache=True)
def _lookup(x, y, x0, y0, inv_res, tindex, tiles, out):
    ntx, nty = tindex.shape
    for i in range(x.shape[0]):
        fx = (x[i] - x0) * inv_res
        fy = (y[i] - y0) * inv_res
        if not (fx >= 0.0 and fy >= 0.0):  # also rejects NaN
            out[i] = 0
            continue
        ix, iy = int(fx), int(fy)
        tx, ty = ix >> 8, iy >> 8
        if tx >= ntx or ty >= nty:
            out[i] = 0
            continue
        k = tindex[tx, ty]
        out[i] = tiles[k, iy & 255, ix & 255] if k >= 0 else 0


class RoadMap:
    """A ``GroundMap`` over a set of roads, rasterised once into sparse 256x256-cell tiles.

    ``s_ranges`` limits painting to the stretch of each road's centreline that
    sensors can see (memory scales with painted area, ~1 byte per cell).
    """

    def __init__(
        self,
        roads: Sequence[Road],
        resolution: float = 0.05,
        s_ranges: Sequence[tuple[float, float] | None] | None = None,
        marking_width: float = 0.15,
        dash_on: float = 3.0,
        dash_off: float = 6.0,
    ) -> None:
        if not 0 < len(roads) <= 8:
            raise ValueError("RoadMap supports 1..8 roads")
        self.roads = list(roads)
        self.resolution = float(resolution)
        s_ranges = list(s_ranges) if s_ranges is not None else [None] * len(roads)
        spans = []
        for r, sr in zip(self.roads, s_ranges):
            lo, hi = (0.0, r.centre.length) if sr is None else sr
            spans.append((max(0.0, lo), min(r.centre.length, hi)))
        self.s_ranges = spans
        # bounding box of all painted areas
        pts = []
        for r, (lo, hi) in zip(self.roads, spans):
            xy, _, _ = r.centre.pose_at(np.linspace(lo, hi, 200 + int(hi - lo)))
            pts.append(xy)
        pts = np.concatenate(pts)
        pad = max(r.half_width for r in self.roads) + 1.0
        self.origin = pts.min(axis=0) - pad
        extent = pts.max(axis=0) + pad - self.origin
        tile_m = _TILE * self.resolution
        ntx, nty = (int(np.ceil(e / tile_m)) for e in extent)
        inv = 1.0 / self.resolution
        step = 0.6 * self.resolution
        # pass 1: which tiles does any pavement touch; pass 2: paint pavement and lines, one bit per road
        need = np.full((ntx, nty), -1, dtype=np.int32)
        empty = np.zeros((0, _TILE, _TILE), dtype=np.uint8)

        def sweep(r, lo, hi, band, dash, tindex, tiles, bit):
            c = r.centre
            o = self.origin
            _sweep(c.xy, c.heading, c.ds, lo, hi, *band, step, *dash, o[0], o[1], inv, tindex, tiles, bit)

        solid = (1.0, 0.0, False)
        for r, (lo, hi) in zip(self.roads, spans):
            sweep(r, lo, hi, (-r.half_width, r.half_width), solid, need, empty, np.uint8(0))
        tindex = np.full((ntx, nty), -1, dtype=np.int32)
        used = need > 0
        tindex[used] = np.arange(int(used.sum()), dtype=np.int32)
        paved = np.zeros((int(used.sum()), _TILE, _TILE), dtype=np.uint8)
        mark = np.zeros_like(paved)
        for j, (r, (lo, hi)) in enumerate(zip(self.roads, spans)):
            bit = np.uint8(1 << j)
            sweep(r, lo, hi, (-r.half_width, r.half_width), solid, tindex, paved, bit)
            for d, dashed in r.marking_lines():
                band = (d - 0.5 * marking_width, d + 0.5 * marking_width)
                sweep(r, lo, hi, band, (dash_on, dash_off, dashed), tindex, mark, bit)
        single = (paved & (paved - np.uint8(1))) == 0
        cls = (paved != 0).astype(np.uint8)
        cls[((mark & paved) != 0) & single] = GROUND_MARKING
        del paved, mark
        self._tindex = tindex
        self._tiles = cls

    @property
    def nbytes(self) -> int:
        return int(self._tiles.nbytes + self._tindex.nbytes)

    def ground_class(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) world points -> (N,) uint8: 0 off-road, 1 asphalt, 2 lane marking."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        out = np.empty(len(xy), dtype=np.uint8)
        x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        _lookup(x, y, self.origin[0], self.origin[1], 1.0 / self.resolution, self._tindex, self._tiles, out)
        return out

    def on_road(self, xy: np.ndarray) -> np.ndarray:
        return self.ground_class(xy) != GROUND_OFFROAD


__all__ = [
    "GROUND_ASPHALT",
    "GROUND_MARKING",
    "GROUND_OFFROAD",
    "Path",
    "Road",
    "RoadMap",
    "crossing_roads",
    "curved_road",
    "straight_road",
]
