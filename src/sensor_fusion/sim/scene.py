"""The scene under construction: roads, the lane graph, stop lines, agents and claimed lane space.

Why a module of its own: layout (``layout.py``: roads, signals, the ego) and placement
(``placement.py``: traffic, cyclists, pedestrians) only *add* to a ``Scene``, and the traffic
kernel (``traffic.py``) only reads it, packed by ``traffic_tables``. So a new road type, a new
kind of actor or a static world (buildings, poles, parked cars, placed from the same roads and
claiming lane space through ``occupy``) is a new function writing to the Scene, not an edit of
the kernel or of the queries in ``world.py``.

Lanes are identified by integer keys, created on first use from (road, lateral offset,
direction); a connector (e.g. a right-turn arc) gets a key of its own with no road lane behind it.
The order in which keys, paths and agents are created is part of a scenario's identity (same
config and seed, same world), so callers keep their order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..core.classes import ObjectClass
from .road import Path, Road
from .traffic import FAR, MAX_PIECES, NO_KEY, AgentTable, PathTable, StopTable

EGO_LABEL = -1  # the ego's label among the agents (not an ObjectClass)
NO_CROSSING = -1

LaneSpec = tuple[int, float, bool]  # road index, lateral offset d (m, rounded to mm), forward
# braking ahead of a bend to its curvature speed limit, m/s^2: anticipatory, gentler than the IDM's
# comfortable deceleration (2-2.5), as drivers ease off before a curve rather than brake in it
BEND_DECEL_MPS2 = 1.5


def speed_limit(path: Path, lat_acc: float, decel: float) -> np.ndarray:
    """Curvature speed limit ``sqrt(lat_acc / |k|)``, made reachable by braking at ``decel``."""
    vl2 = lat_acc / np.maximum(np.abs(path.curvature), 1e-6)
    s = path.s
    q = vl2 + 2.0 * decel * s
    q = np.minimum.accumulate(q[::-1])[::-1]
    return np.sqrt(np.maximum(q - 2.0 * decel * s, 0.0))


def path_table(paths: list[Path], lat_acc: float, decel: float = BEND_DECEL_MPS2) -> PathTable:
    """Flatten ``paths`` (index = path id) with their speed limits."""
    count = np.array([len(p.heading) for p in paths], dtype=np.int64)
    return PathTable(
        offset=np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64),
        count=count,
        ds=np.array([p.ds for p in paths]),
        x=np.concatenate([p.xy[:, 0] for p in paths]),
        y=np.concatenate([p.xy[:, 1] for p in paths]),
        heading=np.concatenate([p.heading for p in paths]),
        curvature=np.concatenate([p.curvature for p in paths]),
        v_max=np.concatenate([speed_limit(p, lat_acc, decel) for p in paths]),
    )


class LanePiece(NamedTuple):
    """A stretch of an agent's path that lies on one lane key."""

    start: float  # path s where the piece starts
    key: int  # lane key
    lane_s: float  # lane s at the piece start
    source: int = NO_KEY  # a connector's lane it leaves (followers there keep seeing the agent)
    source_s: float = 0.0  # lane s on that source lane at the piece start


class Stop(NamedTuple):
    """A stop line: traffic on lane ``key`` stops at ``lane_s`` when its signal or crosswalk says."""

    key: int
    lane_s: float
    kind: int  # traffic.STOP_SIGNAL or traffic.STOP_CROSSWALK
    ref: int  # signal group (road index) or crossing index


class Idm(NamedTuple):
    """A driver's (or walker's) IDM parameters."""

    a_max: float  # m/s^2
    b_comf: float  # m/s^2
    b_max: float  # m/s^2
    headway: float  # s
    min_gap: float  # m


@dataclass
class Agent:
    """One path follower; agent 0 is the ego (label ``EGO_LABEL``)."""

    label: int
    size: np.ndarray  # length, width, height (m)
    path: int  # index into Scene.paths
    s0: float  # path s at t = 0
    v0: float  # desired speed, m/s
    v_init: float  # speed at t = 0, m/s
    front: float  # reference point to front bumper, m
    rear: float  # reference point to rear bumper, m
    idm: Idm
    pieces: list[LanePiece] = field(default_factory=list)
    cross: int = NO_CROSSING  # crosswalk index of a crossing pedestrian
    cs_enter: float = FAR  # path s where it steps onto the road
    cs_exit: float = -FAR  # path s where it is back on a sidewalk


class Scene:
    """Roads, lanes, paths, stop lines and agents of one scenario, in creation order."""

    def __init__(self, roads: list[Road], road_type: str, junction: np.ndarray | None = None) -> None:
        self.roads = roads
        self.road_type = road_type
        self.junction = junction  # centre of the crossing (intersections), m
        # distance from the junction centre beyond which a lane is clear of the crossing road, m
        self.junction_clear = max(r.half_width for r in roads) + 1.5 if junction is not None else 0.0
        self.paths: list[Path] = []
        self.stops: list[Stop] = []
        self.agents: list[Agent] = []
        self.n_crossings = 0
        self._lane_keys: dict[LaneSpec, int] = {}
        self._lane_specs: list[LaneSpec | None] = []  # None: a connector
        self._lane_paths: list[Path | None] = []
        self._lane_path_ids: list[int] = []
        self._occupied: dict[int, list[tuple[float, float, float, float]]] = {}  # key -> (ls, front, rear, v)

    # -- paths and lanes ---------------------------------------------------------------------------
    def add_path(self, path: Path) -> int:
        self.paths.append(path)
        return len(self.paths) - 1

    def lane(self, road: int, d: float, forward: bool) -> int:
        """Key of the lane at offset ``d`` of ``road`` in a direction, created on first use."""
        spec = (road, round(float(d), 3), bool(forward))
        if spec not in self._lane_keys:
            path = self.roads[road].offset_path(d, forward)
            self._lane_keys[spec] = len(self._lane_specs)
            self._lane_specs.append(spec)
            self._lane_paths.append(path)
            self._lane_path_ids.append(self.add_path(path))
        return self._lane_keys[spec]

    def connector_key(self) -> int:
        """A new lane key with no road lane behind it (e.g. a turn arc)."""
        self._lane_specs.append(None)
        self._lane_paths.append(None)
        self._lane_path_ids.append(-1)  # no road lane (nor path) behind a connector
        return len(self._lane_specs) - 1

    def lane_spec(self, key: int) -> LaneSpec:
        spec = self._lane_specs[key]
        if spec is None:
            raise ValueError(f"lane key {key} is a connector")
        return spec

    def lane_path(self, key: int) -> Path:
        path = self._lane_paths[key]
        if path is None:
            raise ValueError(f"lane key {key} is a connector")
        return path

    def lane_path_id(self, key: int) -> int:
        return self._lane_path_ids[key]

    def lane_s_at(self, key: int, xy: np.ndarray) -> float:
        """Lane s of the point of lane ``key`` nearest ``xy``."""
        s, _ = self.lane_path(key).project(np.asarray(xy, dtype=np.float64)[None])
        return float(s[0])

    def vehicle_lanes(self, road: int) -> list[LaneSpec]:
        """Every driving lane of ``road`` (both directions), then its shoulders if they are bike lanes."""
        r = self.roads[road]
        out = [(road, r.lane_offset(k), k > 0) for k in range(1, r.lanes_per_direction + 1)]
        out += [(road, r.lane_offset(-k), False) for k in range(1, r.lanes_per_direction + 1)]
        if r.shoulder >= 1.0:
            out += [(road, r.shoulder_offset(True), True), (road, r.shoulder_offset(False), False)]
        return out

    def outer_lane(self, key: int) -> int:
        """The outermost driving lane in the direction of lane ``key``."""
        ri, _, fwd = self.lane_spec(key)
        r = self.roads[ri]
        n = r.lanes_per_direction
        return self.lane(ri, r.lane_offset(n if fwd else -n), fwd)

    # -- routes at a junction ---------------------------------------------------------------------
    def exit_lane(self, key_in: int) -> int:
        """The outermost lane of the crossing road that a right turn from ``key_in`` enters."""
        ri, _, fwd_in = self.lane_spec(key_in)
        h_in = self.roads[ri].centre.heading[0] + (0.0 if fwd_in else np.pi)
        other = self.roads[1 - ri]
        fwd_out = np.cos(h_in - 0.5 * np.pi - other.centre.heading[0]) > 0
        lane = other.lanes_per_direction * (1 if fwd_out else -1)
        return self.lane(1 - ri, other.lane_offset(lane), fwd_out)

    def right_turn(self, key_in: int, key_out: int, radius: float) -> tuple[Path, list[LanePiece]]:
        """Route: lane ``key_in`` up to the junction, a right-turn arc, lane ``key_out`` onward."""
        pin, pout = self.lane_path(key_in), self.lane_path(key_out)
        p1, u1 = pin.xy[0], np.array([np.cos(pin.heading[0]), np.sin(pin.heading[0])])
        p2, u2 = pout.xy[0], np.array([np.cos(pout.heading[0]), np.sin(pout.heading[0])])
        # p1 + t1 u1 = p2 + t2 u2
        t1, _ = np.linalg.solve(np.column_stack([u1, -u2]), p2 - p1)
        x = p1 + t1 * u1
        a0, a1 = x - radius * u1, x + radius * u2
        s_in = self.lane_s_at(key_in, a0)
        s_out = self.lane_s_at(key_out, a1)
        arc = Path.from_curvature(a0, float(pin.pose_at(s_in)[1]), [("arc", radius, -0.5 * np.pi)])
        route = Path.concat([pin.sub(0.0, s_in), arc, pout.sub(s_out, pout.length)])
        pieces = [
            LanePiece(0.0, key_in, 0.0),
            LanePiece(s_in, self.connector_key(), 0.0, key_in, s_in),
            LanePiece(s_in + arc.length, key_out, s_out),
        ]
        return route, pieces

    # -- stop lines ---------------------------------------------------------------------------------
    def add_stop(self, key: int, lane_s: float, kind: int, ref: int) -> None:
        self.stops.append(Stop(key, lane_s, kind, ref))

    def new_crossing(self) -> int:
        """Index of a new crosswalk (a crossing pedestrian's, with stop lines on the lanes it crosses)."""
        self.n_crossings += 1
        return self.n_crossings - 1

    # -- lane space ---------------------------------------------------------------------------------
    def occupy(self, key: int, lane_s: float, front: float, rear: float, v: float) -> None:
        """Claim lane space at t = 0 (what ``fits`` checks later placements against)."""
        self._occupied.setdefault(key, []).append((lane_s, front, rear, v))

    def fits(self, key: int, lane_s: float, front: float, rear: float, v: float) -> bool:
        """Whether a new agent fits on a lane with a gap that IDM can keep without hard braking."""
        path = self.lane_path(key)
        if lane_s - rear < 0.0 or lane_s + front > path.length:
            return False
        for ols, of, orr, ov in self._occupied.get(key, []):
            if ols >= lane_s:  # the other is ahead
                gap, vf, vl = ols - orr - (lane_s + front), v, ov
            else:
                gap, vf, vl = lane_s - rear - (ols + of), ov, v
            need = 2.5 + 1.2 * vf + max(vf - vl, 0.0) * vf / 4.0
            if gap < need:
                return False
        return True

    def add_agent(self, agent: Agent) -> None:
        if len(agent.pieces) > MAX_PIECES:
            raise ValueError(f"an agent path has at most {MAX_PIECES} lane pieces, got {len(agent.pieces)}")
        if not self.agents and agent.label != EGO_LABEL:
            raise ValueError("the ego is the first agent of a scene")
        self.agents.append(agent)

    # -- packing for the kernel ----------------------------------------------------------------------
    def traffic_tables(self, lateral_accel: float) -> tuple[PathTable, AgentTable, StopTable]:
        """The scene as the traffic kernel's typed tables (curvature speed limits at ``lateral_accel``)."""
        ag = self.agents
        A = len(ag)
        pieces = {
            f: np.full((A, MAX_PIECES), FAR if f == "start" else 0.0) for f in ("start", "lane_s", "source_s")
        }
        key = np.full((A, MAX_PIECES), NO_KEY, dtype=np.int64)
        source = np.full((A, MAX_PIECES), NO_KEY, dtype=np.int64)
        for i, a in enumerate(ag):
            for j, p in enumerate(a.pieces):
                pieces["start"][i, j], key[i, j], pieces["lane_s"][i, j] = p.start, p.key, p.lane_s
                source[i, j], pieces["source_s"][i, j] = p.source, p.source_s
        idm = np.array([a.idm for a in ag], dtype=np.float64).reshape(A, len(Idm._fields))

        def col(name: str, dtype=np.float64) -> np.ndarray:
            return np.array([getattr(a, name) for a in ag], dtype=dtype)

        agents = AgentTable(
            path=col("path", np.int64),
            length=np.array([a.size[0] for a in ag]),
            width=np.array([a.size[1] for a in ag]),
            front=col("front"),
            rear=col("rear"),
            v_desired=col("v0"),
            **{f: idm[:, i].copy() for i, f in enumerate(Idm._fields)},
            s_init=col("s0"),
            v_init=col("v_init"),
            is_pedestrian=np.array([a.label == ObjectClass.PEDESTRIAN for a in ag], dtype=np.bool_),
            piece_start=pieces["start"],
            piece_key=key,
            piece_lane_s=pieces["lane_s"],
            piece_source=source,
            piece_source_s=pieces["source_s"],
            crossing=col("cross", np.int64),
            crossing_enter=col("cs_enter"),
            crossing_exit=col("cs_exit"),
        )
        st = self.stops
        stops = StopTable(
            key=np.array([x.key for x in st], dtype=np.int64),
            lane_s=np.array([x.lane_s for x in st], dtype=np.float64),
            kind=np.array([x.kind for x in st], dtype=np.int64),
            ref=np.array([x.ref for x in st], dtype=np.int64),
        )
        return path_table(self.paths, lateral_accel), agents, stops
