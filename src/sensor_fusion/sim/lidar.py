"""Rotating multi-beam LiDAR with real motion distortion.

Scan model
----------
* The head spins counter-clockwise (positive yaw about the LiDAR z axis) once per
  ``1 / rate_hz`` seconds, starting at azimuth -pi (pointing backwards, so the
  seam is behind the vehicle). Column ``j`` of ``n_az = round(360 / azimuth_resolution_deg)``
  fires all beams at ``time_offset = j / (n_az * rate_hz)`` seconds after the sweep start.
* The header stamp of the sweep is its start ``t_start_ns``; ``time_offset`` (float32 s)
  is relative to it and lies in ``[0, 1 / rate_hz)``.
* ``xyz`` is each point in the LiDAR frame *at that point's own time* (what a real
  sensor reports), so ego motion and actor motion both distort the sweep. Deskewing
  is the consumer's job.
* Ego pose: the world is queried at ``sectors + 1`` knots spanning the sweep and
  interpolated (linearly) to the mid time of each azimuth block (~1 deg of columns,
  0.28 ms at 10 Hz: <= 1.4 mm at 10 m/s). Actors are queried once per sector
  (``sectors``, default 32 per sweep) at the sector's mid time: at 10 m/s relative
  speed and 10 Hz that shifts actor points by at most ~1.6 cm. Actors may appear or
  vanish between sectors.
* The ego body is not modelled: nothing occludes low beams near the vehicle;
  ``min_range_m`` drops returns closer than that.
* Rings: beam ``0`` is the lowest elevation; elevations are uniform in ``vfov_deg`` or come
  from a beam table (``model``, see ``lidar_models``).
* Intensity (float32, 0..255 as Velodyne drivers publish) = material reflectivity
  (lane marking bright, asphalt dark, off-road medium-dark, vehicles medium) times an
  incidence factor, plus Gaussian noise. A named ``model`` adds a real receiver's dropout by
  reflectivity, incidence and range and Lambertian intensity (``lidar_models``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numba import njit

from ..core.stamps import NS_PER_S
from .lidar_models import physical_returns, resolve_model
from .raycast import HIT_GROUND, HIT_NONE, Hits, alloc_hits, cast_rays, cone_bounds
from .shapes import actor_parts, gait, part_layout, place_parts
from .state import ActorStates, WorldView, scenario_seconds
from .static.materials import REFLECTIVITY
from .static.overlay import HIT_STATIC, move_foliage, overlay_static, pack_group_rays
from .terrain import overlay_terrain

# Reflectivity [0, 1] of ground classes: 0 off-road, 1 asphalt, 2 lane marking.
GROUND_REFLECTIVITY = np.array([0.22, 0.08, 0.9], dtype=np.float32)  # markings are retro-reflective
INTENSITY_NOISE_STD = 0.02  # reflectivity units
BEAM_CHUNK = 16  # beams per ray group (vertical extent of a culling cone)
BLOCK_DEG = 1.0  # azimuth extent of a ray group (and of one ego pose)
_LOCK = threading.Lock()  # guards ScanPattern.scratch


@dataclass(frozen=True)
class LidarConfig:
    """Validated sweep parameters (hashable: the scan pattern is cached per config)."""

    beams: int = 64
    vfov_deg: tuple[float, float] = (-25.0, 15.0)  # lowest, highest beam elevation
    rate_hz: float = 10.0  # sweeps per second
    azimuth_resolution_deg: float = 0.2
    max_range_m: float = 120.0
    min_range_m: float = 0.5
    range_noise_std_m: float = 0.02
    dropout_prob: float = 0.0  # probability that a return is lost
    sectors: int = 32  # actor queries per sweep (motion sampling of other traffic)
    model: str = "ideal"  # "ideal" or a beam table of lidar_models.LIDAR_MODELS
    elevations_deg: tuple[float, ...] = ()  # explicit beam table, ascending (empty: uniform in vfov)
    range_at_10pct_m: float = 0.0  # reflectivity/incidence dropout and Lambertian intensity (0: ideal)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> LidarConfig:
        """Validate ``cfg`` (defaults for missing keys; a named ``model`` applies its table)."""
        known = set(cls.__dataclass_fields__)
        try:
            cfg = resolve_model(cfg)
        except ValueError as e:
            raise ValueError(f"{e} (got {cfg})") from e
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"lidar cfg: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        d = cls()
        try:
            vfov = tuple(float(v) for v in cfg.get("vfov_deg", d.vfov_deg))
            c = cls(
                beams=int(cfg.get("beams", d.beams)),
                vfov_deg=vfov,  # type: ignore[arg-type]
                rate_hz=float(cfg.get("rate_hz", d.rate_hz)),
                azimuth_resolution_deg=float(cfg.get("azimuth_resolution_deg", d.azimuth_resolution_deg)),
                max_range_m=float(cfg.get("max_range_m", d.max_range_m)),
                min_range_m=float(cfg.get("min_range_m", d.min_range_m)),
                range_noise_std_m=float(cfg.get("range_noise_std_m", d.range_noise_std_m)),
                dropout_prob=float(cfg.get("dropout_prob", d.dropout_prob)),
                sectors=int(cfg.get("sectors", d.sectors)),
                model=str(cfg.get("model", d.model)),
                elevations_deg=tuple(float(v) for v in cfg.get("elevations_deg", d.elevations_deg)),
                range_at_10pct_m=float(cfg.get("range_at_10pct_m", d.range_at_10pct_m)),
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"lidar cfg: bad value ({e})") from e
        checks = [
            (1 <= c.beams <= 256, "beams must be in [1, 256]"),
            (
                len(vfov) == 2 and -90.0 <= vfov[0] < vfov[1] <= 90.0,
                "vfov_deg must be [lo, hi], -90 <= lo < hi <= 90",
            ),
            (0.0 < c.rate_hz <= 100.0, "rate_hz must be in (0, 100]"),
            (0.01 <= c.azimuth_resolution_deg <= 10.0, "azimuth_resolution_deg must be in [0.01, 10]"),
            (0.0 <= c.min_range_m < c.max_range_m, "need 0 <= min_range_m < max_range_m"),
            (c.range_noise_std_m >= 0.0, "range_noise_std_m must be >= 0"),
            (0.0 <= c.dropout_prob < 1.0, "dropout_prob must be in [0, 1)"),
            (1 <= c.sectors <= 3600, "sectors must be in [1, 3600]"),
            (
                not c.elevations_deg
                or (len(c.elevations_deg) == c.beams and list(c.elevations_deg) == sorted(c.elevations_deg)),
                "elevations_deg must list one ascending elevation per beam",
            ),
            (c.range_at_10pct_m >= 0.0, "range_at_10pct_m must be >= 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"lidar cfg: {msg} (got {cfg})")
        return c


@dataclass(frozen=True)
class ScanPattern:
    """Fixed per configuration: ray directions, grouping and timing (cached)."""

    n_az: int
    dirs: np.ndarray  # (R, 3) float32 LiDAR-frame unit rays, canonical order (column-major, ring-minor)
    ring: np.ndarray  # (R,) uint16
    time_offset: np.ndarray  # (R,) float32 s
    perm_dirs: np.ndarray  # (R, 3) float32 rays in group order
    ray_ids: np.ndarray  # (R,) int64 canonical slot of each grouped ray
    group_start: np.ndarray  # (G + 1,)
    group_axis: np.ndarray  # (G, 3)
    group_cos: np.ndarray  # (G,)
    group_block: np.ndarray  # (G,) azimuth block of each group
    block_time: np.ndarray  # (B,) s, mid time of each block
    block_sector: np.ndarray  # (B,) sector of each block
    sector_time: np.ndarray  # (S,) s, mid time of each sector
    elevation: np.ndarray  # (beams,) rad
    scratch: Hits  # reused cast outputs (guarded by _LOCK)
    draw_u: np.ndarray  # (R,) float32 reused buffer for random draws
    draw_n: np.ndarray  # (R,) float32 reused buffer for random draws


@lru_cache(maxsize=8)
def scan_pattern(cfg: LidarConfig) -> ScanPattern:
    """Ray directions and groups for ``cfg``; pure function of the configuration."""
    nb = cfg.beams
    n_az = max(1, int(round(360.0 / cfg.azimuth_resolution_deg)))
    dt = 1.0 / (n_az * cfg.rate_hz)
    if cfg.elevations_deg:
        elev = np.deg2rad(np.asarray(cfg.elevations_deg, np.float64))
    elif nb > 1:
        elev = np.deg2rad(np.linspace(cfg.vfov_deg[0], cfg.vfov_deg[1], nb))
    else:
        elev = np.deg2rad(np.array([0.5 * (cfg.vfov_deg[0] + cfg.vfov_deg[1])]))
    az = -np.pi + 2.0 * np.pi * np.arange(n_az) / n_az
    ce, se = np.cos(elev), np.sin(elev)
    dirs = np.empty((n_az, nb, 3))
    dirs[:, :, 0] = np.cos(az)[:, None] * ce[None, :]
    dirs[:, :, 1] = np.sin(az)[:, None] * ce[None, :]
    dirs[:, :, 2] = se[None, :]
    dirs = dirs.reshape(-1, 3).astype(np.float32)
    ring = np.tile(np.arange(nb, dtype=np.uint16), n_az)
    col = np.repeat(np.arange(n_az), nb)

    # groups: azimuth block (~BLOCK_DEG of columns) x chunk of BEAM_CHUNK beams
    cols_per_block = max(1, int(round(BLOCK_DEG / cfg.azimuth_resolution_deg)))
    n_blocks = -(-n_az // cols_per_block)
    sectors = min(cfg.sectors, n_blocks)
    block_of_col = np.arange(n_az) // cols_per_block
    chunk = ring.astype(np.int64) // BEAM_CHUNK
    n_chunks = -(-nb // BEAM_CHUNK)
    key = (block_of_col[col] * n_chunks + chunk) * (n_az * nb) + np.arange(n_az * nb)
    order = np.argsort(key, kind="stable")
    gid = (block_of_col[col] * n_chunks + chunk)[order]
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    group_start = np.r_[starts, gid.shape[0]].astype(np.int64)
    perm_dirs = np.ascontiguousarray(dirs[order])
    axis, cos_half = cone_bounds(perm_dirs, group_start)

    block_first = np.arange(n_blocks) * cols_per_block
    block_last = np.minimum(block_first + cols_per_block, n_az) - 1
    block_sector = np.arange(n_blocks) * sectors // n_blocks
    sec_first = np.array([block_first[block_sector == s][0] for s in range(sectors)])
    sec_last = np.array([block_last[block_sector == s][-1] for s in range(sectors)])
    return ScanPattern(
        n_az=n_az,
        dirs=dirs,
        ring=ring,
        time_offset=(col * dt).astype(np.float32),
        perm_dirs=perm_dirs,
        ray_ids=order.astype(np.int64),
        group_start=group_start,
        group_axis=axis,
        group_cos=cos_half,
        group_block=gid[starts] // n_chunks,
        block_time=0.5 * (block_first + block_last) * dt,
        block_sector=block_sector,
        sector_time=0.5 * (sec_first + sec_last) * dt,
        elevation=elev,
        scratch=alloc_hits(dirs.shape[0]),
        draw_u=np.empty(dirs.shape[0], np.float32),
        draw_n=np.empty(dirs.shape[0], np.float32),
    )


@njit(cache=True)
def _count_returns(part: np.ndarray, dist: np.ndarray, min_range: float) -> int:
    n = 0
    for i in range(part.shape[0]):
        if part[i] != HIT_NONE and dist[i] >= min_range:
            n += 1
    return n


@njit(cache=True)
def _compact_returns(
    part: np.ndarray,
    dist: np.ndarray,
    cos_inc: np.ndarray,
    point: np.ndarray,
    dirs: np.ndarray,
    time_offset: np.ndarray,
    ring: np.ndarray,
    min_range: float,
    keep_u: np.ndarray,  # (n_valid,) float32 uniforms for dropout, or empty for none
    p_drop: float,
    noise: np.ndarray,  # (n_valid,) float32 standard normals for range noise, or empty for none
    noise_std: float,
):
    """One pass over the rays: keep returns in range and not dropped, in firing order."""
    nv = 0
    for i in range(part.shape[0]):
        if part[i] != HIT_NONE and dist[i] >= min_range:
            nv += 1
    use_drop = keep_u.shape[0] > 0
    use_noise = noise.shape[0] > 0
    xyz = np.empty((nv, 3), np.float32)
    t_off = np.empty(nv, np.float32)
    rg = np.empty(nv, np.uint16)
    pt = np.empty(nv, np.int32)
    inc = np.empty(nv, np.float32)
    g_idx = np.empty(nv, np.int64)
    g_xy = np.empty((nv, 2))
    k = 0
    n = 0
    ng = 0
    for i in range(part.shape[0]):
        if part[i] == HIT_NONE or dist[i] < min_range:
            continue
        r = dist[i]
        if use_noise:
            r += noise_std * noise[k]
        drop = use_drop and keep_u[k] < p_drop
        k += 1
        if drop:
            continue
        xyz[n, 0] = dirs[i, 0] * r
        xyz[n, 1] = dirs[i, 1] * r
        xyz[n, 2] = dirs[i, 2] * r
        t_off[n] = time_offset[i]
        rg[n] = ring[i]
        pt[n] = part[i]
        inc[n] = cos_inc[i]
        if part[i] == HIT_GROUND:
            g_idx[ng] = n
            g_xy[ng, 0] = point[i, 0]
            g_xy[ng, 1] = point[i, 1]
            ng += 1
        n += 1
    return xyz[:n], t_off[:n], rg[:n], pt[:n], inc[:n], g_idx[:ng], g_xy[:ng]


@njit(cache=True)
def _finish_returns(
    part: np.ndarray,  # (n,) int32 part index or HIT_GROUND
    inc: np.ndarray,  # (n,) float32 |cos incidence|
    g_idx: np.ndarray,  # (ng,) rows of the ground returns
    gcls: np.ndarray,  # (ng,) their ground class
    ground_refl: np.ndarray,  # (3,) float32
    part_refl: np.ndarray,  # (P,) float32
    part_actor: np.ndarray,  # (P,) int64
    part_label: np.ndarray,  # (P,) int64
    noise: np.ndarray,  # (n,) float32 standard normals
    noise_std: float,
    static_refl: np.ndarray,  # (M,) float32 reflectivity of static materials (codes HIT_STATIC - m)
):
    """Intensity (0..255), actor id and label per return in one pass."""
    n = part.shape[0]
    intensity = np.empty(n, np.float32)
    actor = np.empty(n, np.int64)
    label = np.empty(n, np.int64)
    for j in range(g_idx.shape[0]):
        intensity[g_idx[j]] = ground_refl[min(max(gcls[j], 0), 2)]
    for i in range(n):
        p = part[i]
        if p >= 0:
            refl = part_refl[p]
            actor[i] = part_actor[p]
            label[i] = part_label[p]
        elif p <= HIT_STATIC:
            refl = static_refl[HIT_STATIC - p]
            actor[i] = -1
            label[i] = -1
        else:
            refl = intensity[i]
            actor[i] = -1
            label[i] = -1
        # mild incidence fall-off: grazing ground stays visible
        v = refl * (0.5 + 0.5 * inc[i]) + noise_std * noise[i]
        intensity[i] = min(255.0, max(0.0, 255.0 * v))
    return intensity, actor, label


def _stamp(t_start_ns: int, t_s: float) -> int:
    return int(t_start_ns) + int(round(t_s * NS_PER_S))


def _rz(yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.zeros(yaw.shape + (3, 3))
    R[..., 0, 0] = c
    R[..., 0, 1] = -s
    R[..., 1, 0] = s
    R[..., 1, 1] = c
    R[..., 2, 2] = 1.0
    return R


def simulate_lidar(
    world: WorldView,
    t_start_ns: int,
    T_base_lidar: np.ndarray,
    cfg: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Simulate one sweep starting at ``t_start_ns`` (= the header stamp).

    Returns a dict of per-point arrays (misses, out-of-range returns and dropouts removed):
    ``xyz`` (N, 3) float32 LiDAR frame at each point's own time, ``intensity`` (N,) float32
    0..255, ``time_offset`` (N,) float32 s in [0, 1/rate_hz), ``ring`` (N,) uint16 (0 = lowest
    beam), ``actor_id`` (N,) int64 (-1 ground or static scenery), ``label`` (N,) int64 ObjectClass
    (-1 likewise),
    plus ``stamp_ns`` (int). Points are ordered by firing time.
    """
    c = LidarConfig.from_dict(cfg) if not isinstance(cfg, LidarConfig) else cfg
    sp = scan_pattern(c)
    T_bl = np.asarray(T_base_lidar, np.float64)
    S = sp.sector_time.shape[0]

    # ego pose at knots across the sweep, interpolated to each azimuth block
    last = float(sp.time_offset[-1])
    knots = np.linspace(0.0, last, S + 1)
    bt = sp.block_time
    ea = world.ego_arrays(np.array([t_start_ns])) if hasattr(world, "ego_arrays") else {}
    if "R_world_base" in ea:  # a 3D attitude (graded roads): the pose of every block, vectorised
        ea = world.ego_arrays(np.asarray([_stamp(t_start_ns, t) for t in bt], np.int64))
        bpos, R_wb = ea["position"], ea["R_world_base"]
    else:
        egos = [world.ego_at(_stamp(t_start_ns, t)) for t in knots]
        kpos = np.array([e.position for e in egos], np.float64)
        kyaw = np.unwrap(np.array([e.yaw for e in egos], np.float64))
        bpos = np.column_stack([np.interp(bt, knots, kpos[:, k]) for k in range(3)])
        R_wb = _rz(np.interp(bt, knots, kyaw))  # (B, 3, 3)
    block_rot = R_wb @ T_bl[:3, :3]
    block_origin = bpos + R_wb @ T_bl[:3, 3]

    # actors once per sector, parts stacked with per-sector index ranges
    sector_actors = [world.actors_at(_stamp(t_start_ns, t)) for t in sp.sector_time]
    t_scn = scenario_seconds(world, t_start_ns)  # at the sweep start
    t_sec = None  # articulated walkers (static worlds): their gait phase per sector, scenario s
    if getattr(world, "animate_people", False):
        t_sec = t_scn + sp.sector_time
    sp_parts = _sector_parts(sector_actors, t_sec)
    p_lo, p_hi = sp_parts.lo, sp_parts.hi

    gb = sp.group_block
    gs = sp.block_sector[gb]
    static = getattr(world, "static", None)
    terrain = getattr(static, "terrain", None)
    with _LOCK:  # sp.scratch is shared by all sweeps of this configuration
        hits = cast_rays(
            sp.perm_dirs,
            sp.ray_ids,
            sp.group_start,
            sp.group_axis,
            sp.group_cos,
            block_origin[gb],
            block_rot[gb],
            p_lo[gs],
            p_hi[gs],
            sp_parts.centers,
            sp_parts.half_sizes,
            sp_parts.yaw,
            t_min=1e-3,
            t_max=c.max_range_m,
            ground=terrain is None,
            out=sp.scratch,
        )
        if static is not None:  # the static world's meshes: the nearer hit wins per ray
            rays = pack_group_rays(sp.perm_dirs, sp.ray_ids, sp.group_start, block_origin[gb], block_rot[gb])
            overlay_static(static, hits, rays, c.max_range_m, lidar=True)
            if terrain is not None:  # graded, crowned ground where nothing nearer is (glass stops rays)
                overlay_terrain(terrain, hits, rays, c.max_range_m)
            wind = getattr(world, "wind", None)
            if wind is not None:  # foliage moves in the wind: the range to each leaf changes
                move_foliage(hits, rays, t_scn, sp.time_offset, wind)
        n_valid = _count_returns(hits.part, hits.dist, c.min_range_m)
        # draws into reused buffers (no page faults); the order of draws is fixed
        keep_u = sp.draw_u[:0]
        if c.dropout_prob > 0.0:
            keep_u = rng.random(dtype=np.float32, out=sp.draw_u[:n_valid])
        noise = sp.draw_n[:0]
        if c.range_noise_std_m > 0.0:
            noise = rng.standard_normal(dtype=np.float32, out=sp.draw_n[:n_valid])
        xyz, t_off, ring, part, inc, g_idx, g_xy = _compact_returns(
            hits.part,
            hits.dist,
            hits.cos_incidence,
            hits.point,
            sp.dirs,
            sp.time_offset,
            sp.ring,
            c.min_range_m,
            keep_u,
            c.dropout_prob,
            noise,
            c.range_noise_std_m,
        )
        gcls = np.zeros(0, np.int64)
        if g_idx.shape[0]:
            gcls = np.asarray(world.ground.ground_class(g_xy), np.int64).reshape(-1)
        i_noise = rng.standard_normal(dtype=np.float32, out=sp.draw_n[: part.shape[0]])
        intensity, actor_id, label = _finish_returns(
            part,
            inc,
            g_idx,
            gcls,
            GROUND_REFLECTIVITY,
            sp_parts.reflectivity,
            sp_parts.actor_id,
            sp_parts.label,
            i_noise,
            INTENSITY_NOISE_STD,
            REFLECTIVITY,
        )
        if c.range_at_10pct_m > 0.0:
            # per return: actor part, ground class or static material (HIT_STATIC - material)
            refl = np.full(part.shape[0], 0.2, np.float64)
            refl[part >= 0] = sp_parts.reflectivity[part[part >= 0]]
            refl[g_idx] = GROUND_REFLECTIVITY[np.clip(gcls, 0, 2)]
            st = part <= HIT_STATIC
            refl[st] = np.asarray(REFLECTIVITY, np.float64)[HIT_STATIC - part[st]]
            keep, intensity = physical_returns(xyz, refl, inc, c.range_at_10pct_m, INTENSITY_NOISE_STD, rng)
            xyz, t_off, ring, intensity = xyz[keep], t_off[keep], ring[keep], intensity[keep]
            actor_id, label = actor_id[keep], label[keep]
    return {
        "stamp_ns": int(t_start_ns),
        "xyz": xyz,
        "intensity": intensity,
        "time_offset": t_off,
        "ring": ring,
        "actor_id": actor_id,
        "label": label,
    }


@dataclass
class _StackedParts:
    centers: np.ndarray
    half_sizes: np.ndarray
    yaw: np.ndarray
    reflectivity: np.ndarray
    actor_id: np.ndarray
    label: np.ndarray
    lo: np.ndarray  # (S,) first part of each sector
    hi: np.ndarray  # (S,)


def _sector_parts(sector_actors: list[ActorStates], t_sec: np.ndarray | None = None) -> _StackedParts:
    """Parts of every sector's actors, stacked; one vectorised placement when the actor set is fixed.

    ``t_sec`` (S,) scenario seconds per sector: pedestrians are articulated walkers (``shapes.gait``).
    """
    a0 = sector_actors[0]
    S = len(sector_actors)
    N = len(a0)
    same = False
    if all(len(a) == N for a in sector_actors):
        ids = np.array([a.ids for a in sector_actors]).reshape(S, N)
        labels = np.array([a.labels for a in sector_actors]).reshape(S, N)
        sizes = np.array([a.sizes for a in sector_actors]).reshape(S, N, 3)
        same = bool(np.all(ids == ids[0]) and np.all(labels == labels[0]) and np.all(sizes == sizes[0]))
    if same:
        lay = part_layout(a0.ids, a0.labels, a0.sizes, articulated=t_sec is not None)
        P = lay.actor_index.shape[0]
        C = np.array([a.centers for a in sector_actors], np.float64).reshape(S, N, 3)
        Y = np.array([a.yaw for a in sector_actors], np.float64).reshape(S, N)
        G = None
        if t_sec is not None:
            V = np.array([a.velocity for a in sector_actors], np.float64).reshape(S, N, 3)
            G = gait(a0.ids, V, t_sec)
        centers, yaw = place_parts(lay, C, Y, G)
        ai = lay.actor_index
        hi = np.arange(1, S + 1, dtype=np.int64) * P
        return _StackedParts(
            centers.reshape(-1, 3),
            np.tile(lay.half_sizes, (S, 1)),
            yaw.reshape(-1),
            np.tile(lay.reflectivity, S),
            np.tile(np.asarray(a0.ids, np.int64).reshape(-1)[ai], S),
            np.tile(np.asarray(a0.labels, np.int64).reshape(-1)[ai], S),
            hi - P,
            hi,
        )
    parts = [
        actor_parts(a, t_s=None if t_sec is None else float(t_sec[k])) for k, a in enumerate(sector_actors)
    ]
    counts = np.array([len(p) for p in parts], np.int64)
    hi = np.cumsum(counts)
    return _StackedParts(
        np.concatenate([p.centers for p in parts]).reshape(-1, 3),
        np.concatenate([p.half_sizes for p in parts]).reshape(-1, 3),
        np.concatenate([p.yaw for p in parts]),
        np.concatenate([p.reflectivity for p in parts]),
        np.concatenate(
            [np.asarray(a.ids, np.int64).reshape(-1)[p.actor_index] for a, p in zip(sector_actors, parts)]
        ),
        np.concatenate(
            [np.asarray(a.labels, np.int64).reshape(-1)[p.actor_index] for a, p in zip(sector_actors, parts)]
        ),
        hi - counts,
        hi,
    )
