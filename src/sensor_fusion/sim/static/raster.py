"""The camera's view of the static mesh by z-buffer rasterisation (numba), not by ray casting.

Why not Open3D's Embree here (it stays for the LiDAR and radar): a camera's rays all leave one
point and sweep a regular grid, which is the case rasterisation is made for. Measured on the
``urban`` static world (36.5k triangles, 640x384, ``bench/bench_sim.py``): Embree casts a frame in
about 27 ms of CPU (15 ms on two cores, holding the GIL throughout), the z-buffer below in about
8 ms on one core, releasing the GIL, so camera frames render beside the LiDAR.

How: the pixels' rays (through the distorted model) are points ``(x/z, y/z)`` on the undistorted
image plane. Triangles (clipped to ``z >= NEAR_M``) are scan-converted on a regular grid there,
no coarser than the densest pixels, keeping the nearest triangle per cell. Each pixel's ray is
then intersected exactly (Moller-Trumbore) with the triangles of the four cells around it and the
nearest hit kept, so a pixel shows what its own ray hits. Where none of them holds the ray (at a
silhouette, or behind a nearer surface that took the cells) the ray goes to Embree (about 1 % of
them); only a sliver thinner than a cell that no surrounding cell kept can differ from a ray cast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..raycast import Hits, write_hit
from .overlay import overlay_static

NEAR_M = 0.02  # triangles are clipped to this depth in front of the camera
MAX_CELLS_PER_RAY = 4.0  # a grid larger than this (strong distortion) falls back to ray casting
MIN_COS_AXIS = 0.1  # rays beyond ~84 deg off the optical axis (fisheye) fall back to ray casting


@dataclass(frozen=True)
class RasterGrid:
    """The undistorted-plane grid one camera model's pixels are looked up in."""

    u0: float  # x/z of cell column 0
    v0: float  # y/z of cell row 0
    h: float  # cell size (x/z, y/z units)
    nu: int
    nv: int
    cell: np.ndarray  # (R,) int64 grid cell at or before each ray (floor; the rays' own order)


@dataclass(frozen=True)
class RasterMesh:
    """The static mesh as the rasteriser reads it (built once per world)."""

    vertices: np.ndarray  # (N, 3) float64
    triangles: np.ndarray  # (T, 3) int64
    normals: np.ndarray  # (T, 3) float64 unit (0 for a degenerate triangle: never drawn)
    tri: np.ndarray  # (T, 10) float64 per triangle: v0, e1 = v1 - v0, e2 = v2 - v0, n . v0
    face: np.ndarray  # (T,) int64: triangles with one plane and one look share a face id


def raster_mesh(vertices: np.ndarray, triangles: np.ndarray, look: np.ndarray) -> RasterMesh:
    """:class:`RasterMesh` of a triangle mesh whose triangles have camera looks ``look`` (T,)."""
    V = np.ascontiguousarray(vertices, np.float64)
    T = np.ascontiguousarray(triangles, np.int64)
    e1, e2 = V[T[:, 1]] - V[T[:, 0]], V[T[:, 2]] - V[T[:, 0]]
    N = np.cross(e1, e2)
    norm = np.linalg.norm(N, axis=1, keepdims=True)
    N = np.divide(N, norm, out=np.zeros_like(N), where=norm > 0.0)
    d = np.einsum("ij,ij->i", N, V[T[:, 0]])
    tri = np.ascontiguousarray(np.column_stack([V[T[:, 0]], e1, e2, d]))
    key = np.column_stack([np.round(N, 6), np.round(d, 4), np.asarray(look, np.float64).reshape(-1)])
    face = np.unique(key, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return RasterMesh(V, T, N, tri, face)


def raster_grid(dirs: np.ndarray, width: int, height: int, row_major: np.ndarray) -> RasterGrid | None:
    """The grid for a camera's unit rays ``dirs`` (R, 3) (optical frame; any order), or None.

    ``row_major`` (H*W, 3) are the same rays in pixel order, used for the pixel spacing. None where
    rasterising does not apply: a ray near or past 90 deg off the axis, or a grid over
    ``MAX_CELLS_PER_RAY`` cells per ray.
    """
    d = np.asarray(dirs, np.float64)
    if d.shape[0] == 0 or float(np.min(d[:, 2])) < MIN_COS_AXIS:
        return None
    g = np.asarray(row_major, np.float64).reshape(height, width, 3)
    ug, vg = g[..., 0] / g[..., 2], g[..., 1] / g[..., 2]
    spans = [np.abs(np.diff(ug, axis=1)).min() if width > 1 else np.inf]
    spans.append(np.abs(np.diff(vg, axis=0)).min() if height > 1 else np.inf)
    h = float(min(spans))
    if not np.isfinite(h) or h <= 0.0:
        return None
    u, v = d[:, 0] / d[:, 2], d[:, 1] / d[:, 2]
    u0, v0 = float(u.min()), float(v.min())
    nu = int(np.ceil((float(u.max()) - u0) / h)) + 2  # + 2: the cell after the last ray's too
    nv = int(np.ceil((float(v.max()) - v0) / h)) + 2
    if nu * nv > MAX_CELLS_PER_RAY * d.shape[0]:
        return None
    fu, fv = (u - u0) / h, (v - v0) / h
    iu, iv = np.floor(fu).astype(np.int64), np.floor(fv).astype(np.int64)
    cell = iv * nu + iu
    return RasterGrid(u0, v0, h, nu, nv, cell)


@njit(cache=True, nogil=True)
def _scan_polygon(px, py, pz, m, n_c, c, nu, nv, u0, v0, h, zinv, ids, tid, sc) -> None:
    """Fill the grid cells inside the projected convex polygon (m <= 4 vertices, z >= NEAR_M);
    ``sc`` (7, 4) scratch (numba's small allocations would cost more than the fill)."""
    if c == 0.0:
        return  # the plane passes through the camera: seen edge-on
    inv_c = 1.0 / c
    us, vs, ya, yb, xa, xb = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]
    for k in range(m):
        us[k] = (px[k] / pz[k] - u0) / h
        vs[k] = (py[k] / pz[k] - v0) / h
    xmin = min(us[0], us[1], us[2]) if m == 3 else min(us[0], us[1], us[2], us[3])
    xmax = max(us[0], us[1], us[2]) if m == 3 else max(us[0], us[1], us[2], us[3])
    if xmax < 0.0 or xmin > nu - 1.0:
        return  # left or right of the image
    ymin = min(vs[0], vs[1], vs[2]) if m == 3 else min(vs[0], vs[1], vs[2], vs[3])
    ymax = max(vs[0], vs[1], vs[2]) if m == 3 else max(vs[0], vs[1], vs[2], vs[3])
    j0 = max(int(np.ceil(ymin)), 0)
    j1 = min(int(np.floor(ymax)), nv - 1)
    slope = sc[6]  # per edge: lower and upper y (ya, yb), x at both (xa, xb), dx/dy
    for e in range(m):
        x1, y1 = us[e], vs[e]
        e2 = e + 1 if e + 1 < m else 0
        x2, y2 = us[e2], vs[e2]
        if y2 < y1:
            x1, y1, x2, y2 = x2, y2, x1, y1
        ya[e], yb[e], xa[e], xb[e] = y1, y2, x1, x2
        slope[e] = (x2 - x1) / (y2 - y1) if y2 > y1 else 0.0
    for j in range(j0, j1 + 1):
        y = float(j)
        xl = np.inf
        xr = -np.inf
        for e in range(m):  # the row meets the convex polygon's boundary in one span
            if ya[e] <= y <= yb[e]:
                if ya[e] == yb[e]:  # a horizontal edge on this row: both its ends
                    xl = min(xl, xa[e], xb[e])
                    xr = max(xr, xa[e], xb[e])
                else:
                    x = xa[e] + (y - ya[e]) * slope[e]
                    xl = min(xl, x)
                    xr = max(xr, x)
        if not xl <= xr:
            continue
        i0 = max(int(np.ceil(max(xl, -1.0))), 0)
        i1 = min(int(np.floor(min(xr, float(nu)))), nu - 1)
        # inverse depth 1/z = n.(u, v, 1) / c is linear across the row: no division per cell
        inv = (n_c[0] * (u0 + float(i0) * h) + n_c[1] * (v0 + y * h) + n_c[2]) * inv_c
        step = n_c[0] * h * inv_c
        k = j * nu + i0
        for _ in range(i0, i1 + 1):
            if inv > zinv[k]:  # nearer (zinv starts at 0: nothing, and 1/z > 0 in front)
                zinv[k] = inv
                ids[k] = tid
            inv += step
            k += 1


@njit(cache=True, nogil=True)
def _raster(V, tris, Nw, R_wc, o_wc, z_max, nu, nv, u0, v0, h):
    """Nearest triangle (-1: none) per grid cell of the camera at (R_wc, o_wc), by inverse depth."""
    nvert = V.shape[0]
    Vc = np.empty((nvert, 3))
    for i in range(nvert):  # world -> optical frame: R^T (p - o)
        dx, dy, dz = V[i, 0] - o_wc[0], V[i, 1] - o_wc[1], V[i, 2] - o_wc[2]
        for a in range(3):
            Vc[i, a] = R_wc[0, a] * dx + R_wc[1, a] * dy + R_wc[2, a] * dz
    zinv = np.zeros(nu * nv)
    ids = np.full(nu * nv, -1, np.int64)
    px = np.empty(4)
    py = np.empty(4)
    pz = np.empty(4)
    n_c = np.empty(3)
    sc = np.empty((7, 4))
    for t in range(tris.shape[0]):
        a, b, cc = tris[t, 0], tris[t, 1], tris[t, 2]
        za, zb, zc = Vc[a, 2], Vc[b, 2], Vc[cc, 2]
        if (za < NEAR_M and zb < NEAR_M and zc < NEAR_M) or (za > z_max and zb > z_max and zc > z_max):
            continue  # behind the camera, or every point of it beyond range (ray distance >= z)
        for k in range(3):
            n_c[k] = R_wc[0, k] * Nw[t, 0] + R_wc[1, k] * Nw[t, 1] + R_wc[2, k] * Nw[t, 2]
        c = n_c[0] * Vc[a, 0] + n_c[1] * Vc[a, 1] + n_c[2] * Vc[a, 2]
        m = 0  # clip to z >= NEAR_M (Sutherland-Hodgman, one plane): 3 or 4 vertices
        for k in range(3):
            p = a if k == 0 else (b if k == 1 else cc)
            q = b if k == 0 else (cc if k == 1 else a)
            zp, zq = Vc[p, 2], Vc[q, 2]
            if zp >= NEAR_M:
                px[m], py[m], pz[m] = Vc[p, 0], Vc[p, 1], zp
                m += 1
            if (zp >= NEAR_M) != (zq >= NEAR_M):
                s = (NEAR_M - zp) / (zq - zp)
                px[m] = Vc[p, 0] + s * (Vc[q, 0] - Vc[p, 0])
                py[m] = Vc[p, 1] + s * (Vc[q, 1] - Vc[p, 1])
                pz[m] = NEAR_M
                m += 1
        if m >= 3:
            _scan_polygon(px, py, pz, m, n_c, c, nu, nv, u0, v0, h, zinv, ids, t, sc)
    return ids


@njit(cache=True, nogil=True)
def _ray_triangle(ox, oy, oz, dx, dy, dz, tri, t) -> float:
    """Distance along the ray to triangle ``t`` (Moller-Trumbore, edges inclusive); inf on a miss."""
    e1x, e1y, e1z = tri[t, 3], tri[t, 4], tri[t, 5]
    e2x, e2y, e2z = tri[t, 6], tri[t, 7], tri[t, 8]
    px, py, pz = dy * e2z - dz * e2y, dz * e2x - dx * e2z, dx * e2y - dy * e2x
    det = e1x * px + e1y * py + e1z * pz
    if det == 0.0:
        return np.inf
    inv = 1.0 / det
    sx, sy, sz = ox - tri[t, 0], oy - tri[t, 1], oz - tri[t, 2]
    bu = (sx * px + sy * py + sz * pz) * inv
    if bu < -1e-9 or bu > 1.0 + 1e-9:
        return np.inf
    qx, qy, qz = sy * e1z - sz * e1y, sz * e1x - sx * e1z, sx * e1y - sy * e1x
    bv = (dx * qx + dy * qy + dz * qz) * inv
    if bv < -1e-9 or bu + bv > 1.0 + 1e-9:
        return np.inf
    tt = (e2x * qx + e2y * qy + e2z * qz) * inv
    return tt if tt > 0.0 else np.inf


@njit(cache=True, nogil=True)
def _nearest_of_four(ox, oy, oz, wx, wy, wz, tri, k0, k1, k2, k3) -> tuple[float, int]:
    """(distance, triangle) of the nearest of the (up to four, -1 = none) triangles the ray hits."""
    best = np.inf
    tid = -1
    for q in range(4):
        k = k0 if q == 0 else (k1 if q == 1 else (k2 if q == 2 else k3))
        if k < 0 or (q >= 1 and k == k0) or (q >= 2 and k == k1) or (q == 3 and k == k2):
            continue
        tt = _ray_triangle(ox, oy, oz, wx, wy, wz, tri, k)
        if tt < best:
            best = tt
            tid = k
    return best, tid


@njit(cache=True, nogil=True)
def _merge_raster(
    ids, nu, cell, dirs, tri, Nw, face, R_wc, o_wc, t_max, code,
    dist, part, normal, point, cos_inc,
    undecided,
) -> tuple[int, int]:  # fmt: skip
    """Each ray's nearest hit among its four cells' triangles; nearer than ``dist`` -> rewrite.

    Returns (rays rewritten, rays left undecided: their indices fill ``undecided`` from 0).
    """
    ox, oy, oz = o_wc[0], o_wc[1], o_wc[2]
    n = 0
    n_und = 0
    for i in range(dirs.shape[0]):
        c0 = cell[i]
        k0, k1, k2, k3 = ids[c0], ids[c0 + 1], ids[c0 + nu], ids[c0 + nu + 1]
        if k0 < 0 and k1 < 0 and k2 < 0 and k3 < 0:
            continue
        dx, dy, dz = dirs[i, 0], dirs[i, 1], dirs[i, 2]
        wx = R_wc[0, 0] * dx + R_wc[0, 1] * dy + R_wc[0, 2] * dz
        wy = R_wc[1, 0] * dx + R_wc[1, 1] * dy + R_wc[1, 2] * dz
        wz = R_wc[2, 0] * dx + R_wc[2, 1] * dy + R_wc[2, 2] * dz
        f0 = face[k0] if k0 >= 0 else -1
        if (
            f0 >= 0
            and (k1 >= 0 and face[k1] == f0)
            and (k2 >= 0 and face[k2] == f0)
            and (k3 >= 0 and face[k3] == f0)
        ):
            # the four cells show one face (a triangle, or coplanar ones of one look): the pixel
            # lies in their square, so on that face too; its plane gives the distance
            tid = k0
            den = Nw[tid, 0] * wx + Nw[tid, 1] * wy + Nw[tid, 2] * wz
            if den == 0.0:
                continue
            best = (tri[tid, 9] - Nw[tid, 0] * ox - Nw[tid, 1] * oy - Nw[tid, 2] * oz) / den
            if not best > 0.0:
                continue
        else:
            best, tid = _nearest_of_four(ox, oy, oz, wx, wy, wz, tri, k0, k1, k2, k3)
            if tid < 0:  # no candidate holds the ray: a silhouette, or hidden cells; Embree decides
                undecided[n_und] = i
                n_und += 1
                continue
        t = np.float32(best)
        if not (t > 0.0 and t <= t_max and t < dist[i]):
            continue
        n += 1
        nx, ny, nz = Nw[tid, 0], Nw[tid, 1], Nw[tid, 2]
        cs = nx * wx + ny * wy + nz * wz
        write_hit(i, t, code[tid], nx, ny, nz, cs, ox, oy, oz, wx, wy, wz, dist, part, normal, point, cos_inc)
    return n, n_und


def overlay_static_raster(
    static, grid: RasterGrid, dirs: np.ndarray, T_wc: np.ndarray, t_max: float, hits, part_offset: int
) -> int:
    """Where the static mesh is nearer than ``hits`` (the camera's rays ``dirs``, optical frame, in
    ``grid.cell``'s order), rewrite them as :func:`overlay.overlay_static` does for the camera;
    returns how many rays that was."""
    if static.n_triangles == 0 or dirs.shape[0] == 0:
        return 0
    rm = static.raster_mesh()
    R_wc = np.ascontiguousarray(T_wc[:3, :3], np.float64)
    o_wc = np.ascontiguousarray(T_wc[:3, 3], np.float64)
    g = grid
    ids = _raster(
        rm.vertices, rm.triangles, rm.normals, R_wc, o_wc, float(t_max), g.nu, g.nv, g.u0, g.v0, g.h
    )
    code = (static.tri_look + np.int32(part_offset)).astype(np.int32)
    undecided = np.empty(dirs.shape[0], np.int64)
    n, n_und = _merge_raster(
        ids, g.nu, g.cell, dirs, rm.tri, rm.normals, rm.face, R_wc, o_wc, t_max, code, *hits, undecided
    )
    if n_und:
        idx = undecided[:n_und]
        rays = np.empty((n_und, 6), np.float32)
        rays[:, :3] = o_wc
        rays[:, 3:] = dirs[idx].astype(np.float64) @ R_wc.T
        sub = Hits(*(np.ascontiguousarray(f[idx]) for f in hits))
        n += overlay_static(static, sub, rays, t_max, lidar=False, part_offset=part_offset)
        for field, part_field in zip(hits, sub, strict=True):
            field[idx] = part_field
    return n
