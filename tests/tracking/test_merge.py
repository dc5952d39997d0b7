"""tracking.merge: overlapping tracks that move alike for a while become one; others are left alone."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import SENSOR_LIDAR, SENSOR_RADAR, ObjectClass
from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.filters import CVFilter, IMMFilter
from sensor_fusion.tracking.measurements import validate
from sensor_fusion.tracking.merge import OverlapMerger
from sensor_fusion.tracking.track_table import TrackTable, birth
from tests.tracking.test_tracker import DT_NS, dets

CFG = TrackerConfig(merge_min_overlap=0.5, merge_max_speed_diff_mps=2.0, merge_after_s=0.3)
TRUCK = (12.0, 2.5, 3.5)
CAR = (4.5, 1.8, 1.6)


def tracks(xy, vel, sizes, sensors=None, yaw=0.0, filt=None) -> TrackTable:
    """Confirmed tracks, ids 1.., all updated by a shape-trusted sensor at 0."""
    n = len(xy)
    d = dets(0, xy, vel=vel, yaw=yaw)
    d.sizes = np.asarray(sizes, dtype=np.float64)
    if sensors is not None:
        d.sensors[:] = sensors
    t = birth(validate(d, CFG), np.arange(n), 0, 1, filt or CVFilter(), CFG)
    t.confirmed[:] = True
    t.shape_ns[:] = 1
    return t


def run(merger: OverlapMerger, t: TrackTable, seconds: float) -> TrackTable:
    """Merge every frame (10 Hz) for ``seconds``, the tracks standing still (their overlap is what counts)."""
    for k in range(int(round(seconds * 10)) + 1):
        t = merger.merge(t, k * DT_NS)
    return t


@pytest.mark.parametrize("filt", [CVFilter(), IMMFilter(0.5, 0.3, (4.0, 2.0))], ids=["cv", "imm"])
def test_car_inside_truck_merges_into_older_id(filt) -> None:
    t = tracks([[0.0, 0.0], [3.0, 0.3]], [[10.0, 0.0], [10.5, 0.0]], [TRUCK, CAR], filt=filt)
    t.votes[:] = 0.0
    t.votes[0, int(ObjectClass.TRUCK)] = 2.0
    t.votes[1, int(ObjectClass.CAR)] = 1.0  # votes add up: the class stays the one with most support
    t.hits[:] = [3, 7]
    t.sensors[1] = SENSOR_RADAR
    t.confirmed[0] = False  # one confirmed is enough; the survivor is confirmed
    m = OverlapMerger(CFG)
    assert len(m.merge(t, 0)) == 2 and len(m.merge(t, 2 * DT_NS)) == 2  # not yet merge_after_s
    out = m.merge(t, 3 * DT_NS)
    assert out.ids.tolist() == [1] and out.sizes[0].tolist() == list(TRUCK)
    assert out.votes[0, int(ObjectClass.TRUCK)] == 2.0 and out.votes[0, int(ObjectClass.CAR)] == 1.0
    assert out.labels().tolist() == [int(ObjectClass.TRUCK)]
    assert out.hits[0] == 7 and out.sensors[0] == SENSOR_LIDAR | SENSOR_RADAR and out.confirmed[0]


def test_survivor_keeps_what_the_merged_track_measured() -> None:
    """The merged-away track had its velocity measured (radar) and a box update later than the
    survivor's: the survivor keeps both (its velocity gate stays on; no box miss is charged for a
    box it has)."""
    t = tracks([[0.0, 0.0], [3.0, 0.3]], [[10.0, 0.0], [10.5, 0.0]], [TRUCK, CAR])
    t.vel_measured[:] = [False, True]
    t.box_ns[:] = [2, 7]
    out = run(OverlapMerger(CFG), t, 0.3)
    assert out.ids.tolist() == [1] and out.vel_measured[0] and out.box_ns[0] == 7


def test_survivor_is_the_box_a_shape_trusted_sensor_updated_last() -> None:
    t = tracks([[0.0, 0.0], [3.0, 0.3]], [[10.0, 0.0], [10.0, 0.0]], [TRUCK, CAR])
    t.shape_ns[:] = [0, 5]  # the younger track (id 2) carries the LiDAR box now
    assert run(OverlapMerger(CFG), t, 0.3).ids.tolist() == [2]


def test_neighbours_and_crossers_left_alone() -> None:
    # two cars side by side in adjacent lanes (3.5 m apart): no overlap
    t = tracks([[0.0, 0.0], [0.5, 3.5]], [[10.0, 0.0], [10.0, 0.0]], [CAR, CAR])
    assert run(OverlapMerger(CFG), t, 2.0).ids.tolist() == [1, 2]
    # a car crossing the truck's path: the boxes overlap, the velocities do not agree
    t = tracks(
        [[0.0, 0.0], [2.0, 0.0]], [[10.0, 0.0], [0.0, 10.0]], [TRUCK, CAR], yaw=np.array([0.0, np.pi / 2])
    )
    assert run(OverlapMerger(CFG), t, 2.0).ids.tolist() == [1, 2]
    # two tentative tracks: neither is an established object yet
    t = tracks([[0.0, 0.0], [3.0, 0.3]], [[10.0, 0.0], [10.0, 0.0]], [TRUCK, CAR])
    t.confirmed[:] = False
    assert run(OverlapMerger(CFG), t, 2.0).ids.tolist() == [1, 2]
    # a small overlap (a car's nose touching the truck's tail) is below merge_min_overlap
    t = tracks([[0.0, 0.0], [7.5, 0.0]], [[10.0, 0.0], [10.0, 0.0]], [TRUCK, CAR])
    assert run(OverlapMerger(CFG), t, 2.0).ids.tolist() == [1, 2]


def test_overlap_must_last() -> None:
    """A brief overlap (passing) restarts the clock when it ends; reset() forgets it too."""
    inside = tracks([[0.0, 0.0], [3.0, 0.3]], [[10.0, 0.0], [10.0, 0.0]], [TRUCK, CAR])
    apart = tracks([[0.0, 0.0], [30.0, 0.3]], [[10.0, 0.0], [10.0, 0.0]], [TRUCK, CAR])
    m = OverlapMerger(CFG)
    assert len(m.merge(inside, 0)) == 2
    assert len(m.merge(apart, 2 * DT_NS)) == 2 and m.overlap_since == {}
    assert len(m.merge(inside, 4 * DT_NS)) == 2  # overlapping again since 0.4 s
    m.reset()
    assert len(m.merge(inside, 6 * DT_NS)) == 2  # forgot: since 0.6 s
    assert len(m.merge(inside, 9 * DT_NS)) == 1


def test_degenerate_boxes_overlap_nothing() -> None:
    t = tracks([[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], [CAR, CAR])
    t.sizes[:] = [[0.1, 0.1, 1.0], [0.1, 0.1, 1.0]]  # no size measured yet
    assert run(OverlapMerger(CFG), t, 1.0).ids.tolist() == [1, 2]


def test_a_lost_track_no_box_found_again_is_not_merged() -> None:
    """A dormant lost track (keep_lost_tracks: unconfirmed, existence below existence_delete)
    coasts beside its object's new track and is not merged with it; once a box has
    found it again, it merges as a tentative track does, and the survivor is no longer lost."""
    t = tracks([[0.0, 0.0], [3.0, 0.3]], [[10.0, 0.0], [10.5, 0.0]], [TRUCK, CAR])
    t.confirmed[0], t.lost[0], t.logit[0] = False, True, CFG.logit("existence_delete") - 1.0
    t.shape_ns[:] = [5, 1]  # the lost one carries the later box: it would survive a merge
    assert run(OverlapMerger(CFG), t, 2.0).ids.tolist() == [1, 2]
    t.logit[0] = CFG.logit("existence_birth")  # found again
    out = run(OverlapMerger(CFG), t, 0.3)
    assert out.ids.tolist() == [1] and out.confirmed[0] and not out.lost[0]
