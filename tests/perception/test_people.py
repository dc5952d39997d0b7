"""People side by side split into persons; cyclists and flat roofs left whole (perception/people.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.perception.lidar import LidarDetector, LidarDetectorConfig
from sensor_fusion.perception.people import split_groups
from sensor_fusion.sim.boxes import spinning_scan

SENSOR_HEIGHT_M = 1.8


@pytest.fixture(scope="module")
def det() -> LidarDetector:
    d = LidarDetector()
    d.warm_up()
    return d


def person(cx: float, cy: float, height: float = 1.75, yaw: float = 0.0) -> list[tuple]:
    """A person as boxes on the ground: a body 0.45 m across the shoulders and 0.3 m deep up to
    the shoulders (0.82 of the stature: 0.3 m under the top), and a head 0.2 m across on it."""
    return [(cx, cy, 0.3, 0.45, 0.82 * height, yaw), (cx, cy, 0.22, 0.2, height, yaw)]


def cyclist(cx: float, cy: float) -> list[tuple]:
    """A cyclist riding along x: wheels 0.7 m high at both ends of a 1.8 m bicycle, the rider
    (1.7 m) over the saddle behind the middle, the hands on the handlebars (1.1 m)."""
    return [
        (cx - 0.55, cy, 0.7, 0.06, 0.7, 0.0),  # rear wheel
        (cx + 0.55, cy, 0.7, 0.06, 0.7, 0.0),  # front wheel
        (cx - 0.15, cy, 0.4, 0.4, 1.45, 0.0),  # rider's body and legs
        (cx - 0.05, cy, 0.22, 0.2, 1.7, 0.0),  # head
        (cx + 0.3, cy, 0.35, 0.5, 1.1, 0.0),  # arms, hands and handlebars
    ]


def sweep(boxes) -> np.ndarray:
    return spinning_scan(boxes, sensor_height_m=SENSOR_HEIGHT_M, n_cols=3600)


def labels_near(d, x: float, y: float, r: float = 2.5) -> list[int]:
    near = np.hypot(d.centers[:, 0] - x, d.centers[:, 1] - y) < r
    return sorted(d.labels[near].tolist())


@pytest.mark.parametrize("x, y", [(12.0, 3.0), (18.0, -4.0)])
def test_two_people_side_by_side_are_two_pedestrians(det, x, y):
    """Shoulder to shoulder, 0.55 m apart: one cluster of a cyclist's size without the split."""
    pts = sweep([*person(x, y - 0.275), *person(x, y + 0.275, 1.68)])
    off = LidarDetector(LidarDetectorConfig(group_split=False)).detect(pts, 0, "base_link")
    assert len(labels_near(off, x, y)) == 1, "the two no longer merge: the test proves nothing"
    d = det.detect(pts, 0, "base_link")
    assert labels_near(d, x, y) == [int(ObjectClass.PEDESTRIAN)] * 2
    assert np.all(d.sizes[:, 0] <= 0.8)


def test_three_people_walking_in_a_row_are_three_pedestrians(det):
    pts = sweep([b for dy in (-0.55, 0.0, 0.55) for b in person(10.0, 5.0 + dy)])
    d = det.detect(pts, 0, "base_link")
    assert labels_near(d, 10.0, 5.0) == [int(ObjectClass.PEDESTRIAN)] * 3


@pytest.mark.parametrize("x, y", [(10.0, 4.0), (16.0, 6.0), (22.0, -5.0)])
def test_a_cyclist_stays_one_bicycle(det, x, y):
    """Seen from the side: the rider is the only peak that tall; hands and wheels are lower."""
    d = det.detect(sweep(cyclist(x, y)), 0, "base_link")
    assert labels_near(d, x, y) == [int(ObjectClass.BICYCLE)]


def _split(boxes, xy: tuple[float, float], length: float, width: float, yaw: float) -> int:
    """split_groups on one cluster (the returns within 1.5 m of ``xy``) fitted as given."""
    pts = sweep(boxes)
    pts = pts[(pts[:, 2] > 0.2) & (np.hypot(pts[:, 0] - xy[0], pts[:, 1] - xy[1]) < 1.5)].astype(np.float64)
    labels = np.zeros(len(pts), np.int64)
    fit = np.array([[xy[0], xy[1], length, width, yaw]])
    one = np.array([0])
    return split_groups(
        pts, pts[:, 2], labels, 1, np.arange(len(pts)), one, np.array([len(pts)]), one, fit, 0.011,
        np.radians(0.4), 1.5,
    )  # fmt: skip


def test_a_flat_roof_and_a_bump_are_not_heads():
    """A car's cabin seen over the car ahead is flat; a box 0.1 m higher at one end is no head."""
    assert _split([(15.0, 3.0, 2.0, 0.8, 1.45, 0.0)], (15.0, 3.0), 2.0, 0.8, 0.0) == 1
    bumped = [(15.0, 3.0, 2.0, 0.8, 1.45, 0.0), (15.7, 3.0, 0.4, 0.8, 1.55, 0.0)]
    assert _split(bumped, (15.0, 3.0), 2.0, 0.8, 0.0) == 1
    two = [*person(15.0, 2.7), *person(15.0, 3.3)]
    assert _split(two, (15.0, 3.0), 1.05, 0.3, 0.5 * np.pi) == 2, "the split itself no longer works"


def test_people_taller_than_anyone_are_not_split():
    """Over 2.2 m (the pedestrian rule's tallest) the cluster is no group: a façade's pieces."""
    tall = [(15.0, 2.7, 0.3, 0.45, 2.3, 0.0), (15.0, 2.7, 0.22, 0.2, 2.6, 0.0)]
    tall += [(15.0, 3.3, 0.3, 0.45, 2.3, 0.0), (15.0, 3.3, 0.22, 0.2, 2.6, 0.0)]
    assert _split(tall, (15.0, 3.0), 1.05, 0.3, 0.5 * np.pi) == 1


def _profile(tops: list[float], r: float = 12.0) -> int:
    """split_groups on one cluster whose top profile (0.1 m bins along y, at x = ``r``) is ``tops``
    (0: an empty bin); each bin is a column of returns from 0.3 m up to its top."""
    assert len(tops) >= 10, "clusters under 1 m are never split: the profile would prove nothing"
    pts = []
    for i, h in enumerate(tops):
        if h > 0:
            for z in np.linspace(0.3, h, 8):
                pts.append((r, 0.1 * i + 0.05, z))
    xyz = np.array(pts)
    fit = np.array([[r, 0.05 * len(tops), 0.1 * len(tops), 0.3, 0.5 * np.pi]])
    labels = np.zeros(len(xyz), np.int64)
    one = np.array([0])
    return split_groups(
        xyz, xyz[:, 2].copy(), labels, 1, np.arange(len(xyz)), one, np.array([len(xyz)]), one, fit, 0.011,
        np.radians(0.4), 1.5,
    )  # fmt: skip


def test_heads_are_counted_by_their_prominence():
    assert _profile([1.45] + [1.8] * 3 + [1.45] * 3 + [1.75] * 3 + [1.45]) == 2  # 0.3 m between heads
    assert _profile([1.45] + [1.8] * 3 + [1.65] * 3 + [1.75] * 3 + [1.45]) == 1  # 0.1 m: one body
    # two equal bumps 0.1 m over a flat roof (a tie must not give both heads an infinite prominence)
    assert _profile([1.5] * 3 + [1.6] * 2 + [1.5] * 8 + [1.6] * 2 + [1.5] * 3) == 1


def test_heads_closer_than_two_pairs_of_shoulders_are_one_person():
    assert _profile([1.5] * 4 + [1.75, 1.4, 1.75] + [1.5] * 4) == 1  # 0.2 m apart
    assert _profile([1.5] * 3 + [1.75, 1.4, 1.4, 1.4, 1.75] + [1.5] * 3) == 2  # 0.4 m apart


def test_a_narrow_post_beside_a_person_is_no_second_head():
    """A post (a parking meter, a sign's pole) as tall as a head, past a gap: no torso under it."""
    assert _profile([1.45, 1.45, 1.75, 1.75, 1.45, 1.45, 0, 0, 0, 1.5]) == 1
    assert _profile([1.45, 1.75, 1.75, 1.45, 1.45, 0, 0, 0, 1.5, 1.5, 1.45]) == 2  # a person


def test_a_piece_held_clear_of_the_ground_is_dropped(det):
    """A sign plate 0.65 m beside a person, seen only above 1.55 m: split off, it must still meet the
    bottom-clearance test every cluster meets (it is no person floating in the air)."""
    x, y = 12.0, 3.0
    sign = sweep([(x, y + 0.65, 0.1, 0.5, 2.1, 0.0)])
    sign = sign[(np.hypot(sign[:, 0] - x, sign[:, 1] - y - 0.65) < 0.4) & (sign[:, 2] > 1.55)]
    pts = np.vstack([sweep(person(x, y)), sign]).astype(np.float32)
    d = det.detect(pts, 0, "base_link")
    assert labels_near(d, x, y) == [int(ObjectClass.PEDESTRIAN)]


def test_only_adult_heads_count():
    """Heads from 1.4 m as measured: a hedge 1.1-1.25 m tall with two bumps stays whole (and so do
    children side by side); the same profile 0.4 m higher is two people."""
    low = [1.0] + [1.2] * 3 + [0.9] * 3 + [1.15] * 3 + [1.0]
    assert _profile(low) == 1
    assert _profile([h + 0.4 for h in low]) == 2


def test_a_flat_topped_block_of_a_bicycles_size_is_no_cyclist():
    """A cyclist's ends are its wheels (under half the rider's top); a block 1.6 x 0.8 x 1.25 m, as
    a piece of a parked car shows, stands as tall at its ends: UNKNOWN, for the camera to name."""
    block = sweep([(20.0, 3.0, 1.6, 0.8, 1.25, 0.0)])
    off = LidarDetector(LidarDetectorConfig(bicycle_wheel_ends=False)).detect(block, 0, "base_link")
    assert labels_near(off, 20.0, 3.0) == [int(ObjectClass.BICYCLE)], "not a bicycle box: proves nothing"
    on = LidarDetector(LidarDetectorConfig(bicycle_wheel_ends=True))
    assert labels_near(on.detect(block, 0, "base_link"), 20.0, 3.0) == [int(ObjectClass.UNKNOWN)]
    for x, y in [(10.0, 4.0), (16.0, 6.0), (22.0, -5.0)]:
        d = on.detect(sweep(cyclist(x, y)), 0, "base_link")
        assert labels_near(d, x, y) == [int(ObjectClass.BICYCLE)]


@pytest.mark.parametrize("rot", [0.0, 1.6])
def test_four_people_standing_in_a_ring_are_no_car(det, rot):
    """Four people facing each other on a ring 0.55 m round (a group waiting or talking) make a
    cluster 1.5 m across: a short car's footprint and height, one CAR box without the split. The
    heads split it, however wide: at least three boxes, none a car."""
    x, y = 12.0, 3.0
    boxes = []
    for a, h in zip(np.radians([10.0, 100.0, 190.0, 280.0]) + rot, (1.9, 1.7, 1.6, 1.8)):
        boxes += person(x + 0.55 * np.cos(a), y + 0.55 * np.sin(a), h)
    pts = sweep(boxes)
    off = LidarDetector(LidarDetectorConfig(group_split=False)).detect(pts, 0, "base_link")
    assert labels_near(off, x, y) == [int(ObjectClass.CAR)], "not one car box: the test proves nothing"
    on = labels_near(det.detect(pts, 0, "base_link"), x, y)
    assert len(on) >= 3 and int(ObjectClass.CAR) not in on
