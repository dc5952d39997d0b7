"""The scene registry: lane keys, lane space, and the packing for the kernel (sim/scene.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.sim import traffic as tr
from sensor_fusion.sim.placement import CLASS_IDM
from sensor_fusion.sim.road import Path, crossing_roads, straight_road
from sensor_fusion.sim.scene import EGO_LABEL, Agent, Idm, LanePiece, Scene, speed_limit

CAR = CLASS_IDM[ObjectClass.CAR]


def _road_scene() -> Scene:
    return Scene([straight_road((0.0, 0.0), 0.0, 500.0, lanes_per_direction=2, shoulder=1.5)], "straight")


def test_lane_keys_are_created_once_and_paths_follow_the_lane() -> None:
    scene = _road_scene()
    r = scene.roads[0]
    k1 = scene.lane(0, r.lane_offset(1), True)
    assert scene.lane(0, r.lane_offset(1) + 1e-5, True) == k1  # same lane to the mm
    k2 = scene.lane(0, r.lane_offset(-1), False)
    assert k2 != k1 and len(scene.paths) == 2
    assert scene.lane_spec(k2) == (0, round(r.lane_offset(-1), 3), False)
    p = scene.lane_path(k2)
    assert np.isclose(p.xy[0, 0], 500.0) and np.isclose(p.xy[-1, 0], 0.0)  # west-bound
    assert np.isclose(scene.lane_s_at(k1, np.array([120.0, 0.0])), 120.0)
    c = scene.connector_key()
    with pytest.raises(ValueError, match="connector"):
        scene.lane_path(c)
    assert len(scene.vehicle_lanes(0)) == 6  # 2 lanes each way and two bike-lane shoulders


def test_fits_requires_a_gap_idm_can_keep() -> None:
    scene = _road_scene()
    k = scene.lane(0, scene.roads[0].lane_offset(1), True)
    scene.occupy(k, 100.0, 2.3, 2.3, 10.0)
    # behind it at 10 m/s the follower needs 2.5 + 1.2 * 10 = 14.5 m bumper to bumper
    assert scene.fits(k, 100.0 - 4.6 - 14.6, 2.3, 2.3, 10.0)
    assert not scene.fits(k, 100.0 - 4.6 - 14.4, 2.3, 2.3, 10.0)
    # a faster follower needs more (closing speed term)
    assert not scene.fits(k, 100.0 - 4.6 - 14.6, 2.3, 2.3, 14.0)
    assert not scene.fits(k, 1.0, 2.3, 2.3, 0.0)  # would stick out of the lane's start


def test_agents_are_validated() -> None:
    scene = _road_scene()
    k = scene.lane(0, scene.roads[0].lane_offset(1), True)
    size = np.array([4.6, 1.9, 1.5])
    car = Agent(ObjectClass.CAR, size, 0, 10.0, 10.0, 10.0, 2.3, 2.3, CAR, [LanePiece(0.0, k, 0.0)])
    with pytest.raises(ValueError, match="ego"):
        scene.add_agent(car)
    ego = Agent(
        EGO_LABEL, size, 0, 50.0, 10.0, 10.0, 3.7, 1.0, Idm(1.5, 2.5, 8.0, 1.5, 3.0), [LanePiece(0.0, k, 0.0)]
    )
    scene.add_agent(ego)
    car.pieces = [LanePiece(0.0, k, 0.0)] * (tr.MAX_PIECES + 1)
    with pytest.raises(ValueError, match="pieces"):
        scene.add_agent(car)


def test_traffic_tables_pad_pieces_and_carry_every_agent_field() -> None:
    a, b = crossing_roads((100.0, 0.0), 0.0, 100.0, 100.0, 100.0)
    scene = Scene([a, b], "intersection", np.array([100.0, 0.0]))
    k_in = scene.lane(0, a.lane_offset(1), True)
    route, pieces = scene.right_turn(k_in, scene.exit_lane(k_in), 8.0)
    pid = scene.add_path(route)
    size = np.array([4.6, 1.9, 1.5])
    ego_idm = Idm(1.5, 2.5, 8.0, 1.5, 3.0)
    scene.add_agent(Agent(EGO_LABEL, size, pid, 5.0, 10.0, 8.0, 3.7, 1.0, ego_idm, pieces))
    k_b = scene.lane(1, b.lane_offset(1), True)
    scene.add_agent(
        Agent(
            ObjectClass.CAR,
            size,
            scene.lane_path_id(k_b),
            20.0,
            9.0,
            7.0,
            2.3,
            2.3,
            CAR,
            [LanePiece(0.0, k_b, 0.0)],
        )
    )
    scene.add_stop(k_b, 80.0, tr.STOP_SIGNAL, 1)
    paths, agents, stops = scene.traffic_tables(2.5)
    assert len(paths.count) == len(scene.paths) and paths.x.shape == (paths.count.sum(),)
    assert agents.piece_key[0].tolist() == [p.key for p in pieces]
    assert agents.piece_source[0, 1] == k_in  # the turn arc remembers the lane it leaves
    assert agents.piece_key[1].tolist() == [k_b, tr.NO_KEY, tr.NO_KEY]
    assert agents.piece_start[1, 1:].tolist() == [tr.FAR, tr.FAR]
    assert agents.v_desired.tolist() == [10.0, 9.0] and agents.v_init.tolist() == [8.0, 7.0]
    assert agents.headway.tolist() == [1.5, CAR.headway] and agents.min_gap.tolist() == [3.0, CAR.min_gap]
    assert (
        stops.key.tolist() == [k_b] and stops.kind.tolist() == [tr.STOP_SIGNAL] and stops.ref.tolist() == [1]
    )
    # the right turn: straight in, a quarter circle of the given radius, straight out
    assert np.isclose(np.abs(route.curvature).max(), 1 / 8.0, rtol=0.05)
    assert np.isclose(route.heading[-1] - route.heading[0], -0.5 * np.pi, atol=0.02)


def test_speed_limit_is_reachable_by_braking() -> None:
    p = Path.from_curvature((0.0, 0.0), 0.0, [("straight", 200.0), ("arc", 25.0, 1.5)])
    v = speed_limit(p, 2.5, 1.5)
    assert np.isclose(v[-1], np.sqrt(2.5 * 25.0))  # in the bend: sqrt(a_lat R)
    dv2 = np.diff(v**2) / p.ds
    assert dv2.min() >= -2.0 * 1.5 - 1e-9  # never needs more than 1.5 m/s^2 to follow
