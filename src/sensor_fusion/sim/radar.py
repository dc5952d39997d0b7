"""Automotive radar model: detections with Doppler, RCS, misses, clutter and multipath ghosts.

What a real radar reports, so the detector and tracker meet the same problems:

* Doppler is the raw radial velocity of (target point - radar) along the line
  of sight, in the radar frame, positive = moving away. It is *not* ego-motion
  compensated; the radar's own velocity includes the yaw-rate lever arm.
  Static returns therefore read ``-v_radar . u``, which is how a detector
  recognises them as stationary.
* Each visible actor gives 1..``max_points_per_object`` points on its near
  surface: more for wide (angularly large) objects. Visibility is a per-ray 2D
  occlusion test against every actor box.
* RCS by class (truck > car > cyclist > pedestrian) split over the object's
  points, with log-normal scatter; detection probability ``p_detect`` times a
  simple SNR term (``rcs + 40 log10(max_range / r)`` dB) when ``snr_detection``.
* Clutter: Poisson(``clutter_rate``) static points beside the road (off-road
  cells within 4 m of pavement). Ghosts: Poisson(``ghost_rate``) multipath copies
  of real detections, mirrored in a virtual side wall or at twice the range
  (double bounce, twice the Doppler), both weaker than their parent.
* With a static world (``world.static``): returns from poles, guard rails, walls and façades,
  and mirror ghosts behind real reflectors (``static/radar_static.py``); parked cars are actors.

Config keys are the scenario ``radars`` block (see ``scenarios.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..core.classes import ObjectClass
from ..core.geometry import wrap_angle
from ..core.types import RadarScan
from .scenarios import BASE
from .state import WorldView, ego_transform, scenario_seconds
from .static.radar_static import TRUTH_STATIC, multipath_ghosts, static_returns

TRUTH_CLUTTER = -1
TRUTH_GHOST = -2  # (TRUTH_STATIC = -3: a static-world reflector, see static/radar_static.py)

RCS_DBSM = {
    ObjectClass.UNKNOWN: 0.0,
    ObjectClass.CAR: 10.0,
    ObjectClass.TRUCK: 20.0,
    ObjectClass.BUS: 20.0,
    ObjectClass.TRAILER: 18.0,
    ObjectClass.MOTORCYCLE: 5.0,
    ObjectClass.BICYCLE: 2.0,
    ObjectClass.PEDESTRIAN: -5.0,
}
_RCS_TABLE = np.array([RCS_DBSM[ObjectClass(i)] for i in range(len(ObjectClass))])


def _ray_boxes(o: np.ndarray, d: np.ndarray, c: np.ndarray, yaw: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Entry distance of 2D rays (origin ``o``, unit dirs (P, 2)) into boxes (N): (P, N), inf if missed."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    rel = o[None, :] - c  # (N, 2)
    ro = np.stack([rel[:, 0] * cy + rel[:, 1] * sy, -rel[:, 0] * sy + rel[:, 1] * cy], -1)  # box frame
    rd = np.stack(
        [d[:, None, 0] * cy + d[:, None, 1] * sy, -d[:, None, 0] * sy + d[:, None, 1] * cy], -1
    )  # (P, N, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / rd
        t1 = (-half[None] - ro[None]) * inv
        t2 = (half[None] - ro[None]) * inv
    # a ray parallel to a slab and outside it never enters; inside it, the slab does not constrain
    par = rd == 0.0
    inside = np.abs(ro[None]) <= half[None]
    lo = np.where(par, np.where(inside, -np.inf, np.inf), np.minimum(t1, t2))
    hi = np.where(par, np.where(inside, np.inf, -np.inf), np.maximum(t1, t2))
    tmin, tmax = lo.max(-1), hi.min(-1)
    hit = (tmax >= np.maximum(tmin, 0.0)) & np.isfinite(tmax)
    return np.where(hit, np.maximum(tmin, 0.0), np.inf)


def _cfg(cfg: Mapping | None) -> dict:
    out = dict(BASE["radars"])
    out.update(cfg or {})
    return out


def simulate_radar_with_truth(
    world: WorldView,
    stamp_ns: int,
    T_base_radar: np.ndarray,
    cfg: Mapping | None,
    rng: np.random.Generator,
    frame_id: str = "radar_front",
) -> tuple[RadarScan, np.ndarray]:
    """One radar scan and, per point, the actor id it came from (-1 clutter, -2 ghost, -3 static world)."""
    c = _cfg(cfg)
    ego = world.ego_at(stamp_ns)
    T_wb = ego_transform(ego)
    T_wr = T_wb @ np.asarray(T_base_radar, dtype=np.float64)
    up = T_wb[:3, 2]  # the body's z axis: elevation is measured from the body's plane
    R_wr, o3 = T_wr[:3, :3], T_wr[:3, 3]
    o = o3[:2]
    lever = o3 - ego.position
    v_radar = ego.velocity + np.array([-ego.yaw_rate * lever[1], ego.yaw_rate * lever[0], 0.0])
    head = float(np.arctan2(R_wr[1, 0], R_wr[0, 0]))
    half_fov = 0.5 * np.radians(float(c["fov_deg"]))
    half_el = 0.5 * np.radians(float(c["elevation_fov_deg"]))
    r_min, r_max = float(c["min_range_m"]), float(c["max_range_m"])

    act = world.actors_at(stamp_ns)
    n = len(act)
    pts = np.zeros((0, 3))
    vr = np.zeros(0)
    rcs = np.zeros(0)
    truth = np.zeros(0, dtype=np.int64)
    if n:
        cen, half = act.centers[:, :2], 0.5 * act.sizes[:, :2]
        cyw, syw = np.cos(act.yaw), np.sin(act.yaw)
        sx = np.array([1.0, 1.0, -1.0, -1.0])
        sy = np.array([1.0, -1.0, -1.0, 1.0])
        cx = cen[:, 0:1] + sx * half[:, 0:1] * cyw[:, None] - sy * half[:, 1:2] * syw[:, None]
        cyy = cen[:, 1:2] + sx * half[:, 0:1] * syw[:, None] + sy * half[:, 1:2] * cyw[:, None]
        ac = np.arctan2(cen[:, 1] - o[1], cen[:, 0] - o[0])
        rel = np.arctan2(cyy - o[1], cx - o[0]) - ac[:, None]
        rel = wrap_angle(rel)
        az_c = wrap_angle(ac - head)
        lo = np.maximum(az_c + rel.min(1), -half_fov)
        hi = np.minimum(az_c + rel.max(1), half_fov)
        dist = np.hypot(cen[:, 0] - o[0], cen[:, 1] - o[1])
        inside_box = np.abs(rel).max(1) > 0.5 * np.pi  # the radar is within/next to the box: skip
        cand = (hi > lo) & (dist - np.hypot(half[:, 0], half[:, 1]) < r_max) & ~inside_box
        idx = np.nonzero(cand)[0]
        k = np.clip(
            1 + np.floor((hi[idx] - lo[idx]) / np.radians(float(c["azimuth_resolution_deg"]))),
            1,
            int(c["max_points_per_object"]),
        ).astype(np.int64)
        owner = np.repeat(idx, k)
        j = np.arange(len(owner)) - np.repeat(np.cumsum(k) - k, k)
        kk = np.repeat(k, k)
        az = lo[owner] + (j + rng.uniform(0.1, 0.9, len(owner))) / kk * (hi[owner] - lo[owner])
        d = np.column_stack([np.cos(head + az), np.sin(head + az)])
        t = _ray_boxes(o, d, cen, act.yaw, half)  # (P, n)
        t_own = t[np.arange(len(owner)), owner]
        t_other = t.copy()
        t_other[np.arange(len(owner)), owner] = np.inf
        visible = np.isfinite(t_own) & ~(t_other < t_own[:, None] - 0.05).any(1)
        p2 = o + t_own[:, None] * d
        bottom = act.centers[owner, 2] - 0.5 * act.sizes[owner, 2]  # the ground (or curb) it stands on
        z = bottom + rng.uniform(0.15, 0.75, len(owner)) * act.sizes[owner, 2]
        p = np.column_stack([p2, z])
        w = act.yaw_rate[owner]
        arm = p2 - cen[owner]
        vp = act.velocity[owner] + np.column_stack([-w * arm[:, 1], w * arm[:, 0], np.zeros(len(owner))])
        los = p - o3
        rng_ = np.linalg.norm(los, axis=1)
        u = los / np.maximum(rng_, 1e-9)[:, None]
        v_rad = np.einsum("ij,ij->i", vp - v_radar, u)
        el = np.arcsin(np.clip(los @ up / np.maximum(rng_, 1e-9), -1, 1))
        r_pt = (
            _RCS_TABLE[act.labels[owner]] - 10.0 * np.log10(kk)
            + float(c["rcs_noise_db"]) * rng.standard_normal(len(owner))
        )  # fmt: skip
        pd = np.full(len(owner), float(c["p_detect"]))
        if c["snr_detection"]:
            snr = r_pt + 40.0 * np.log10(r_max / np.maximum(rng_, 1e-3))
            pd = pd / (1.0 + np.exp(-snr / 2.0))
        keep = visible & (rng_ >= r_min) & (rng_ <= r_max) & (np.abs(el) <= half_el)
        keep &= rng.random(len(owner)) < pd
        pts, vr, rcs, truth = p[keep], v_rad[keep], r_pt[keep], act.ids[owner[keep]]

    # clutter: static returns from beside the road
    n_c = int(rng.poisson(float(c["clutter_rate"])))
    if n_c:
        m = 8 * n_c + 16
        r_c = rng.uniform(max(r_min, 2.0), 0.8 * r_max, m)
        a_c = head + rng.uniform(-half_fov, half_fov, m)
        q = o + np.column_stack([r_c * np.cos(a_c), r_c * np.sin(a_c)])
        g = world.ground
        off = g.ground_class(q) == 0
        near = np.zeros(m, dtype=bool)
        for dx, dy in ((4.0, 0.0), (-4.0, 0.0), (0.0, 4.0), (0.0, -4.0)):
            near |= g.ground_class(q + (dx, dy)) != 0
        sel = np.nonzero(off & near)[0]
        if n and len(sel):
            dq = (q[sel] - o) / r_c[sel, None]
            tb = _ray_boxes(o, dq, act.centers[:, :2], act.yaw, 0.5 * act.sizes[:, :2])
            sel = sel[~(tb < r_c[sel, None]).any(1)]
        sel = sel[:n_c]
        pc = np.column_stack([q[sel], rng.uniform(0.0, 1.5, len(sel))])
        if getattr(world, "terrain", None) is not None:
            pc[:, 2] += world.terrain.height(pc[:, :2])
        los = pc - o3
        u = los / np.linalg.norm(los, axis=1)[:, None]
        pts = np.vstack([pts, pc])
        vr = np.concatenate([vr, -(u @ v_radar)])
        rcs = np.concatenate([rcs, rng.normal(-2.0, 5.0, len(sel))])
        truth = np.concatenate([truth, np.full(len(sel), TRUTH_CLUTTER)])

    # ghosts: multipath copies of real detections
    n_real = int((truth >= 0).sum())
    n_g = int(rng.poisson(float(c["ghost_rate"]))) if n_real else 0
    if n_g:
        real = np.nonzero(truth >= 0)[0]
        par = real[rng.integers(0, n_real, n_g)]
        mirror = rng.random(n_g) < 0.5
        wall = rng.choice([-1.0, 1.0], n_g) * rng.uniform(3.0, 8.0, n_g)
        nr = np.array([-np.sin(head), np.cos(head), 0.0])
        pp = pts[par]
        off = (pp - o3) @ nr - wall
        pg = np.where(mirror[:, None], pp - 2.0 * off[:, None] * nr, o3 + 2.0 * (pp - o3))
        # recover the parent's absolute velocity along its line of sight, mirror it in the wall
        los = pp - o3
        u = los / np.linalg.norm(los, axis=1)[:, None]
        v_abs = vr[par] + u @ v_radar  # radial component of the target's own velocity
        v_t = v_abs[:, None] * u  # best knowledge of the target velocity along the ray
        v_m = v_t - 2.0 * (v_t @ nr)[:, None] * nr
        lg = pg - o3
        ug = lg / np.linalg.norm(lg, axis=1)[:, None]
        vg = np.where(mirror, np.einsum("ij,ij->i", v_m - v_radar, ug), 2.0 * vr[par])
        rg = np.linalg.norm(lg, axis=1)
        azg = wrap_angle(np.arctan2(lg[:, 1], lg[:, 0]) - head)
        ok = (rg <= r_max) & (np.abs(azg) <= half_fov)
        pts = np.vstack([pts, pg[ok]])
        vr = np.concatenate([vr, vg[ok]])
        rcs = np.concatenate([rcs, rcs[par[ok]] - rng.uniform(6.0, 12.0, int(ok.sum()))])
        truth = np.concatenate([truth, np.full(int(ok.sum()), TRUTH_GHOST)])

    # the static world: stationary reflectors, and multipath ghosts behind long reflectors
    static = getattr(world, "static", None)
    if static is not None:
        pg, vg, rg_ = multipath_ghosts(static, o3, v_radar, pts, vr, rcs, np.flatnonzero(truth >= 0), rng)
        lg = pg - o3
        ok = (np.linalg.norm(lg, axis=1) <= r_max) & (
            np.abs(wrap_angle(np.arctan2(lg[:, 1], lg[:, 0]) - head)) <= half_fov
        )
        t_s = scenario_seconds(world, stamp_ns)
        ps, vs, rs = static_returns(
            static, o3, head, v_radar, c, act, _ray_boxes, rng, getattr(world, "wind", None), t_s, up
        )
        pts = np.vstack([pts, pg[ok], ps])
        vr = np.concatenate([vr, vg[ok], vs])
        rcs = np.concatenate([rcs, rg_[ok], rs])
        truth = np.concatenate([truth, np.full(int(ok.sum()), TRUTH_GHOST), np.full(len(ps), TRUTH_STATIC)])

    # measurement noise in polar coordinates of the radar frame
    xyz = (pts - o3) @ R_wr
    m = len(xyz)
    r = np.linalg.norm(xyz, axis=1)
    az = np.arctan2(xyz[:, 1], xyz[:, 0])
    el = np.arcsin(np.clip(xyz[:, 2] / np.maximum(r, 1e-9), -1.0, 1.0))
    r = r + float(c["range_noise_m"]) * rng.standard_normal(m)
    az = az + np.radians(float(c["azimuth_noise_deg"])) * rng.standard_normal(m)
    el = el + np.radians(float(c["elevation_noise_deg"])) * rng.standard_normal(m)
    vr = vr + float(c["velocity_noise_mps"]) * rng.standard_normal(m)
    xyz = np.column_stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)])
    order = rng.permutation(m)
    scan = RadarScan(
        stamp_ns=int(stamp_ns),
        frame_id=frame_id,
        xyz=xyz[order].astype(np.float32),
        radial_velocity=vr[order].astype(np.float32),
        rcs=rcs[order].astype(np.float32),
    )
    return scan, truth[order]


def simulate_radar(
    world: WorldView,
    stamp_ns: int,
    T_base_radar: np.ndarray,
    cfg: Mapping | None,
    rng: np.random.Generator,
    frame_id: str = "radar_front",
) -> RadarScan:
    """One radar scan in the radar frame at ``stamp_ns`` (see module docstring)."""
    return simulate_radar_with_truth(world, stamp_ns, T_base_radar, cfg, rng, frame_id)[0]
