"""The scenario world: roads, an ego vehicle and traffic, deterministic from (config, seed).

Everything moves on flat ground in the world frame (``odom``: x east, y north,
z up; the ego starts at the origin heading east). At construction the whole
scenario is simulated once at ``world.sim_rate_hz`` (numba); queries then only
interpolate, so sensors can ask for any stamp cheaply and repeatably.

* Ego: kinematic bicycle model about the rear axle (``base_link``), pure pursuit
  on its route, IDM speed control, first-order steering and throttle lags. The
  state is integrated with the trapezoid rule on linearly interpolated rates, so
  ``yaw_rate`` and ``accel_body`` returned by ``ego_at`` integrate back to the
  returned yaw and speed (the IMU is synthesised from them).
* Actors: cars, trucks, buses, cyclists and pedestrians follow fixed paths
  (lanes, right turns, sidewalks, road crossings) exactly; their speed comes
  from the IDM car-following model against whatever is ahead on their lane,
  red signals, occupied crosswalks, and anything crossing their corridor.
  Pedestrians only start crossing when approaching traffic can stop comfortably.
  Queried poses are evaluated on the path at the interpolated arc length, so
  they stay exactly on the lane at any stamp.
* Randomness (placement, sizes, speeds) comes from per-class generator streams
  derived from the seed, so changing the cyclist count leaves the cars alone.

Stamps outside ``[t0_ns, t_end_ns]`` are clamped (the world holds still).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from scipy.spatial import cKDTree

from ..core.classes import ObjectClass
from ..core.geometry import wrap_angle
from .road import Path, RoadMap, crossing_roads, curved_road, straight_road
from .scenarios import stream_rng
from .state import ActorStates, EgoState

_NONE = -1
_FAR = 1.0e18

# size ranges (length, width, height) in m and IDM parameters (a_max, b_comf, b_max, T, s0)
_CLASS_SPECS: dict[int, tuple[tuple[tuple[float, float], ...], tuple[float, float, float, float, float]]] = {
    ObjectClass.CAR: (((4.2, 4.9), (1.75, 1.95), (1.40, 1.65)), (1.6, 2.5, 8.0, 1.2, 2.5)),
    ObjectClass.TRUCK: (((8.0, 10.0), (2.45, 2.55), (3.0, 3.4)), (0.9, 2.0, 6.0, 1.6, 3.0)),
    ObjectClass.BUS: (((11.0, 12.5), (2.50, 2.55), (3.0, 3.3)), (0.9, 2.0, 6.0, 1.6, 3.0)),
    ObjectClass.BICYCLE: (((1.7, 1.9), (0.55, 0.65), (1.6, 1.8)), (1.0, 2.0, 4.0, 1.0, 1.5)),
    ObjectClass.PEDESTRIAN: (((0.5, 0.7), (0.5, 0.7), (1.60, 1.90)), (0.8, 1.5, 3.0, 0.8, 0.6)),
}
_VEHICLES = (ObjectClass.TRUCK, ObjectClass.BUS, ObjectClass.CAR)  # big ones first: they need the most room


# ---------------------------------------------------------------------------------------------
# numba traffic simulation
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _seg(p, s, poff, pn, pds):
    """Sample index ``j`` and fraction ``t`` of arc length ``s`` (clamped) on path ``p``."""
    n = pn[p]
    ds = pds[p]
    s = min(max(s, 0.0), (n - 1) * ds)
    f = s / ds
    i = min(int(f), n - 2)
    return poff[p] + i, f - i


@njit(cache=True)
def _pp(p, s, poff, pn, pds, PX, PY, PH, PK):
    j, t = _seg(p, s, poff, pn, pds)
    return (
        PX[j] * (1.0 - t) + PX[j + 1] * t,
        PY[j] * (1.0 - t) + PY[j + 1] * t,
        PH[j] * (1.0 - t) + PH[j + 1] * t,
        PK[j] * (1.0 - t) + PK[j + 1] * t,
    )


@njit(cache=True)
def _pv(p, s, poff, pn, pds, PV):
    j, t = _seg(p, s, poff, pn, pds)
    return PV[j] * (1.0 - t) + PV[j + 1] * t


@njit(cache=True)
def _local_project(p, s_guess, x, y, back, fwd, poff, pn, pds, PX, PY):
    """Arc length of the point of path ``p`` nearest (x, y), searched in [s_guess-back, s_guess+fwd]."""
    n = pn[p]
    ds = pds[p]
    i0 = max(int((s_guess - back) / ds), 0)
    i1 = min(int((s_guess + fwd) / ds) + 1, n - 2)
    best, best_s = 1e30, s_guess
    for i in range(i0, i1 + 1):
        j = poff[p] + i
        ax, ay = PX[j + 1] - PX[j], PY[j + 1] - PY[j]
        l2 = ax * ax + ay * ay
        t = ((x - PX[j]) * ax + (y - PY[j]) * ay) / max(l2, 1e-18)
        t = min(max(t, 0.0), 1.0)
        dx, dy = x - PX[j] - t * ax, y - PY[j] - t * ay
        d2 = dx * dx + dy * dy
        if d2 < best:
            best, best_s = d2, (i + t) * ds
    return best_s


@njit(cache=True)
def _wrap(a):
    return (a + np.pi) % (2.0 * np.pi) - np.pi


@njit(cache=True)
def _idm_term(v, vl, gap, amax, b, T, s0):
    """IDM interaction term (<= 0) for an obstacle ``gap`` metres ahead moving at ``vl``."""
    if gap <= 0.05:
        return -1.0e9
    ss = s0 + max(0.0, v * T + v * (v - vl) / (2.0 * np.sqrt(amax * b)))
    return -amax * (ss / gap) ** 2


@njit(cache=True)
def _red(group, t, green, allred, offset, first):
    cycle = 2.0 * (green + allred)
    ph = (t + offset) % cycle
    if ph < green:
        g = first
    elif ph < green + allred:
        g = -1
    elif ph < 2.0 * green + allred:
        g = 1 - first
    else:
        g = -1
    return g != group


@njit(cache=True)
def _simulate(
    n_steps, dt,
    poff, pn, pds, PX, PY, PH, PK, PV,
    a_path, a_len, a_wid, a_front, a_rear, a_v0, a_amax, a_b, a_bmax, a_T, a_s0, a_s, a_v, a_isped,
    pc_start, pc_key, pc_ls0, pc_src, pc_srcls0, src_len,
    a_cross, a_cs_enter, a_cs_exit, n_cross, patience,
    sp_key, sp_s, sp_kind, sp_ref,
    sig_green, sig_allred, sig_offset, sig_first,
    wheelbase, max_steer, tau_steer, tau_acc, ld_gain, ld_min, b_ignore,
):  # fmt: skip
    A = a_path.shape[0]
    M = sp_key.shape[0]
    S = np.zeros((n_steps, A))
    V = np.zeros((n_steps, A))
    E = np.zeros((n_steps, 8))  # x, y, yaw, v, yaw_rate, accel, steer, progress
    s = a_s.copy()
    v = a_v.copy()
    acc = np.zeros(A)
    cx, cy, ch = np.zeros(A), np.zeros(A), np.zeros(A)
    key, ls, key2, ls2 = np.zeros(A, np.int64), np.zeros(A), np.zeros(A, np.int64), np.zeros(A)
    jcur = np.zeros(A, np.int64)
    committed = np.zeros(A, np.bool_)
    waited = np.zeros(A)
    cw_hard = np.zeros(max(n_cross, 1), np.bool_)
    cw_active = np.zeros(max(n_cross, 1), np.bool_)
    cw_unsafe = np.zeros(max(n_cross, 1), np.bool_)
    # ego state (agent 0)
    ex, ey, eh, _k0 = _pp(a_path[0], s[0], poff, pn, pds, PX, PY, PH, PK)
    ev, ea = v[0], 0.0
    ed = np.arctan(wheelbase * _k0)
    ew = ev * np.tan(ed) / wheelbase
    for k in range(n_steps):
        t = k * dt
        for a in range(A):
            S[k, a] = s[a]
            V[k, a] = v[a]
        E[k, 0], E[k, 1], E[k, 2], E[k, 3] = ex, ey, eh, ev
        E[k, 4], E[k, 5], E[k, 6], E[k, 7] = ew, ea, ed, s[0]
        if k == n_steps - 1:
            break
        # --- poses and lane memberships
        for a in range(A):
            if a == 0:
                off = 0.5 * (a_front[0] - a_rear[0])
                cx[0], cy[0], ch[0] = ex + off * np.cos(eh), ey + off * np.sin(eh), eh
            else:
                x, y, h, _ = _pp(a_path[a], s[a], poff, pn, pds, PX, PY, PH, PK)
                cx[a], cy[a], ch[a] = x, y, h
            j = 0
            while j < 2 and s[a] >= pc_start[a, j + 1]:
                j += 1
            jcur[a] = j
            key[a] = pc_key[a, j]
            ls[a] = pc_ls0[a, j] + s[a] - pc_start[a, j]
            if pc_src[a, j] >= 0 and s[a] - pc_start[a, j] < src_len:
                key2[a] = pc_src[a, j]
                ls2[a] = pc_srcls0[a, j] + s[a] - pc_start[a, j]
            else:
                key2[a] = -1
        # --- crosswalks: occupied, and whether a pedestrian may step out
        for c in range(n_cross):
            cw_active[c] = False
            cw_unsafe[c] = False
            cw_hard[c] = False
        for m in range(M):
            if sp_kind[m] != 1:
                continue
            c = sp_ref[m]
            for b in range(A):
                if a_isped[b]:
                    continue
                for q in range(2):
                    kb = key[b] if q == 0 else key2[b]
                    lb = ls[b] if q == 0 else ls2[b]
                    if kb != sp_key[m]:
                        continue
                    dist = sp_s[m] - (lb + a_front[b])
                    if dist > -(a_front[b] + a_rear[b] + 5.0):
                        if dist < v[b] * v[b] / 6.0 + 0.5 * v[b] + 3.0:
                            cw_unsafe[c] = True  # would need more than a comfortable stop
                        if dist < v[b] * v[b] / 12.0 + 0.3 * v[b] + 1.5:
                            cw_hard[c] = True  # could not stop in time
        # a pedestrian at the kerb commits to crossing once traffic can stop; then the crosswalk is
        # occupied until it is across (the latch avoids dithering at the kerb)
        for a in range(A):
            c = a_cross[a]
            if c < 0:
                continue
            if not committed[a] and s[a] >= a_cs_enter[a] - 2.5:
                waited[a] += dt
                # after ``patience`` seconds, pedestrians accept gaps that force hard braking
                if not cw_unsafe[c] or (waited[a] > patience and not cw_hard[c]):
                    committed[a] = True
            if committed[a] and s[a] <= a_cs_exit[a]:
                cw_active[c] = True
        # --- accelerations
        for a in range(A):
            va = v[a]
            v0 = min(a_v0[a], _pv(a_path[a], s[a], poff, pn, pds, PV))
            amax, bc, T, s0 = a_amax[a], a_b[a], a_T[a], a_s0[a]
            if v0 > 0.05:
                free = max(amax * (1.0 - (va / v0) ** 4), -bc)
            else:
                free = -bc
            look = 8.0 if a_isped[a] else max(40.0, 4.0 * va + 20.0)
            worst = 0.0
            gap = (pn[a_path[a]] - 1) * pds[a_path[a]] - s[a] - a_front[a]
            if gap < look:  # end of the path: stop there rather than pile up
                worst = _idm_term(va, 0.0, gap, amax, bc, T, s0)
            j = jcur[a]
            for jj in range(j, 3):
                kk = pc_key[a, jj]
                if kk < 0:
                    continue
                if jj == j:
                    base, offs = ls[a], 0.0
                else:
                    base, offs = pc_ls0[a, jj], pc_start[a, jj] - s[a]
                if offs > look:
                    break
                for b in range(A):
                    if b == a:
                        continue
                    for q in range(2):
                        kb = key[b] if q == 0 else key2[b]
                        lb = ls[b] if q == 0 else ls2[b]
                        if kb != kk:
                            continue
                        if jj == j:
                            rel = lb - ls[a]
                            if rel <= 0.0:
                                continue
                        else:
                            if lb + a_front[b] < base:
                                continue
                            rel = offs + lb - base
                        gap = rel - a_front[a] - a_rear[b]
                        if gap < look:
                            worst = min(worst, _idm_term(va, v[b], gap, amax, bc, T, s0))
                for m in range(M):
                    if sp_key[m] != kk:
                        continue
                    if jj != j and sp_s[m] < base:
                        continue
                    gap = offs + sp_s[m] - base - a_front[a]
                    if gap < -0.5 or gap > look:
                        continue
                    if sp_kind[m] == 0:
                        if not _red(sp_ref[m], t, sig_green, sig_allred, sig_offset, sig_first):
                            continue
                        if va * va / (2.0 * max(gap, 0.01)) > b_ignore:
                            continue  # too late to stop: clear the junction during all-red
                    elif not cw_active[sp_ref[m]]:
                        continue
                    worst = min(worst, _idm_term(va, 0.0, gap, amax, bc, T, 0.5))
            if a_cross[a] >= 0 and not committed[a]:  # wait at the kerb
                gap = a_cs_enter[a] - 1.0 - s[a] - a_front[a]
                worst = min(worst, _idm_term(va, 0.0, gap, amax, bc, T, 0.2))
            # anything crossing the corridor ahead (turning traffic, pedestrians)
            ca, sa = np.cos(ch[a]), np.sin(ch[a])
            for b in range(A):
                if b == a:
                    continue
                dh = _wrap(ch[b] - ch[a])
                cdh = np.cos(dh)
                if abs(cdh) > 0.87:
                    continue
                dx, dy = cx[b] - cx[a], cy[b] - cy[a]
                lon = dx * ca + dy * sa
                if lon <= 0.0:
                    continue
                lat = -dx * sa + dy * ca
                sdh = abs(np.sin(dh))
                ex_lat = 0.5 * (a_len[b] * sdh + a_wid[b] * abs(cdh))
                if abs(lat) > 0.5 * a_wid[a] + ex_lat + 0.4:
                    continue
                gap = lon - 0.5 * a_len[a] - 0.5 * (a_len[b] * abs(cdh) + a_wid[b] * sdh)
                if gap < look:
                    worst = min(worst, _idm_term(va, max(v[b] * cdh, 0.0), gap, amax, bc, T, s0))
            acc[a] = max(free + worst, -a_bmax[a])
        # --- integrate actors (path followers)
        for a in range(1, A):
            vn = max(v[a] + acc[a] * dt, 0.0)
            s[a] += 0.5 * (v[a] + vn) * dt
            v[a] = vn
        # --- integrate the ego: pure pursuit + lagged bicycle model, trapezoid rule
        ld = max(ld_min, ld_gain * ev)
        lx, ly, _h, _k = _pp(a_path[0], s[0] + ld, poff, pn, pds, PX, PY, PH, PK)
        dx, dy = lx - ex, ly - ey
        alpha = np.arctan2(-dx * np.sin(eh) + dy * np.cos(eh), dx * np.cos(eh) + dy * np.sin(eh))
        dist = max(np.hypot(dx, dy), 1e-3)
        d_cmd = min(max(np.arctan(2.0 * wheelbase * np.sin(alpha) / dist), -max_steer), max_steer)
        ed_n = ed + dt / tau_steer * (d_cmd - ed)
        if ev <= 1e-9 and acc[0] <= 0.0:
            ea_n, ev_n = 0.0, 0.0  # standing: brakes hold
        else:
            ea_n = ea + dt / tau_acc * (acc[0] - ea)
            ev_n = ev + 0.5 * dt * (ea + ea_n)
            if ev_n < 0.0:  # stop exactly within this step
                ea_n = -2.0 * ev / dt - ea
                ev_n = 0.0
        ew_n = ev_n * np.tan(ed_n) / wheelbase
        eh_n = eh + 0.5 * dt * (ew + ew_n)
        ex += 0.5 * dt * (ev * np.cos(eh) + ev_n * np.cos(eh_n))
        ey += 0.5 * dt * (ev * np.sin(eh) + ev_n * np.sin(eh_n))
        eh, ev, ea, ed, ew = eh_n, ev_n, ea_n, ed_n, ew_n
        s[0] = _local_project(a_path[0], s[0], ex, ey, 1.0, 3.0 + ev * dt, poff, pn, pds, PX, PY)
        v[0] = ev
    return S, V, E


# ---------------------------------------------------------------------------------------------
# construction helpers
# ---------------------------------------------------------------------------------------------
@dataclass
class _Agent:
    label: int
    size: np.ndarray  # l, w, h
    path: int
    s0: float
    v0: float
    v_init: float
    front: float
    rear: float
    # (path s where the piece starts, lane key, lane s there, source lane key of a connector, its lane s)
    pieces: list[tuple[float, int, float, int, float]] = field(default_factory=list)
    cross: int = _NONE
    cs_enter: float = _FAR
    cs_exit: float = -_FAR


def _speed_limit(path: Path, lat_acc: float, decel: float) -> np.ndarray:
    """Curvature speed limit, made reachable by braking at ``decel`` (backward pass)."""
    vl2 = lat_acc / np.maximum(np.abs(path.curvature), 1e-6)
    s = path.s
    q = vl2 + 2.0 * decel * s
    q = np.minimum.accumulate(q[::-1])[::-1]
    return np.sqrt(np.maximum(q - 2.0 * decel * s, 0.0))


def _fillet(points: np.ndarray, radius: float) -> np.ndarray:
    """Round the corners of a polyline with quadratic Beziers of about ``radius``."""
    out = [points[0]]
    for i in range(1, len(points) - 1):
        p0, p1, p2 = points[i - 1], points[i], points[i + 1]
        a, b = p0 - p1, p2 - p1
        la, lb = np.hypot(*a), np.hypot(*b)
        if la < 1e-9 or lb < 1e-9:
            continue
        if abs(a[0] * b[1] - a[1] * b[0]) < 1e-6 * la * lb:
            out.append(p1)
            continue
        r = min(radius, 0.45 * la, 0.45 * lb)
        q0, q2 = p1 + a / la * r, p1 + b / lb * r
        t = np.linspace(0.0, 1.0, 24)[:, None]
        out.extend((1 - t) ** 2 * q0 + 2 * (1 - t) * t * p1 + t**2 * q2)
    out.append(points[-1])
    return np.asarray(out)


class World:
    """A simulated scenario implementing ``WorldView`` (see module docstring)."""

    def __init__(self, config: dict, seed: int | None = None) -> None:
        cfg = config["world"] if "world" in config else config
        self.config = config
        self.seed = int(config.get("seed", 0) if seed is None else seed)
        self.t0_ns = int(cfg["start_time_ns"])
        self.dt_ns = int(round(1e9 / float(cfg["sim_rate_hz"])))
        self.n_steps = int(np.ceil(float(cfg["duration_s"]) * 1e9 / self.dt_ns)) + 1
        self.duration_ns = (self.n_steps - 1) * self.dt_ns
        self.t_end_ns = self.t0_ns + self.duration_ns
        self._rc, self._ec, self._ac = cfg["road"], cfg["ego"], cfg["actors"]
        self._duration = self.duration_ns * 1e-9
        self._lat_acc = float(cfg["lateral_accel_mps2"])

        self._paths: list[Path] = []
        self._lane_keys: dict[tuple[int, float, bool], int] = {}
        self._lane_paths: list[Path] = []
        self._lane_path_id: list[int] = []
        self._n_keys = 0
        self._stops: list[tuple[int, float, int, int]] = []  # key, lane s, kind, ref
        self._n_cross = 0
        self._agents: list[_Agent] = []
        self._occ: dict[int, list[tuple[float, float, float, float]]] = {}  # key -> (ls, front, rear, v)

        self._build_roads()
        self._build_ego()
        self._spawn_actors()
        self._run()
        self._build_ground()

    # -- lanes and paths -------------------------------------------------------------------------
    def _add_path(self, p: Path) -> int:
        self._paths.append(p)
        return len(self._paths) - 1

    def _vehicle_draws(self, counts: dict):
        """(label, its RNG stream, desired speed) per vehicle to place, big classes first; the speed is
        each vehicle's first draw from its class's stream, so placement draws follow it."""
        sp = float(self._ac["speed_spread"])
        for label in _VEHICLES:
            rng = stream_rng(self.seed, "world", "actors", label.name)
            slow = 1.0 if label == ObjectClass.CAR else 0.85
            for _ in range(counts[label]):
                yield label, rng, self._v_nom * slow * float(rng.uniform(1.0 - sp, 1.0 + 0.6 * sp))

    def _lane(self, road: int, d: float, forward: bool) -> int:
        """Key of the lane at offset ``d`` of ``road`` in a direction, created on first use."""
        k = (road, round(float(d), 3), bool(forward))
        if k not in self._lane_keys:
            path = self.roads[road].offset_path(d, forward)
            self._lane_keys[k] = self._n_keys
            self._lane_paths.append(path)
            self._lane_path_id.append(self._add_path(path))
            self._n_keys += 1
        return self._lane_keys[k]

    def _new_key(self) -> int:
        self._n_keys += 1
        self._lane_paths.append(None)  # type: ignore[arg-type]
        self._lane_path_id.append(_NONE)
        return self._n_keys - 1

    def _vehicle_lanes(self, road: int) -> list[tuple[int, float, bool]]:
        r = self.roads[road]
        out = [(road, r.lane_offset(k), k > 0) for k in range(1, r.lanes_per_direction + 1)]
        out += [(road, r.lane_offset(-k), False) for k in range(1, r.lanes_per_direction + 1)]
        if r.shoulder >= 1.0:
            out += [(road, r.shoulder_offset(True), True), (road, r.shoulder_offset(False), False)]
        return out

    # -- roads -------------------------------------------------------------------------------------
    def _build_roads(self) -> None:
        rc, ec = self._rc, self._ec
        n, w = int(rc["lanes_per_direction"]), float(rc["lane_width_m"])
        self.ego_lane = int(ec["lane"])
        if not 1 <= self.ego_lane <= n:
            raise ValueError(f"world.ego.lane must be in 1..{n}, got {self.ego_lane}")
        d_ego = -(self.ego_lane - 0.5) * w
        v_nom = float(ec["speed_mps"])
        self._v_nom = v_nom
        back = max(150.0, 1.3 * v_nom * self._duration + 60.0)  # oncoming traffic drives on behind the ego
        front = max(v_nom * 1.25 * self._duration + 250.0, 2.0 * v_nom * 1.1 * self._duration * 0.95 + 80.0)
        kw = dict(
            lanes_per_direction=n,
            lane_width=w,
            shoulder=float(rc["shoulder_m"]),
            sidewalk=float(rc["sidewalk_m"]),
            centre_line=str(rc["centre_line"]),
        )
        kind = rc["type"]
        self.road_type = kind
        if kind == "straight":
            self.roads = [straight_road((-back, -d_ego), 0.0, back + front, name="road_a", **kw)]
        elif kind == "curved":
            self.roads = [
                curved_road((-back, -d_ego), 0.0, back + front, float(rc["curve_radius_m"]),
                            float(rc["curve_angle_deg"]), first_straight=back + float(rc["first_straight_m"]),
                            name="road_a", **kw)
            ]  # fmt: skip
        elif kind == "intersection":
            xc = float(rc["intersection_distance_m"])
            b_half = max(v_nom * 1.2 * self._duration + 200.0, 300.0)
            a, b = crossing_roads((xc, -d_ego), 0.0, xc + back, front, b_half, **kw)
            self.roads = [a, b]
            self.junction = np.array([xc, -d_ego])
        else:
            raise ValueError(f"unknown world.road.type {kind!r}")
        # every vehicle lane gets a key now (crosswalk and signal stop points refer to them)
        for ri in range(len(self.roads)):
            for spec in self._vehicle_lanes(ri):
                self._lane(*spec)
        if kind == "intersection":
            self._add_signals()

    def _lane_s_at(self, key: int, xy: np.ndarray) -> float:
        s, _ = self._lane_paths[key].project(np.asarray(xy, dtype=np.float64)[None])
        return float(s[0])

    def _add_signals(self) -> None:
        """Stop lines before the other road's pavement on every approach (group = road index)."""
        c = self.junction
        for ri in range(2):
            other = self.roads[1 - ri]
            for spec in self._vehicle_lanes(ri):
                key = self._lane(*spec)
                s_c = self._lane_s_at(key, c)
                self._stops.append((key, s_c - other.half_width - 1.5, 0, ri))
        self._junction_clear = max(r.half_width for r in self.roads) + 1.5

    # -- routes ------------------------------------------------------------------------------------
    def _right_turn(self, key_in: int, key_out: int, radius: float) -> tuple[Path, list[tuple]]:
        """Route: lane ``key_in`` up to the junction, a right-turn arc, lane ``key_out`` onward."""
        pin, pout = self._lane_paths[key_in], self._lane_paths[key_out]
        p1, u1 = pin.xy[0], np.array([np.cos(pin.heading[0]), np.sin(pin.heading[0])])
        p2, u2 = pout.xy[0], np.array([np.cos(pout.heading[0]), np.sin(pout.heading[0])])
        # p1 + t1 u1 = p2 + t2 u2
        t1, _ = np.linalg.solve(np.column_stack([u1, -u2]), p2 - p1)
        x = p1 + t1 * u1
        a0, a1 = x - radius * u1, x + radius * u2
        s_in = self._lane_s_at(key_in, a0)
        s_out = self._lane_s_at(key_out, a1)
        arc = Path.from_curvature(a0, float(pin.pose_at(s_in)[1]), [("arc", radius, -0.5 * np.pi)])
        route = Path.concat([pin.sub(0.0, s_in), arc, pout.sub(s_out, pout.length)])
        pieces = [
            (0.0, key_in, 0.0, _NONE, 0.0),
            (s_in, self._new_key(), 0.0, key_in, s_in),
            (s_in + arc.length, key_out, s_out, _NONE, 0.0),
        ]
        return route, pieces

    def _exit_lane(self, key_in: int) -> int:
        """The outermost lane of the crossing road that a right turn from ``key_in`` enters."""
        (ri, _, fwd_in) = next(k for k, v in self._lane_keys.items() if v == key_in)
        h_in = self.roads[ri].centre.heading[0] + (0.0 if fwd_in else np.pi)
        other = self.roads[1 - ri]
        fwd_out = np.cos(h_in - 0.5 * np.pi - other.centre.heading[0]) > 0
        lane = other.lanes_per_direction * (1 if fwd_out else -1)
        return self._lane(1 - ri, other.lane_offset(lane), fwd_out)

    # -- ego -------------------------------------------------------------------------------------
    def _build_ego(self) -> None:
        ec = self._ec
        self.ego_size = np.array([ec["length_m"], ec["width_m"], ec["height_m"]], dtype=np.float64)
        self.wheelbase = float(ec["wheelbase_m"])
        rear = float(ec["rear_overhang_m"])
        front = self.ego_size[0] - rear
        # box centre ahead of base_link (rear axle), m: what the renderer and the overlap test need
        self.ego_box_offset = 0.5 * (front - rear)
        r0 = self.roads[0]
        key = self._lane(0, r0.lane_offset(self.ego_lane), True)
        route = str(ec["route"])
        if route == "right":
            if self.road_type != "intersection":
                raise ValueError("world.ego.route 'right' needs road type 'intersection'")
            path, pieces = self._right_turn(key, self._exit_lane(key), float(self._rc["turn_radius_m"]))
            pid = self._add_path(path)
        elif route == "straight":
            pid, pieces = self._lane_path_id[key], [(0.0, key, 0.0, _NONE, 0.0)]
        else:
            raise ValueError(f"world.ego.route must be straight or right, got {route!r}")
        s0 = self._lane_s_at(key, np.zeros(2))
        v_init = float(ec["speed_mps"] if ec["start_speed_mps"] is None else ec["start_speed_mps"])
        v0 = float(ec["speed_mps"])
        self._agents.append(_Agent(-1, self.ego_size, pid, s0, v0, v_init, front, rear, pieces))
        self._occupy(key, s0, front, rear, v_init)
        self.ego_route = self._paths[pid]

    # -- actors ----------------------------------------------------------------------------------
    def _occupy(self, key: int, ls: float, front: float, rear: float, v: float) -> None:
        self._occ.setdefault(key, []).append((ls, front, rear, v))

    def _fits(self, key: int, ls: float, front: float, rear: float, v: float) -> bool:
        """Whether a new agent fits on a lane with a gap that IDM can keep without hard braking."""
        path = self._lane_paths[key]
        if ls - rear < 0.0 or ls + front > path.length:
            return False
        for ols, of, orr, ov in self._occ.get(key, []):
            if ols >= ls:  # the other is ahead
                gap, vf, vl = ols - orr - (ls + front), v, ov
            else:
                gap, vf, vl = ls - rear - (ols + of), ov, v
            need = 2.5 + 1.2 * vf + max(vf - vl, 0.0) * vf / 4.0
            if gap < need:
                return False
        return True

    def _sample_size(self, rng: np.random.Generator, label: int) -> np.ndarray:
        ranges, _ = _CLASS_SPECS[label]
        return np.array([rng.uniform(lo, hi) for lo, hi in ranges])

    def _try_place(
        self, rng, label, keys, ls_lo, ls_hi, v0, v_init=None, pieces_fn=None, tries=40, avoid=None
    ) -> bool:
        """Place one actor on one of ``keys`` at lane s in [ls_lo, ls_hi] without crowding others."""
        size = self._sample_size(rng, label)
        half = 0.5 * size[0]
        v_init = v0 if v_init is None else v_init
        for _ in range(tries):
            key = keys[int(rng.integers(len(keys)))]
            lo, hi = ls_lo(key) if callable(ls_lo) else ls_lo, ls_hi(key) if callable(ls_hi) else ls_hi
            if hi <= lo:
                continue
            ls = float(rng.uniform(lo, hi))
            if avoid is not None and avoid(key, ls, v_init):
                continue
            if not self._fits(key, ls, half, half, v_init):
                continue
            self._occupy(key, ls, half, half, v_init)
            if pieces_fn is not None:
                made = pieces_fn(key, rng)
                if made is not None:
                    pid, pieces = made
                    self._agents.append(_Agent(label, size, pid, ls, v0, v_init, half, half, pieces))
                    return True
            pid = self._lane_path_id[key]
            self._agents.append(
                _Agent(label, size, pid, ls, v0, v_init, half, half, [(0.0, key, 0.0, _NONE, 0.0)])
            )
            return True
        return False

    def _ego_station(self, key: int, t: float) -> float:
        """Lane s on ``key`` abreast of where the ego would be at time t at its nominal speed."""
        s_e = self._agents[0].s0 + self._v_nom * t
        xy, _, _ = self.ego_route.pose_at(s_e)
        return self._lane_s_at(key, xy)

    def _spawn_actors(self) -> None:
        ac = self._ac
        counts = {
            ObjectClass.CAR: int(ac["cars"]),
            ObjectClass.TRUCK: int(ac["trucks"]),
            ObjectClass.BUS: int(ac["buses"]),
            ObjectClass.BICYCLE: int(ac["cyclists"]),
            ObjectClass.PEDESTRIAN: int(ac["pedestrians"]),
        }
        self._missing: dict[str, int] = {}
        if self.road_type == "intersection":
            self._spawn_junction_traffic(counts)
        else:
            self._spawn_road_traffic(counts)
        self._spawn_cyclists(counts[ObjectClass.BICYCLE])
        self._spawn_pedestrians(counts[ObjectClass.PEDESTRIAN], int(ac["crossing_pedestrians"]))
        self.missing_actors = dict(self._missing)
        if sum(self._missing.values()) > 0.2 * max(sum(counts.values()), 1):
            warnings.warn(f"could not place these actors without crowding: {self._missing}", stacklevel=3)

    def _spawn_road_traffic(self, counts: dict[int, int]) -> None:
        r = self.roads[0]
        n = r.lanes_per_direction
        fwd = [self._lane(0, r.lane_offset(k), True) for k in range(1, n + 1)]
        bwd = [self._lane(0, r.lane_offset(-k), False) for k in range(1, n + 1)]
        p_onc = float(self._ac["oncoming_fraction"])
        ahead, behind = float(self._ac["spawn_ahead_m"]), float(self._ac["spawn_behind_m"])
        heavy = 2 if n >= 3 else 1  # lanes that trucks and buses use, from the outside
        for label, rng, v0 in self._vehicle_draws(counts):
            ok = False
            for _attempt in range(3):
                if rng.random() < p_onc:
                    t_meet = float(rng.uniform(0.0, 0.9 * self._duration))
                    keys = bwd if label == ObjectClass.CAR else bwd[-heavy:]

                    def lo(k, t=t_meet, v=v0):
                        return self._ego_station(k, 0.0) - (self._v_nom + v) * t - 25.0

                    def hi(k, t=t_meet, v=v0):
                        return self._ego_station(k, 0.0) - (self._v_nom + v) * t + 25.0
                else:
                    keys = fwd if label == ObjectClass.CAR else fwd[-heavy:]

                    def lo(k, f=1.0 + 0.5 * _attempt):
                        return self._ego_station(k, 0.0) - behind * f

                    def hi(k, f=1.0 + 0.5 * _attempt):
                        return self._ego_station(k, 0.0) + ahead * f

                ok = self._try_place(rng, label, keys, lo, hi, v0, tries=15)
                if ok:
                    break
            if not ok:
                self._missing[label.name] = self._missing.get(label.name, 0) + 1

    def _spawn_junction_traffic(self, counts: dict[int, int]) -> None:
        n = self.roads[0].lanes_per_direction
        lanes = {
            "a_fwd": [self._lane(0, self.roads[0].lane_offset(k), True) for k in range(1, n + 1)],
            "a_bwd": [self._lane(0, self.roads[0].lane_offset(-k), False) for k in range(1, n + 1)],
            "b_fwd": [self._lane(1, self.roads[1].lane_offset(k), True) for k in range(1, n + 1)],
            "b_bwd": [self._lane(1, self.roads[1].lane_offset(-k), False) for k in range(1, n + 1)],
        }
        weights = np.array([0.35, 0.2, 0.22, 0.23])
        names = list(lanes)
        p_turn = float(self._ac["turning_fraction"])
        radius = float(self._rc["turn_radius_m"])
        near = 160.0
        clear = self._junction_clear

        def centre_s(k):
            return self._lane_s_at(k, self.junction)

        def avoid(k, ls, v):
            # keep clear of the junction box and of the stopping zone in front of it
            sc = centre_s(k)
            return sc - clear - (v * v / 4.0 + 10.0) < ls < sc + clear + 8.0

        for label, rng, v0 in self._vehicle_draws(counts):
            approach = names[int(rng.choice(4, p=weights))]
            keys = lanes[approach] if label == ObjectClass.CAR else lanes[approach][-1:]
            turn = rng.random() < p_turn

            def pieces_fn(key, _rng, turn=turn):
                if not turn or key != self._outer(key):
                    return None
                path, pieces = self._right_turn(key, self._exit_lane(key), radius)
                return self._add_path(path), pieces

            if approach == "a_fwd":

                def lo(k):
                    return self._ego_station(k, 0.0) - 60.0

                def hi(k):
                    return centre_s(k) + 120.0
            else:

                def lo(k):
                    return centre_s(k) - near

                def hi(k):
                    return centre_s(k) + 60.0

            ok = self._try_place(rng, label, keys, lo, hi, v0, pieces_fn=pieces_fn, avoid=avoid)
            if not ok:
                self._missing[label.name] = self._missing.get(label.name, 0) + 1

    def _outer(self, key: int) -> int:
        (ri, _, fwd) = next(k for k, v in self._lane_keys.items() if v == key)
        r = self.roads[ri]
        n = r.lanes_per_direction
        return self._lane(ri, r.lane_offset(n if fwd else -n), fwd)

    def _spawn_cyclists(self, count: int) -> None:
        if count == 0:
            return
        rng = stream_rng(self.seed, "world", "actors", "BICYCLE")
        r = self.roads[0]
        if r.shoulder >= 1.0:
            fwd = [self._lane(0, r.shoulder_offset(True), True)]
            bwd = [self._lane(0, r.shoulder_offset(False), False)]
        else:
            n = r.lanes_per_direction
            fwd = [self._lane(0, r.lane_offset(n), True)]
            bwd = [self._lane(0, r.lane_offset(-n), False)]
        junction = self.road_type == "intersection"
        for _ in range(count):
            v0 = float(rng.uniform(4.0, 6.5))
            if rng.random() < float(self._ac["oncoming_fraction"]):
                t_meet = float(rng.uniform(0.0, 0.9 * self._duration))

                def lo(k, t=t_meet, v=v0):
                    return self._ego_station(k, 0.0) - (self._v_nom + v) * t - 10.0

                def hi(k, t=t_meet, v=v0):
                    return self._ego_station(k, 0.0) - (self._v_nom + v) * t + 10.0

                keys = bwd
            else:
                # the ego overtakes them during the scenario
                rel = max(self._v_nom - v0, 1.0) * self._duration

                def lo(k):
                    return self._ego_station(k, 0.0) + 15.0

                def hi(k, rel=rel):
                    return self._ego_station(k, 0.0) + max(0.8 * rel, 40.0)

                keys = fwd
            if junction:
                # stay out of the junction for the whole scenario
                def avoid(k, ls, v):
                    sc = self._lane_s_at(k, self.junction)
                    return ls < sc and ls + v * self._duration > sc - self._junction_clear - 5.0
            else:
                avoid = None
            if not self._try_place(rng, ObjectClass.BICYCLE, keys, lo, hi, v0, avoid=avoid):
                self._missing["BICYCLE"] = self._missing.get("BICYCLE", 0) + 1

    def _spawn_pedestrians(self, count: int, crossing: int) -> None:
        if count == 0:
            return
        rng = stream_rng(self.seed, "world", "actors", "PEDESTRIAN")
        r = self.roads[0]
        if r.sidewalk < 1.5:
            self._missing["PEDESTRIAN"] = count
            return
        crossing = min(crossing, count) if self.road_type != "intersection" else 0
        for i in range(count):
            v0 = float(rng.uniform(1.1, 1.6))
            right = bool(rng.random() < 0.5)
            fwd = bool(rng.random() < 0.5)
            d_side = r.sidewalk_offset(right)
            if i < crossing:
                if not self._place_crossing(rng, v0, right, fwd):
                    self._missing["PEDESTRIAN"] = self._missing.get("PEDESTRIAN", 0) + 1
                continue
            # keep to the right of the walking direction
            key = self._lane(0, d_side + (-0.6 if fwd else 0.6), fwd)
            t_pass = float(rng.uniform(0.1, 0.9) * self._duration)
            if self.road_type == "intersection":
                sc = self._lane_s_at(key, self.junction)
                stay = v0 * self._duration + self._junction_clear + 3.0

                def lo(k, sc=sc):
                    return sc - 80.0

                def hi(k, sc=sc):
                    return sc + 80.0

                def avoid(k, ls, v, sc=sc, stay=stay):
                    return (ls < sc and ls + stay > sc) or abs(ls - sc) < self._junction_clear + 3.0
            else:

                def lo(k, t=t_pass):
                    return self._ego_station(k, t) - 10.0

                def hi(k, t=t_pass):
                    return self._ego_station(k, t) + 10.0

                avoid = None
            if not self._try_place(rng, ObjectClass.PEDESTRIAN, [key], lo, hi, v0, avoid=avoid):
                self._missing["PEDESTRIAN"] = self._missing.get("PEDESTRIAN", 0) + 1

    def _place_crossing(self, rng: np.random.Generator, v0: float, right: bool, fwd: bool) -> bool:
        """A pedestrian who walks along a sidewalk, crosses the road ahead of the ego, and walks on."""
        r = self.roads[0]
        t_a = float(rng.uniform(0.2, 0.45) * self._duration)
        lead = 60.0 + 20.0 * float(rng.random())  # ego distance to the crossing when the pedestrian arrives
        s_route = self._agents[0].s0 + self._v_nom * t_a + lead
        xy_cross, _, _ = self.ego_route.pose_at(s_route)
        s_c, _ = r.centre.project(xy_cross)
        s_c = float(s_c[0])
        d_from = r.sidewalk_offset(right) + (-0.6 if fwd else 0.6)
        d_to = r.sidewalk_offset(not right) + (-0.6 if fwd else 0.6)
        walk = v0 * t_a
        sgn = 1.0 if fwd else -1.0
        s_start = s_c - sgn * walk
        if not (5.0 < s_start < r.centre.length - 5.0):
            return False
        # polyline: along the sidewalk, across, along the other sidewalk; corners rounded
        corner = 4.0
        sa = np.arange(s_start, s_c - sgn * corner, sgn * 0.5)
        sb = s_c + sgn * np.arange(corner, 60.0, 0.5)
        sb = sb[(sb > 0) & (sb < r.centre.length)]
        if len(sa) < 2 or len(sb) < 2:
            return False
        leg_a, _ = r.pose_at(sa, np.full(len(sa), d_from))
        leg_b, _ = r.pose_at(sb, np.full(len(sb), d_to))
        turn, _ = r.pose_at(np.full(2, s_c), np.array([d_from, d_to]))
        mid = _fillet(np.concatenate([leg_a[-1:], turn, leg_b[:1]]), 2.0)
        path = Path.from_polyline(np.concatenate([leg_a[:-1], mid, leg_b[1:]]), 0.1)
        pid = self._add_path(path)
        key_a = self._lane(0, d_from, fwd)
        key_b = self._lane(0, d_to, fwd)
        # where the pedestrian is on the pavement, and where it is back on a sidewalk
        _, lat = r.centre.project(path.xy)
        on = np.nonzero(np.abs(lat) < r.half_width + 0.5)[0]
        if len(on) == 0:
            return False
        enter, leave = on[0] * path.ds, on[-1] * path.ds
        conn_start = float(path.project(leg_a[-1:])[0][0])
        b_start = float(path.project(leg_b[:1])[0][0])
        ls_a0 = self._lane_s_at(key_a, path.xy[0])
        ls_b0 = self._lane_s_at(key_b, leg_b[0])
        size = self._sample_size(rng, ObjectClass.PEDESTRIAN)
        half = 0.5 * size[0]
        if not self._fits(key_a, ls_a0, half, half, v0):
            return False
        self._occupy(key_a, ls_a0, half, half, v0)
        c = self._n_cross
        self._n_cross += 1
        pieces = [
            (0.0, key_a, ls_a0, _NONE, 0.0),
            (conn_start, self._new_key(), 0.0, key_a, ls_a0 + conn_start),
            (b_start, key_b, ls_b0, _NONE, 0.0),
        ]
        self._agents.append(
            _Agent(ObjectClass.PEDESTRIAN, size, pid, 0.0, v0, v0, half, half, pieces, c, enter, leave)
        )
        # vehicles and cyclists stop before the crossing on every lane of the road
        for spec in self._vehicle_lanes(0):
            key = self._lane(*spec)
            xy, _ = r.pose_at(s_c, spec[1])
            self._stops.append((key, self._lane_s_at(key, xy) - 2.5, 1, c))
        return True

    # -- simulation --------------------------------------------------------------------------------
    def _run(self) -> None:
        paths = self._paths
        pn = np.array([len(p.heading) for p in paths], dtype=np.int64)
        poff = np.concatenate([[0], np.cumsum(pn)[:-1]]).astype(np.int64)
        pds = np.array([p.ds for p in paths])
        PX = np.concatenate([p.xy[:, 0] for p in paths])
        PY = np.concatenate([p.xy[:, 1] for p in paths])
        PH = np.concatenate([p.heading for p in paths])
        PK = np.concatenate([p.curvature for p in paths])
        PV = np.concatenate([_speed_limit(p, self._lat_acc, 1.5) for p in paths])
        ag = self._agents
        A = len(ag)
        ec = self._ec
        idm = np.array(
            [
                (ec["max_accel_mps2"], ec["comfort_decel_mps2"], ec["max_decel_mps2"], ec["time_headway_s"],
                 ec["min_gap_m"])
                if a.label < 0
                else _CLASS_SPECS[a.label][1]
                for a in ag
            ],
            dtype=np.float64,
        )  # fmt: skip
        pc_start = np.full((A, 3), _FAR)
        pc_key = np.full((A, 3), _NONE, dtype=np.int64)
        pc_ls0 = np.zeros((A, 3))
        pc_src = np.full((A, 3), _NONE, dtype=np.int64)
        pc_srcls0 = np.zeros((A, 3))
        for i, a in enumerate(ag):
            for j, (st, k, l0, src, sl0) in enumerate(a.pieces):
                pc_start[i, j], pc_key[i, j], pc_ls0[i, j] = st, k, l0
                pc_src[i, j], pc_srcls0[i, j] = src, sl0
        stops = self._stops or [(_NONE, 0.0, 0, 0)]
        sig = self._rc["signal"]
        self._signal = (float(sig["green_s"]), float(sig["all_red_s"]), float(sig["offset_s"]),
                        1 if sig["first_green"] == "crossing" else 0)  # fmt: skip
        S, V, E = _simulate(
            self.n_steps, self.dt_ns * 1e-9,
            poff, pn, pds, PX, PY, PH, PK, PV,
            np.array([a.path for a in ag], dtype=np.int64),
            np.array([a.size[0] for a in ag]), np.array([a.size[1] for a in ag]),
            np.array([a.front for a in ag]), np.array([a.rear for a in ag]),
            np.array([a.v0 for a in ag]),
            idm[:, 0].copy(), idm[:, 1].copy(), idm[:, 2].copy(), idm[:, 3].copy(), idm[:, 4].copy(),
            np.array([a.s0 for a in ag]), np.array([a.v_init for a in ag]),
            np.array([a.label == ObjectClass.PEDESTRIAN for a in ag]),
            pc_start, pc_key, pc_ls0, pc_src, pc_srcls0, 4.0,
            np.array([a.cross for a in ag], dtype=np.int64),
            np.array([a.cs_enter for a in ag]), np.array([a.cs_exit for a in ag]), self._n_cross,
            float(self._ac["pedestrian_patience_s"]),
            np.array([s[0] for s in stops], dtype=np.int64), np.array([s[1] for s in stops]),
            np.array([s[2] for s in stops], dtype=np.int64), np.array([s[3] for s in stops], dtype=np.int64),
            *self._signal,
            self.wheelbase, float(ec["max_steer_rad"]), float(ec["steer_time_constant_s"]),
            float(ec["accel_time_constant_s"]), float(ec["lookahead_gain_s"]), float(ec["lookahead_min_m"]),
            4.5,
        )  # fmt: skip
        self._E = E
        self._S = S[:, 1:]
        self._V = V[:, 1:]
        actors = ag[1:]
        self.actor_ids = np.arange(1, len(actors) + 1, dtype=np.int64)
        self.actor_labels = np.array([int(a.label) for a in actors], dtype=np.int64)
        self.actor_sizes = np.array([a.size for a in actors], dtype=np.float64).reshape(-1, 3)
        # flattened paths with a global arc length, so one np.interp evaluates every actor
        self._apath = np.array([a.path for a in actors], dtype=np.int64)
        lengths = (pn - 1) * pds
        self._goff = np.concatenate([[0.0], np.cumsum(lengths + 10.0)[:-1]])
        self._plen = lengths
        self._GS = np.concatenate([self._goff[i] + np.arange(pn[i]) * pds[i] for i in range(len(paths))])
        self._PX, self._PY, self._PH, self._PK = PX, PY, PH, PK

    def _build_ground(self) -> None:
        rc = self._rc
        view = float(rc["raster_view_m"])
        tree = cKDTree(self._E[:: max(1, self.n_steps // 400), :2])
        ranges = []
        for r in self.roads:
            s = np.arange(0.0, r.centre.length, 2.0)
            d, _ = tree.query(r.centre.pose_at(s)[0])
            near = s[d < view]
            ranges.append((float(near.min()) - 5.0, float(near.max()) + 5.0) if len(near) else (0.0, 1.0))
        self.ground = RoadMap(
            self.roads,
            float(rc["raster_resolution_m"]),
            ranges,
            float(rc["marking_width_m"]),
            float(rc["dash_on_m"]),
            float(rc["dash_off_m"]),
        )

    # -- queries -----------------------------------------------------------------------------------
    def _index(self, stamps_ns) -> tuple[np.ndarray, np.ndarray]:
        st = np.clip(np.asarray(stamps_ns, dtype=np.int64) - self.t0_ns, 0, self.duration_ns)
        k = np.minimum(st // self.dt_ns, self.n_steps - 2)
        return k, (st - k * self.dt_ns) / self.dt_ns

    def ego_arrays(self, stamps_ns) -> dict[str, np.ndarray]:
        """Ego state at (N,) stamps: position, yaw, velocity, yaw_rate, yaw_accel, accel_body, speed."""
        k, r = self._index(np.atleast_1d(stamps_ns))
        E0, E1 = self._E[k], self._E[k + 1]
        e = E0 * (1.0 - r)[:, None] + E1 * r[:, None]
        yaw, v, w, a = e[:, 2], e[:, 3], e[:, 4], e[:, 5]
        n = len(k)
        pos = np.column_stack([e[:, 0], e[:, 1], np.zeros(n)])
        vel = np.column_stack([v * np.cos(yaw), v * np.sin(yaw), np.zeros(n)])
        acc = np.column_stack([a, v * w, np.zeros(n)])
        return {
            "position": pos,
            "yaw": wrap_angle(yaw),
            "velocity": vel,
            "yaw_rate": w,
            "yaw_accel": (E1[:, 4] - E0[:, 4]) / (self.dt_ns * 1e-9),
            "accel_body": acc,
            "speed": v,
        }

    def ego_at(self, stamp_ns: int) -> EgoState:
        e = self.ego_arrays(np.array([stamp_ns]))
        return EgoState(
            stamp_ns=int(stamp_ns),
            position=e["position"][0],
            yaw=float(e["yaw"][0]),
            velocity=e["velocity"][0],
            yaw_rate=float(e["yaw_rate"][0]),
            accel_body=e["accel_body"][0],
            speed=float(e["speed"][0]),
        )

    def ego_box_at(self, stamp_ns: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Ego bounding box (centre (3,), size (3,), yaw): base_link is the rear axle, not the centre."""
        e = self.ego_at(stamp_ns)
        c = e.position + self.ego_box_offset * np.array([np.cos(e.yaw), np.sin(e.yaw), 0.0])
        c[2] = 0.5 * self.ego_size[2]
        return c, self.ego_size.copy(), e.yaw

    def actors_at(self, stamp_ns: int) -> ActorStates:
        k, r = self._index(np.array([stamp_ns]))
        k, r = int(k[0]), float(r[0])
        s = self._S[k] * (1.0 - r) + self._S[k + 1] * r
        v = self._V[k] * (1.0 - r) + self._V[k + 1] * r
        g = self._goff[self._apath] + np.clip(s, 0.0, self._plen[self._apath])
        x, y = np.interp(g, self._GS, self._PX), np.interp(g, self._GS, self._PY)
        h, kap = np.interp(g, self._GS, self._PH), np.interp(g, self._GS, self._PK)
        n = len(s)
        return ActorStates(
            ids=self.actor_ids.copy(),
            labels=self.actor_labels.copy(),
            centers=np.column_stack([x, y, 0.5 * self.actor_sizes[:, 2]]),
            sizes=self.actor_sizes.copy(),
            yaw=wrap_angle(h),
            velocity=np.column_stack([v * np.cos(h), v * np.sin(h), np.zeros(n)]),
            yaw_rate=v * kap,
        )

    def signal_red(self, road: int, stamp_ns: int) -> bool:
        """Whether approaches on ``road`` (0 = the ego's, 1 = the crossing one) face red at a stamp."""
        if self.road_type != "intersection":
            return False
        t = (int(np.clip(stamp_ns - self.t0_ns, 0, self.duration_ns))) * 1e-9
        return bool(_red(road, t, *self._signal))

    @property
    def stamps_ns(self) -> np.ndarray:
        """The simulation grid (int ns)."""
        return self.t0_ns + np.arange(self.n_steps, dtype=np.int64) * self.dt_ns
