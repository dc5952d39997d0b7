"""Scene layout: road types, signals, the ego's start and route, the ground map (sim/layout.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.sim import traffic as tr
from sensor_fusion.sim.layout import ROAD_LAYOUTS, lay_out_roads, place_ego
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.scene import EGO_LABEL


def _world_cfg(name: str, **road) -> dict:
    cfg = scenario_config(name)["world"]
    cfg["road"].update(road)
    return cfg


@pytest.mark.parametrize("kind", sorted(ROAD_LAYOUTS))
def test_ego_starts_at_the_origin_heading_east_in_its_lane(kind: str) -> None:
    wc = _world_cfg("urban", type=kind, lanes_per_direction=2)
    wc["ego"]["lane"] = 2
    scene = lay_out_roads(wc["road"], 2, 12.0, 20.0)
    ego = place_ego(scene, wc["ego"], 8.0)
    assert scene.agents == [ego] and ego.label == EGO_LABEL
    xy, h, _ = scene.paths[ego.path].pose_at(ego.s0)
    assert np.allclose(xy, 0.0, atol=1e-6) and abs(h) < 1e-6
    _, lat = scene.roads[0].centre.project(np.zeros((1, 2)))
    assert np.isclose(lat[0], -1.5 * 3.5)  # lane 2: 1.5 lane widths right of the centre line
    assert np.isclose(ego.front + ego.rear, wc["ego"]["length_m"])
    assert (len(scene.roads) == 2) == (kind == "intersection") == (scene.junction is not None)


def test_intersection_signals_stop_every_approach_before_the_crossing_road() -> None:
    rc = _world_cfg("intersection")["road"]
    scene = lay_out_roads(rc, 1, 12.0, 20.0)
    assert len(scene.stops) == sum(len(scene.vehicle_lanes(r)) for r in range(2))
    for st in scene.stops:
        assert st.kind == tr.STOP_SIGNAL
        road, _, _ = scene.lane_spec(st.key)
        assert st.ref == road  # signal group = road index
        other = scene.roads[1 - road]
        to_centre = scene.lane_s_at(st.key, scene.junction) - st.lane_s
        assert np.isclose(to_centre, other.half_width + 1.5, atol=0.3)


def test_right_turn_route_leaves_heading_south() -> None:
    wc = _world_cfg("intersection")
    scene = lay_out_roads(wc["road"], 1, 12.0, 20.0)
    ego = place_ego(scene, wc["ego"], float(wc["road"]["turn_radius_m"]))
    route = scene.paths[ego.path]
    assert np.isclose(route.heading[-1], -0.5 * np.pi, atol=0.02)
    assert len(ego.pieces) == 3 and ego.pieces[1].source == ego.pieces[0].key


@pytest.mark.parametrize(
    "road,ego,match",
    [
        ({"type": "roundabout"}, {}, "road.type"),
        ({"lanes_per_direction": 1}, {"lane": 2}, "ego.lane"),
        ({"type": "straight"}, {"route": "right"}, "needs road type"),
        ({}, {"route": "left"}, "straight or right"),
    ],
)
def test_bad_layouts_are_refused(road: dict, ego: dict, match: str) -> None:
    wc = _world_cfg("urban", **road)
    wc["ego"].update(ego)
    with pytest.raises(ValueError, match=match):
        scene = lay_out_roads(wc["road"], int(wc["ego"]["lane"]), 12.0, 20.0)
        place_ego(scene, wc["ego"], 8.0)
