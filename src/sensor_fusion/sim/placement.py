"""Actor placement: cars, trucks, buses, cyclists and pedestrians spread over a laid-out scene.

Why a module of its own: *where* traffic starts decides what a scenario tests (oncoming cars met
during the run, cyclists the ego overtakes, a pedestrian crossing ahead of it), and is the part
new scenarios change most; the movement itself is the kernel's (``traffic.py``). Every actor is
placed at t = 0 on a lane with a gap the IDM can keep (``Scene.fits``), aimed at a time and place
relative to the ego's nominal progress, so it is in view when it matters.

Randomness comes from per-class generator streams derived from the seed (``stream_rng``), so
changing the cyclist count leaves the cars alone. The order of draws per stream is part of the
scenario's identity: keep it when editing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np

from ..core.classes import ObjectClass
from .road import Path
from .scenarios import stream_rng
from .scene import Agent, Idm, LanePiece, Scene
from .traffic import STOP_CROSSWALK

# size ranges (length, width, height) in m and IDM parameters, per class
CLASS_SIZES: dict[int, tuple[tuple[float, float], ...]] = {
    ObjectClass.CAR: ((4.2, 4.9), (1.75, 1.95), (1.40, 1.65)),
    ObjectClass.TRUCK: ((8.0, 10.0), (2.45, 2.55), (3.0, 3.4)),
    ObjectClass.BUS: ((11.0, 12.5), (2.50, 2.55), (3.0, 3.3)),
    ObjectClass.BICYCLE: ((1.7, 1.9), (0.55, 0.65), (1.6, 1.8)),
    ObjectClass.PEDESTRIAN: ((0.5, 0.7), (0.5, 0.7), (1.60, 1.90)),
}
CLASS_IDM: dict[int, Idm] = {
    ObjectClass.CAR: Idm(1.6, 2.5, 8.0, 1.2, 2.5),
    ObjectClass.TRUCK: Idm(0.9, 2.0, 6.0, 1.6, 3.0),
    ObjectClass.BUS: Idm(0.9, 2.0, 6.0, 1.6, 3.0),
    ObjectClass.BICYCLE: Idm(1.0, 2.0, 4.0, 1.0, 1.5),
    ObjectClass.PEDESTRIAN: Idm(0.8, 1.5, 3.0, 0.8, 0.6),
}
_VEHICLES = (ObjectClass.TRUCK, ObjectClass.BUS, ObjectClass.CAR)  # big ones first: they need the most room

Bound = float | Callable[[int], float]  # a lane s bound, or one per lane key
Avoid = Callable[[int, float, float], bool]  # (key, lane s, speed) -> whether to skip that spot


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


def place_actors(
    scene: Scene, ac: Mapping, seed: int, duration_s: float, turn_radius_m: float
) -> dict[str, int]:
    """Place ``world.actors`` on ``scene`` (after the ego); returns how many of each class did not fit."""
    counts = {
        ObjectClass.CAR: int(ac["cars"]),
        ObjectClass.TRUCK: int(ac["trucks"]),
        ObjectClass.BUS: int(ac["buses"]),
        ObjectClass.BICYCLE: int(ac["cyclists"]),
        ObjectClass.PEDESTRIAN: int(ac["pedestrians"]),
    }
    p = _Placer(scene, ac, seed, duration_s)
    if scene.junction is not None:
        p.junction_traffic(counts, turn_radius_m)
    else:
        p.road_traffic(counts)
    p.cyclists(counts[ObjectClass.BICYCLE])
    p.pedestrians(counts[ObjectClass.PEDESTRIAN], int(ac["crossing_pedestrians"]))
    if sum(p.missing.values()) > 0.2 * max(sum(counts.values()), 1):
        warnings.warn(f"could not place these actors without crowding: {p.missing}", stacklevel=3)
    return dict(p.missing)


class _Placer:
    """Spawning rules of each actor kind, sharing the scene, the config and the ego's timetable."""

    def __init__(self, scene: Scene, ac: Mapping, seed: int, duration_s: float) -> None:
        self.scene, self.ac, self.seed, self.duration = scene, ac, seed, duration_s
        ego = scene.agents[0]
        self.ego_s0, self.v_nom, self.ego_route = ego.s0, ego.v0, scene.paths[ego.path]
        self.missing: dict[str, int] = {}

    def _miss(self, name: str) -> None:
        self.missing[name] = self.missing.get(name, 0) + 1

    def ego_station(self, key: int, t: float) -> float:
        """Lane s on ``key`` abreast of where the ego would be at time t at its nominal speed."""
        xy, _, _ = self.ego_route.pose_at(self.ego_s0 + self.v_nom * t)
        return self.scene.lane_s_at(key, xy)

    def _size(self, rng: np.random.Generator, label: int) -> np.ndarray:
        return np.array([rng.uniform(lo, hi) for lo, hi in CLASS_SIZES[label]])

    def _vehicle_draws(self, counts: Mapping[int, int]):
        """(label, its RNG stream, desired speed) per vehicle to place, big classes first; the speed is
        each vehicle's first draw from its class's stream, so placement draws follow it."""
        sp = float(self.ac["speed_spread"])
        for label in _VEHICLES:
            rng = stream_rng(self.seed, "world", "actors", label.name)
            slow = 1.0 if label == ObjectClass.CAR else 0.85
            for _ in range(counts[label]):
                yield label, rng, self.v_nom * slow * float(rng.uniform(1.0 - sp, 1.0 + 0.6 * sp))

    def try_place(
        self,
        rng: np.random.Generator,
        label: int,
        keys: list[int],
        ls_lo: Bound,
        ls_hi: Bound,
        v0: float,
        pieces_fn: Callable[[int, np.random.Generator], tuple[int, list[LanePiece]] | None] | None = None,
        tries: int = 40,
        avoid: Avoid | None = None,
    ) -> bool:
        """Place one actor on one of ``keys`` at lane s in [ls_lo, ls_hi] without crowding others."""
        scene = self.scene
        size = self._size(rng, label)
        half = 0.5 * size[0]
        for _ in range(tries):
            key = keys[int(rng.integers(len(keys)))]
            lo, hi = ls_lo(key) if callable(ls_lo) else ls_lo, ls_hi(key) if callable(ls_hi) else ls_hi
            if hi <= lo:
                continue
            ls = float(rng.uniform(lo, hi))
            if avoid is not None and avoid(key, ls, v0):
                continue
            if not scene.fits(key, ls, half, half, v0):
                continue
            scene.occupy(key, ls, half, half, v0)
            made = pieces_fn(key, rng) if pieces_fn is not None else None
            pid, pieces = made if made is not None else (scene.lane_path_id(key), [LanePiece(0.0, key, 0.0)])
            scene.add_agent(Agent(label, size, pid, ls, v0, v0, half, half, CLASS_IDM[label], pieces))
            return True
        return False

    # -- vehicles ---------------------------------------------------------------------------------
    def road_traffic(self, counts: Mapping[int, int]) -> None:
        """Vehicles on road 0: oncoming ones met at a random time, the rest around the ego."""
        scene = self.scene
        r = scene.roads[0]
        n = r.lanes_per_direction
        fwd = [scene.lane(0, r.lane_offset(k), True) for k in range(1, n + 1)]
        bwd = [scene.lane(0, r.lane_offset(-k), False) for k in range(1, n + 1)]
        p_onc = float(self.ac["oncoming_fraction"])
        ahead, behind = float(self.ac["spawn_ahead_m"]), float(self.ac["spawn_behind_m"])
        heavy = 2 if n >= 3 else 1  # lanes that trucks and buses use, from the outside
        for label, rng, v0 in self._vehicle_draws(counts):
            ok = False
            for _attempt in range(3):
                if rng.random() < p_onc:
                    t_meet = float(rng.uniform(0.0, 0.9 * self.duration))
                    keys = bwd if label == ObjectClass.CAR else bwd[-heavy:]

                    def lo(k, t=t_meet, v=v0):
                        return self.ego_station(k, 0.0) - (self.v_nom + v) * t - 25.0

                    def hi(k, t=t_meet, v=v0):
                        return self.ego_station(k, 0.0) - (self.v_nom + v) * t + 25.0
                else:
                    keys = fwd if label == ObjectClass.CAR else fwd[-heavy:]

                    def lo(k, f=1.0 + 0.5 * _attempt):
                        return self.ego_station(k, 0.0) - behind * f

                    def hi(k, f=1.0 + 0.5 * _attempt):
                        return self.ego_station(k, 0.0) + ahead * f

                ok = self.try_place(rng, label, keys, lo, hi, v0, tries=15)
                if ok:
                    break
            if not ok:
                self._miss(label.name)

    def junction_traffic(self, counts: Mapping[int, int], turn_radius_m: float) -> None:
        """Vehicles on the four approaches of a junction, some turning right, none in the box."""
        scene = self.scene
        n = scene.roads[0].lanes_per_direction
        lanes = {
            "a_fwd": [scene.lane(0, scene.roads[0].lane_offset(k), True) for k in range(1, n + 1)],
            "a_bwd": [scene.lane(0, scene.roads[0].lane_offset(-k), False) for k in range(1, n + 1)],
            "b_fwd": [scene.lane(1, scene.roads[1].lane_offset(k), True) for k in range(1, n + 1)],
            "b_bwd": [scene.lane(1, scene.roads[1].lane_offset(-k), False) for k in range(1, n + 1)],
        }
        weights = np.array([0.35, 0.2, 0.22, 0.23])
        names = list(lanes)
        p_turn = float(self.ac["turning_fraction"])
        near = 160.0
        clear = scene.junction_clear

        def centre_s(k):
            return scene.lane_s_at(k, scene.junction)

        def avoid(k, ls, v):
            # keep clear of the junction box and of the stopping zone in front of it
            sc = centre_s(k)
            return sc - clear - (v * v / 4.0 + 10.0) < ls < sc + clear + 8.0

        for label, rng, v0 in self._vehicle_draws(counts):
            approach = names[int(rng.choice(4, p=weights))]
            keys = lanes[approach] if label == ObjectClass.CAR else lanes[approach][-1:]
            turn = rng.random() < p_turn

            def pieces_fn(key, _rng, turn=turn):
                if not turn or key != scene.outer_lane(key):
                    return None
                path, pieces = scene.right_turn(key, scene.exit_lane(key), turn_radius_m)
                return scene.add_path(path), pieces

            if approach == "a_fwd":

                def lo(k):
                    return self.ego_station(k, 0.0) - 60.0

                def hi(k):
                    return centre_s(k) + 120.0
            else:

                def lo(k):
                    return centre_s(k) - near

                def hi(k):
                    return centre_s(k) + 60.0

            if not self.try_place(rng, label, keys, lo, hi, v0, pieces_fn=pieces_fn, avoid=avoid):
                self._miss(label.name)

    # -- cyclists and pedestrians -----------------------------------------------------------------
    def cyclists(self, count: int) -> None:
        """Cyclists on the bike lanes (or the outer lanes): some oncoming, some the ego overtakes."""
        if count == 0:
            return
        scene = self.scene
        rng = stream_rng(self.seed, "world", "actors", "BICYCLE")
        r = scene.roads[0]
        if r.shoulder >= 1.0:
            fwd = [scene.lane(0, r.shoulder_offset(True), True)]
            bwd = [scene.lane(0, r.shoulder_offset(False), False)]
        else:
            n = r.lanes_per_direction
            fwd = [scene.lane(0, r.lane_offset(n), True)]
            bwd = [scene.lane(0, r.lane_offset(-n), False)]
        for _ in range(count):
            v0 = float(rng.uniform(4.0, 6.5))
            if rng.random() < float(self.ac["oncoming_fraction"]):
                t_meet = float(rng.uniform(0.0, 0.9 * self.duration))

                def lo(k, t=t_meet, v=v0):
                    return self.ego_station(k, 0.0) - (self.v_nom + v) * t - 10.0

                def hi(k, t=t_meet, v=v0):
                    return self.ego_station(k, 0.0) - (self.v_nom + v) * t + 10.0

                keys = bwd
            else:
                # the ego overtakes them during the scenario
                rel = max(self.v_nom - v0, 1.0) * self.duration

                def lo(k):
                    return self.ego_station(k, 0.0) + 15.0

                def hi(k, rel=rel):
                    return self.ego_station(k, 0.0) + max(0.8 * rel, 40.0)

                keys = fwd
            avoid = None
            if scene.junction is not None:
                # stay out of the junction for the whole scenario
                def avoid(k, ls, v):
                    sc = scene.lane_s_at(k, scene.junction)
                    return ls < sc and ls + v * self.duration > sc - scene.junction_clear - 5.0

            if not self.try_place(rng, ObjectClass.BICYCLE, keys, lo, hi, v0, avoid=avoid):
                self._miss("BICYCLE")

    def pedestrians(self, count: int, crossing: int) -> None:
        """Pedestrians on the sidewalks of road 0, the first ``crossing`` of them crossing it."""
        if count == 0:
            return
        scene = self.scene
        rng = stream_rng(self.seed, "world", "actors", "PEDESTRIAN")
        r = scene.roads[0]
        if r.sidewalk < 1.5:
            self.missing["PEDESTRIAN"] = count
            return
        crossing = min(crossing, count) if scene.junction is None else 0
        for i in range(count):
            v0 = float(rng.uniform(1.1, 1.6))
            right = bool(rng.random() < 0.5)
            fwd = bool(rng.random() < 0.5)
            d_side = r.sidewalk_offset(right)
            if i < crossing:
                if not self.crossing_pedestrian(rng, v0, right, fwd):
                    self._miss("PEDESTRIAN")
                continue
            # keep to the right of the walking direction
            key = scene.lane(0, d_side + (-0.6 if fwd else 0.6), fwd)
            t_pass = float(rng.uniform(0.1, 0.9) * self.duration)
            if scene.junction is not None:
                sc = scene.lane_s_at(key, scene.junction)
                stay = v0 * self.duration + scene.junction_clear + 3.0

                def lo(k, sc=sc):
                    return sc - 80.0

                def hi(k, sc=sc):
                    return sc + 80.0

                def avoid(k, ls, v, sc=sc, stay=stay):
                    return (ls < sc and ls + stay > sc) or abs(ls - sc) < scene.junction_clear + 3.0
            else:

                def lo(k, t=t_pass):
                    return self.ego_station(k, t) - 10.0

                def hi(k, t=t_pass):
                    return self.ego_station(k, t) + 10.0

                avoid = None
            if not self.try_place(rng, ObjectClass.PEDESTRIAN, [key], lo, hi, v0, avoid=avoid):
                self._miss("PEDESTRIAN")

    def crossing_pedestrian(self, rng: np.random.Generator, v0: float, right: bool, fwd: bool) -> bool:
        """A pedestrian who walks along a sidewalk, crosses the road ahead of the ego, and walks on."""
        scene = self.scene
        r = scene.roads[0]
        t_a = float(rng.uniform(0.2, 0.45) * self.duration)
        lead = 60.0 + 20.0 * float(rng.random())  # ego distance to the crossing when the pedestrian arrives
        xy_cross, _, _ = self.ego_route.pose_at(self.ego_s0 + self.v_nom * t_a + lead)
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
        pid = scene.add_path(path)
        key_a = scene.lane(0, d_from, fwd)
        key_b = scene.lane(0, d_to, fwd)
        # where the pedestrian is on the pavement, and where it is back on a sidewalk
        _, lat = r.centre.project(path.xy)
        on = np.nonzero(np.abs(lat) < r.half_width + 0.5)[0]
        if len(on) == 0:
            return False
        enter, leave = on[0] * path.ds, on[-1] * path.ds
        conn_start = float(path.project(leg_a[-1:])[0][0])
        b_start = float(path.project(leg_b[:1])[0][0])
        ls_a0 = scene.lane_s_at(key_a, path.xy[0])
        ls_b0 = scene.lane_s_at(key_b, leg_b[0])
        size = self._size(rng, ObjectClass.PEDESTRIAN)
        half = 0.5 * size[0]
        if not scene.fits(key_a, ls_a0, half, half, v0):
            return False
        scene.occupy(key_a, ls_a0, half, half, v0)
        c = scene.new_crossing()
        pieces = [
            LanePiece(0.0, key_a, ls_a0),
            LanePiece(conn_start, scene.connector_key(), 0.0, key_a, ls_a0 + conn_start),
            LanePiece(b_start, key_b, ls_b0),
        ]
        idm = CLASS_IDM[ObjectClass.PEDESTRIAN]
        scene.add_agent(
            Agent(ObjectClass.PEDESTRIAN, size, pid, 0.0, v0, v0, half, half, idm, pieces, c, enter, leave)
        )
        # vehicles and cyclists stop before the crossing on every lane of the road
        for spec in scene.vehicle_lanes(0):
            key = scene.lane(*spec)
            xy, _ = r.pose_at(s_c, spec[1])
            scene.add_stop(key, scene.lane_s_at(key, xy) - 2.5, STOP_CROSSWALK, c)
        return True
