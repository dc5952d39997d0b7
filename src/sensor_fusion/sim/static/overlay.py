"""Merging static-mesh hits into the box ray caster's ``Hits`` (nearer hit wins per ray).

LiDAR hit codes for static surfaces are ``HIT_STATIC - material`` (``<= -3``), so downstream
kernels see a valid non-ground return and look its reflectivity up by material; glass takes the
ray (it is nearer) but returns nothing. The camera gets part indices past the actors' parts
(``part_offset + look``) so the shader reads the static colour from the same table.

Packing the rays and merging the answers are numba passes: numpy temporaries over 10^5 rays cost
more than the Embree cast itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..raycast import HIT_NONE, Hits, write_hit
from .materials import Material
from .wind import Wind
from .world import StaticWorld

HIT_STATIC = -3  # LiDAR part code of a static hit of material 0; material k -> HIT_STATIC - k


@njit(cache=True)
def pack_group_rays(
    perm_dirs: np.ndarray, ray_ids: np.ndarray, group_start: np.ndarray, origin: np.ndarray, rot: np.ndarray
) -> np.ndarray:
    """(R, 6) float32 world rays (origin, direction) in output-slot order from per-group poses."""
    R = perm_dirs.shape[0]
    out = np.empty((R, 6), np.float32)
    for g in range(group_start.shape[0] - 1):
        M = rot[g]
        for i in range(group_start[g], group_start[g + 1]):
            j = ray_ids[i]
            for a in range(3):
                out[j, a] = origin[g, a]
                out[j, 3 + a] = (
                    M[a, 0] * perm_dirs[i, 0] + M[a, 1] * perm_dirs[i, 1] + M[a, 2] * perm_dirs[i, 2]
                )
    return out


@njit(cache=True)
def _merge(
    t_hit: np.ndarray,  # (R,) float32
    prim: np.ndarray,  # (R,) uint32
    prim_n: np.ndarray,  # (R, 3) float32
    rays: np.ndarray,  # (R, 6) float32
    t_max: float,
    code: np.ndarray,  # (T,) int32 part code per triangle
    no_return: np.ndarray,  # (T,) bool: the ray stops here but nothing comes back (empty: none)
    dist: np.ndarray,  # the Hits fields, in their order
    part: np.ndarray,
    normal: np.ndarray,
    point: np.ndarray,
    cos_inc: np.ndarray,
) -> int:
    use_nr = no_return.shape[0] > 0
    n = 0
    for i in range(t_hit.shape[0]):
        t = t_hit[i]
        if not (t <= t_max and t < dist[i]):
            continue
        n += 1
        k = prim[i]
        if use_nr and no_return[k]:  # glass: nothing comes back, and nothing behind it is seen
            part[i] = HIT_NONE
            dist[i] = t  # kept, so that the terrain (overlaid next) is not hit behind the pane
            for a in range(3):
                normal[i, a] = 0.0
                point[i, a] = np.nan
            cos_inc[i] = 0.0
            continue
        c = prim_n[i, 0] * rays[i, 3] + prim_n[i, 1] * rays[i, 4] + prim_n[i, 2] * rays[i, 5]
        write_hit(
            i, t, code[k], prim_n[i, 0], prim_n[i, 1], prim_n[i, 2], c,
            rays[i, 0], rays[i, 1], rays[i, 2], rays[i, 3], rays[i, 4], rays[i, 5],
            dist, part, normal, point, cos_inc,
        )  # fmt: skip
    return n


def overlay_static(
    static: StaticWorld, hits: Hits, rays: np.ndarray, t_max: float, lidar: bool, part_offset: int = 0
) -> int:
    """Cast ``rays`` (R, 6) float32 (world origin, unit direction; ``hits``' slot order) at ``static``.

    Rewrites ``hits`` in place where a static surface is nearer; returns how many rays that was.
    """
    if static.n_triangles == 0 or rays.shape[0] == 0:
        return 0
    ans = static.cast_raw(rays)
    if lidar:
        code, nr = static.lidar_code, static.no_lidar_return_tri
    else:
        code, nr = (static.tri_look + np.int32(part_offset)).astype(np.int32), np.zeros(0, np.bool_)
    return _merge(
        ans["t_hit"].numpy(),
        ans["primitive_ids"].numpy(),
        ans["primitive_normals"].numpy(),
        rays,
        float(t_max),
        code,
        nr,
        *hits,
    )


def move_foliage(hits: Hits, rays: np.ndarray, t0_s: float, time_offset: np.ndarray, wind: Wind) -> int:
    """Move the LiDAR hits on foliage (``HIT_STATIC - FOLIAGE``) along their ray by the wind's
    displacement there at each ray's time, ``t0_s`` (scenario s) plus its ``time_offset`` (R,) s
    (:mod:`.wind`); returns how many moved."""
    if wind.calm:
        return 0
    idx = np.flatnonzero(hits.part == HIT_STATIC - int(Material.FOLIAGE))
    if not len(idx):
        return 0
    u = rays[idx, 3:6].astype(np.float64)
    t = t0_s + time_offset[idx].astype(np.float64)
    along = np.einsum("ij,ij->i", wind.displacement(hits.point[idx], t), u)
    hits.dist[idx] += along.astype(hits.dist.dtype)
    hits.point[idx] += along[:, None] * u
    return len(idx)
