"""Scene layout: the roads of a scenario, its signals, and the ego on its route.

Why a module of its own: what the road network looks like is a scenario decision, apart from how
actors are spread over it (``placement.py``) and how they move (``traffic.py``). A new road type
is one more entry in ``ROAD_LAYOUTS``; static scenery (buildings, poles, curbs, parked cars) will
be laid out from the same ``Scene.roads`` after ``lay_out_roads``.

Frames: the ego starts at the origin heading east (+x) in lane ``world.ego.lane`` (1 = next to the
centre line); the roads are placed around it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.spatial import cKDTree

from .road import Road, RoadMap, crossing_roads, curved_road, straight_road
from .scene import EGO_LABEL, Agent, Idm, LanePiece, Scene
from .traffic import STOP_SIGNAL

# a road builder: (road config, Road keyword arguments, start of road A (x, y), length behind the
# ego, length ahead, ego nominal speed m/s, duration s) -> (roads, junction centre or None)
RoadLayout = Callable[
    [Mapping, dict, tuple[float, float], float, float, float, float], tuple[list[Road], np.ndarray | None]
]


def _straight(rc, kw, start, back, front, v_nom, duration):
    return [straight_road(start, 0.0, back + front, name="road_a", **kw)], None


def _curved(rc, kw, start, back, front, v_nom, duration):
    road = curved_road(
        start, 0.0, back + front, float(rc["curve_radius_m"]), float(rc["curve_angle_deg"]),
        first_straight=back + float(rc["first_straight_m"]), name="road_a", **kw,
    )  # fmt: skip
    return [road], None


def _intersection(rc, kw, start, back, front, v_nom, duration):
    """Road A through a 4-way junction ``intersection_distance_m`` ahead; road B crossing it."""
    xc = float(rc["intersection_distance_m"])
    b_half = max(v_nom * 1.2 * duration + 200.0, 300.0)
    a, b = crossing_roads((xc, start[1]), 0.0, xc + back, front, b_half, **kw)
    return [a, b], np.array([xc, start[1]])


ROAD_LAYOUTS: dict[str, RoadLayout] = {
    "straight": _straight,
    "curved": _curved,
    "intersection": _intersection,
}


def lay_out_roads(rc: Mapping, ego_lane: int, v_nom: float, duration_s: float) -> Scene:
    """The roads of ``world.road`` around the ego's start, every vehicle lane keyed, signals set."""
    n, w = int(rc["lanes_per_direction"]), float(rc["lane_width_m"])
    if not 1 <= ego_lane <= n:
        raise ValueError(f"world.ego.lane must be in 1..{n}, got {ego_lane}")
    d_ego = -(ego_lane - 0.5) * w
    back = max(150.0, 1.3 * v_nom * duration_s + 60.0)  # oncoming traffic drives on behind the ego
    front = max(v_nom * 1.25 * duration_s + 250.0, 2.0 * v_nom * 1.1 * duration_s * 0.95 + 80.0)
    kw = dict(
        lanes_per_direction=n,
        lane_width=w,
        shoulder=float(rc["shoulder_m"]),
        sidewalk=float(rc["sidewalk_m"]),
        centre_line=str(rc["centre_line"]),
    )
    kind = rc["type"]
    if kind not in ROAD_LAYOUTS:
        raise ValueError(f"unknown world.road.type {kind!r}")
    roads, junction = ROAD_LAYOUTS[kind](rc, kw, (-back, -d_ego), back, front, v_nom, duration_s)
    scene = Scene(roads, kind, junction)
    # every vehicle lane gets a key now (crosswalk and signal stop points refer to them)
    for ri in range(len(roads)):
        for spec in scene.vehicle_lanes(ri):
            scene.lane(*spec)
    if junction is not None:
        add_signals(scene)
    return scene


def add_signals(scene: Scene) -> None:
    """Stop lines before the other road's pavement on every approach (signal group = road index)."""
    c = scene.junction
    for ri in range(2):
        other = scene.roads[1 - ri]
        for spec in scene.vehicle_lanes(ri):
            key = scene.lane(*spec)
            s_c = scene.lane_s_at(key, c)
            scene.add_stop(key, s_c - other.half_width - 1.5, STOP_SIGNAL, ri)


def place_ego(scene: Scene, ec: Mapping, turn_radius_m: float) -> Agent:
    """The ego (agent 0) at the origin in its lane, on route ``world.ego.route`` (straight | right)."""
    size = np.array([ec["length_m"], ec["width_m"], ec["height_m"]], dtype=np.float64)
    rear = float(ec["rear_overhang_m"])
    front = size[0] - rear
    r0 = scene.roads[0]
    key = scene.lane(0, r0.lane_offset(int(ec["lane"])), True)
    route = str(ec["route"])
    if route == "right":
        if scene.road_type != "intersection":
            raise ValueError("world.ego.route 'right' needs road type 'intersection'")
        path, pieces = scene.right_turn(key, scene.exit_lane(key), turn_radius_m)
        pid = scene.add_path(path)
    elif route == "straight":
        pid, pieces = scene.lane_path_id(key), [LanePiece(0.0, key, 0.0)]
    else:
        raise ValueError(f"world.ego.route must be straight or right, got {route!r}")
    s0 = scene.lane_s_at(key, np.zeros(2))
    v_init = float(ec["speed_mps"] if ec["start_speed_mps"] is None else ec["start_speed_mps"])
    idm = Idm(
        float(ec["max_accel_mps2"]), float(ec["comfort_decel_mps2"]), float(ec["max_decel_mps2"]),
        float(ec["time_headway_s"]), float(ec["min_gap_m"]),
    )  # fmt: skip
    ego = Agent(EGO_LABEL, size, pid, s0, float(ec["speed_mps"]), v_init, front, rear, idm, pieces)
    scene.add_agent(ego)
    scene.occupy(key, s0, front, rear, v_init)
    return ego


def ground_map(roads: list[Road], ego_xy: np.ndarray, rc: Mapping) -> RoadMap:
    """The painted ground of ``roads`` within ``raster_view_m`` of the ego's track ``ego_xy`` (N, 2)."""
    view = float(rc["raster_view_m"])
    tree = cKDTree(ego_xy[:: max(1, len(ego_xy) // 400)])
    ranges = []
    for r in roads:
        s = np.arange(0.0, r.centre.length, 2.0)
        d, _ = tree.query(r.centre.pose_at(s)[0])
        near = s[d < view]
        ranges.append((float(near.min()) - 5.0, float(near.max()) + 5.0) if len(near) else (0.0, 1.0))
    return RoadMap(
        roads,
        float(rc["raster_resolution_m"]),
        ranges,
        float(rc["marking_width_m"]),
        float(rc["dash_on_m"]),
        float(rc["dash_off_m"]),
    )
