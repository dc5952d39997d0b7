"""Actor placement: per-class random streams, crossings, room on the lanes (sim/placement.py)."""

from __future__ import annotations

import numpy as np

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.sim import traffic as tr
from sensor_fusion.sim.layout import lay_out_roads, place_ego
from sensor_fusion.sim.placement import CLASS_SIZES, place_actors
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.scene import Scene


def _placed(name: str, seed: int = 0, **actors) -> Scene:
    wc = scenario_config(name)["world"]
    wc["actors"].update(actors)
    rc, ec = wc["road"], wc["ego"]
    scene = lay_out_roads(rc, int(ec["lane"]), float(ec["speed_mps"]), float(wc["duration_s"]))
    place_ego(scene, ec, float(rc["turn_radius_m"]))
    place_actors(scene, wc["actors"], seed, float(wc["duration_s"]), float(rc["turn_radius_m"]))
    return scene


def _rows(scene: Scene, label: int) -> list[tuple]:
    return [
        (a.size.tolist(), a.s0, a.v0, scene.paths[a.path].xy[0].tolist())
        for a in scene.agents
        if a.label == label
    ]


def test_changing_one_class_count_leaves_the_others_alone() -> None:
    base = _placed("urban", seed=3)
    more = _placed("urban", seed=3, cyclists=4)
    assert len(_rows(more, ObjectClass.BICYCLE)) > len(_rows(base, ObjectClass.BICYCLE))
    for label in (ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS, ObjectClass.PEDESTRIAN):
        assert _rows(more, label) == _rows(base, label), label.name
    assert _rows(_placed("urban", seed=4), ObjectClass.CAR) != _rows(
        base, ObjectClass.CAR
    )  # the seed matters


def test_sizes_within_class_ranges_and_lanes_not_crowded() -> None:
    scene = _placed("dense_traffic", seed=1)
    for a in scene.agents[1:]:
        lo, hi = np.array(CLASS_SIZES[a.label]).T
        assert np.all((a.size >= lo) & (a.size <= hi))
    # at t = 0, agents that start on the same lane key leave the IDM placement gap between them
    starts: dict[int, list[tuple[float, float, float]]] = {}
    for a in scene.agents:
        p = a.pieces[0]
        starts.setdefault(p.key, []).append((p.lane_s + a.s0 - p.start, a.front, a.rear))
    for lane in starts.values():
        lane.sort()
        for (s0, f0, _), (s1, _, r1) in zip(lane, lane[1:]):
            assert s1 - r1 - (s0 + f0) >= 2.5


def test_crossing_pedestrian_gets_a_crosswalk_on_every_lane_it_crosses() -> None:
    scene = _placed("urban", seed=0, pedestrians=3, crossing_pedestrians=2)
    crossers = [a for a in scene.agents if a.cross >= 0]
    assert len(crossers) == scene.n_crossings >= 1
    road = scene.roads[0]
    for a in crossers:
        stops = [s for s in scene.stops if s.kind == tr.STOP_CROSSWALK and s.ref == a.cross]
        assert len(stops) == len(scene.vehicle_lanes(0))
        path = scene.paths[a.path]
        _, lat = road.centre.project(path.pose_at(np.array([a.cs_enter, a.cs_exit]))[0])
        assert np.all(np.abs(lat) > road.half_width - 0.5)  # enter and exit at the road's edges
        assert np.sign(lat[0]) != np.sign(lat[1])  # on opposite sides
