"""Placing static scenery along a scenario's roads.

Cross-section of one road side, from the centreline outwards (``hw`` = lanes + shoulder,
``sw`` = the sidewalk zone of ``world.road.sidewalk_m``):

* ``sw >= 5`` and ``parked_cars > 0``: a 2.2 m parking strip at road level next to the shoulder;
  cars park in it (they are truth objects: parked CARs with zero velocity, see ``parked``);
* the curb (``curb_height_m``, 0.10-0.20 m) and the raised sidewalk slab up to ``hw + sw``;
* people standing in groups (``standing_groups_per_100m``) near the façades, clear of the walkers;
* street furniture 0.3 m behind the curb: poles (street lights reaching over the road), signs,
  bollards, trees whose crowns hang over the road, bicycle stands;
* beyond ``hw + sw``, after a random setback: building blocks with façades (recesses, doors,
  glass), separated by gaps in which a wall, a fence or a hedge may stand;
* without sidewalks (highways): a guard rail 0.5 m beyond the shoulder, a median barrier between
  carriageways when there are 2+ lanes per direction, overhead sign gantries every
  ``overhead_sign_spacing_m``, sparse trees and bushes farther out;
* ``parking_lot``: the sidewalk zone becomes a lot with two rows of perpendicular bays either side
  of a central aisle (where the sidewalk pedestrians walk).

Only stretches within ``view_m`` of the ego's track are built; nothing is placed on another
road's pavement or sidewalks (intersections) nor within 2.5 m of a crossing pedestrian's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from ...core.classes import ObjectClass
from ..road import Road
from ..scene import NO_CROSSING, Scene
from . import meshes as m
from .materials import StaticClass
from .meshes import MeshBuilder

PARK_STRIP_M = 2.2
FURNITURE_M = 0.3  # furniture line behind the curb


class Parked(NamedTuple):
    """Truth objects that never move: parked cars, people standing in groups."""

    centers: np.ndarray  # (K, 3) box centres (z includes a curb the object stands on)
    sizes: np.ndarray  # (K, 3) l, w, h
    yaw: np.ndarray  # (K,)
    labels: np.ndarray  # (K,) int64 ObjectClass


class _Blocker:
    """Where scenery must not go: other roads' corridors and crossing pedestrians' paths."""

    def __init__(self, scene: Scene) -> None:
        self.roads = scene.roads
        pts = [np.zeros((0, 2))]
        for a in scene.agents:
            if a.cross != NO_CROSSING:
                pts.append(scene.paths[a.path].xy)
        xy = np.concatenate(pts)
        self.cross = cKDTree(xy) if len(xy) else None

    def clear(self, xy: np.ndarray, radius: float, own: int, keep_pavement: bool = False) -> np.ndarray:
        """(N,) True where a disc of ``radius`` at ``xy`` (N, 2) is free of other roads and crossings."""
        xy = np.atleast_2d(xy)
        ok = np.ones(len(xy), bool)
        for ri, r in enumerate(self.roads):
            if ri == own:
                continue
            s, d = r.centre.project(xy)
            inside = (s > 0.0) & (s < r.centre.length)
            band = r.half_width + (0.0 if keep_pavement else r.sidewalk) + radius
            ok &= ~(inside & (np.abs(d) < band))
        if self.cross is not None:
            dist, _ = self.cross.query(xy)
            ok &= dist > 2.5 + radius
        return ok


def _ranges(roads: list[Road], ego_xy: np.ndarray, view: float) -> list[tuple[float, float]]:
    tree = cKDTree(ego_xy[:: max(1, len(ego_xy) // 400)])
    out = []
    for r in roads:
        s = np.arange(0.0, r.centre.length, 2.0)
        d, _ = tree.query(r.centre.pose_at(s)[0])
        near = s[d < view]
        out.append(
            (max(float(near.min()) - 5.0, 0.0), min(float(near.max()) + 5.0, r.centre.length))
            if len(near)
            else (0.0, 0.0)
        )
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index runs [i, j) where ``mask`` is True."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def build_layout(
    scene: Scene, sc: Mapping, ego_xy: np.ndarray, rng: np.random.Generator
) -> tuple[MeshBuilder, Parked]:
    """Meshes and parked cars of ``world.static`` (``sc``) along every road of ``scene``."""
    mb = MeshBuilder()
    blk = _Blocker(scene)
    view = float(sc["view_m"])
    curb_h = float(sc["curb_height_m"])
    fill = float(sc["parked_cars"])
    lot = bool(sc["parking_lot"])
    parked: list[tuple[float, ...]] = []  # x, y, z centre, l, w, h, yaw, label
    for ri, (r, (lo, hi)) in enumerate(zip(scene.roads, _ranges(scene.roads, ego_xy, view))):
        if hi - lo < 4.0:
            continue
        hw, sw = r.half_width, r.sidewalk
        s = np.arange(lo, hi, 2.0)
        for side in (-1.0, 1.0):  # right, left of the centreline

            def at(ss, d, side=side, r=r):
                return r.pose_at(ss, side * d)

            has_walk = sw >= 1.0
            park = PARK_STRIP_M if (has_walk and sw >= 5.0 and fill > 0.0 and not lot) else 0.0
            curb_d = hw + park
            # -- sidewalk slab with its curb
            if has_walk and curb_h > 0.0 and not lot:
                xy_in, _ = at(s, curb_d)
                ok = blk.clear(xy_in, 0.0, ri, keep_pavement=True) & blk.clear(
                    at(s, hw + sw)[0], 0.0, ri, True
                )
                for i, j in _runs(ok):
                    if j - i < 2:
                        continue
                    a, b = (at(s[i:j], curb_d)[0], at(s[i:j], hw + sw)[0])
                    m.slab(mb, StaticClass.SIDEWALK, a if side > 0 else b, b if side > 0 else a, curb_h)
            # -- paved parking strip (or the whole lot) at road level
            pave = park if park > 0.0 else (sw if lot else 0.0)
            if pave > 0.0:
                ok = blk.clear(at(s, hw)[0], 0.0, ri, keep_pavement=True)
                for i, j in _runs(ok):
                    if j - i >= 2:
                        m.pavement(mb, at(s[i:j], hw)[0], at(s[i:j], hw + pave)[0])
            # -- parked cars along the curb
            if park > 0.0:
                _park_row(r, side, hw + 0.5 * park, lo, hi, fill, rng, blk, ri, parked, along=True)
            if lot:
                _parking_lot(mb, r, side, hw, sw, lo, hi, fill, rng, blk, ri, parked)
            # -- people standing in groups by the façades (clear of the walkers' line)
            groups = float(sc["standing_groups_per_100m"])
            if has_walk and groups > 0.0 and not lot and sw - park >= 5.0:
                _standing_groups(r, side, hw + sw - 1.3, lo, hi, groups, curb_h, rng, blk, ri, parked)
            # -- street furniture
            if has_walk and sc["street_furniture"]:
                _furniture(
                    mb,
                    r,
                    side,
                    curb_d + FURNITURE_M,
                    lo,
                    hi,
                    rng,
                    blk,
                    ri,
                    trees=bool(sc["vegetation"]) and not lot,
                )
            # -- buildings and what stands between them
            if has_walk and sc["buildings"]:
                _frontage(mb, r, side, hw + sw, lo, hi, rng, blk, ri, bool(sc["vegetation"]))
            # -- highway side
            if not has_walk:
                if sc["guard_rails"]:
                    ok = blk.clear(at(s, hw + 0.5)[0], 0.5, ri)
                    for i, j in _runs(ok):
                        if j - i >= 3:
                            xy, h = at(s[i:j], hw + 0.5)
                            m.guard_rail(mb, xy, h)
                if sc["vegetation"]:
                    _roadside_green(mb, r, side, hw + 6.0, lo, hi, rng, blk, ri)
        if r.sidewalk < 1.0 and r.lanes_per_direction >= 2 and sc["median_barrier"]:
            xy, _ = r.pose_at(s, 0.0)
            ok = blk.clear(xy, 0.5, ri)
            for i, j in _runs(ok):
                if j - i >= 3:
                    m.barrier(mb, xy[i:j])
        sp = float(sc["overhead_sign_spacing_m"])
        if sp > 0.0 and r.sidewalk < 1.0:
            for so in np.arange(lo + 0.5 * sp * float(rng.uniform(0.3, 1.0)), hi, sp):
                xy, h = r.pose_at(so, 0.0)
                if blk.clear(xy, hw + 1.0, ri)[0]:
                    m.overhead_sign(mb, xy, float(h), 2.0 * hw + 2.0)
    if scene.junction is not None and sc["street_furniture"]:
        _junction_lights(mb, scene)
    P = np.array(parked, np.float64).reshape(-1, 8)
    return mb, Parked(P[:, 0:3].copy(), P[:, 3:6].copy(), P[:, 6].copy(), P[:, 7].astype(np.int64))


def _car_size(rng: np.random.Generator) -> tuple[float, float, float]:
    return float(rng.uniform(4.0, 5.0)), float(rng.uniform(1.75, 1.95)), float(rng.uniform(1.4, 1.65))


def _park_row(r, side, d, lo, hi, fill, rng, blk, ri, parked, along: bool, slot: float = 6.0) -> None:
    """Cars in slots of ``slot`` m along offset ``d`` (``along``: parallel; else perpendicular)."""
    for so in np.arange(lo + 0.5 * slot, hi - 0.5 * slot, slot):
        if rng.random() >= fill:
            continue
        l_, w_, h_ = _car_size(rng)
        so_j = so + (float(rng.uniform(-0.4, 0.4)) if along else 0.0)
        xy, h = r.pose_at(so_j, side * d)
        if not blk.clear(xy, 0.5 * l_, ri)[0]:
            continue
        yaw = (
            float(h) + (0.0 if side < 0 else np.pi)
            if along
            else float(h) + 0.5 * np.pi * (1 if rng.random() < 0.5 else -1)
        )
        yaw += float(rng.normal(0.0, 0.02 if along else 0.05))
        parked.append((float(xy[0]), float(xy[1]), 0.5 * h_, l_, w_, h_, yaw, int(ObjectClass.CAR)))


# people in a group stand at least this far apart, centre to centre: the longest side the group's
# boxes draw (0.75 m), so no two bodies overlap (personal distance starts at ~0.45 m, Hall 1966)
_GROUP_MIN_SPACING_M = 0.75
# group centres along the street at least this far apart: two rings (0.7 m along, up to ~0.9 m once
# spread) and the spacing between them
_GROUP_MIN_GAP_M = 2.5


def _spread_apart(off: np.ndarray, min_d: float, iters: int = 50) -> np.ndarray:
    """(k, 2) offsets pushed apart pairwise until none are closer than ``min_d`` (deterministic, no
    draws: the world's random stream does not move)."""
    off = off.copy()
    for _ in range(iters):
        moved = False
        for i in range(len(off)):
            for j in range(i + 1, len(off)):
                d = off[j] - off[i]
                n = float(np.hypot(*d))
                if n >= min_d - 1e-9:
                    continue
                u = d / n if n > 1e-9 else np.array([1.0, 0.0])
                push = 0.5 * (min_d - n) * u
                off[i] -= push
                off[j] += push
                moved = True
        if not moved:
            break
    return off


def _standing_groups(r, side, d, lo, hi, per_100m, z0, rng, blk, ri, parked) -> None:
    """Groups of 2-4 people standing (zero velocity) around offset ``d``, ``per_100m`` groups per 100 m:
    on a ring of ~0.7 m along the street (half that across), facing its centre, spread apart where
    their drawn places are closer than ``_GROUP_MIN_SPACING_M`` (the draws alone put 2-7 pairs per
    20 s street within 0.3 m of each other, one body inside another)."""
    n = int(rng.poisson(per_100m * (hi - lo) / 100.0))
    last = -np.inf
    for so in np.sort(rng.uniform(lo, hi, n)):
        # two groups drawn at nearly one place would stand inside each other: the later one moves on
        so = min(max(float(so), last + _GROUP_MIN_GAP_M), float(r.centre.length))
        last = so
        k = int(rng.integers(2, 5))
        ang = np.sort(rng.uniform(0.0, 2.0 * np.pi, k))
        ring = 0.7 * np.column_stack([np.cos(ang), 0.5 * np.sin(ang)])  # (along, across)
        for a, off in zip(ang, _spread_apart(ring, _GROUP_MIN_SPACING_M)):
            xy, h = r.pose_at(so + off[0], side * (d + off[1]))
            if not blk.clear(xy, 0.4, ri)[0]:
                continue
            l_, w_, h_ = (
                float(rng.uniform(0.5, 0.75)),
                float(rng.uniform(0.5, 0.65)),
                float(rng.uniform(1.55, 1.9)),
            )
            yaw = float(h) + a + np.pi
            parked.append(
                (float(xy[0]), float(xy[1]), z0 + 0.5 * h_, l_, w_, h_, yaw, int(ObjectClass.PEDESTRIAN))
            )


def _parking_lot(mb, r, side, hw, sw, lo, hi, fill, rng, blk, ri, parked) -> None:
    """Two rows of perpendicular bays (2.6 m wide, 5 m deep) either side of the central aisle."""
    mid = hw + 0.5 * sw
    for d in (hw + 0.5 + 2.5, mid + 4.0 + 2.5):
        if d + 2.5 > hw + sw:
            continue
        _park_row(r, side, d, lo, hi, fill, rng, blk, ri, parked, along=False, slot=2.6)
    # lamp posts and a few bollards along the aisle
    for so in np.arange(lo + 10.0, hi, 30.0):
        for d in (mid - 3.6, mid + 3.6):
            xy, _ = r.pose_at(so, side * d)
            if blk.clear(xy, 0.2, ri)[0]:
                m.pole(mb, xy, 7.0, 0.09)


def _furniture(mb, r, side, d, lo, hi, rng, blk, ri, trees: bool) -> None:
    """Along the furniture line: street lights every ~30 m, signs, trees, bollards, bicycle stands."""
    so = lo + float(rng.uniform(0.0, 10.0))
    while so < hi:
        xy, h = r.pose_at(so, side * d)
        h = float(h)
        into_road = h - side * 0.5 * np.pi  # pointing from the side towards the centreline
        u = float(rng.random())
        if not blk.clear(xy, 0.5, ri)[0]:
            so += 4.0
            continue
        if u < 0.30:
            m.pole(
                mb,
                xy,
                float(rng.uniform(6.0, 9.0)),
                float(rng.uniform(0.08, 0.14)),
                arm_yaw=into_road,
                arm=float(rng.uniform(1.5, 3.0)),
            )
        elif u < 0.45:
            facing = h + (np.pi if side < 0 else 0.0)  # face traffic driving towards it
            m.sign(mb, xy, facing, float(rng.uniform(2.3, 3.2)), float(rng.uniform(0.6, 0.9)))
        elif u < 0.75 and trees:
            m.tree(
                mb,
                rng,
                xy,
                float(rng.uniform(7.5, 12.0)),
                float(rng.uniform(2.0, 3.5)),
                float(rng.uniform(0.1, 0.15)),
            )
        elif u < 0.85:
            n = int(rng.integers(2, 6))
            for k in range(n):
                p, _ = r.pose_at(so + 1.5 * k, side * d)
                if blk.clear(p, 0.2, ri)[0]:
                    m.bollard(mb, p)
            so += 1.5 * n
        elif u < 0.92:
            xy2, _ = r.pose_at(so, side * (d + 1.0))
            m.bicycle_stand(mb, xy2, h, int(rng.integers(2, 6)))
        so += float(rng.uniform(8.0, 22.0))


def _frontage(mb, r, side, d0, lo, hi, rng, blk, ri, vegetation: bool) -> None:
    """Building blocks with gaps (alleys, yards) holding walls, fences or hedges."""
    so = lo + float(rng.uniform(0.0, 5.0))
    while so < hi:
        length = float(rng.uniform(10.0, 30.0))
        setback = float(rng.uniform(0.0, 2.5))
        depth = float(rng.uniform(8.0, 15.0))
        height = float(rng.uniform(6.0, 22.0))
        d = d0 + setback + 0.5 * depth
        sc_ = so + 0.5 * length
        xy, h = r.pose_at(sc_, side * d)
        ends = r.pose_at(np.array([so, so + length]), side * (d0 + setback))[0]
        if blk.clear(np.vstack([xy, ends]), 1.0, ri).all() and sc_ < hi:
            facing = -side  # the façade looks towards the road
            m.building(mb, rng, xy, float(h), length, depth, height, facing)
        so += length
        gap = float(rng.uniform(0.0, 12.0)) if rng.random() < 0.5 else 0.0
        if gap > 2.0:
            g_xy, g_h = r.pose_at(so + 0.5 * gap, side * (d0 + 0.5))
            if blk.clear(g_xy, 0.5 * gap, ri)[0]:
                u = float(rng.random())
                if u < 0.35 and vegetation:
                    m.hedge(
                        mb,
                        rng,
                        g_xy,
                        float(g_h),
                        gap - 0.5,
                        float(rng.uniform(0.6, 1.0)),
                        float(rng.uniform(0.9, 1.8)),
                    )
                elif u < 0.65:
                    m.fence(mb, g_xy, float(g_h), gap - 0.5, float(rng.uniform(1.2, 2.0)))
                elif u < 0.85:
                    m.wall(mb, g_xy, float(g_h), gap - 0.5, 0.25, float(rng.uniform(1.0, 2.5)))
        so += gap


def _roadside_green(mb, r, side, d, lo, hi, rng, blk, ri) -> None:
    """Sparse trees and bushes beyond a highway's guard rail."""
    so = lo + float(rng.uniform(0.0, 20.0))
    while so < hi:
        dd = d + float(rng.uniform(0.0, 10.0))
        xy, h = r.pose_at(so, side * dd)
        if blk.clear(xy, 3.0, ri)[0]:
            if rng.random() < 0.6:
                m.tree(mb, rng, xy, float(rng.uniform(6.0, 14.0)), float(rng.uniform(2.0, 4.0)), 0.2)
            else:
                m.hedge(
                    mb,
                    rng,
                    xy,
                    float(h),
                    float(rng.uniform(2.0, 6.0)),
                    float(rng.uniform(1.0, 2.0)),
                    float(rng.uniform(1.0, 2.0)),
                )
        so += float(rng.uniform(15.0, 45.0))


def _junction_lights(mb: MeshBuilder, scene: Scene) -> None:
    """A traffic light at the right-hand corner of every approach, its arm over the approach lanes."""
    c = scene.junction
    for ri in range(2):
        r, other = scene.roads[ri], scene.roads[1 - ri]
        s_c, _ = r.centre.project(c[None])
        for fwd in (True, False):
            back = other.half_width + other.sidewalk * 0.5 + 1.0
            so = float(s_c[0]) + (-back if fwd else back)
            d = r.half_width + 0.3 + 0.5 * min(r.sidewalk, 2.0)
            xy, h = r.pose_at(so, -d if fwd else d)
            arm_yaw = float(h) + (0.5 * np.pi if fwd else -0.5 * np.pi)
            m.traffic_light(mb, xy, arm_yaw, min(r.half_width, 6.0))
