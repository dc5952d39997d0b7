"""What the LiDAR sees past a cluster's ends (``perception.ends``), and the rule built on it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.perception.boxfit import N_FIT_COLS
from sensor_fusion.perception.clustering import group_by_label
from sensor_fusion.perception.ends import CONTINUES, HIDDEN, end_states, sweep_bins
from sensor_fusion.perception.lidar import LidarDetector, LidarDetectorConfig, unbounded_clusters
from sensor_fusion.sim.boxes import spinning_scan
from tests.perception.test_structure import LOW_CEILING_TRUCKS

SENSOR_Z_M = 1.73
KITTI_ELEV_DEG = (-24.9, 2.0)  # KITTI's HDL-64E: the highest beam 2 deg up


def _wall(p0, p1, z=(0.5, 2.5), step_m=0.1, dz=0.25) -> np.ndarray:
    """Returns on a vertical strip from p0 to p1 (x, y)."""
    n = max(int(np.hypot(p1[0] - p0[0], p1[1] - p0[1]) / step_m), 1) + 1
    t = np.linspace(0.0, 1.0, n)
    zs = np.arange(z[0], z[1] + 1e-9, dz)
    xy = np.array(p0) + t[:, None] * (np.array(p1) - np.array(p0))
    return np.array([(x, y, zz) for x, y in xy for zz in zs], np.float32)


def _fit(cluster: np.ndarray, yaw: float) -> np.ndarray:
    """A box fitted by hand: centre and extent along ``yaw``."""
    u = np.array([math.cos(yaw), math.sin(yaw)])
    v = np.array([-u[1], u[0]])
    along, across = cluster[:, :2] @ u, cluster[:, :2] @ v
    c = u * 0.5 * (along.min() + along.max()) + v * 0.5 * (across.min() + across.max())
    fit = np.zeros((1, N_FIT_COLS))
    fit[0, :5] = c[0], c[1], along.max() - along.min(), across.max() - across.min(), yaw
    return fit


def _all_states(
    cluster: np.ndarray, others: list[np.ndarray], yaw: float, ground: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """end_states of one cluster among ``others`` (clusters too) and ``ground`` returns (label -1,
    on the ground)."""
    parts = [cluster, *others] + ([ground] if ground is not None else [])
    label = np.concatenate([np.full(len(p), i, np.int64) for i, p in enumerate([cluster, *others])])
    if ground is not None:
        label = np.r_[label, np.full(len(ground), -1, np.int64)]
    pts = np.concatenate(parts)
    return end_states(
        pts, sweep_bins(pts), label, SENSOR_Z_M, cluster, np.arange(len(cluster)), np.array([0]),
        np.array([len(cluster)]), np.array([0]), _fit(cluster, yaw), math.radians(1.0), 1.0, label < 0,
    )  # fmt: skip


def _states(
    cluster: np.ndarray, others: list[np.ndarray], yaw: float, ground: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(returns behind, CONTINUES | HIDDEN) per end: see :func:`_all_states`."""
    return _all_states(cluster, others, yaw, ground)[:2]


def _unbounded(
    cluster: np.ndarray, others: list[np.ndarray], yaw: float, ground: np.ndarray | None = None, **cfg
) -> bool:
    """The rule (``lidar.unbounded_clusters``) on one cluster among ``others`` and ``ground``."""
    parts = [cluster, *others] + ([ground] if ground is not None else [])
    pts = np.concatenate(parts)
    obj = np.concatenate([cluster, *others])
    labels = np.concatenate([np.full(len(p), i, np.int64) for i, p in enumerate([cluster, *others])])
    kept = np.arange(len(pts)) < len(obj)
    order, starts, counts = group_by_label(labels, len(others) + 1)
    out = unbounded_clusters(
        pts, sweep_bins(pts), kept, labels, obj, order, starts, counts, np.array([0]), _fit(cluster, yaw),
        np.array([True]), LidarDetectorConfig(sensor_z_m=SENSOR_Z_M, **cfg), ~kept, np.zeros(len(pts)),
        obj[:, 2].astype(np.float64),
    )  # fmt: skip
    return bool(out[0])


def test_each_end_tells_what_lies_past_it():
    """A face 8 m long, 20 m ahead (+y), across the line of sight. End 0 is the lower azimuth (+x),
    end 1 the higher (-x)."""
    face = _wall((-4.0, 20.0), (4.0, 20.0))
    # past end 0 a wall 5 m behind, past end 1 the same front going on
    n_behind, seen = _states(face, [_wall((4.3, 25.0), (6.0, 25.0)), _wall((-6.0, 20.3), (-4.3, 20.3))], 0.0)
    assert n_behind[0, 0] > 0 and n_behind[0, 1] == 0 and seen[0, 1] == CONTINUES
    # the other way round
    n_behind, seen = _states(face, [_wall((-5.5, 25.0), (-4.4, 25.0)), _wall((4.3, 20.2), (6.0, 20.2))], 0.0)
    assert n_behind[0, 1] > 0 and n_behind[0, 0] == 0 and seen[0, 0] == CONTINUES
    # something 8 m nearer just past end 0 hides it; nothing at all past end 1
    n_behind, seen = _states(face, [_wall((2.45, 12.0), (3.0, 12.0))], 0.0)
    assert (n_behind == 0).all() and seen[0, 0] == HIDDEN and seen[0, 1] == 0


def test_an_oblique_front_going_on_past_a_gap_is_not_depth():
    """A front seen 10 deg off its plane recedes ~1.9 m in range per degree of azimuth: past a 0.5 m
    gap, its next piece is metres farther than the end, yet on the face's extended line, so it
    continues the face. A wall 30 m away seen past the same end is depth."""
    yaw = math.radians(90.4)
    u = np.array([math.cos(yaw), math.sin(yaw)])
    end = np.array([-3.5, 19.0])  # the end at the lower azimuth (100.4 deg); the face comes from 109
    face = _wall(tuple(end - 9.0 * u), tuple(end))
    going_on = _wall(tuple(end + 0.5 * u), tuple(end + 4.0 * u))
    assert np.hypot(*going_on[:, :2].T).max() - np.hypot(*end) > 2.0  # farther than the margin
    n_behind, seen = _states(face, [going_on], yaw)
    assert n_behind[0, 0] == 0 and seen[0, 0] == CONTINUES
    az = np.radians(np.linspace(99.5, 100.3, 9))
    far_wall = _wall(
        tuple(30.0 * np.r_[np.cos(az[0]), np.sin(az[0])]), tuple(30.0 * np.r_[np.cos(az[-1]), np.sin(az[-1])])
    )
    n_behind, _ = _states(face, [far_wall], yaw)
    assert n_behind[0, 0] > 0


def test_the_face_at_an_end_is_the_one_its_returns_show():
    """A cluster of two fronts meeting at a corner (one face-on, one receding): its box's edge facing
    the sensor is the face-on front, but at the receding front's end the face is the receding one,
    and that front going on past a gap continues it."""
    corner = _wall((-2.0, 20.0), (2.0, 20.0))
    receding = _wall((2.0, 20.0), (3.0, 28.0))
    cluster = np.concatenate([corner, receding])
    going_on = _wall((3.1, 28.8), (3.3, 30.4))  # within the 3 m the face is extended
    n_behind, seen = _states(cluster, [going_on], 0.0)  # end 0: the receding front's far end
    assert n_behind[0, 0] == 0 and seen[0, 0] == CONTINUES


def test_at_a_short_face_the_box_edge_is_the_face():
    """A truck seen at its corner: rear 2.5 m wide, side 10 m. Within 4 m of the rear's outer end lie
    the rear and the side round the corner, no line: the rear (the box's edge) is the face there.
    Objects just past both ends, 1.2-2.0 m nearer than the rear and the side, hide them: kept."""
    rear = _wall((6.75, 15.0), (9.25, 15.0), z=(0.5, 3.5))
    side = _wall((6.75, 15.0), (6.75, 25.0), z=(0.5, 3.5))
    truck = np.concatenate([rear, side])
    az = np.arctan2(truck[:, 1], truck[:, 0])

    def piece(a0: float, r: float, sgn: float) -> np.ndarray:  # 0.2-0.9 deg past azimuth a0
        a = a0 + sgn * np.radians([0.2, 0.9])
        return _wall(
            tuple(r * np.r_[np.cos(a[0]), np.sin(a[0])]), tuple(r * np.r_[np.cos(a[1]), np.sin(a[1])])
        )

    for r_near in (15.6, 16.0, 16.4):  # past the rear's end (17.6 m away)
        others = [piece(az.min(), r_near, -1.0), piece(az.max(), 15.0, 1.0)]
        n_behind, seen = _states(truck, others, 0.5 * math.pi)
        assert (n_behind == 0).all() and seen[0].tolist() == [HIDDEN, HIDDEN]
        assert not _unbounded(truck, others, 0.5 * math.pi)


def test_the_near_end_of_a_thin_front_extends_its_face_not_its_thickness():
    """A front 0.1 m thick seen obliquely shows its thickness at its near end too: the face running
    on past that end continues it, past the far end as well."""
    face = _wall((5.0, 20.0), (15.0, 20.0))  # end 1 (higher azimuth) is the near end
    _, seen = _states(face, [_wall((3.0, 20.0), (4.7, 20.0))], 0.0)
    assert seen[0, 1] == CONTINUES
    _, seen = _states(face, [_wall((15.3, 20.0), (17.0, 20.0))], 0.0)
    assert seen[0, 0] == CONTINUES


def test_ground_returns_behind_an_end_are_depth_and_missing_returns_are_nothing():
    """The road beyond an end (ground returns, no cluster) is depth; NaN returns (a grid sensor's
    empty cells) change nothing, next to azimuth 0 either (their azimuth is no bin)."""
    face = _wall((20.0, -4.0), (20.0, 4.0))  # ahead on +x: end 0 is toward -y, end 1 toward +y
    ground_past = _wall((28.0, -6.0), (28.0, -4.4), z=(0.1, 0.1))  # in the face's elevations
    n_behind, seen = _states(face, [], 0.5 * math.pi, ground=ground_past)
    assert n_behind[0, 0] > 0 and n_behind[0, 1] == 0
    on = _wall((20.3, 4.3), (20.3, 6.0))
    nan = np.full((2000, 3), np.nan, np.float32)  # never clustered: labelled -1 like the ground
    for ground in (ground_past, np.r_[ground_past, nan], np.r_[nan, ground_past]):
        n_behind, seen = _states(face, [on], 0.5 * math.pi, ground=ground)
        assert n_behind[0, 0] > 0 and n_behind[0, 1] == 0 and seen[0, 1] == CONTINUES


def test_a_cluster_is_a_front_piece_only_when_no_end_is_its_own():
    """Dropped: the face runs on past one end and the other is hidden or runs on too. Kept: depth
    past either end, or nothing at all past one (the road beyond too far to return: a truck with
    its cab standing in line past the other end)."""
    face = _wall((-4.0, 20.0), (4.0, 20.0))
    runs_on_0, runs_on_1 = _wall((4.3, 20.2), (6.0, 20.2)), _wall((-6.0, 20.3), (-4.3, 20.3))
    hides_1 = _wall((-2.6, 12.0), (-2.45, 12.0))
    behind_1 = _wall((-5.5, 25.0), (-4.4, 25.0))
    assert _unbounded(face, [runs_on_0, runs_on_1], 0.0)
    assert _unbounded(face, [runs_on_0, hides_1], 0.0)
    assert not _unbounded(face, [runs_on_0, behind_1], 0.0)
    assert not _unbounded(face, [runs_on_0], 0.0)
    assert not _unbounded(face, [hides_1], 0.0)


def test_a_front_piece_ending_at_a_recess_is_structure():
    """The face runs on past end 0; past end 1 a doorway's back wall stands 1.5 m behind the face,
    no road in sight: a piece of the front (``structure_recess_max_m``). The same end showing the
    road (a vehicle's, the road between it and what stands behind), or what stands there 3 m
    behind (the gap to the next vehicle in a queue), keeps it."""
    face = _wall((-4.0, 20.0), (4.0, 20.0))
    runs_on_0 = _wall((4.3, 20.2), (6.0, 20.2))
    recess_1 = _wall((-5.0, 21.5), (-4.3, 21.5))
    n_behind, seen, n_ground, nearest = _all_states(face, [runs_on_0, recess_1], 0.0)
    assert n_behind[0, 1] > 0 and n_ground[0, 1] == 0 and 1.4 < nearest[0, 1] < 1.7
    assert n_behind[0, 0] == 0 and seen[0, 0] == CONTINUES and nearest[0, 0] == np.inf
    assert _unbounded(face, [runs_on_0, recess_1], 0.0)
    assert not _unbounded(face, [runs_on_0, recess_1], 0.0, structure_recess_max_m=0.0)
    road_1 = _wall((-5.5, 23.0), (-4.4, 23.0), z=(0.5, 0.5))  # the road seen past the end
    n_behind, _, n_ground, _ = _all_states(face, [runs_on_0, recess_1], 0.0, ground=road_1)
    assert n_ground[0, 1] > 0
    assert not _unbounded(face, [runs_on_0, recess_1], 0.0, ground=road_1)
    assert not _unbounded(face, [runs_on_0, _wall((-5.5, 23.0), (-4.4, 23.0))], 0.0)
    # nothing past end 1 (glass, or too far to return), or nothing closing end 0: kept
    assert not _unbounded(face, [runs_on_0], 0.0)
    assert not _unbounded(face, [recess_1], 0.0)


def _recess_scene(depth_m: float, hide_other_end: bool = True) -> np.ndarray:
    """A front piece 9 m long, 20 m ahead, its base hidden (as by parked cars) and cut by the
    ceiling; past its -x end the next front stands ``depth_m`` farther (a recess or doorway), past
    its +x end a pole 11.5 m ahead hides it; the road in view before them."""
    a = _wall((-3.0, 20.0), (6.0, 20.0), z=(1.0, 3.4))
    recess = _wall((-5.0, 20.0 + depth_m), (-3.5, 20.0 + depth_m), z=(1.0, 3.4))
    gx, gy = np.meshgrid(np.arange(-30.0, 30.0, 0.5), np.arange(2.0, 19.0, 0.5))
    parts = [a, recess, np.column_stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)])]
    if hide_other_end:
        parts.append(_wall((3.62, 11.5), (3.82, 11.5), z=(0.3, 3.0)))
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize(
    ("depth_m", "hide_other_end", "dropped"),
    [(1.6, True, True), (1.9, True, True), (3.0, True, False), (1.6, False, False)],
)
def test_the_detector_drops_a_front_piece_ending_at_a_recess(depth_m, hide_other_end, dropped):
    """The rule inside ``LidarDetector.detect`` (its own ground mask): the piece is a TRUCK box with
    the rule off; with it on it is gone when the recess is within 2 m and the other end is hidden,
    and kept when the next front is 3 m back or nothing closes the other end."""
    pts = _recess_scene(depth_m, hide_other_end)

    def piece(recess_max_m: float) -> list:
        cfg = LidarDetectorConfig(sensor_z_m=SENSOR_Z_M, structure_recess_max_m=recess_max_m)
        d = LidarDetector(cfg).detect(pts, 0, "base_link")
        return [ObjectClass(int(lab)).name for lab, c in zip(d.labels, d.centers) if abs(c[0] - 1.5) < 1.0]

    assert piece(0.0) == ["TRUCK"]
    assert piece(2.0) == ([] if dropped else ["TRUCK"])


def truck_parts(x: float, y: float, length: float = 10.0, clearance_m: float = 0.5) -> list[tuple]:
    """A 2.5 x 3.6 m truck along x at (x, y) as ``spinning_scan`` rows: its body ``clearance_m``
    over the road on a front axle and a tandem rear axle (1.0 and 2.2 m of tyres, the width of the
    body, as the generator builds them)."""
    h = 3.6 - clearance_m
    return [
        (x, y, length, 2.5, h, 0.0, clearance_m),
        (x + 0.5 * length - 1.8, y, 1.0, 2.5, clearance_m, 0.0),
        (x - 0.5 * length + 2.0, y, 2.2, 2.5, clearance_m, 0.0),
    ]


def _vehicles(boxes, bounded_ends: bool, recess_max_m: float = 2.0, **scan) -> list:
    pts = spinning_scan(boxes, sensor_height_m=SENSOR_Z_M, elev_deg=KITTI_ELEV_DEG, n_cols=2083, **scan)
    cfg = LidarDetectorConfig(
        sensor_z_m=SENSOR_Z_M, structure_bounded_ends=bounded_ends, structure_recess_max_m=recess_max_m
    )
    d = LidarDetector(cfg).detect(pts, 0, "base_link")
    road = (ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.BUS)
    return [
        (ObjectClass(int(lab)).name, *np.round(c[:2], 1))
        for c, lab in zip(d.centers, d.labels)
        if lab in road
    ]


@pytest.mark.parametrize("distance_m", [20.0, 30.0])
def test_staggered_building_fronts_are_not_trucks(distance_m):
    """Five 9 m building fronts, face-on under a 2 deg ceiling, every other one set back 0.6 m: the
    one set back is a 9 m, truck-tall face whose ends show the neighbouring fronts, nothing behind."""
    fronts = [
        (x, distance_m + (0.6 if i % 2 else 0.0), 9.0, 10.0, 8.0, 0.0)
        for i, x in enumerate((-18.0, -9.0, 0.0, 9.0, 18.0))
    ]
    assert _vehicles(fronts, bounded_ends=False), "no vehicle without the rule: proves nothing"
    assert _vehicles(fronts, bounded_ends=True) == []


def test_a_grid_sensors_empty_cells_change_no_detection():
    """Straight ahead (+x, azimuth 0), staggered fronts 20 m away and a truck before them: the front
    set back is dropped, the truck and the row's end piece (depth past its outer end) kept; an
    organised cloud's NaN cells (a beam that returned nothing) change none of it."""
    fronts = [
        (25.0 + (0.6 if i % 2 else 0.0), y, 9.0, 10.0, 8.0, 0.5 * math.pi)
        for i, y in enumerate(range(-18, 19, 9))
    ]
    pts = spinning_scan(
        [*fronts, (12.0, -3.5, 10.0, 2.5, 3.6, 0.0)], sensor_height_m=SENSOR_Z_M, elev_deg=KITTI_ELEV_DEG,
        n_cols=2083,
    )  # fmt: skip
    grid = np.insert(pts, np.arange(0, len(pts), 2), np.nan, axis=0)  # every other cell empty
    off = LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_Z_M, structure_bounded_ends=False))
    det = LidarDetector(LidarDetectorConfig(sensor_z_m=SENSOR_Z_M))
    clean, holed = det.detect(pts, 0, "base_link"), det.detect(grid, 0, "base_link")
    assert len(off.detect(pts, 0, "base_link")) == len(clean) + 1
    assert np.allclose(clean.centers[:, :2], [(11.9, -3.5), (21.2, -18.0)], atol=0.2)
    assert clean.labels.tolist() == holed.labels.tolist()
    assert np.allclose(clean.centers, holed.centers, atol=1e-6)


@pytest.mark.parametrize(
    "trucks",
    [*LOW_CEILING_TRUCKS, [(30.0, -4.0), (30.0, 4.0)]],  # and either side of the road, 30 m ahead
)
@pytest.mark.parametrize("max_range_m", [100.0, 40.0])  # 40: the road beyond them returns nothing
def test_trucks_keep_their_ends(trucks, max_range_m):
    boxes = [part for x, y in trucks for part in truck_parts(x, y)]
    on = _vehicles(boxes, bounded_ends=True, max_range_m=max_range_m)
    assert on == _vehicles(boxes, bounded_ends=False, max_range_m=max_range_m)
    assert {lab for lab, *_ in on} == {"TRUCK"}


@pytest.mark.parametrize("lane_y", [-3.5, 3.5, 7.0])
@pytest.mark.parametrize("truck_x", [20.0, 35.0])  # at 50 m the cars before it hide it whole
def test_a_truck_queued_between_cars_keeps_its_ends(lane_y, truck_x):
    """A queue standing in a lane beside the sensor's, 2.5 m from bumper to bumper (the standstill
    gap): past the truck's far end the next car stands only the gap behind, its near end is hidden
    by the car before it. It stays a truck, recess rule on or off: seen obliquely, what stands past
    an end is more than 2 m behind the face extended, or the road shows there."""
    gap = 2.5
    boxes = truck_parts(truck_x, lane_y)
    x_ahead, x_behind = truck_x + 5.0 + gap, truck_x - 5.0 - gap
    for _ in range(3):
        boxes.append((x_ahead + 2.25, lane_y, 4.5, 1.8, 1.5, 0.0))
        x_ahead += 4.5 + gap
        if x_behind - 4.5 > 3.0:
            boxes.append((x_behind - 2.25, lane_y, 4.5, 1.8, 1.5, 0.0))
            x_behind -= 4.5 + gap
    on = _vehicles(boxes, bounded_ends=True)
    assert on == _vehicles(boxes, bounded_ends=True, recess_max_m=0.0)
    assert any(lab == "TRUCK" and abs(x - truck_x) < 2.0 for lab, x, _y in on)


@pytest.mark.parametrize("sign", [1.0, -1.0])  # a and b either way round
def test_gap_shows_depth_only_through_its_own_azimuths(sign):
    """A gap 20 m straight ahead, across the +x axis where the azimuth bins wrap: a return 10 m past
    it shows depth, one in front of it or beside its azimuths does not, nor does a gap seen
    edge-on."""
    from sensor_fusion.perception.ends import gap_shows_depth

    a, b = (20.0, -1.0 * sign), (20.0, 1.0 * sign)

    def depth(*returns) -> bool:
        pts = np.array(returns or np.zeros((0, 3)), np.float32).reshape(-1, 3)
        return gap_shows_depth(pts, sweep_bins(pts), *a, *b, 1.0)

    assert not depth()
    assert depth((30.0, 0.5, 0.0))  # through it, past the line
    assert not depth((10.0, 0.2, 0.5))  # in front of it
    assert not depth((20.5, 0.0, 1.0))  # within the margin: a recess
    assert not depth((30.0, 5.0, 0.0), (30.0, -5.0, 0.0))  # past the line, outside the gap's azimuths
    assert not gap_shows_depth(  # edge-on: no beam passes between its ends
        np.array([[40.0, 0.0, 0.0]], np.float32), sweep_bins(np.array([[40.0, 0.0, 0.0]], np.float32)),
        10.0, 0.0, 20.0, 0.0, 1.0,
    )  # fmt: skip
