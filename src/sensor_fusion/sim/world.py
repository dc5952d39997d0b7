"""The scenario world: roads, an ego vehicle and traffic, deterministic from (config, seed).

Everything moves in the world frame (``odom``: x east, y north, z up; the ego starts at the
origin heading east), on flat ground, or with the static world on graded, crowned roads
(``terrain.py``: the ego's body then pitches and rolls with the road, actors stand on it). At
construction the scene is laid out and populated, and the whole scenario is simulated once at
``world.sim_rate_hz``; queries then only interpolate, so sensors can ask for any stamp cheaply and
repeatably. This module is that composition and the queries;
the parts live apart so that each can change alone:

* ``layout.py``: the roads of the scenario, signals, the ego on its route, the ground map;
* ``placement.py``: where cars, trucks, buses, cyclists and pedestrians start;
* ``scene.py``: what those two build (lanes, paths, stop lines, agents), packed for the kernel;
* ``static/``: the static world (``world.static``): meshes of buildings, vegetation, street
  furniture, curbs, guard rails, and parked cars (truth objects that never move);
* ``traffic.py``: the numba kernel that moves everyone (IDM car following, signals, crosswalks,
  the ego's pure pursuit and bicycle model).

Ego states integrate consistently (``yaw_rate`` and ``accel_body`` from ``ego_at``
integrate back to its yaw and speed; the IMU is synthesised from them). Actor
poses are evaluated on their path at the interpolated arc length, so they stay
exactly on the lane at any stamp. Stamps outside ``[t0_ns, t_end_ns]`` are
clamped (the world holds still).
"""

from __future__ import annotations

import numpy as np

from ..core.classes import ObjectClass
from ..core.geometry import invert_transform, pose2d_to_transform, transform_points, wrap_angle
from .body import attitude_on_slope, body_arrays, body_grid, quat_xyzw
from .layout import ground_map, lay_out_roads, place_ego
from .placement import place_actors
from .scenarios import stream_rng
from .state import ActorStates, EgoState
from .static.layout import build_layout
from .static.wind import Wind
from .static.world import StaticWorld
from .terrain import Terrain, draw_terrain
from .traffic import (
    CONNECTOR_MEMORY_M,
    EGO_ACCEL,
    EGO_SPEED,
    EGO_X,
    EGO_Y,
    EGO_YAW,
    EGO_YAW_RATE,
    RED_GO_ON_DECEL_MPS2,
    EgoDynamics,
    PathTable,
    Rules,
    SignalPlan,
    is_red,
    simulate,
)


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
        rc, ec, ac = cfg["road"], cfg["ego"], cfg["actors"]
        duration = self.duration_ns * 1e-9

        # -- the scene: roads, the ego, traffic
        self.ego_lane = int(ec["lane"])
        scene = lay_out_roads(rc, self.ego_lane, float(ec["speed_mps"]), duration)
        ego = place_ego(scene, ec, float(rc["turn_radius_m"]))
        self.missing_actors = place_actors(scene, ac, self.seed, duration, float(rc["turn_radius_m"]))
        self.scene = scene
        self.roads, self.road_type, self.junction = scene.roads, scene.road_type, scene.junction
        self.ego_size = ego.size
        self.wheelbase = float(ec["wheelbase_m"])
        # box centre ahead of base_link (rear axle), m: what the renderer and the overlap test need
        self.ego_box_offset = 0.5 * (ego.front - ego.rear)
        self.ego_route = scene.paths[ego.path]

        # -- simulate everyone once
        paths, agents, stops = scene.traffic_tables(float(cfg["lateral_accel_mps2"]))
        sig = rc["signal"]
        self._signal = SignalPlan(
            float(sig["green_s"]), float(sig["all_red_s"]), float(sig["offset_s"]),
            1 if sig["first_green"] == "crossing" else 0,
        )  # fmt: skip
        dynamics = EgoDynamics(
            self.wheelbase, float(ec["max_steer_rad"]), float(ec["steer_time_constant_s"]),
            float(ec["accel_time_constant_s"]), float(ec["lookahead_gain_s"]), float(ec["lookahead_min_m"]),
        )  # fmt: skip
        rules = Rules(
            self.n_steps, self.dt_ns * 1e-9, scene.n_crossings, float(ac["pedestrian_patience_s"]),
            CONNECTOR_MEMORY_M, RED_GO_ON_DECEL_MPS2,
        )  # fmt: skip
        S, V, E = simulate(paths, agents, stops, self._signal, dynamics, rules)
        self._E = E  # ego track, columns traffic.EGO_COLUMNS
        self._S = S[:, 1:]  # actors' path arc length
        self._V = V[:, 1:]  # and speed
        actors = scene.agents[1:]
        self.actor_ids = np.arange(1, len(actors) + 1, dtype=np.int64)
        self.actor_labels = np.array([int(a.label) for a in actors], dtype=np.int64)
        self.actor_sizes = np.array([a.size for a in actors], dtype=np.float64).reshape(-1, 3)
        self._apath = agents.path[1:]
        self._flatten_paths(paths)
        self.ground = ground_map(self.roads, np.column_stack([E[:, EGO_X], E[:, EGO_Y]]), rc)

        # -- the static world (buildings, vegetation, furniture, parked cars); None: the open world
        self.static: StaticWorld | None = None
        self.terrain: Terrain | None = None  # graded, crowned ground (static worlds); None: z = 0
        self._grid: dict | None = None  # the ego's 3D body on the terrain (body.body_grid)
        self.wind: Wind | None = None  # moves the static world's foliage (static/wind.py)
        self.animate_people = False  # sensors: pedestrians as articulated walkers (shapes.gait)
        self.n_moving = len(actors)
        sc = cfg.get("static")
        if sc is not None and sc["enabled"]:
            ego_xy = np.column_stack([E[:, EGO_X], E[:, EGO_Y]])
            mb, parked = build_layout(scene, sc, ego_xy, stream_rng(self.seed, "static"))
            # road grade and crossfall (terrain.py): the ground is not one plane; None where both are 0
            self.terrain = draw_terrain(sc, scene.roads, ego_xy, stream_rng(self.seed, "terrain"))
            self.static = StaticWorld(mb, self.terrain)
            self.wind = Wind.draw(sc["wind_mps"], stream_rng(self.seed, "wind"))
            self.animate_people = bool(sc["animated_people"])
            # lighting varies from world to world: sun 20-70 deg up, any azimuth
            srng = stream_rng(self.seed, "sun")
            el, az = np.radians(srng.uniform(20.0, 70.0)), srng.uniform(-np.pi, np.pi)
            self.sun_dir = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
            # pedestrians stand on the raised sidewalk except while crossing the road
            ped = self.actor_labels == int(ObjectClass.PEDESTRIAN)
            self._lift = np.where(
                ped, float(sc["curb_height_m"]) if float(rc["sidewalk_m"]) >= 1.0 else 0.0, 0.0
            )
            self._cross_s = np.array([[a.cs_enter, a.cs_exit] for a in actors], np.float64).reshape(-1, 2)
            K = len(parked.yaw)
            if K:
                self.actor_ids = np.arange(1, len(actors) + K + 1, dtype=np.int64)
                self.actor_labels = np.concatenate([self.actor_labels, parked.labels])
                self.actor_sizes = np.vstack([self.actor_sizes, parked.sizes])
            if self.terrain is not None:
                parked = parked._replace(centers=parked.centers.copy())
                parked.centers[:, 2] += self.terrain.height(parked.centers[:, :2])
                self._grid = self._ego_on_terrain()
            self._parked = parked

    def _flatten_paths(self, paths: PathTable) -> None:
        """All paths on one global arc length (10 m apart), so one np.interp evaluates every actor."""
        pn, pds = paths.count, paths.ds
        lengths = (pn - 1) * pds
        self._goff = np.concatenate([[0.0], np.cumsum(lengths + 10.0)[:-1]])
        self._plen = lengths
        self._GS = np.concatenate([self._goff[i] + np.arange(pn[i]) * pds[i] for i in range(len(pn))])
        self._PX, self._PY, self._PH, self._PK = paths.x, paths.y, paths.heading, paths.curvature

    def _ego_on_terrain(self) -> dict:
        """The ego's body on the terrain over the simulation grid: base_link (the rear axle) on the
        ground, pitch from the axles' heights, roll from the wheels' across the track, smoothed over
        0.15 s (the suspension and the tyres' contact patches filter the road's shape)."""
        from scipy.ndimage import gaussian_filter1d

        E, dt = self._E, self.dt_ns * 1e-9
        xy = np.column_stack([E[:, EGO_X], E[:, EGO_Y]])
        yaw = np.unwrap(E[:, EGO_YAW])
        d = np.column_stack([np.cos(yaw), np.sin(yaw)])
        left = np.column_stack([-d[:, 1], d[:, 0]])
        wb, track = self.wheelbase, max(float(self.ego_size[1]) - 0.25, 1.0)
        h = self.terrain.height
        mid = xy + 0.5 * wb * d
        along = (h(xy + wb * d) - h(xy)) / wb
        across = (h(mid + 0.5 * track * left) - h(mid - 0.5 * track * left)) / track
        grad = along[:, None] * d + across[:, None] * left
        grad = gaussian_filter1d(grad, 0.15 / dt, axis=0, mode="nearest")
        pitch, roll, _ = attitude_on_slope(yaw, grad)
        pos = np.column_stack([xy, h(xy)])
        return body_grid(pos, yaw, pitch, roll, dt)

    # -- queries -----------------------------------------------------------------------------------
    def _index(self, stamps_ns) -> tuple[np.ndarray, np.ndarray]:
        st = np.clip(np.asarray(stamps_ns, dtype=np.int64) - self.t0_ns, 0, self.duration_ns)
        k = np.minimum(st // self.dt_ns, self.n_steps - 2)
        return k, (st - k * self.dt_ns) / self.dt_ns

    def ego_arrays(self, stamps_ns) -> dict[str, np.ndarray]:
        """Ego state at (N,) stamps: position, yaw, velocity, yaw_rate, yaw_accel, accel_body, speed."""
        k, r = self._index(np.atleast_1d(stamps_ns))
        if self._grid is not None:  # graded, crowned roads: a 3D attitude (R_world_base, ...)
            return body_arrays(self._grid, k, r, self.dt_ns * 1e-9)
        E0, E1 = self._E[k], self._E[k + 1]
        e = E0 * (1.0 - r)[:, None] + E1 * r[:, None]
        yaw, v, w, a = e[:, EGO_YAW], e[:, EGO_SPEED], e[:, EGO_YAW_RATE], e[:, EGO_ACCEL]
        n = len(k)
        pos = np.column_stack([e[:, EGO_X], e[:, EGO_Y], np.zeros(n)])
        vel = np.column_stack([v * np.cos(yaw), v * np.sin(yaw), np.zeros(n)])
        acc = np.column_stack([a, v * w, np.zeros(n)])
        return {
            "position": pos,
            "yaw": wrap_angle(yaw),
            "velocity": vel,
            "yaw_rate": w,
            "yaw_accel": (E1[:, EGO_YAW_RATE] - E0[:, EGO_YAW_RATE]) / (self.dt_ns * 1e-9),
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
            orientation=None if self._grid is None else quat_xyzw(e["R_world_base"][0]),
        )

    def ego_box_at(self, stamp_ns: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Ego bounding box (centre (3,), size (3,), yaw): base_link is the rear axle, not the centre."""
        e = self.ego_at(stamp_ns)
        c = e.position + self.ego_box_offset * np.array([np.cos(e.yaw), np.sin(e.yaw), 0.0])
        c[2] = 0.5 * self.ego_size[2]
        if self.terrain is not None:
            c[2] += e.position[2]
        return c, self.ego_size.copy(), e.yaw

    def actor_boxes_in_base(self, stamp_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The actors' planar boxes in the ego's base_link at ``stamp_ns``: centres (N, 2), length and
        width (N, 2), yaw (N,): what a perfect detector would report (tests and evaluations)."""
        ego, act = self.ego_at(stamp_ns), self.actors_at(stamp_ns)
        T_base_world = invert_transform(pose2d_to_transform(ego.position[0], ego.position[1], ego.yaw))
        centers = transform_points(T_base_world, act.centers[:, :3].astype(np.float64))[:, :2]
        return centers, act.sizes[:, :2], act.yaw - ego.yaw

    def actors_at(self, stamp_ns: int) -> ActorStates:
        k, r = self._index(np.array([stamp_ns]))
        k, r = int(k[0]), float(r[0])
        s = self._S[k] * (1.0 - r) + self._S[k + 1] * r
        v = self._V[k] * (1.0 - r) + self._V[k + 1] * r
        g = self._goff[self._apath] + np.clip(s, 0.0, self._plen[self._apath])
        x, y = np.interp(g, self._GS, self._PX), np.interp(g, self._GS, self._PY)
        h, kap = np.interp(g, self._GS, self._PH), np.interp(g, self._GS, self._PK)
        n = len(s)
        yaw_rate = v * kap
        z = 0.5 * self.actor_sizes[:, 2]
        if self.static is not None:
            lift = self._lift * ~((s >= self._cross_s[:, 0]) & (s <= self._cross_s[:, 1]))
            z = z + np.concatenate([lift, np.zeros(len(z) - n)])
        vz = np.zeros(n)
        if self.terrain is not None:  # on the graded ground, climbing with it
            on = np.column_stack([x, y])
            z[:n] += self.terrain.height(on)
            vz = np.einsum("ij,ij->i", self.terrain.gradient(on), np.column_stack([np.cos(h), np.sin(h)])) * v
        if len(self.actor_ids) > n:  # parked cars and standing people: never move
            p = self._parked
            z[n:] = p.centers[:, 2]
            x, y = np.concatenate([x, p.centers[:, 0]]), np.concatenate([y, p.centers[:, 1]])
            h = np.concatenate([h, p.yaw])
            v = np.concatenate([v, np.zeros(len(p.yaw))])
            vz = np.concatenate([vz, np.zeros(len(p.yaw))])
            yaw_rate = np.concatenate([yaw_rate, np.zeros(len(p.yaw))])
        return ActorStates(
            ids=self.actor_ids.copy(),
            labels=self.actor_labels.copy(),
            centers=np.column_stack([x, y, z]),
            sizes=self.actor_sizes.copy(),
            yaw=wrap_angle(h),
            velocity=np.column_stack([v * np.cos(h), v * np.sin(h), vz]),
            yaw_rate=yaw_rate,
        )

    def signal_red(self, road: int, stamp_ns: int) -> bool:
        """Whether approaches on ``road`` (0 = the ego's, 1 = the crossing one) face red at a stamp."""
        if self.junction is None:
            return False
        t = (int(np.clip(stamp_ns - self.t0_ns, 0, self.duration_ns))) * 1e-9
        return bool(is_red(self._signal, road, t))

    @property
    def stamps_ns(self) -> np.ndarray:
        """The simulation grid (int ns)."""
        return self.t0_ns + np.arange(self.n_steps, dtype=np.int64) * self.dt_ns
