"""Ray casting against yaw-oriented boxes and the ground plane z = 0 (numba).

One kernel serves the LiDAR (rays from one origin per azimuth block) and the
camera (rays per pixel). Rays are organised in *groups*: contiguous runs of rays
that share an origin and a rotation (sensor -> world) and whose directions fit in
a narrow cone. Per group the parts are culled by a bounding-sphere-vs-cone test,
so each ray only runs the slab test against the few parts that can possibly be
in front of it. Nearest-hit casting makes occlusion (z-buffering) exact.

Hit codes: ``part >= 0`` part index, ``HIT_GROUND`` (-1) ground, ``HIT_NONE`` (-2).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

HIT_GROUND = -1
HIT_NONE = -2


@njit(cache=True)
def cone_bounds(dirs: np.ndarray, group_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group: unit axis and cos(half-angle) of a cone containing all its unit ``dirs``."""
    G = group_start.shape[0] - 1
    axis = np.zeros((G, 3))
    cos_half = np.ones(G)
    for g in range(G):
        ax = 0.0
        ay = 0.0
        az = 0.0
        for i in range(group_start[g], group_start[g + 1]):
            ax += dirs[i, 0]
            ay += dirs[i, 1]
            az += dirs[i, 2]
        n = np.sqrt(ax * ax + ay * ay + az * az)
        if n < 1e-12:  # degenerate (opposite rays): cone covers everything
            axis[g, 0] = 1.0
            cos_half[g] = -1.0
            continue
        ax /= n
        ay /= n
        az /= n
        c = 1.0
        for i in range(group_start[g], group_start[g + 1]):
            d = ax * dirs[i, 0] + ay * dirs[i, 1] + az * dirs[i, 2]
            if d < c:
                c = d
        axis[g, 0] = ax
        axis[g, 1] = ay
        axis[g, 2] = az
        # small margin against float32 direction rounding
        cos_half[g] = max(-1.0, c - 1e-6)
    return axis, cos_half


@njit(cache=True, nogil=True)  # nogil: camera frames render in a thread beside the LiDAR
def cast_rays_kernel(
    dirs: np.ndarray,  # (R, 3) float32 unit directions in the sensor frame, grouped
    ray_ids: np.ndarray,  # (R,) int64 output slot of each ray
    group_start: np.ndarray,  # (G + 1,) int64
    group_axis: np.ndarray,  # (G, 3) sensor-frame cone axis
    group_cos: np.ndarray,  # (G,) cos of the cone half-angle
    group_origin: np.ndarray,  # (G, 3) float64 world
    group_rot: np.ndarray,  # (G, 3, 3) float64 world <- sensor
    group_plo: np.ndarray,  # (G,) int64 first candidate part
    group_phi: np.ndarray,  # (G,) int64 one past the last candidate part
    centers: np.ndarray,  # (P, 3) float64
    half_sizes: np.ndarray,  # (P, 3) float64
    yaw: np.ndarray,  # (P,) float64
    t_min: float,
    t_max: float,
    ground: bool,
    cull: bool,
    out_dist: np.ndarray,  # (R,) float32, inf on miss
    out_hit: np.ndarray,  # (R,) int32
    out_normal: np.ndarray,  # (R, 3) float32 world
    out_point: np.ndarray,  # (R, 3) float64 world
    out_cos: np.ndarray,  # (R,) float32 |cos| of incidence
) -> None:
    P = centers.shape[0]
    cyaw = np.cos(yaw)
    syaw = np.sin(yaw)
    rad = np.empty(P)
    for p in range(P):
        rad[p] = np.sqrt(half_sizes[p, 0] ** 2 + half_sizes[p, 1] ** 2 + half_sizes[p, 2] ** 2)
    cand = np.empty(max(P, 1), np.int64)
    G = group_start.shape[0] - 1
    for g in range(G):
        ox = group_origin[g, 0]
        oy = group_origin[g, 1]
        oz = group_origin[g, 2]
        R = group_rot[g]
        # --- cull: bounding sphere vs the group's cone (and range) ---
        plo = max(group_plo[g], 0)
        phi = min(group_phi[g], P)  # never index past the part arrays
        n = 0
        # half-angles >= 90 deg would break the cosine test (angle sums beyond pi): take all parts
        if cull and group_cos[g] > 0.0:
            ax = R[0, 0] * group_axis[g, 0] + R[0, 1] * group_axis[g, 1] + R[0, 2] * group_axis[g, 2]
            ay = R[1, 0] * group_axis[g, 0] + R[1, 1] * group_axis[g, 1] + R[1, 2] * group_axis[g, 2]
            az = R[2, 0] * group_axis[g, 0] + R[2, 1] * group_axis[g, 1] + R[2, 2] * group_axis[g, 2]
            cb = group_cos[g]
            sb = np.sqrt(max(0.0, 1.0 - cb * cb))
            for p in range(plo, phi):
                vx = centers[p, 0] - ox
                vy = centers[p, 1] - oy
                vz = centers[p, 2] - oz
                d2 = vx * vx + vy * vy + vz * vz
                r = rad[p]
                if d2 <= r * r:
                    cand[n] = p
                    n += 1
                    continue
                d = np.sqrt(d2)
                if d - r > t_max:
                    continue
                sa = r / d
                ca = np.sqrt(1.0 - sa * sa)
                # inside iff angle(axis, v) <= half + asin(r/d); both angles in [0, pi]
                if (ax * vx + ay * vy + az * vz) / d >= cb * ca - sb * sa:
                    cand[n] = p
                    n += 1
        else:
            for p in range(plo, phi):
                cand[n] = p
                n += 1
        # --- cast each ray of the group ---
        for i in range(group_start[g], group_start[g + 1]):
            sx = dirs[i, 0]
            sy = dirs[i, 1]
            sz = dirs[i, 2]
            dx = R[0, 0] * sx + R[0, 1] * sy + R[0, 2] * sz
            dy = R[1, 0] * sx + R[1, 1] * sy + R[1, 2] * sz
            dz = R[2, 0] * sx + R[2, 1] * sy + R[2, 2] * sz
            best = t_max
            hit = HIT_NONE
            nx = 0.0
            ny = 0.0
            nz = 0.0
            if ground and dz < -1e-12 and oz > 0.0:
                t = -oz / dz
                if t_min < t < best:
                    best = t
                    hit = HIT_GROUND
                    nz = 1.0
            for k in range(n):
                p = cand[k]
                vx = centers[p, 0] - ox
                vy = centers[p, 1] - oy
                vz = centers[p, 2] - oz
                r = rad[p]
                tc = vx * dx + vy * dy + vz * dz
                if tc + r < t_min or tc - r > best:
                    continue
                if vx * vx + vy * vy + vz * vz - tc * tc > r * r:
                    continue
                # slab test in the box frame (origin relative to the box centre)
                c = cyaw[p]
                s = syaw[p]
                lx = -(c * vx + s * vy)
                ly = -(-s * vx + c * vy)
                lz = -vz
                ldx = c * dx + s * dy
                ldy = -s * dx + c * dy
                ldz = dz
                tnear = -np.inf
                tfar = np.inf
                axis = -1
                sgn = 0.0
                miss = False
                for a in range(3):
                    if a == 0:
                        lo = lx
                        ld = ldx
                        h = half_sizes[p, 0]
                    elif a == 1:
                        lo = ly
                        ld = ldy
                        h = half_sizes[p, 1]
                    else:
                        lo = lz
                        ld = ldz
                        h = half_sizes[p, 2]
                    if abs(ld) < 1e-12:
                        if abs(lo) > h:
                            miss = True
                            break
                        continue
                    inv = 1.0 / ld
                    t1 = (-h - lo) * inv
                    t2 = (h - lo) * inv
                    if t1 > t2:
                        t1, t2 = t2, t1
                    if t1 > tnear:
                        tnear = t1
                        axis = a
                        sgn = -1.0 if ld > 0.0 else 1.0
                    if t2 < tfar:
                        tfar = t2
                if miss or tnear > tfar or tnear <= t_min or tnear >= best:
                    continue
                best = tnear
                hit = p
                if axis == 0:
                    nx = sgn * c
                    ny = sgn * s
                    nz = 0.0
                elif axis == 1:
                    nx = -sgn * s
                    ny = sgn * c
                    nz = 0.0
                else:
                    nx = 0.0
                    ny = 0.0
                    nz = sgn
            j = ray_ids[i]
            out_hit[j] = hit
            if hit == HIT_NONE:
                out_dist[j] = np.inf
                out_normal[j, 0] = 0.0
                out_normal[j, 1] = 0.0
                out_normal[j, 2] = 0.0
                out_point[j, 0] = np.nan
                out_point[j, 1] = np.nan
                out_point[j, 2] = np.nan
                out_cos[j] = 0.0
            else:
                out_dist[j] = best
                out_normal[j, 0] = nx
                out_normal[j, 1] = ny
                out_normal[j, 2] = nz
                out_point[j, 0] = ox + best * dx
                out_point[j, 1] = oy + best * dy
                out_point[j, 2] = oz + best * dz
                out_cos[j] = abs(nx * dx + ny * dy + nz * dz)


class Hits(NamedTuple):
    """Nearest hit per ray, indexed by output slot (``ray_ids``)."""

    dist: np.ndarray  # (R,) float32 m along the ray, inf on miss
    part: np.ndarray  # (R,) int32 part index, HIT_GROUND or HIT_NONE
    normal: np.ndarray  # (R, 3) float32 world-frame outward surface normal
    point: np.ndarray  # (R, 3) float64 world-frame hit point, NaN on miss
    cos_incidence: np.ndarray  # (R,) float32 |normal . ray|


@njit(cache=True, nogil=True)
def write_hit(i, t, code, nx, ny, nz, c, ox, oy, oz, dx, dy, dz, dist, part, normal, point, cos_inc) -> None:
    """Ray ``i`` (origin o, direction d) hits a surface at ``t`` with part code ``code``, normal n
    and ``c = n . d``: write it into the Hits fields, the normal turned to the sensor (the static
    mesh's merges, the camera's rasteriser, the graded ground)."""
    part[i] = code
    dist[i] = t
    s = -1.0 if c > 0.0 else 1.0
    normal[i, 0], normal[i, 1], normal[i, 2] = s * nx, s * ny, s * nz
    tf = np.float64(t)
    point[i, 0], point[i, 1], point[i, 2] = ox + tf * dx, oy + tf * dy, oz + tf * dz
    cos_inc[i] = abs(c)


def alloc_hits(n_rays: int) -> Hits:
    """Output buffers for ``n_rays`` rays."""
    R = int(n_rays)
    return Hits(
        np.empty(R, np.float32),
        np.empty(R, np.int32),
        np.empty((R, 3), np.float32),
        np.empty((R, 3), np.float64),
        np.empty(R, np.float32),
    )


@njit(cache=True, nogil=True)
def ground_hits(part: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ascending) and world xy of the rays that hit the ground, compacted."""
    n = 0
    for i in range(part.shape[0]):
        if part[i] == HIT_GROUND:
            n += 1
    idx = np.empty(n, np.int64)
    xy = np.empty((n, 2))
    k = 0
    for i in range(part.shape[0]):
        if part[i] == HIT_GROUND:
            idx[k] = i
            xy[k, 0] = point[i, 0]
            xy[k, 1] = point[i, 1]
            k += 1
    return idx, xy


def cast_rays(
    dirs: np.ndarray,
    ray_ids: np.ndarray,
    group_start: np.ndarray,
    group_axis: np.ndarray,
    group_cos: np.ndarray,
    group_origin: np.ndarray,
    group_rot: np.ndarray,
    group_plo: np.ndarray,
    group_phi: np.ndarray,
    centers: np.ndarray,
    half_sizes: np.ndarray,
    yaw: np.ndarray,
    t_min: float = 1e-4,
    t_max: float = 1000.0,
    ground: bool = True,
    cull: bool = True,
    out: Hits | None = None,
) -> Hits:
    """Run :func:`cast_rays_kernel` (see there for shapes) into ``out`` or fresh buffers.

    Sensors pass a cached ``out`` per ray set: allocating ~12 MB per camera frame
    costs more in page faults than the casting itself.
    """
    R = int(dirs.shape[0])
    hits = out if out is not None and out.dist.shape[0] == R else alloc_hits(R)
    cast_rays_kernel(
        np.ascontiguousarray(dirs, np.float32),
        np.ascontiguousarray(ray_ids, np.int64),
        np.ascontiguousarray(group_start, np.int64),
        np.ascontiguousarray(group_axis, np.float64),
        np.ascontiguousarray(group_cos, np.float64),
        np.ascontiguousarray(group_origin, np.float64),
        np.ascontiguousarray(group_rot, np.float64),
        np.ascontiguousarray(group_plo, np.int64),
        np.ascontiguousarray(group_phi, np.int64),
        np.ascontiguousarray(centers, np.float64).reshape(-1, 3),
        np.ascontiguousarray(half_sizes, np.float64).reshape(-1, 3),
        np.ascontiguousarray(yaw, np.float64).reshape(-1),
        float(t_min),
        float(t_max),
        bool(ground),
        bool(cull),
        *hits,
    )
    return hits


def cast_from_origin(
    origin: np.ndarray,
    dirs_world: np.ndarray,
    centers: np.ndarray,
    half_sizes: np.ndarray,
    yaw: np.ndarray,
    t_max: float = 1000.0,
    ground: bool = True,
    group_size: int = 64,
) -> Hits:
    """Convenience: rays from one world ``origin`` (no ordering assumptions, for tests and tools).

    Rays are grouped in input order, so culling is only tight when neighbouring rays are close.
    """
    dirs = np.asarray(dirs_world, np.float32).reshape(-1, 3)
    R = dirs.shape[0]
    starts = np.append(np.arange(0, R, group_size), R).astype(np.int64)
    G = starts.shape[0] - 1
    axis, cos_half = cone_bounds(dirs, starts)
    P = np.asarray(centers).reshape(-1, 3).shape[0]
    return cast_rays(
        dirs,
        np.arange(R, dtype=np.int64),
        starts,
        axis,
        cos_half,
        np.broadcast_to(np.asarray(origin, np.float64), (G, 3)),
        np.broadcast_to(np.eye(3), (G, 3, 3)),
        np.zeros(G, np.int64),
        np.full(G, P, np.int64),
        centers,
        half_sizes,
        yaw,
        t_max=t_max,
        ground=ground,
    )
