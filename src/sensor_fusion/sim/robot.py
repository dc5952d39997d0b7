"""A skid-steer ground robot on a campus/yard with slopes: the world of ``simulate --scenario robot``.

Why a world of its own: the road world (``world.py``) moves a car along lanes with a bicycle model
on flat ground; a small robot drives a mission of straight legs, gentle arcs, stops and turns on the
spot over uneven ground, which is what the ego estimator must handle at 1 m/s (issue 15).

The mission is drawn from the seed (``world.robot``): after ``initial_stop_s`` standing, legs of
``leg_length_m`` at up to ``max_speed_mps`` (some with a constant curvature), each followed with
probability ``stop_prob`` by a stop of ``stop_s``, and with probability ``turn_prob`` by a turn on
the spot of 45-180 deg at up to ``max_yaw_rate_rps``. The speed and yaw-rate commands pass through two
first-order lags (``response_time_s``) so that acceleration and angular acceleration are continuous
(the IMU is their derivative). The ground is a smooth height field: ``hills`` Gaussian bumps of up to
``max_slope_deg`` steepness around the start. The body's z axis follows the ground normal (pitch and
roll from the slope, yaw = heading). ``buildings`` rectangular buildings stand beside the path (at least
``building_clearance_m`` from it); their walls (``facade_segments``) are where GNSS multipath comes from.

Everything is integrated once on the ``world.sim_rate_hz`` grid; queries interpolate. Velocity,
acceleration and body rates are central differences of that grid, so a noise-free IMU made from them
integrates back to the trajectory. ``ego_arrays`` adds ``R_world_base`` (N, 3, 3), ``omega_body`` and
``alpha_body`` (N, 3) to the planar keys; the IMU and GNSS models use the 3D attitude when present.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .body import attitude_on_slope, body_arrays, body_grid, quat_xyzw
from .state import ActorStates, EgoState

GRAVITY_UP = np.array([0.0, 0.0, 1.0])


class FlatGround:
    """Ground classes for a yard without painted roads: everything is off-road (class 0)."""

    def ground_class(self, xy: np.ndarray) -> np.ndarray:
        return np.zeros(np.asarray(xy).reshape(-1, 2).shape[0], dtype=np.uint8)


class HeightField:
    """``z = sum_i A_i exp(-|p - c_i|^2 / (2 s_i^2))``: smooth hills and hollows (m)."""

    def __init__(self, centres: np.ndarray, amplitudes: np.ndarray, widths: np.ndarray) -> None:
        self.c = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        self.a = np.asarray(amplitudes, dtype=np.float64).reshape(-1)
        self.s = np.asarray(widths, dtype=np.float64).reshape(-1)

    def height_and_gradient(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(xy, dtype=np.float64)[:, None, :] - self.c[None]  # (N, K, 2)
        g = self.a * np.exp(-np.sum(d**2, axis=2) / (2.0 * self.s**2))  # (N, K)
        grad = -np.sum(g[..., None] * d / (self.s**2)[None, :, None], axis=1)
        return g.sum(axis=1), grad


def _lag2(u: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """Two first-order lags in series (continuous output and derivative for step commands)."""
    a = dt / (tau + dt)
    y1 = np.empty_like(u)
    y2 = np.empty_like(u)
    s1 = s2 = float(u[0]) * 0.0
    for k in range(len(u)):  # one pass over the simulation grid at construction
        s1 += a * (u[k] - s1)
        s2 += a * (s1 - s2)
        y1[k], y2[k] = s1, s2
    return y2


def mission_commands(
    rc: Mapping, n: int, dt: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(n,) speed (m/s) and yaw-rate (rad/s) commands of a random mission (module docstring)."""
    v = np.zeros(n)
    w = np.zeros(n)
    k = int(round(float(rc["initial_stop_s"]) / dt))
    vmax, wmax = float(rc["max_speed_mps"]), float(rc["max_yaw_rate_rps"])
    lo, hi = rc["leg_length_m"]
    while k < n:
        speed = vmax * rng.uniform(0.6, 1.0)
        length = rng.uniform(lo, hi)
        curv = rng.choice([0.0, 0.0, 1.0 / rng.uniform(8.0, 25.0) * rng.choice([-1.0, 1.0])])
        m = int(round(length / speed / dt))
        v[k : k + m] = speed
        w[k : k + m] = speed * curv
        k += m
        if rng.random() < float(rc["stop_prob"]):
            k += int(round(rng.uniform(*rc["stop_s"]) / dt))
        if rng.random() < float(rc["turn_prob"]):
            ang = np.radians(rng.uniform(45.0, 180.0)) * rng.choice([-1.0, 1.0])
            rate = wmax * rng.uniform(0.6, 1.0)
            m = int(round(abs(ang) / rate / dt))
            w[k : k + m] = np.sign(ang) * rate
            k += m + int(round(1.0 / dt))  # a short pause after turning
    return v, w


def place_buildings(
    path_xy: np.ndarray, count: int, clearance: float, rng: np.random.Generator
) -> np.ndarray:
    """(4 x count, 2, 2) wall segments of ``count`` rectangular buildings (8-30 m sides) near the
    robot's path ``path_xy`` (N, 2) but at least ``clearance`` m from it: what GNSS multipath comes
    from (``gnss.FacadeMultipath``). Fewer if no free spot is found."""
    from scipy.spatial import cKDTree

    pts = path_xy[:: max(1, len(path_xy) // 2000)]
    tree = cKDTree(pts)
    lo, hi = pts.min(axis=0) - 25.0, pts.max(axis=0) + 25.0
    segs: list[np.ndarray] = []
    for _ in range(40 * max(count, 1)):
        if len(segs) == 4 * count:
            break
        c, size, a = rng.uniform(lo, hi), rng.uniform(8.0, 30.0, 2), rng.uniform(0.0, np.pi)
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        corners = c + (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.5 * size) @ R.T
        local = (pts - c) @ R  # path points in the building's frame: none inside
        inside = np.all(np.abs(local) <= 0.5 * size + clearance, axis=1)
        edge = np.concatenate([np.linspace(corners[i], corners[(i + 1) % 4], 30) for i in range(4)])
        if inside.any() or tree.query(edge)[0].min() < clearance:
            continue
        if not tree.query(edge)[0].min() < 40.0:  # too far to matter
            continue
        segs += [np.stack([corners[i], corners[(i + 1) % 4]]) for i in range(4)]
    return np.array(segs, dtype=np.float64).reshape(-1, 2, 2)


class RobotWorld:
    """``WorldView`` of a skid-steer robot on uneven ground (module docstring)."""

    def __init__(self, config: dict, seed: int | None = None) -> None:
        from .scenarios import stream_rng

        wc = config["world"]
        rc = wc["robot"]
        self.config = config
        self.seed = int(config.get("seed", 0) if seed is None else seed)
        self.t0_ns = int(wc["start_time_ns"])
        self.dt_ns = int(round(1e9 / float(wc["sim_rate_hz"])))
        self.n_steps = int(np.ceil(float(wc["duration_s"]) * 1e9 / self.dt_ns)) + 1
        self.duration_ns = (self.n_steps - 1) * self.dt_ns
        self.t_end_ns = self.t0_ns + self.duration_ns
        self.ground = FlatGround()
        self.ego_size = np.array(rc["size_m"], dtype=np.float64)
        self.ego_box_offset = 0.0
        dt = self.dt_ns * 1e-9
        rng = stream_rng(self.seed, "robot_mission")
        v_cmd, w_cmd = mission_commands(rc, self.n_steps, dt, rng)
        tau = float(rc["response_time_s"])
        v, w = _lag2(v_cmd, dt, tau), _lag2(w_cmd, dt, tau)
        # terrain: hills with slope up to max_slope_deg (a Gaussian's steepest slope is A / (s sqrt(e)))
        nh = int(rc["hills"])
        s_h = rng.uniform(8.0, 20.0, nh)
        slope = np.tan(np.radians(float(rc["max_slope_deg"]))) * rng.uniform(0.5, 1.0, nh)
        amp = slope * s_h * np.sqrt(np.e) * rng.choice([-1.0, 1.0], nh)
        self.terrain = HeightField(rng.uniform(-50.0, 50.0, (nh, 2)), amp, s_h)
        # integrate: v is the speed along the ground surface; the heading is the yaw
        yaw = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * dt)])
        xy = np.zeros((self.n_steps, 2))
        for k in range(1, self.n_steps):  # the horizontal speed depends on the slope at the position
            _z, g = self.terrain.height_and_gradient(xy[k - 1 : k])
            d = np.array([np.cos(yaw[k - 1]), np.sin(yaw[k - 1])])
            c = 1.0 / np.sqrt(1.0 + float(g[0] @ d) ** 2)
            xy[k] = xy[k - 1] + 0.5 * (v[k] + v[k - 1]) * dt * c * np.array([np.cos(yaw[k]), np.sin(yaw[k])])
        z, grad = self.terrain.height_and_gradient(xy)
        pos = np.column_stack([xy, z - z[0]])
        # attitude: body z along the ground normal, yaw = heading (ZYX Euler)
        pitch, roll, nrm = attitude_on_slope(yaw, grad)
        self._grid = body_grid(pos, yaw, pitch, roll, dt)
        self.slope_deg = np.degrees(np.arccos(np.clip(nrm[:, 2], -1.0, 1.0)))
        self.facade_segments = place_buildings(
            xy,
            int(rc["buildings"]),
            float(rc["building_clearance_m"]),
            stream_rng(self.seed, "robot_buildings"),
        )

    def ego_arrays(self, stamps_ns) -> dict[str, np.ndarray]:
        st = np.clip(np.atleast_1d(np.asarray(stamps_ns, dtype=np.int64)) - self.t0_ns, 0, self.duration_ns)
        k = np.minimum(st // self.dt_ns, self.n_steps - 2)
        return body_arrays(self._grid, k, (st - k * self.dt_ns) / self.dt_ns, self.dt_ns * 1e-9)

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
            orientation=quat_xyzw(e["R_world_base"][0]),
        )

    def actors_at(self, stamp_ns: int) -> ActorStates:
        z = np.zeros((0, 3))
        e = np.zeros(0)
        return ActorStates(np.zeros(0, np.int64), np.zeros(0, np.int64), z, z.copy(), e, z.copy(), e.copy())

    def ego_box_at(self, stamp_ns: int) -> tuple[np.ndarray, np.ndarray, float]:
        e = self.ego_at(stamp_ns)
        c = e.position.copy()
        c[2] += 0.5 * self.ego_size[2]
        return c, self.ego_size.copy(), e.yaw

    @property
    def stamps_ns(self) -> np.ndarray:
        return self.t0_ns + np.arange(self.n_steps, dtype=np.int64) * self.dt_ns
