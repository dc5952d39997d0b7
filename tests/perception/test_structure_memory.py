"""The LiDAR detector's structure memory: building fronts seen earlier as structure stay structure."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.types import Detections
from sensor_fusion.perception.lidar import LidarDetector, LidarDetectorConfig
from sensor_fusion.perception.structure_memory import StructureMemory
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
    assert fresh.structure_cells == 0
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
