"""The beams just below a cluster (``perception.underside``) and the solid-base rule built on them."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.perception import lidar
from sensor_fusion.perception.lidar import LidarDetector, LidarDetectorConfig
from sensor_fusion.sim.boxes import spinning_scan
from tests.perception.test_ends import KITTI_ELEV_DEG, SENSOR_Z_M, truck_parts


def _street_boxes(distance_m: float, piece: str, clearance_m: float = 0.5) -> list[tuple]:
    """KITTI's HDL-64E (highest beam +2 deg) facing a 9 m ``piece`` (a building front standing on the
    road, or a truck over its clearance) ``distance_m`` ahead, across the line of sight. A van 11.5 m
    ahead hides its +x end at every height the sweep shows there; past its -x end the next front
    stands 5 m farther back (no recess the recess rule would take)."""
    boxes = [(-9.5, distance_m + 5.2, 9.0, 0.4, 8.0, 0.0)]
    if piece == "front":
        boxes.append((0.5, distance_m + 0.2, 9.0, 0.4, 8.0, 0.0))
    else:
        boxes += truck_parts(0.5, distance_m + 1.25, length=9.0, clearance_m=clearance_m)
    van_x = 5.0 * 11.5 / distance_m  # on the line of sight to the +x end
    boxes.append((van_x, 11.5, 4.0, 2.0, 2.6, 0.0, 0.2))
    return boxes


def _street(distance_m: float, piece: str, clearance_m: float = 0.5) -> np.ndarray:
    """The sweep of :func:`_street_boxes`' scene."""
    boxes = _street_boxes(distance_m, piece, clearance_m)
    return spinning_scan(boxes, sensor_height_m=SENSOR_Z_M, elev_deg=KITTI_ELEV_DEG, n_cols=2083)


def _boxes_there(pts: np.ndarray, distance_m: float, solid_base_m: float) -> list[str]:
    cfg = LidarDetectorConfig(sensor_z_m=SENSOR_Z_M, structure_solid_base_m=solid_base_m)
    d = LidarDetector(cfg).detect(pts, 0, "base_link")
    near = (np.abs(d.centers[:, 0] - 0.5) < 3.0) & (np.abs(d.centers[:, 1] - distance_m) < 3.0)
    return [ObjectClass(int(lab)).name for lab in d.labels[near]]


@pytest.mark.parametrize("distance_m", [18.0, 20.0, 22.0])
def test_a_front_piece_on_its_base_is_no_truck(distance_m):
    """Cut by the ceiling, one end hidden, depth past the other: a TRUCK box without the rule. The
    beams below its lowest returns stop at its face, off the road, over more than 3 m: no vehicle."""
    pts = _street(distance_m, "front")
    assert _boxes_there(pts, distance_m, 0.0) == ["TRUCK"], "a truck without the rule: proves nothing"
    assert _boxes_there(pts, distance_m, 3.0) == []


@pytest.mark.parametrize("distance_m", [15.0, 18.0, 20.0, 22.0])
@pytest.mark.parametrize("clearance_m", [0.25, 0.5])  # a low-floor bus's, a truck's
def test_a_truck_in_the_same_place_keeps_its_box(distance_m, clearance_m):
    """The same scene with a truck for the front: between its axles the beams pass under it."""
    pts = _street(distance_m, "truck", clearance_m)
    assert _boxes_there(pts, distance_m, 3.0) == _boxes_there(pts, distance_m, 0.0) == ["TRUCK"]


def test_what_the_beams_below_show(monkeypatch):
    """The kernel's two figures, read where the detector calls it: the front's base stops the beams
    over a run of metres and lets none through; the truck lets some through."""
    seen = {}
    orig = lidar.underside

    def spy(*args):
        through, run_m, hidden = orig(*args)
        fit = args[-1]
        for k in range(len(fit)):  # the judged cluster facing the sensor, 20 m ahead
            if abs(fit[k, 1] - 20.5) < 1.5:
                seen["through"], seen["run_m"] = int(through[k]), float(run_m[k])
                seen["hidden"] = float(hidden[k])
        return through, run_m, hidden

    monkeypatch.setattr(lidar, "underside", spy)
    LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_Z_M)).detect(_street(20.0, "front"), 0, "base_link")
    assert seen["through"] == 0 and seen["run_m"] > 3.0 and seen["hidden"] == 0.0
    seen.clear()
    LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_Z_M)).detect(_street(20.0, "truck"), 0, "base_link")
    assert seen["through"] > 0


def _behind_parked_cars(distance_m: float, piece: str) -> np.ndarray:
    """KITTI's HDL-64E facing, ``distance_m`` ahead across the line of sight, a 9 m building front
    (``piece`` ``front``) or a truck standing to the side of the line of sight so its end face shows
    (``truck_l``: what a vehicle behind traffic shows), with a row of parked cars (4.2 m long, 0.3 m
    apart, 1.4 m tall) 3 m in front of it along its whole length: its base is seen over their roofs
    only. A van 11.5 m ahead hides the front's +x end (nothing behind it: a closed end)."""
    if piece == "front":
        boxes = [(0.5, distance_m + 0.2, 9.0, 0.4, 8.0, 0.0)]
        x0 = 0.5
        boxes.append((5.0 * 11.5 / distance_m, 11.5, 4.0, 2.0, 2.6, 0.0, 0.2))
    else:
        boxes = truck_parts(9.5, distance_m + 1.25, length=9.0)
        x0 = 9.5
    boxes += [(x, distance_m - 3.0, 4.2, 1.8, 1.4, 0.0) for x in x0 + np.array([-2.4, 2.1, 6.6])]
    return spinning_scan(boxes, sensor_height_m=SENSOR_Z_M, elev_deg=KITTI_ELEV_DEG, n_cols=2083)


def _road_boxes(pts: np.ndarray, hidden_base: float) -> list[tuple]:
    cfg = LidarDetectorConfig(sensor_z_m=SENSOR_Z_M, structure_hidden_base=hidden_base)
    d = LidarDetector(cfg).detect(pts, 0, "base_link")
    return [
        (ObjectClass(int(lab)).name, *np.round(c[:2], 1))
        for c, lab in zip(d.centers, d.labels)
        if lab == ObjectClass.TRUCK
    ]


@pytest.mark.parametrize("distance_m", [25.0, 30.0])
def test_a_front_behind_parked_cars_is_no_truck(distance_m):
    """Cut by the ceiling, one end hidden, its base seen nowhere (the cars stand in front of it; the
    solid-base rule cannot see it): a TRUCK box without the hidden-base rule, none with it."""
    pts = _behind_parked_cars(distance_m, "front")
    assert len(_road_boxes(pts, 0.0)) == 1, "a truck without the rule: proves nothing"
    assert _road_boxes(pts, 0.8) == []


@pytest.mark.parametrize("distance_m", [25.0, 30.0])
def test_a_truck_behind_parked_cars_showing_its_end_keeps_its_box(distance_m):
    """A truck behind the same cars, off the line of sight so its end face shows: its base is hidden
    as much as the front's, but it is no lone face."""
    pts = _behind_parked_cars(distance_m, "truck_l")
    assert _road_boxes(pts, 0.8) == _road_boxes(pts, 0.0) != []


def test_the_hidden_share_of_a_front_behind_parked_cars(monkeypatch):
    """The kernel's third figure: the front behind the cars is hidden over most of its span, the
    truck in the open over none."""
    seen = {}
    orig = lidar.underside

    def spy(*args):
        out = orig(*args)
        fit = args[-1]
        for k in range(len(fit)):
            if abs(fit[k, 1] - 25.5) < 1.5 and abs(fit[k, 0] - 0.5) < 3.0:
                seen["hidden"] = float(out[2][k])
        return out

    monkeypatch.setattr(lidar, "underside", spy)
    cfg = LidarDetectorConfig(sensor_z_m=SENSOR_Z_M, structure_hidden_base=0.8)
    LidarDetector(cfg).detect(_behind_parked_cars(25.0, "front"), 0, "base_link")
    assert seen["hidden"] >= 0.8
    seen.clear()
    LidarDetector(cfg).detect(_street(25.0, "truck"), 0, "base_link")
    assert seen.get("hidden", 0.0) < 0.2
