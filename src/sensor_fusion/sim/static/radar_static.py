"""Radar returns of the static world: strong stationary reflectors and multipath ghosts behind them.

* Reflectors: compact elements (poles, signs, traffic lights, bollards, tree trunks, bicycle
  stands) give one scattering point; extended ones (guard rails, barriers, walls, fences,
  building façades) a point every ``EXTENDED_SPACING_M`` along the face that looks at the radar.
  RCS per class (typical 77 GHz figures: poles 5-10 dBsm, guard-rail sections ~10, façade
  sections 10-15) falls with incidence on flat faces; visibility is a 3D ray through the static
  mesh and a 2D test against the actors' boxes. Doppler reads ``-v_radar . u`` (stationary).
* Foliage scatters diffusely (no specular lobe; foliage at 77 GHz backscatters about -10 dB per
  square metre): hedges and bushes (``VEGETATION``) a weak point every ``EXTENDED_SPACING_M``
  along the faces that look at the radar (``FOLIAGE_RCS_DBSM``, a 2 m patch), tree crowns one point
  on their lower part (``CROWN_RCS_DBSM``; 4 m up or more, inside the radar's elevation beam only
  past some tens of metres). In wind their Doppler carries the foliage's motion (``static/wind.py``).
  Every static point must lie inside the elevation beam.
* Multipath: a target seen beside a long flat reflector (guard rail, barrier, wall, façade) also
  appears mirrored behind it (radar -> reflector -> target -> radar), weaker by 6-12 dB, when the
  reflection point lies on the reflector; the ghost's Doppler is its mirrored radial velocity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...core.geometry import wrap_angle
from .materials import StaticClass
from .wind import Wind
from .world import StaticWorld

TRUTH_STATIC = -3  # radar truth id of a static-world return (clutter -1, ghost -2)
EXTENDED_SPACING_M = 2.0
MULTIPATH_P = 0.3  # chance that a target beside a reflector shows its mirror ghost in a scan
MAX_STATIC_POINTS = 96  # strongest static points kept per scan (radars report a bounded list)

# RCS dBsm per scattering point, and whether the element is a flat (specular) face
_RCS = {
    StaticClass.POLE: (8.0, False),
    StaticClass.SIGN: (12.0, False),
    StaticClass.TRAFFIC_LIGHT: (10.0, False),
    StaticClass.BOLLARD: (3.0, False),
    StaticClass.TREE: (0.0, False),
    StaticClass.BICYCLE_STAND: (2.0, False),
    StaticClass.GUARD_RAIL: (10.0, True),
    StaticClass.BARRIER: (8.0, True),
    StaticClass.WALL: (10.0, True),
    StaticClass.FENCE: (4.0, True),
    StaticClass.BUILDING: (14.0, True),
    StaticClass.OVERHEAD_SIGN: (15.0, False),
}
FOLIAGE_RCS_DBSM = -8.0
FOLIAGE_HEIGHT_M = 1.0  # the foliage point's height (hedges 0.8-2 m): in the radar's beam
CROWN_RCS_DBSM = 0.0  # a tree crown's lower side: ~10 m^2 of foliage seen at -10 dB per m^2
REFLECTORS = (StaticClass.GUARD_RAIL, StaticClass.BARRIER, StaticClass.WALL, StaticClass.BUILDING)


def _face_frames(static: StaticWorld, idx: np.ndarray, o: np.ndarray):
    """Per element: unit tangent, unit normal towards ``o``, centre of the face looking at ``o``."""
    el = static.elements
    yaw = el.yaw[idx]
    t = np.column_stack([np.cos(yaw), np.sin(yaw)])
    n = np.column_stack([-t[:, 1], t[:, 0]])
    c = el.center[idx, :2]
    side = np.sign(np.einsum("ij,ij->i", o[None] - c, n))
    side[side == 0] = 1.0
    n = n * side[:, None]
    face = c + n * 0.5 * el.size[idx, 1:2]
    return t, n, face


class _Scatterers:
    """Every element's candidate scattering points, built once per static world (it never moves).

    Flat elements get points on both long faces (each with its outward normal); a scan keeps the
    face that looks at the radar and jitters the points along it.
    """

    def __init__(self, static: StaticWorld) -> None:
        el = static.elements
        pts, nrm, tan, rcs, jit, fol = [], [], [], [], [], []
        for e in range(len(el)):
            foliage = el.cls[e] == StaticClass.VEGETATION
            spec = (FOLIAGE_RCS_DBSM, True) if foliage else _RCS.get(StaticClass(int(el.cls[e])))
            if spec is None:
                continue
            base, flat = spec
            h = float(el.size[e, 2])
            c = el.center[e]
            if not flat:
                z = 1.0 if el.cls[e] == StaticClass.OVERHEAD_SIGN else min(0.5 * h, 1.5)  # its masts
                points = [(z, base, False)]
                if el.cls[e] == StaticClass.TREE:  # and its crown, 4 m up or more (meshes.tree)
                    r = 0.5 * float(el.size[e, 0])
                    crown_h = max(1.5, min(0.6 * h, 2.2 * r, h - 4.0))
                    points.append((h - 0.75 * crown_h, CROWN_RCS_DBSM, True))  # its lower part, facing us
                for z, r_db, leafy in points:  # compact: one point each, no face, no jitter
                    pts.append([[c[0], c[1], z]])
                    nrm.append([[0.0, 0.0]])
                    tan.append([[0.0, 0.0]])
                    rcs.append([r_db])
                    jit.append([0.0])
                    fol.append([leafy])
                continue
            t = np.array([np.cos(el.yaw[e]), np.sin(el.yaw[e])])
            L = float(el.size[e, 0])
            k = max(1, int(L // EXTENDED_SPACING_M))
            s = (np.arange(k) + 0.5) / k * L - 0.5 * L
            low = el.cls[e] in (StaticClass.GUARD_RAIL, StaticClass.BARRIER)
            z = min(0.6 if low else FOLIAGE_HEIGHT_M if foliage else 1.0, 0.8 * h)
            for side in (-1.0, 1.0):
                n = side * np.array([-t[1], t[0]])
                xy = c[:2] + s[:, None] * t + (0.5 * el.size[e, 1] + 0.05) * n
                pts.append(np.column_stack([xy, np.full(k, z)]))
                nrm.append(np.broadcast_to(n, (k, 2)))
                tan.append(np.broadcast_to(t, (k, 2)))
                rcs.append(np.full(k, base))
                jit.append(np.full(k, 0.3 * L / k))
                fol.append(np.full(k, foliage))
        self.points = np.vstack(pts) if pts else np.zeros((0, 3))
        if getattr(static, "terrain", None) is not None:  # heights above the graded ground
            self.points[:, 2] += static.ground_z(self.points[:, :2])
        self.normal = np.vstack(nrm) if nrm else np.zeros((0, 2))
        self.tangent = np.vstack(tan) if tan else np.zeros((0, 2))
        self.rcs = np.concatenate(rcs) if rcs else np.zeros(0)
        self.jitter = np.concatenate(jit) if jit else np.zeros(0)
        self.flat = np.any(self.normal != 0.0, axis=1)
        self.foliage = np.concatenate(fol).astype(bool) if fol else np.zeros(0, bool)
        self.specular = self.flat & ~self.foliage  # foliage faces the radar but scatters diffusely


def _scatterers(static: StaticWorld) -> _Scatterers:
    sc = getattr(static, "_radar_scatterers", None)
    if sc is None:
        sc = _Scatterers(static)
        static._radar_scatterers = sc  # cached on the world: built once
    return sc


def static_returns(
    static: StaticWorld,
    o3: np.ndarray,
    head: float,
    v_radar: np.ndarray,
    c: Mapping,
    actors,
    ray_boxes,
    rng: np.random.Generator,
    wind: Wind | None = None,
    t_s: float = 0.0,
    up: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Static points (M, 3) world, their radial velocity (M,) and RCS dBsm (M,); foliage points
    move with ``wind`` at scenario time ``t_s`` (s); elevation is measured from the plane normal to
    ``up`` (the vehicle's z axis in the world; default vertical)."""
    sc = _scatterers(static)
    o = o3[:2]
    half_fov = 0.5 * np.radians(float(c["fov_deg"]))
    half_el = 0.5 * np.radians(float(c["elevation_fov_deg"]))
    r_max, r_min = float(c["max_range_m"]), float(c["min_range_m"])
    P = sc.points
    facing = ~sc.flat | (np.einsum("ij,ij->i", sc.normal, o[None] - P[:, :2]) > 0.0)
    los = P - o3
    rng_ = np.linalg.norm(los, axis=1)
    az = wrap_angle(np.arctan2(los[:, 1], los[:, 0]) - head)
    keep = np.flatnonzero(facing & (rng_ >= r_min) & (rng_ <= r_max + 2.0) & (np.abs(az) <= half_fov + 0.05))
    if not len(keep):
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0)
    P = P[keep].copy()
    P[:, :2] += sc.tangent[keep] * (sc.jitter[keep] * rng.uniform(-1.0, 1.0, len(keep)))[:, None]
    rcs, N, spec, fol = sc.rcs[keep], sc.normal[keep], sc.specular[keep], sc.foliage[keep]
    los = P - o3
    rng_ = np.linalg.norm(los, axis=1)
    u = los / np.maximum(rng_, 1e-9)[:, None]
    az = wrap_angle(np.arctan2(los[:, 1], los[:, 0]) - head)
    el = np.arcsin(
        np.clip(u[:, 2] if up is None else u @ up, -1.0, 1.0)
    )  # inside the beam's elevation: a crown 6 m up past ~30 m
    keep = (rng_ >= r_min) & (rng_ <= r_max) & (np.abs(az) <= half_fov) & (np.abs(el) <= half_el)
    P, rcs, N, rng_, u, spec, fol = (a[keep] for a in (P, rcs, N, rng_, u, spec, fol))
    if not len(P):
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0)
    # incidence on flat faces: specular lobe, weaker away from the normal
    cos_i = np.abs(np.einsum("ij,ij->i", N, u[:, :2]))
    rcs = rcs + np.where(spec, 20.0 * np.log10(np.maximum(cos_i, 0.1)), 0.0)
    rcs = rcs + float(c["rcs_noise_db"]) * rng.standard_normal(len(P))
    # visibility: first static surface along the ray, and the actors' boxes in 2D
    st = static.cast(np.broadcast_to(o3, P.shape), u, np.inf)
    vis = st.dist >= rng_ - 0.4  # a crown's point sits in its leaves: about one ray in six meets them first
    if len(actors):
        tb = ray_boxes(o, u[:, :2] / np.maximum(np.linalg.norm(u[:, :2], axis=1), 1e-9)[:, None],
                       actors.centers[:, :2], actors.yaw, 0.5 * actors.sizes[:, :2])  # fmt: skip
        vis &= ~(tb < np.hypot(*(P[:, :2] - o).T)[:, None] - 0.3).any(1)
    pd = np.full(len(P), float(c["p_detect"]))
    if c["snr_detection"]:
        snr = rcs + 40.0 * np.log10(r_max / np.maximum(rng_, 1e-3))
        pd = pd / (1.0 + np.exp(-snr / 2.0))
    det = vis & (rng.random(len(P)) < pd)
    P, rcs, u, fol = P[det], rcs[det], u[det], fol[det]
    if len(P) > MAX_STATIC_POINTS:
        r_ = np.linalg.norm(P - o3, axis=1)
        best = np.argsort(-(rcs - 40.0 * np.log10(np.maximum(r_, 1e-3))), kind="stable")[:MAX_STATIC_POINTS]
        P, rcs, u, fol = P[best], rcs[best], u[best], fol[best]
    vr = -(u @ v_radar)
    if wind is not None and not wind.calm and fol.any():
        f = np.flatnonzero(fol)
        sway = np.einsum("ij,ij->i", wind.sway_velocity(P[f], t_s), u[f])
        vr[f] += sway + wind.doppler_spread_mps() * rng.standard_normal(len(f))
    return P, vr, rcs


def multipath_ghosts(
    static: StaticWorld,
    o3: np.ndarray,
    v_radar: np.ndarray,
    pts: np.ndarray,
    vr: np.ndarray,
    rcs: np.ndarray,
    real: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror ghosts of the real detections ``pts[real]`` behind the nearest long reflector."""
    el = static.elements
    ridx = np.flatnonzero(np.isin(el.cls, [int(k) for k in REFLECTORS]))
    if not len(ridx) or not len(real):
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0)
    o = o3[:2]
    t, n, face = _face_frames(static, ridx, o)
    p = pts[real, :2]  # (D, 2)
    d_r = np.einsum("ej,ej->e", o[None] - face, n)  # radar's distance in front of each face (E,)
    d_t = np.einsum("dej,ej->de", p[:, None, :] - face[None], n)  # each target's (D, E)
    ok = (d_r[None] > 0.3) & (d_t > 0.3)
    # reflection point on the face plane, along radar -> mirrored target
    mir = p[:, None, :] - 2.0 * d_t[..., None] * n[None]  # (D, E, 2)
    f = d_r[None] / (d_r[None] + d_t)
    q = o + f[..., None] * (mir - o)
    along = np.einsum("dej,ej->de", q - face[None], t)
    ok &= np.abs(along) <= 0.5 * el.size[ridx, 0][None]
    dist = np.where(ok, d_t, np.inf)
    best = np.argmin(dist, axis=1)
    has = np.isfinite(dist[np.arange(len(real)), best]) & (rng.random(len(real)) < MULTIPATH_P)
    if not has.any():
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0)
    src, e = real[has], best[has]
    nn = np.column_stack([n[e], np.zeros(len(e))])
    pg = pts[src] - 2.0 * d_t[has, e][:, None] * nn
    los = pts[src] - o3
    u = los / np.linalg.norm(los, axis=1)[:, None]
    v_abs = vr[src] + u @ v_radar
    v_t = v_abs[:, None] * u
    v_m = v_t - 2.0 * np.einsum("ij,ij->i", v_t, nn)[:, None] * nn
    lg = pg - o3
    ug = lg / np.linalg.norm(lg, axis=1)[:, None]
    vg = np.einsum("ij,ij->i", v_m - v_radar, ug)
    return pg, vg, rcs[src] - rng.uniform(6.0, 12.0, len(src))
