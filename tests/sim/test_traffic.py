"""The traffic kernel on hand-built scenes: car following, signals, crosswalks (sim/traffic.py).

Each scene is one straight road running east from x = 0 (so lane s equals x on the east-bound
lane); the ego drives west on the other lane, out of everyone's way.
"""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.sim import traffic as tr
from sensor_fusion.sim.placement import CLASS_IDM
from sensor_fusion.sim.road import Path, straight_road
from sensor_fusion.sim.scene import EGO_LABEL, Agent, Idm, LanePiece, Scene

DT = 0.005  # the scenarios' 200 Hz
CAR = np.array([4.6, 1.9, 1.5])
HALF = 0.5 * CAR[0]
ALWAYS_RED_0 = tr.SignalPlan(green_s=1e3, all_red_s=3.0, offset_s=0.0, first_green=1)  # group 0 red
ALWAYS_GREEN_0 = ALWAYS_RED_0._replace(first_green=0)


def _scene(cars: list[tuple[float, float, float]], idm: list[Idm] | None = None) -> tuple[Scene, int]:
    """Cars (s0, desired speed, initial speed) on the east-bound lane, in that order after the ego."""
    road = straight_road((0.0, 0.0), 0.0, 800.0, lanes_per_direction=1, lane_width=3.5, shoulder=0.5)
    scene = Scene([road], "straight")
    east = scene.lane(0, road.lane_offset(1), True)
    west = scene.lane(0, road.lane_offset(-1), False)
    ego_idm = Idm(1.5, 2.5, 8.0, 1.5, 3.0)
    scene.add_agent(
        Agent(
            EGO_LABEL,
            CAR,
            scene.lane_path_id(west),
            100.0,
            10.0,
            10.0,
            3.6,
            1.0,
            ego_idm,
            [LanePiece(0.0, west, 0.0)],
        )
    )
    for i, (s0, v0, v_init) in enumerate(cars):
        params = CLASS_IDM[ObjectClass.CAR] if idm is None else idm[i]
        path = scene.lane_path_id(east)
        scene.add_agent(
            Agent(ObjectClass.CAR, CAR, path, s0, v0, v_init, HALF, HALF, params, [LanePiece(0.0, east, 0.0)])
        )
    return scene, east


def _run(scene: Scene, seconds: float, signal: tr.SignalPlan = ALWAYS_GREEN_0):
    paths, agents, stops = scene.traffic_tables(2.5)
    rules = tr.Rules(
        int(round(seconds / DT)) + 1,
        DT,
        scene.n_crossings,
        4.0,
        tr.CONNECTOR_MEMORY_M,
        tr.RED_GO_ON_DECEL_MPS2,
    )
    ego = tr.EgoDynamics(2.8, 0.6, 0.15, 0.3, 0.8, 5.0)
    return tr.simulate(paths, agents, stops, signal, ego, rules)


@pytest.mark.parametrize("leader_brake", [2.5, 6.0])
def test_follower_keeps_the_standstill_gap_behind_a_braking_leader(leader_brake: float) -> None:
    """A leader brakes to a stop from 15 m/s (desired speed 0); the follower, 2 s behind, stops too.

    The IDM about standstill is underdamped for car parameters (a = 1.6, T = 1.2, s0 = 2.5: roots
    of l^2 + 2aT/s0 l + 2a/s0 have a negative discriminant), and speed cannot go negative, so the
    follower settles a little inside s0; it never closes further than that.
    """
    car = CLASS_IDM[ObjectClass.CAR]
    leader = car._replace(b_comf=leader_brake, b_max=max(car.b_max, leader_brake))
    scene, _ = _scene([(60.0, 0.0, 15.0), (30.0, 15.0, 15.0)], idm=[leader, car])
    S, V, _ = _run(scene, 25.0)
    gap = (S[:, 1] - HALF) - (S[:, 2] + HALF)
    assert V[-1, 1] == 0.0 and V[-1, 2] < 1e-3  # both stopped
    assert gap.min() > 0.9 * car.min_gap  # never closer than 10 % inside the standstill gap
    assert gap[-1] < car.min_gap + 0.5  # and it did close up (not stopped early)


def test_follower_without_a_leader_on_its_lane_would_have_hit_it() -> None:
    """Negative control for the test above: the same two cars on different lanes do overlap."""
    scene, _ = _scene([(60.0, 0.0, 15.0)])
    road = scene.roads[0]
    other = scene.lane(0, road.shoulder_offset(True), True)  # the shoulder: another lane key
    scene.add_agent(
        Agent(ObjectClass.CAR, CAR, scene.lane_path_id(other), 30.0, 15.0, 15.0, HALF, HALF,
              CLASS_IDM[ObjectClass.CAR], [LanePiece(0.0, other, 0.0)])
    )  # fmt: skip
    S, _, _ = _run(scene, 25.0)
    assert ((S[:, 1] - HALF) - (S[:, 2] + HALF)).min() < 0.0


@pytest.mark.parametrize("red", [True, False])
def test_red_signal_stops_the_first_car_before_the_stop_line(red: bool) -> None:
    scene, east = _scene([(20.0, 12.0, 12.0), (0.0, 12.0, 12.0)])
    scene.add_stop(east, 100.0, tr.STOP_SIGNAL, 0)
    S, V, _ = _run(scene, 30.0, ALWAYS_RED_0 if red else ALWAYS_GREEN_0)
    front = S[:, 1] + HALF
    if red:
        assert front.max() <= 100.0  # never past the line
        assert front[-1] > 98.0 and V[-1, 1] < 0.05  # stopped at it, not somewhere before
        assert (S[:, 2] + HALF).max() < S[-1, 1] - HALF  # the second car queued behind it
    else:
        assert front[-1] > 300.0  # green: it drives on


def test_signal_cycle() -> None:
    plan = tr.SignalPlan(green_s=10.0, all_red_s=3.0, offset_s=0.0, first_green=1)
    phases = {
        1.0: (True, False),
        11.0: (True, True),
        14.0: (False, True),
        24.0: (True, True),
        27.0: (True, False),
    }
    for t, (red0, red1) in phases.items():
        assert tr.is_red(plan, 0, t) == red0 and tr.is_red(plan, 1, t) == red1, t


def _crossing_scene(car_gap_m: float) -> tuple[Scene, float, float, float]:
    """A car ``car_gap_m`` before a crosswalk stop line at x = 197.5; a pedestrian about to cross."""
    x = 200.0
    scene, east = _scene([(x - 2.5 - HALF - car_gap_m, 15.0, 15.0)])
    road = scene.roads[0]
    pid = scene.add_path(Path.from_polyline(np.array([[x, -15.0], [x, 15.0]]), 0.1))
    c = scene.new_crossing()
    enter, leave = 15.0 - road.half_width, 15.0 + road.half_width
    ped = CLASS_IDM[ObjectClass.PEDESTRIAN]
    size = np.array([0.6, 0.6, 1.7])
    scene.add_agent(
        Agent(ObjectClass.PEDESTRIAN, size, pid, enter - 2.0, 1.4, 1.4, 0.3, 0.3, ped,
              [LanePiece(0.0, scene.connector_key(), 0.0)], c, enter, leave)
    )  # fmt: skip
    stop = scene.lane_s_at(east, np.array([x, 0.0])) - 2.5
    scene.add_stop(east, stop, tr.STOP_CROSSWALK, c)
    return scene, stop, enter, leave


def test_car_stops_for_a_pedestrian_on_the_crosswalk() -> None:
    scene, stop, enter, leave = _crossing_scene(90.0)  # far enough to stop comfortably
    S, V, _ = _run(scene, 25.0)
    ped = S[:, 2]
    on_road = (ped >= enter) & (ped <= leave)
    assert on_road[: int(2.0 / DT)].any()  # the pedestrian stepped out at once
    assert (S[on_road, 1] + HALF).max() <= stop  # the car held back while it was on the road
    assert ped[-1] > leave and S[-1, 1] > stop  # both got across


def test_pedestrian_waits_when_traffic_cannot_stop_comfortably() -> None:
    scene, stop, enter, leave = _crossing_scene(28.0)  # 15 m/s, 28 m: needs about 4 m/s^2
    S, V, _ = _run(scene, 25.0)
    ped = S[:, 2]
    passed = int(np.argmax(S[:, 1] - HALF > stop + 5.0))
    assert passed > 0 and V[:passed, 1].min() > 14.0  # the car went through without braking
    assert ped[:passed].max() < enter  # while the pedestrian waited at the kerb
    assert ped[-1] > leave  # and crossed after


def test_wrap_twin_matches_core_wrap_angle_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    a = np.concatenate(
        [
            rng.uniform(-40.0, 40.0, 20000),
            np.pi * np.arange(-9, 10),
            [0.0, -0.0, 1e-300, np.nextafter(np.pi, 0)],
        ]
    )
    twin = np.array([tr._wrap(x) for x in a])
    assert np.array_equal(twin.view(np.int64), wrap_angle(a).view(np.int64))
