"""Road grade and crossfall: the ground of a static world as a height field ``z = h(x, y)``.

Why: with a flat ground one plane fit removes it, and a detector that only works on one plane
passes every test here and fails on a real street (issue 13: "so the ground is not one plane").
Two physical parts, both drawn per world from ``world.static``:

* **Grade**: a few long plane waves ``sum_k A_k sin(k . p + phi_k)`` whose slopes add up to at most
  the world's peak grade (drawn in ``[0.25, 1] x max_grade``). Their wavelengths
  (``grade_wavelength_m``) bound the vertical curvature: a wave of slope ``s`` and wavelength
  ``L`` bends by ``2 pi s / L`` per metre, so 6 % over 250 m is a crest K value of about
  7 m per % of grade change, AASHTO's minimum for 50 km/h; highways use 4 % over 3-6 km
  (K >= 120, 110 km/h).
* **Crossfall**: every carriageway is crowned, ``crossfall`` (2 %: 1.5-2.5 % is the usual range
  for asphalt) falling from the centreline to the paved edge; beyond it the ground keeps the
  edge's level, and raised sidewalks stand on it.

The surface is sampled once on a 1 m grid over the ego's surroundings and read bilinearly (the
crown's ridge is rounded within one cell: at most a centimetre); outside the grid it keeps the
edge value. ``h`` is zero under the ego's start, so ``odom`` starts on the ground.

Rays meet it by sphere-tracing (written here because neither Embree nor Open3D intersects a
height field without triangulating it, and the camera's rasteriser would then draw every ground
triangle): each step advances at most ``omega`` times the largest distance at which the ray cannot
reach the surface given the grid's steepest slope, to the crossing of the local tangent plane
(Newton) where that is nearer; a ray above a block's highest point skips the block, and a step
that ends below the surface is refined by regula falsi. Over-relaxing (``omega`` 3) can only skip
a bump narrower than the step; the grade waves are hundreds of metres long and the crown is a
centimetre, so none is skipped that matters. Most rays (down onto smooth ground) land in one or
two Newton steps from the gap and gradient under their origin, which rays of one sensor share:
the LiDAR's ground costs about 3 ms per sweep, a camera's 5-6 ms per frame (``bench/bench_sim.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numba import njit
from scipy.spatial import cKDTree

from .raycast import HIT_GROUND, HIT_NONE, Hits, alloc_hits, write_hit

CELL_M = 1.0  # grid step: the crown's ridge is rounded within half a cell (<= 1 cm at 2 %)
MARGIN_M = 200.0  # grid beyond the ego's track: past the LiDAR's range; cameras see the edge value
OMEGA = 3.0  # sphere-tracing over-relaxation (module docstring)
TILE = 8  # cells per block of the max-height map (8 m): rays above a block's highest point skip it
TOL_M = 1e-3  # a ray is on the surface within this height (a LiDAR's range noise is ~2 cm)


class Terrain:
    """A height field on a regular grid: ``H[j, i]`` is the height at ``(x0 + i c, y0 + j c)``."""

    def __init__(self, H: np.ndarray, x0: float, y0: float, cell: float, peak_grade: float = 0.0,
                 crossfall: float = 0.0) -> None:  # fmt: skip
        self.H = np.ascontiguousarray(H, np.float64)
        if self.H.ndim != 2 or min(self.H.shape) < 2:
            raise ValueError("Terrain needs a grid of at least 2 x 2 heights")
        self.x0, self.y0, self.cell = float(x0), float(y0), float(cell)
        self.peak_grade, self.crossfall = float(peak_grade), float(crossfall)
        self.h_max = float(self.H.max())
        gx = np.abs(np.diff(self.H, axis=1)).max() / self.cell
        gy = np.abs(np.diff(self.H, axis=0)).max() / self.cell
        self.max_slope = float(np.hypot(gx, gy))  # a Lipschitz bound of the bilinear surface
        # the highest corner of each TILE x TILE block of cells: a ray above it skips the block
        ny, nx = self.H.shape
        rows = [self.H[j : j + TILE + 1].max(axis=0) for j in range(0, ny - 1, TILE)]
        self.tile_max = np.array([[r[i : i + TILE + 1].max() for i in range(0, nx - 1, TILE)] for r in rows])

    def height(self, xy: np.ndarray) -> np.ndarray:
        """(N,) ground height at (N, 2) world points."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return _heights(self.H, self.x0, self.y0, 1.0 / self.cell, xy)

    def gradient(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) ``(dh/dx, dh/dy)`` at (N, 2) world points (zero across the grid's edge)."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return _gradients(self.H, self.x0, self.y0, 1.0 / self.cell, xy)

    def intersect(self, rays: np.ndarray, t_max: np.ndarray | float) -> np.ndarray:
        """(R,) distance along each of (R, 6) rays (origin, unit direction) to the ground, inf where
        it does not meet it before ``t_max``: the sensors' path (:func:`overlay_terrain`) on rays
        that hit nothing else."""
        rays = np.ascontiguousarray(rays, np.float64).reshape(-1, 6)
        hits = alloc_hits(rays.shape[0])
        hits.dist[:] = np.broadcast_to(np.asarray(t_max, np.float64), (rays.shape[0],))
        hits.part[:] = HIT_NONE
        overlay_terrain(self, hits, rays, np.inf)
        return np.where(hits.part == HIT_GROUND, hits.dist.astype(np.float64), np.inf)

    def to_dict(self, step: int = 2) -> dict:
        """What a truth bag records about the ground (in ``/ground_truth/static``'s ``ground``): its
        grade and crossfall, and the surface every ``step`` cells (2 m; that rounds the crown's
        ridge by at most 2 cm), so that scoring can ask its height anywhere (``from_dict``)."""
        H = np.round(self.H[::step, ::step], 3).tolist()
        return {"peak_grade": round(self.peak_grade, 5), "crossfall": round(self.crossfall, 5),
                "max_slope": round(self.max_slope, 5), "x0": self.x0, "y0": self.y0,
                "cell": self.cell * step, "heights": H}  # fmt: skip

    @staticmethod
    def from_dict(d: dict) -> Terrain:
        """The surface of :meth:`to_dict` (at its coarser step)."""
        return Terrain(np.asarray(d["heights"], np.float64), float(d["x0"]), float(d["y0"]), float(d["cell"]))


def draw_terrain(
    sc: Mapping, roads: Sequence, ego_xy: np.ndarray, rng: np.random.Generator, cell: float = CELL_M
) -> Terrain | None:
    """The ground of one world from ``world.static`` (``max_grade``, ``grade_wavelength_m``,
    ``crossfall``) around the ego's track ``ego_xy`` (N, 2); None when both are zero (flat)."""
    max_grade, crossfall = float(sc["max_grade"]), float(sc["crossfall"])
    if max_grade <= 0.0 and crossfall <= 0.0:
        return None
    lo = ego_xy.min(axis=0) - MARGIN_M
    hi = ego_xy.max(axis=0) + MARGIN_M
    nx, ny = (int(np.ceil((hi[k] - lo[k]) / cell)) + 1 for k in range(2))
    X, Y = np.meshgrid(lo[0] + cell * np.arange(nx), lo[1] + cell * np.arange(ny))
    # grade: three plane waves; the world's peak grade split among them (random weights)
    peak = max_grade * rng.uniform(0.25, 1.0)
    wl_lo, wl_hi = (float(v) for v in sc["grade_wavelength_m"])
    w = rng.dirichlet(np.ones(3))
    H = np.zeros_like(X)
    for k in range(3):
        lam = rng.uniform(wl_lo, wl_hi)
        th, ph = rng.uniform(-np.pi, np.pi), rng.uniform(-np.pi, np.pi)
        kn = 2.0 * np.pi / lam
        H += peak * w[k] / kn * np.sin(kn * (np.cos(th) * X + np.sin(th) * Y) + ph)
    # crossfall: each carriageway crowned, falling to its paved edge (max over overlapping roads)
    if crossfall > 0.0:
        P = np.column_stack([X.ravel(), Y.ravel()])
        crown = np.zeros(P.shape[0])
        for r in roads:
            s = np.arange(0.0, r.centre.length + 0.25, 0.25)
            c = r.centre.pose_at(s)[0]
            d, _ = cKDTree(c).query(P, distance_upper_bound=r.half_width + 1.0)
            crown = np.maximum(crown, crossfall * np.maximum(r.half_width - d, 0.0))
        H += crown.reshape(H.shape)
    H -= float(Terrain(H, lo[0], lo[1], cell).height(ego_xy[:1])[0])  # zero under the ego's start
    return Terrain(H, lo[0], lo[1], cell, peak, crossfall)


@njit(cache=True, nogil=True, inline="always")
def _cell(x0, y0, inv, nx, ny, x, y):
    u = (x - x0) * inv
    v = (y - y0) * inv
    u = min(max(u, 0.0), nx - 1.0)
    v = min(max(v, 0.0), ny - 1.0)
    i = min(int(u), nx - 2)
    j = min(int(v), ny - 2)
    return i, j, u - i, v - j


@njit(cache=True, nogil=True, inline="always")
def _h(H, x0, y0, inv, x, y):
    ny, nx = H.shape
    i, j, fu, fv = _cell(x0, y0, inv, nx, ny, x, y)
    a = H[j, i] + (H[j, i + 1] - H[j, i]) * fu
    b = H[j + 1, i] + (H[j + 1, i + 1] - H[j + 1, i]) * fu
    return a + (b - a) * fv


@njit(cache=True, nogil=True)
def _grad(H, x0, y0, inv, x, y):
    ny, nx = H.shape
    i, j, fu, fv = _cell(x0, y0, inv, nx, ny, x, y)
    gx = ((H[j, i + 1] - H[j, i]) * (1.0 - fv) + (H[j + 1, i + 1] - H[j + 1, i]) * fv) * inv
    gy = ((H[j + 1, i] - H[j, i]) * (1.0 - fu) + (H[j + 1, i + 1] - H[j, i + 1]) * fu) * inv
    u = (x - x0) * inv
    v = (y - y0) * inv
    if u < 0.0 or u > nx - 1.0:
        gx = 0.0
    if v < 0.0 or v > ny - 1.0:
        gy = 0.0
    return gx, gy


@njit(cache=True, nogil=True)
def _heights(H, x0, y0, inv, xy):
    out = np.empty(xy.shape[0])
    for k in range(xy.shape[0]):
        out[k] = _h(H, x0, y0, inv, xy[k, 0], xy[k, 1])
    return out


@njit(cache=True, nogil=True)
def _gradients(H, x0, y0, inv, xy):
    out = np.empty((xy.shape[0], 2))
    for k in range(xy.shape[0]):
        out[k, 0], out[k, 1] = _grad(H, x0, y0, inv, xy[k, 0], xy[k, 1])
    return out


@njit(cache=True, nogil=True, inline="always")
def _hg(H, x0, y0, inv, x, y):
    """Height and the along-ray-free gradient (dh/dx, dh/dy) of the bilinear cell at (x, y)."""
    ny, nx = H.shape
    i, j, fu, fv = _cell(x0, y0, inv, nx, ny, x, y)
    h00, h10, h01, h11 = H[j, i], H[j, i + 1], H[j + 1, i], H[j + 1, i + 1]
    a = h00 + (h10 - h00) * fu
    b = h01 + (h11 - h01) * fu
    gx = ((h10 - h00) * (1.0 - fv) + (h11 - h01) * fv) * inv
    gy = (b - a) * inv
    return a + (b - a) * fv, gx, gy


@njit(cache=True, nogil=True, inline="always")
def _ray(H, TM, x0, y0, inv, h_max, slope, ox, oy, oz, dx, dy, dz, t_lim, g0, gx0, gy0):
    """Distance to the surface along one ray (module docstring), inf if not before ``t_lim``.

    ``g0``, ``gx0``, ``gy0``: the origin's height over the surface and the gradient under it when
    the caller knows them (NaN otherwise: rays of one sensor share an origin). Each step is the
    over-relaxed safe step, shortened to the crossing of the surface's local tangent plane (Newton)
    where that is nearer, so a ray over smooth ground lands on it in one or two steps; a step that
    ends below it is refined by regula falsi."""
    rate = slope * np.sqrt(dx * dx + dy * dy) - dz  # fastest the gap to the surface can close
    if rate <= 1e-12:
        return np.inf
    t = 0.0
    if oz > h_max:
        if dz >= 0.0 or oz - h_max >= -dz * t_lim:  # not down to the highest ground before t_lim
            return np.inf
        if g0 != g0:  # no gap known at the origin: start where the ray is down to the highest ground
            t = (oz - h_max) / -dz
    if g0 == g0 and g0 >= rate * t_lim:  # cannot close the gap before t_lim
        return np.inf
    ny, nx = H.shape
    inv_rate = 1.0 / rate
    t_prev, g_prev = t, np.inf
    for it in range(1024):
        px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
        if it == 0 and g0 == g0:  # at the origin: known
            g, gx, gy = g0, gx0, gy0
        else:
            h, gx, gy = _hg(H, x0, y0, inv, px, py)
            g = pz - h
        if g < TOL_M:
            if g > -TOL_M or g_prev == np.inf:
                return t if t < t_lim else np.inf
            # crossed within the last step: regula falsi (Illinois) between t_prev (above) and t
            a, ga, b, gb = t_prev, g_prev, t, g
            m = b
            side = 0
            for _ in range(40):
                m = (a * gb - b * ga) / (gb - ga)
                gm = oz + m * dz - _h(H, x0, y0, inv, ox + m * dx, oy + m * dy)
                if abs(gm) < TOL_M or b - a < TOL_M:
                    break
                if gm > 0.0:
                    a, ga = m, gm
                    if side == 1:
                        gb *= 0.5
                    side = 1
                else:
                    b, gb = m, gm
                    if side == -1:
                        ga *= 0.5
                    side = -1
            return m if m < t_lim else np.inf
        if t >= t_lim or (pz > h_max and dz >= 0.0):
            return np.inf  # above the surface at the limit, or rising above its highest point
        t_prev, g_prev = t, g
        safe = g * inv_rate
        step = OMEGA * safe
        close = gx * dx + gy * dy - dz  # how fast the gap closes on the local tangent plane
        if close > 0.0:  # to the tangent plane's crossing (Newton): on smooth ground the next
            step = min(step, max(safe, g / close + 0.5 * TOL_M))  # sample is within TOL_M
        elif pz > h_max:  # not closing on the local tangent plane: at least down to the highest ground
            step = max(step, (pz - h_max) / -dz)
        u, v = (px - x0) * inv, (py - y0) * inv
        # not closing on the local tangent plane and above the block's highest point: skip the block
        if close <= 0.0 and 0.0 <= u < nx - 1.0 and 0.0 <= v < ny - 1.0:
            bi, bj = int(u) // TILE, int(v) // TILE
            top = TM[bj, bi]
            span = TILE / inv  # a block's side, m
            if pz > top:
                tx = ty = np.inf
                if dx > 0.0:
                    tx = (x0 + (bi + 1) * span - px) / dx
                elif dx < 0.0:
                    tx = (x0 + bi * span - px) / dx
                if dy > 0.0:
                    ty = (y0 + (bj + 1) * span - py) / dy
                elif dy < 0.0:
                    ty = (y0 + bj * span - py) / dy
                t_exit = min(tx, ty)
                if pz + t_exit * dz > top and t_exit + 1e-6 > step:
                    step = t_exit + 1e-6
        t = min(t + max(step, TOL_M), t_lim)  # a step ends at the limit at most
    return np.inf


@njit(cache=True, nogil=True, inline="always")
def _first_try(H, x0, y0, inv, slope, ox, oy, oz, dx, dy, dz, t_lim, g0, gx0, gy0):
    """``_ray``'s Newton steps alone, for the common ray (down onto smooth ground): from the tangent
    plane under the origin, at most three steps, the first within the over-relaxed safe step, each
    landing on the local tangent plane's crossing; the distance once the surface is within
    ``TOL_M``, -1 when the ray needs the full march."""
    close = gx0 * dx + gy0 * dy - dz
    if not (g0 > 0.0 and close > 0.0):
        return -1.0
    t = g0 / close + 0.5 * TOL_M
    rate = slope * np.sqrt(dx * dx + dy * dy) - dz
    if t * rate > OMEGA * g0:  # past the over-relaxed safe step: the full march decides
        return -1.0
    for _ in range(3):
        if t >= t_lim:
            return -1.0
        h, gx, gy = _hg(H, x0, y0, inv, ox + t * dx, oy + t * dy)
        g = oz + t * dz - h
        if abs(g) < TOL_M:
            return t
        close = gx * dx + gy * dy - dz
        if close <= 0.0 or abs(g) > 0.05 * g0:  # not converging on a smooth surface
            return -1.0
        t += g / close
    return -1.0


@njit(cache=True, nogil=True)
def _overlay(H, TM, x0, y0, inv, h_max, slope, rays, t_max, dist, part, normal, point, cos_inc):
    n = 0
    lx = ly = lz = np.nan
    g0 = gx0 = gy0 = np.nan
    for i in range(rays.shape[0]):
        ox, oy, oz = np.float64(rays[i, 0]), np.float64(rays[i, 1]), np.float64(rays[i, 2])
        dx, dy, dz = np.float64(rays[i, 3]), np.float64(rays[i, 4]), np.float64(rays[i, 5])
        if ox != lx or oy != ly or oz != lz:  # a new origin (a LiDAR block, a camera): its gap once
            lx, ly, lz = ox, oy, oz
            h0, gx0, gy0 = _hg(H, x0, y0, inv, ox, oy)
            g0 = oz - h0
        # the per-ray step, written out in both loops: as one shared helper (inlined or called)
        # numba compiled these loops two to three times slower (bench_sim, session 32)
        if dz >= 0.0 and (oz > h_max or slope * np.sqrt(dx * dx + dy * dy) <= dz):
            continue  # rising above the highest ground, or faster than any slope: never meets it
        lim = min(np.float64(dist[i]), t_max)
        t = _first_try(H, x0, y0, inv, slope, ox, oy, oz, dx, dy, dz, lim, g0, gx0, gy0)
        if t < 0.0:
            t = _ray(H, TM, x0, y0, inv, h_max, slope, ox, oy, oz, dx, dy, dz, lim, g0, gx0, gy0)
        if t < lim:
            n += 1
            _write_ground(H, x0, y0, inv, i, t, ox, oy, oz, dx, dy, dz, dist, part, normal, point, cos_inc)
    return n


@njit(cache=True, nogil=True)
def _overlay_dirs(H, TM, x0, y0, inv, h_max, slope, dirs, R, o, t_max, dist, part, normal, point, cos_inc):
    """``_overlay`` for rays from one origin ``o`` with directions ``R @ dirs[i]`` (a camera: no
    packed (R, 6) world rays to write and read back)."""
    n = 0
    ox, oy, oz = o[0], o[1], o[2]
    h0, gx0, gy0 = _hg(H, x0, y0, inv, ox, oy)
    g0 = oz - h0
    for i in range(dirs.shape[0]):
        sx, sy, sz = np.float64(dirs[i, 0]), np.float64(dirs[i, 1]), np.float64(dirs[i, 2])
        dx = R[0, 0] * sx + R[0, 1] * sy + R[0, 2] * sz
        dy = R[1, 0] * sx + R[1, 1] * sy + R[1, 2] * sz
        dz = R[2, 0] * sx + R[2, 1] * sy + R[2, 2] * sz
        # the per-ray step, written out in both loops: as one shared helper (inlined or called)
        # numba compiled these loops two to three times slower (bench_sim, session 32)
        if dz >= 0.0 and (oz > h_max or slope * np.sqrt(dx * dx + dy * dy) <= dz):
            continue  # rising above the highest ground, or faster than any slope: never meets it
        lim = min(np.float64(dist[i]), t_max)
        t = _first_try(H, x0, y0, inv, slope, ox, oy, oz, dx, dy, dz, lim, g0, gx0, gy0)
        if t < 0.0:
            t = _ray(H, TM, x0, y0, inv, h_max, slope, ox, oy, oz, dx, dy, dz, lim, g0, gx0, gy0)
        if t < lim:
            n += 1
            _write_ground(H, x0, y0, inv, i, t, ox, oy, oz, dx, dy, dz, dist, part, normal, point, cos_inc)
    return n


@njit(cache=True, nogil=True, inline="always")
def _write_ground(H, x0, y0, inv, i, t, ox, oy, oz, dx, dy, dz, dist, part, normal, point, cos_inc):
    """A ground hit of ray ``i`` at ``t``, with the surface's normal there."""
    _hh, gx, gy = _hg(H, x0, y0, inv, ox + t * dx, oy + t * dy)
    s = 1.0 / np.sqrt(1.0 + gx * gx + gy * gy)
    nx, ny, nz = -gx * s, -gy * s, s
    c = nx * dx + ny * dy + nz * dz
    write_hit(i, t, HIT_GROUND, nx, ny, nz, c, ox, oy, oz, dx, dy, dz, dist, part, normal, point, cos_inc)


def overlay_terrain_camera(
    terrain: Terrain, hits: Hits, dirs: np.ndarray, T_wc: np.ndarray, t_max: float
) -> int:
    """:func:`overlay_terrain` for a camera at world pose ``T_wc`` whose rays are ``dirs`` (R, 3)
    in its optical frame, in ``hits``' slot order."""
    tr = terrain
    R = np.ascontiguousarray(T_wc[:3, :3], np.float64)
    o = np.ascontiguousarray(T_wc[:3, 3], np.float64)
    return _overlay_dirs(
        tr.H,
        tr.tile_max,
        tr.x0,
        tr.y0,
        1.0 / tr.cell,
        tr.h_max,
        tr.max_slope,
        dirs,
        R,
        o,
        float(t_max),
        *hits,
    )


def overlay_terrain(terrain: Terrain, hits: Hits, rays: np.ndarray, t_max: float) -> int:
    """Where ``rays`` (R, 6) (world origin, unit direction; ``hits``' slot order) meet the ground
    before their current hit, write a ground hit (``HIT_GROUND``) into ``hits``; returns how many.

    The box caster must have run with ``ground=False``: this replaces its plane ``z = 0``."""
    tr = terrain
    return _overlay(
        tr.H, tr.tile_max, tr.x0, tr.y0, 1.0 / tr.cell, tr.h_max, tr.max_slope, rays, float(t_max), *hits
    )


def drape(
    vertices: np.ndarray,
    triangles: np.ndarray,
    terrain: Terrain,
    rigid_lift: np.ndarray | None = None,
    max_edge_m: float = 8.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stand a mesh built on ``z = 0`` on the terrain.

    Vertices with a finite ``rigid_lift`` (V,) rise by it: a building or pole keeps its shape and
    stands on the lowest ground under it (its uphill side sits in the ground, as real foundations
    do, and nothing floats). The others follow the ground: triangles made only of them are split
    until no edge spans more than ``max_edge_m`` horizontally, then each vertex rises by the ground
    height under it (a vertical shear: verticals stay vertical), so sidewalks, fences, hedges and
    rails bend with the road. A chord of length L departs from a curved ground by at most
    ``kappa L^2 / 8``: 12 mm at 8 m on the steepest vertical curve drawn (the scenery stands beside
    the carriageway, off the crown's kinks).

    Returns (vertices (V', 3) float64, triangles (T', 3) int64, source (T',) the input triangle
    of each output triangle, to carry per-triangle attributes, and lift (V',) how far each vertex
    rose: its rigid lift, or the ground's height under it).
    """
    V = np.asarray(vertices, np.float64).reshape(-1, 3)
    f = np.asarray(triangles, np.int64).reshape(-1, 3)
    lift = np.full(V.shape[0], np.nan) if rigid_lift is None else np.asarray(rigid_lift, np.float64).copy()
    src = np.arange(f.shape[0], dtype=np.int64)
    bend = np.isnan(lift[f]).all(axis=1)
    for _ in range(32):
        e = np.stack([V[f[:, 1]] - V[f[:, 0]], V[f[:, 2]] - V[f[:, 1]], V[f[:, 0]] - V[f[:, 2]]], 1)
        L = np.hypot(e[..., 0], e[..., 1])  # (T, 3) horizontal length of edge k (vertex k -> k+1)
        k = L.argmax(axis=1)
        long = bend & (L[np.arange(f.shape[0]), k] > max_edge_m)
        if not long.any():
            break
        idx = np.flatnonzero(long)
        kk = k[idx]
        a = f[idx, kk]
        b = f[idx, (kk + 1) % 3]
        c = f[idx, (kk + 2) % 3]
        m = V.shape[0] + np.arange(idx.shape[0])
        V = np.vstack([V, 0.5 * (V[a] + V[b])])
        lift = np.concatenate([lift, np.full(idx.shape[0], np.nan)])
        keep = ~long
        f = np.vstack([f[keep], np.column_stack([a, m, c]), np.column_stack([m, b, c])])
        src = np.concatenate([src[keep], src[idx], src[idx]])
        bend = np.concatenate([bend[keep], np.ones(2 * idx.shape[0], bool)])
    V = V.copy()
    free = np.isnan(lift)
    lift[free] = terrain.height(V[free, :2])
    V[:, 2] += lift
    return V, f, src, lift
