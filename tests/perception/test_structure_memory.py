"""The LiDAR detector's structure memory: building fronts seen earlier as structure stay structure;
and its structure votes: where small structure stood in most sweeps, a piece of it is no object."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.types import Detections
from sensor_fusion.perception.lidar import LidarDetector, LidarDetectorConfig
from sensor_fusion.perception.structure_memory import StructureMemory, StructureVotes, cell_centres
from sensor_fusion.sim.boxes import spinning_scan

SENSOR_HEIGHT_M = 1.8
KITTI_ELEV_DEG = (-24.9, 2.0)  # KITTI's HDL-64E: the highest beam 2 deg up
BUILDING = (0.0, 18.0, 12.0, 10.0, 8.0, 0.0)  # a 12 m front along the street at y = 13, 10 m deep
S = 1_000_000_000


def test_memory_marks_expire_and_start_afresh():
    mem = StructureMemory(0.5, 30.0)
    mem.start(0, "odom")
    mem.mark(np.array([[1.1, 2.2], [1.2, 2.3], [-7.9, 100.0]]), 0)
    assert len(mem) == 2
    centres = cell_centres(mem.held_keys(), mem.cell_m)
    assert sorted(centres.tolist()) == [[-7.75, 100.25], [1.25, 2.25]]  # negatives too
    q = np.array([[1.4, 2.4], [1.6, 2.4], [-7.6, 100.4], [0.0, 0.0]])
    assert list(mem.marked(q)) == [True, False, True, False]
    mem.start(20 * S, "odom")
    mem.mark(np.array([[-7.9, 100.0]]), 20 * S)  # seen again: kept from its latest mark
    mem.start(40 * S, "odom")
    assert list(mem.marked(q)) == [False, False, True, False]
    mem.start(39 * S, "odom")  # a stamp going back (a replayed bag): forget everything
    assert len(mem) == 0
    mem.mark(np.array([[0.1, 0.1]]), 39 * S)
    mem.start(39 * S, "map")  # another frame: the cells mean nothing there
    assert len(mem) == 0
    with pytest.raises(ValueError):
        StructureMemory(0.0, 1.0)


def _sweep(ego_x: float, boxes) -> np.ndarray:
    """A KITTI-like sweep from world (ego_x, 0) of boxes given in the world."""
    local = [(x - ego_x, y, length, w, h, yaw) for x, y, length, w, h, yaw in boxes]
    return spinning_scan(local, sensor_height_m=SENSOR_HEIGHT_M, elev_deg=KITTI_ELEV_DEG, n_cols=2083)


def _pose(ego_x: float) -> tuple[np.ndarray, str]:
    T = np.eye(4)
    T[0, 3] = ego_x
    return T, "odom"


def _trucks(det: LidarDetector, ego_x: float, boxes, stamp_ns: int, with_pose: bool = True) -> list:
    pose = _pose(ego_x) if with_pose else None
    d = det.detect(_sweep(ego_x, boxes), stamp_ns, "base_link", pose=pose)
    trucks = d.centers[d.labels == ObjectClass.TRUCK, :2] + [ego_x, 0.0]
    return [tuple(np.round(c, 1)) for c in trucks]


def _detector(memory_s: float = 30.0) -> LidarDetector:
    return LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_HEIGHT_M, structure_memory_s=memory_s))


def test_a_building_front_seen_face_on_after_its_corner_is_not_a_truck():
    """Under a highest beam 2 deg up, a 12 m building front 13 m away, seen face-on, shows nothing
    above 2.2 m: a truck's side. 20 m before it the same sweep pattern showed its 10 m deep end
    face (a façade piece, structure), and buildings do not move."""
    det = _detector()
    assert _trucks(det, -20.0, [BUILDING], 0) == [], "the corner is not structure: proves nothing"
    assert _trucks(_detector(), 0.0, [BUILDING], 2 * S), "face-on it is no truck anyway: proves nothing"
    assert _trucks(det, 0.0, [BUILDING], 2 * S) == []
    # without the ego pose the detector cannot place the sweep: no memory, the front is a truck
    assert _trucks(det, 0.0, [BUILDING], 2 * S, with_pose=False)
    assert det.structure_cells == 0  # and the chain is broken: the ego may have restarted odom
    # a pose that places nothing (NaN from a broken estimate) neither marks nor drops
    nan_pose = (np.full((4, 4), np.nan), "odom")
    fresh = _detector()
    assert fresh.detect(_sweep(-20.0, [BUILDING]), 0, "base_link", pose=nan_pose) is not None
    assert fresh.structure_cells == 0 and fresh.structure_vote_cells == 0 and fresh.structure_map() is None
    # forgotten after structure_memory_s
    assert _trucks(_detector(1.0), -20.0, [BUILDING], 0) == []
    late = _detector(1.0)
    _trucks(late, -20.0, [BUILDING], 0)
    assert _trucks(late, 0.0, [BUILDING], 2 * S)


@pytest.mark.parametrize(
    "truck",
    [
        (0.0, -4.0, 10.0, 2.5, 3.6, 0.0),  # in the next lane
        (0.0, 10.5, 10.0, 2.5, 3.6, 0.0),  # parked 1.25 m before the marked front
        (-18.0, 10.5, 10.0, 2.5, 3.6, 0.0),  # parked ahead of the building, in line with its front
    ],
)
def test_trucks_near_remembered_structure_stay_trucks(truck):
    """A truck leaves no marks and stands off the façade's cells: it stays a truck beside one."""
    det = _detector()
    _trucks(det, -20.0, [BUILDING], 0)
    seen = _trucks(det, 0.0, [BUILDING, truck], 2 * S)
    assert any(np.hypot(x - truck[0], y - truck[1]) < 2.5 for x, y in seen), seen


def _boxes(stamp_ns: int, rows) -> Detections:
    """Another detector's boxes (cx, cy, l, w, yaw) in base_link."""
    rows = np.asarray(rows, float)
    n = len(rows)
    return Detections(
        stamp_ns, "base_link", np.column_stack([rows[:, :2], np.full(n, 1.5)]),
        np.column_stack([rows[:, 2:4], np.full(n, 3.0)]), rows[:, 4], np.full(n, int(ObjectClass.TRUCK)),
        np.full(n, 0.9), np.full((n, 2), np.nan), np.tile(np.eye(2), (n, 1, 1)), np.ones(n, np.uint8),
    )  # fmt: skip


def test_other_detectors_boxes_on_a_remembered_front_are_found():
    """In `both` mode the network's vehicle boxes are asked the same question: a truck box on the
    front the LiDAR saw whole is structure, one on the truck in the next lane is not; boxes of
    another stamp, or without a sweep given a pose, are not judged."""
    det = _detector()
    _trucks(det, -20.0, [BUILDING], 0)
    truck = (0.0, -4.0, 10.0, 2.5, 3.6, 0.0)
    _trucks(det, 0.0, [BUILDING, truck], 2 * S)
    rows = [(0.0, 14.0, 10.0, 2.5, 0.0), (0.0, -4.0, 10.0, 2.5, 0.0), (0.0, 30.0, 4.5, 1.8, 0.0)]
    assert list(det.on_structure(_boxes(2 * S, rows))) == [True, False, False]
    assert not det.on_structure(_boxes(3 * S, rows)).any()
    det.detect(_sweep(0.0, [BUILDING]), 3 * S, "base_link")  # no pose: nothing to judge with
    assert not det.on_structure(_boxes(3 * S, rows)).any()


def test_votes_count_sweeps_and_need_a_lead():
    votes = StructureVotes(0.5, 30.0, margin=1)
    here, there = np.array([[1.1, 2.2]]), np.array([[5.2, 5.2]])
    votes.start(0, "odom")
    votes.vote(np.vstack([here, here + 0.1]), there, 0)  # two returns in one cell: one vote
    assert not votes.structure(here).any(), "one sweep of structure is no lead of two"
    votes.start(S, "odom")
    votes.vote(here, np.empty((0, 2)), S)
    assert list(votes.structure(np.vstack([here, there, [[9.0, 9.0]]]))) == [True, False, False]
    assert cell_centres(votes.held_keys(), votes.cell_m).tolist() == [[1.25, 2.25]]  # what RViz is shown
    votes.start(2 * S, "odom")
    votes.vote(np.empty((0, 2)), here, 2 * S)  # an object stood there: the lead is gone
    assert len(votes.held_keys()) == 0
    assert not votes.structure(here).any()
    votes.start(33 * S, "odom")  # not voted for structure_memory_s: forgotten
    assert len(votes) == 0
    votes.vote(here, here, 33 * S)
    votes.start(34 * S, "map")  # another frame: the cells mean nothing there
    assert len(votes) == 0
    with pytest.raises(ValueError):
        StructureVotes(0.5, 30.0, margin=-1)


_RNG = np.random.default_rng(0)
_FLOOR = np.mgrid[-20:20:0.25, -20:20:0.25].reshape(2, -1).T
_FLOOR = np.column_stack([_FLOOR, _RNG.normal(0.0, 0.01, len(_FLOOR))])
_POLE = (10.0, 5.0, 0.12, 0.12, 3.0)  # (x, y, length, width, height) in the fixed frame
_PERSON = (10.0, 5.0, 0.5, 0.4, 1.7)


def _votes_run(votes: bool, scenes, with_pose: bool = True, det: LidarDetector | None = None) -> list:
    """Per sweep (ego x, solids), the classes and fixed-frame centres the detector returns."""
    det = det or LidarDetector(LidarDetectorConfig(structure_votes=votes))
    out = []
    for k, (ego_x, solids) in enumerate(scenes):
        rng = np.random.default_rng(k)
        pts = [_FLOOR] + [
            np.column_stack(
                [
                    rng.uniform(x - ego_x - 0.5 * length, x - ego_x + 0.5 * length, 400),
                    rng.uniform(y - 0.5 * width, y + 0.5 * width, 400),
                    rng.uniform(0.0, height, 400),
                ]
            )  # fmt: skip
            for x, y, length, width, height in solids
        ]
        d = det.detect(
            np.vstack(pts).astype(np.float32), k * S, "base_link", pose=_pose(ego_x) if with_pose else None
        )
        out.append(
            [
                (int(c), round(float(x + ego_x), 1), round(float(y), 1))
                for c, (x, y) in zip(d.labels, d.centers[:, :2])
            ]
        )
    return out


def test_a_person_shaped_piece_where_a_pole_stood_is_structure():
    """Three sweeps see a pole (structure by its shape); the fourth sees a person-sized, person-tall
    cluster in its cells (what a far or half-hidden sign or hedge piece looks like): without the
    votes, or without poses, a pedestrian; with them, structure. A person who stood there as often
    as the pole, or who stands 0.8 m from it, is a pedestrian."""
    ped = int(ObjectClass.PEDESTRIAN)
    scenes = [(0.0, [_POLE]), (0.5, [_POLE]), (1.0, [_POLE]), (1.5, [_PERSON])]
    assert _votes_run(False, scenes)[3] == [(ped, 10.0, 5.0)], "no pedestrian there anyway: proves nothing"
    assert _votes_run(True, scenes, with_pose=False)[3] == [(ped, 10.0, 5.0)]
    assert _votes_run(True, scenes)[3] == []
    assert _votes_run(True, scenes[2:])[1] == [(ped, 10.0, 5.0)], "one sweep of the pole is no lead"
    taking_turns = [(0.0, [_POLE]), (0.5, [_PERSON]), (1.0, [_POLE]), (1.5, [_PERSON])]
    assert _votes_run(True, taking_turns)[3] == [(ped, 10.0, 5.0)]
    beside = (10.8, 5.0, 0.5, 0.4, 1.7)
    assert _votes_run(True, scenes[:3] + [(1.5, [beside])])[3] == [(ped, 10.8, 5.0)]


def test_the_structure_map_shows_where_the_pole_stood():
    """What RViz is shown (``structure_map``): nothing before a sweep with a pose; after three
    sweeps of the pole, its cell in the fixed frame."""
    det = LidarDetector(LidarDetectorConfig())
    assert det.structure_map() is None
    _votes_run(True, [(0.0, [_POLE]), (0.5, [_POLE]), (1.0, [_POLE])], det=det)
    held = det.structure_map()
    assert held.frame_id == "odom" and held.cell_m == 0.5
    assert len(held.xy) and np.hypot(*(held.xy - [10.0, 5.0]).T).min() < 0.5
