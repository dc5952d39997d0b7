"""The traffic kernel: every agent of a scenario stepped through time at once (numba).

Why a kernel of its own: the scenario is simulated once, before any sensor asks for a stamp, and
the agents interact every step (car following, signals, crosswalks, crossing traffic), so the
whole loop runs in compiled code. Its inputs are a few typed containers (``NamedTuple`` of arrays,
which numba passes as structs) with one named field per quantity, built by ``scene.py``; nothing
here knows about roads, lanes as geometry, or how agents were placed.

* Paths: every path flattened into one ``PathTable``; a path is sampled uniformly in arc length.
* Agents: agent 0 is the ego; the others follow their path exactly. Each agent's path is cut into
  at most ``MAX_PIECES`` lane pieces (e.g. approach lane, turn connector, exit lane) so that car
  following compares agents on the same lane key, whatever path they drive.
* Speed: the IDM (Treiber et al. 2000) against the worst of: the end of the path, whatever is
  ahead on this and the next lane pieces, red signals, occupied crosswalks, and anything crossing
  the corridor ahead. Pedestrians wait at the kerb until approaching traffic can stop comfortably.
* Ego: pure pursuit on its route, a kinematic bicycle model about the rear axle with first-order
  steering and throttle lags, integrated with the trapezoid rule so its logged yaw rate and
  acceleration integrate back to its logged yaw and speed (the IMU is synthesised from them).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

MAX_PIECES = 3  # lane pieces per agent path: approach lane, connector, exit lane
NO_KEY = -1  # "no lane key" (unused piece, or a piece that is not a connector)
FAR = 1.0e18  # start of an unused piece; crossing bounds of an agent that crosses nothing

STOP_SIGNAL = 0  # a stop line at a signal: ``ref`` is the signal group (road index)
STOP_CROSSWALK = 1  # a stop line before a crosswalk: ``ref`` is the crossing index

# columns of the ego track returned by ``simulate``
EGO_X, EGO_Y, EGO_YAW, EGO_SPEED, EGO_YAW_RATE, EGO_ACCEL, EGO_STEER, EGO_PROGRESS = range(8)
EGO_COLUMNS = ("x", "y", "yaw", "speed", "yaw_rate", "accel", "steer", "progress")

# how far into a connector an agent still counts as on the lane it left (so followers there keep
# seeing it), m; and the braking needed to stop at a red light above which a driver goes on and
# clears the junction during all-red instead, m/s^2 (between comfortable 2.5 and hard 8)
CONNECTOR_MEMORY_M = 4.0
RED_GO_ON_DECEL_MPS2 = 4.5


class PathTable(NamedTuple):
    """All paths flattened: path ``p`` owns samples ``offset[p] .. offset[p] + count[p] - 1``."""

    offset: np.ndarray  # (P,) int64
    count: np.ndarray  # (P,) int64
    ds: np.ndarray  # (P,) sample spacing, m
    x: np.ndarray  # (N,) m
    y: np.ndarray  # (N,) m
    heading: np.ndarray  # (N,) rad, unwrapped along each path
    curvature: np.ndarray  # (N,) 1/m
    v_max: np.ndarray  # (N,) curvature speed limit, m/s


class AgentTable(NamedTuple):
    """One row per agent (agent 0 is the ego); lane pieces are (A, MAX_PIECES)."""

    path: np.ndarray  # (A,) int64 path index
    length: np.ndarray  # (A,) m
    width: np.ndarray  # (A,) m
    front: np.ndarray  # (A,) reference point to front bumper, m
    rear: np.ndarray  # (A,) reference point to rear bumper, m
    v_desired: np.ndarray  # (A,) m/s
    a_max: np.ndarray  # (A,) IDM maximum acceleration, m/s^2
    b_comf: np.ndarray  # (A,) IDM comfortable deceleration, m/s^2
    b_max: np.ndarray  # (A,) deceleration limit, m/s^2
    headway: np.ndarray  # (A,) IDM time headway, s
    min_gap: np.ndarray  # (A,) IDM standstill gap, m
    s_init: np.ndarray  # (A,) arc length on the path at t = 0, m
    v_init: np.ndarray  # (A,) m/s
    is_pedestrian: np.ndarray  # (A,) bool: pedestrians do not block crosswalks for others
    piece_start: np.ndarray  # (A, MAX_PIECES) path s where the piece starts (FAR: unused)
    piece_key: np.ndarray  # (A, MAX_PIECES) int64 lane key (NO_KEY: unused)
    piece_lane_s: np.ndarray  # (A, MAX_PIECES) lane s at the piece start
    piece_source: np.ndarray  # (A, MAX_PIECES) int64 lane a connector leaves (NO_KEY: none)
    piece_source_s: np.ndarray  # (A, MAX_PIECES) lane s on that source lane at the piece start
    crossing: np.ndarray  # (A,) int64 crosswalk this pedestrian crosses (-1: none)
    crossing_enter: np.ndarray  # (A,) path s where it steps onto the road
    crossing_exit: np.ndarray  # (A,) path s where it is back on a sidewalk


class StopTable(NamedTuple):
    """Stop lines on lanes: where traffic must stop when the signal or the crosswalk says so."""

    key: np.ndarray  # (M,) int64 lane key
    lane_s: np.ndarray  # (M,) m
    kind: np.ndarray  # (M,) int64 STOP_SIGNAL or STOP_CROSSWALK
    ref: np.ndarray  # (M,) int64 signal group or crossing index


class SignalPlan(NamedTuple):
    """A two-group fixed-time signal: green, all-red, the other group's green, all-red."""

    green_s: float
    all_red_s: float
    offset_s: float
    first_green: int  # the group that is green at t = -offset


class EgoDynamics(NamedTuple):
    """Ego vehicle and controller parameters."""

    wheelbase_m: float
    max_steer_rad: float
    steer_time_constant_s: float
    accel_time_constant_s: float
    lookahead_gain_s: float
    lookahead_min_m: float


class Rules(NamedTuple):
    """Step and behaviour settings that are not per agent."""

    n_steps: int
    dt_s: float
    n_crossings: int
    pedestrian_patience_s: float
    connector_memory_m: float
    red_go_on_decel_mps2: float


# ---------------------------------------------------------------------------------------------
# numba helpers
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _seg(paths, p, s):
    """Sample index ``j`` and fraction ``t`` of arc length ``s`` (clamped) on path ``p``."""
    n = paths.count[p]
    ds = paths.ds[p]
    s = min(max(s, 0.0), (n - 1) * ds)
    f = s / ds
    i = min(int(f), n - 2)
    return paths.offset[p] + i, f - i


@njit(cache=True, inline="always")
def path_pose(paths, p, s):
    """(x, y, heading, curvature) at arc length ``s`` of path ``p``, linearly interpolated."""
    j, t = _seg(paths, p, s)
    return (
        paths.x[j] * (1.0 - t) + paths.x[j + 1] * t,
        paths.y[j] * (1.0 - t) + paths.y[j + 1] * t,
        paths.heading[j] * (1.0 - t) + paths.heading[j + 1] * t,
        paths.curvature[j] * (1.0 - t) + paths.curvature[j + 1] * t,
    )


@njit(cache=True, inline="always")
def _path_v_max(paths, p, s):
    j, t = _seg(paths, p, s)
    return paths.v_max[j] * (1.0 - t) + paths.v_max[j + 1] * t


@njit(cache=True, inline="always")
def _local_project(paths, p, s_guess, x, y, back, fwd):
    """Arc length of the point of path ``p`` nearest (x, y), searched in [s_guess-back, s_guess+fwd]."""
    n = paths.count[p]
    ds = paths.ds[p]
    i0 = max(int((s_guess - back) / ds), 0)
    i1 = min(int((s_guess + fwd) / ds) + 1, n - 2)
    best, best_s = 1e30, s_guess
    for i in range(i0, i1 + 1):
        j = paths.offset[p] + i
        ax, ay = paths.x[j + 1] - paths.x[j], paths.y[j + 1] - paths.y[j]
        l2 = ax * ax + ay * ay
        t = ((x - paths.x[j]) * ax + (y - paths.y[j]) * ay) / max(l2, 1e-18)
        t = min(max(t, 0.0), 1.0)
        dx, dy = x - paths.x[j] - t * ax, y - paths.y[j] - t * ay
        d2 = dx * dx + dy * dy
        if d2 < best:
            best, best_s = d2, (i + t) * ds
    return best_s


@njit(cache=True, inline="always")
def _wrap(a):
    """core.geometry.wrap_angle's twin for numba (a test checks they agree bit for bit).

    The core one compiles under numba too (``njit(wrap_angle)``), but its ``np.asarray`` allocates
    a 0-d array per call; called for every pair of agents every step, that made this kernel 1.5-1.9x
    slower (bench: urban, intersection, dense_traffic, seed 0).
    """
    return (a + np.pi) % (2.0 * np.pi) - np.pi


@njit(cache=True, inline="always")
def idm_term(v, v_lead, gap, a_max, b_comf, headway, min_gap):
    """IDM interaction term (<= 0) for an obstacle ``gap`` metres ahead moving at ``v_lead``."""
    if gap <= 0.05:
        return -1.0e9
    ss = min_gap + max(0.0, v * headway + v * (v - v_lead) / (2.0 * np.sqrt(a_max * b_comf)))
    return -a_max * (ss / gap) ** 2


@njit(cache=True, inline="always")
def is_red(plan, group, t):
    """Whether signal ``group`` shows red (or all-red) at time ``t`` s."""
    cycle = 2.0 * (plan.green_s + plan.all_red_s)
    ph = (t + plan.offset_s) % cycle
    if ph < plan.green_s:
        g = plan.first_green
    elif ph < plan.green_s + plan.all_red_s:
        g = -1
    elif ph < 2.0 * plan.green_s + plan.all_red_s:
        g = 1 - plan.first_green
    else:
        g = -1
    return g != group


class Lanes(NamedTuple):
    """Working state: where each agent is on the lane graph (numba struct of arrays)."""

    piece: np.ndarray  # (A,) int64 current piece index
    key: np.ndarray  # (A,) int64 lane key of the current piece
    lane_s: np.ndarray  # (A,) lane s of the reference point
    key2: np.ndarray  # (A,) int64 source lane while just into a connector, else NO_KEY
    lane_s2: np.ndarray  # (A,) lane s on that source lane
    x: np.ndarray  # (A,) box centre, m
    y: np.ndarray
    heading: np.ndarray


class Crosswalks(NamedTuple):
    """Working state per crosswalk and per pedestrian."""

    hard: np.ndarray  # (C,) bool: some vehicle could not stop before it in time
    unsafe: np.ndarray  # (C,) bool: some vehicle would need more than a comfortable stop
    active: np.ndarray  # (C,) bool: a pedestrian is on it
    committed: np.ndarray  # (A,) bool: this pedestrian has stepped out (latched)
    waited: np.ndarray  # (A,) s this pedestrian has waited at the kerb


# ---------------------------------------------------------------------------------------------
# the step, in phases. Each phase unpacks the fields it needs once, before its loops: numba
# counts a reference for every array read out of a container, and doing that per agent (or per
# pair) made the kernel 1.6-3x slower.
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _locate(paths, agents, rules, s, ex, ey, eh, lanes):
    """Box centres and lane memberships of every agent (the ego's from its own pose)."""
    start, lane_s0 = agents.piece_start, agents.piece_lane_s
    source, source_s0 = agents.piece_source, agents.piece_source_s
    memory = rules.connector_memory_m
    off = 0.5 * (agents.front[0] - agents.rear[0])
    lanes.x[0], lanes.y[0], lanes.heading[0] = ex + off * np.cos(eh), ey + off * np.sin(eh), eh
    for a in range(1, s.shape[0]):
        x, y, h, _ = path_pose(paths, agents.path[a], s[a])
        lanes.x[a], lanes.y[a], lanes.heading[a] = x, y, h
    piece, key, lane_s, key2, lane_s2 = lanes.piece, lanes.key, lanes.lane_s, lanes.key2, lanes.lane_s2
    for a in range(s.shape[0]):
        j = 0
        while j < MAX_PIECES - 1 and s[a] >= start[a, j + 1]:
            j += 1
        piece[a] = j
        key[a] = agents.piece_key[a, j]
        # (lane s0 + s) - piece start, in this order: the traffic must not change by a rounding
        lane_s[a] = lane_s0[a, j] + s[a] - start[a, j]
        if source[a, j] >= 0 and s[a] - start[a, j] < memory:
            key2[a] = source[a, j]
            lane_s2[a] = source_s0[a, j] + s[a] - start[a, j]
        else:
            key2[a] = NO_KEY


@njit(cache=True, inline="always")
def _update_crosswalks(agents, stops, rules, s, v, lanes, cw):
    """Which crosswalks traffic could stop for, which pedestrians step out, which are occupied."""
    A = s.shape[0]
    hard, unsafe, active, committed, waited = cw.hard, cw.unsafe, cw.active, cw.committed, cw.waited
    key, lane_s, key2, lane_s2 = lanes.key, lanes.lane_s, lanes.key2, lanes.lane_s2
    front, rear, is_ped = agents.front, agents.rear, agents.is_pedestrian
    for c in range(rules.n_crossings):
        active[c] = False
        unsafe[c] = False
        hard[c] = False
    for m in range(stops.key.shape[0]):
        if stops.kind[m] != STOP_CROSSWALK:
            continue
        c = stops.ref[m]
        stop_key, stop_s = stops.key[m], stops.lane_s[m]
        for b in range(A):
            if is_ped[b]:
                continue
            for q in range(2):
                kb = key[b] if q == 0 else key2[b]
                lb = lane_s[b] if q == 0 else lane_s2[b]
                if kb != stop_key:
                    continue
                dist = stop_s - (lb + front[b])
                if dist > -(front[b] + rear[b] + 5.0):
                    if dist < v[b] * v[b] / 6.0 + 0.5 * v[b] + 3.0:
                        unsafe[c] = True  # would need more than a comfortable stop
                    if dist < v[b] * v[b] / 12.0 + 0.3 * v[b] + 1.5:
                        hard[c] = True  # could not stop in time
    # a pedestrian at the kerb commits to crossing once traffic can stop; then the crosswalk is
    # occupied until it is across (the latch avoids dithering at the kerb)
    for a in range(A):
        c = agents.crossing[a]
        if c < 0:
            continue
        if not committed[a] and s[a] >= agents.crossing_enter[a] - 2.5:
            waited[a] += rules.dt_s
            # after ``patience`` seconds, pedestrians accept gaps that force hard braking
            if not unsafe[c] or (waited[a] > rules.pedestrian_patience_s and not hard[c]):
                committed[a] = True
        if committed[a] and s[a] <= agents.crossing_exit[a]:
            active[c] = True


@njit(cache=True, inline="always")
def _accelerations(t, paths, agents, stops, signal, rules, s, v, lanes, cw, acc):
    """IDM acceleration of every agent: free-road term plus the worst interaction, clipped."""
    A = s.shape[0]
    key, lane_s, key2, lane_s2, piece = lanes.key, lanes.lane_s, lanes.key2, lanes.lane_s2, lanes.piece
    x, y, heading = lanes.x, lanes.y, lanes.heading
    front, rear, length, width = agents.front, agents.rear, agents.length, agents.width
    a_max, b_comf, headway, min_gap = agents.a_max, agents.b_comf, agents.headway, agents.min_gap
    piece_key, piece_lane_s, piece_start = agents.piece_key, agents.piece_lane_s, agents.piece_start
    stop_key, stop_s, stop_kind, stop_ref = stops.key, stops.lane_s, stops.kind, stops.ref
    active, committed = cw.active, cw.committed
    go_on = rules.red_go_on_decel_mps2
    for a in range(A):
        va = v[a]
        p = agents.path[a]
        v0 = min(agents.v_desired[a], _path_v_max(paths, p, s[a]))
        amax, bc, T, s0 = a_max[a], b_comf[a], headway[a], min_gap[a]
        if v0 > 0.05:
            free = max(amax * (1.0 - (va / v0) ** 4), -bc)
        else:
            free = -bc
        look = 8.0 if agents.is_pedestrian[a] else max(40.0, 4.0 * va + 20.0)
        worst = 0.0
        gap = (paths.count[p] - 1) * paths.ds[p] - s[a] - front[a]
        if gap < look:  # end of the path: stop there rather than pile up
            worst = idm_term(va, 0.0, gap, amax, bc, T, s0)
        # agents and stop lines on this and the next lane pieces
        j = piece[a]
        for jj in range(j, MAX_PIECES):
            kk = piece_key[a, jj]
            if kk < 0:
                continue
            if jj == j:
                base, offs = lane_s[a], 0.0
            else:
                base, offs = piece_lane_s[a, jj], piece_start[a, jj] - s[a]
            if offs > look:
                break
            for b in range(A):
                if b == a:
                    continue
                for q in range(2):
                    kb = key[b] if q == 0 else key2[b]
                    lb = lane_s[b] if q == 0 else lane_s2[b]
                    if kb != kk:
                        continue
                    if jj == j:
                        rel = lb - lane_s[a]
                        if rel <= 0.0:
                            continue
                    else:
                        if lb + front[b] < base:
                            continue
                        rel = offs + lb - base
                    gap = rel - front[a] - rear[b]
                    if gap < look:
                        worst = min(worst, idm_term(va, v[b], gap, amax, bc, T, s0))
            for m in range(stop_key.shape[0]):
                if stop_key[m] != kk:
                    continue
                if jj != j and stop_s[m] < base:
                    continue
                gap = offs + stop_s[m] - base - front[a]
                if gap < -0.5 or gap > look:
                    continue
                if stop_kind[m] == STOP_SIGNAL:
                    if not is_red(signal, stop_ref[m], t):
                        continue
                    if va * va / (2.0 * max(gap, 0.01)) > go_on:
                        continue  # too late to stop: clear the junction during all-red
                elif not active[stop_ref[m]]:
                    continue
                worst = min(worst, idm_term(va, 0.0, gap, amax, bc, T, 0.5))
        if agents.crossing[a] >= 0 and not committed[a]:  # wait at the kerb
            gap = agents.crossing_enter[a] - 1.0 - s[a] - front[a]
            worst = min(worst, idm_term(va, 0.0, gap, amax, bc, T, 0.2))
        # anything crossing the corridor ahead (turning traffic, pedestrians)
        ca, sa = np.cos(heading[a]), np.sin(heading[a])
        for b in range(A):
            if b == a:
                continue
            dh = _wrap(heading[b] - heading[a])
            cdh = np.cos(dh)
            if abs(cdh) > 0.87:
                continue
            dx, dy = x[b] - x[a], y[b] - y[a]
            lon = dx * ca + dy * sa
            if lon <= 0.0:
                continue
            lat = -dx * sa + dy * ca
            sdh = abs(np.sin(dh))
            ex_lat = 0.5 * (length[b] * sdh + width[b] * abs(cdh))
            if abs(lat) > 0.5 * width[a] + ex_lat + 0.4:
                continue
            gap = lon - 0.5 * length[a] - 0.5 * (length[b] * abs(cdh) + width[b] * sdh)
            if gap < look:
                worst = min(worst, idm_term(va, max(v[b] * cdh, 0.0), gap, amax, bc, T, s0))
        acc[a] = max(free + worst, -agents.b_max[a])


@njit(cache=True, inline="always")
def _ego_step(paths, path, ego, dt, acc_cmd, s, ex, ey, eh, ev, ea, ed, ew):
    """One step of pure pursuit + lagged bicycle model (trapezoid rule); returns the new state."""
    wb = ego.wheelbase_m
    ld = max(ego.lookahead_min_m, ego.lookahead_gain_s * ev)
    lx, ly, _h, _k = path_pose(paths, path, s + ld)
    dx, dy = lx - ex, ly - ey
    alpha = np.arctan2(-dx * np.sin(eh) + dy * np.cos(eh), dx * np.cos(eh) + dy * np.sin(eh))
    dist = max(np.hypot(dx, dy), 1e-3)
    d_cmd = min(max(np.arctan(2.0 * wb * np.sin(alpha) / dist), -ego.max_steer_rad), ego.max_steer_rad)
    ed_n = ed + dt / ego.steer_time_constant_s * (d_cmd - ed)
    if ev <= 1e-9 and acc_cmd <= 0.0:
        ea_n, ev_n = 0.0, 0.0  # standing: brakes hold
    else:
        ea_n = ea + dt / ego.accel_time_constant_s * (acc_cmd - ea)
        ev_n = ev + 0.5 * dt * (ea + ea_n)
        if ev_n < 0.0:  # stop exactly within this step
            ea_n = -2.0 * ev / dt - ea
            ev_n = 0.0
    ew_n = ev_n * np.tan(ed_n) / wb
    eh_n = eh + 0.5 * dt * (ew + ew_n)
    ex += 0.5 * dt * (ev * np.cos(eh) + ev_n * np.cos(eh_n))
    ey += 0.5 * dt * (ev * np.sin(eh) + ev_n * np.sin(eh_n))
    s_n = _local_project(paths, path, s, ex, ey, 1.0, 3.0 + ev_n * dt)
    return s_n, ex, ey, eh_n, ev_n, ea_n, ed_n, ew_n


@njit(cache=True)
def simulate(paths, agents, stops, signal, ego, rules):
    """Step all agents ``rules.n_steps`` times.

    Returns ``S`` and ``V`` (n_steps, A): each agent's arc length on its path and speed, and the
    ego track ``E`` (n_steps, 8) with columns ``EGO_COLUMNS`` (index constants ``EGO_*``).
    """
    n_steps, dt = rules.n_steps, rules.dt_s
    A = agents.path.shape[0]
    C = max(rules.n_crossings, 1)
    S = np.zeros((n_steps, A))
    V = np.zeros((n_steps, A))
    E = np.zeros((n_steps, 8))
    s = agents.s_init.copy()
    v = agents.v_init.copy()
    acc = np.zeros(A)
    lanes = Lanes(
        np.zeros(A, np.int64), np.zeros(A, np.int64), np.zeros(A), np.zeros(A, np.int64), np.zeros(A),
        np.zeros(A), np.zeros(A), np.zeros(A),
    )  # fmt: skip
    no = np.bool_
    cw = Crosswalks(np.zeros(C, no), np.zeros(C, no), np.zeros(C, no), np.zeros(A, no), np.zeros(A))
    # the ego (agent 0) starts on its path, steered to its curvature
    ex, ey, eh, k0 = path_pose(paths, agents.path[0], s[0])
    ev, ea = v[0], 0.0
    ed = np.arctan(ego.wheelbase_m * k0)
    ew = ev * np.tan(ed) / ego.wheelbase_m
    for k in range(n_steps):
        t = k * dt
        for a in range(A):
            S[k, a] = s[a]
            V[k, a] = v[a]
        E[k, EGO_X], E[k, EGO_Y], E[k, EGO_YAW], E[k, EGO_SPEED] = ex, ey, eh, ev
        E[k, EGO_YAW_RATE], E[k, EGO_ACCEL], E[k, EGO_STEER], E[k, EGO_PROGRESS] = ew, ea, ed, s[0]
        if k == n_steps - 1:
            break
        _locate(paths, agents, rules, s, ex, ey, eh, lanes)
        _update_crosswalks(agents, stops, rules, s, v, lanes, cw)
        _accelerations(t, paths, agents, stops, signal, rules, s, v, lanes, cw, acc)
        for a in range(1, A):  # path followers
            vn = max(v[a] + acc[a] * dt, 0.0)
            s[a] += 0.5 * (v[a] + vn) * dt
            v[a] = vn
        s[0], ex, ey, eh, ev, ea, ed, ew = _ego_step(
            paths, agents.path[0], ego, dt, acc[0], s[0], ex, ey, eh, ev, ea, ed, ew
        )
        v[0] = ev
    return S, V, E
