"""perception/ground.ground_seen: the ground under each return, and whether the sensor sees that
ground (the road in the open and at a walker's feet yes; a roof in a nearer wall's shadow, and the
road just behind the walker, no)."""

from __future__ import annotations

import numpy as np

from sensor_fusion.perception.ground import GROUND_HIDDEN_MARGIN_M, ground_height, ground_seen

SENSOR_Z = 1.9


def _scene() -> np.ndarray:
    """Road every 0.25 m (sensor-centred), a 1.5 m wall across 18-18.2 m ahead hiding the road
    behind it, a roof 1.5 m up at 30 m behind the wall, and a body 0-1.7 m at (10, 8)."""
    x, y = (a.ravel() for a in np.meshgrid(np.arange(-40.0, 40.0, 0.25), np.arange(-20.0, 20.0, 0.25)))
    az = np.arctan2(y, x)
    hidden = (x > 18.0) & (np.abs(az) < np.arctan2(6.0, 18.0))
    road = np.column_stack([x, y, np.zeros_like(x)])[~hidden]
    wall = [(18.0, yy, z) for yy in np.arange(-6.0, 6.0, 0.2) for z in np.arange(0.0, 1.51, 0.1)]
    roof = [(xx, yy, 1.5) for xx in np.arange(30.0, 31.0, 0.25) for yy in np.arange(-0.5, 0.5, 0.25)]
    body = [(10.0 + dx, 8.0, z) for dx in (0.0, 0.2) for z in np.arange(0.0, 1.71, 0.1)]
    return np.vstack([road, wall, roof, body]).astype(np.float32)


def test_the_open_road_is_seen_and_a_roof_in_a_shadow_is_not():
    xyz = _scene()
    gz, seen = ground_seen(xyz, 45.0, 0.5, 0.1, 1, SENSOR_Z, GROUND_HIDDEN_MARGIN_M, 0.0125)
    road = (np.abs(xyz[:, 2]) < 1e-6) & (np.hypot(xyz[:, 0], xyz[:, 1]) < 40.0)
    assert seen[road & (np.abs(xyz[:, 0]) < 15.0) & (np.abs(xyz[:, 1]) < 6.0)].all()
    # the road in the body's shadow, the cell just behind it along its azimuth, is not seen
    behind = road & (np.abs(xyz[:, 0] - 11.0) <= 0.25) & (xyz[:, 1] >= 8.5) & (xyz[:, 1] <= 8.75)
    assert behind.sum() == 6 and not seen[behind].any()
    roof = (xyz[:, 0] >= 30.0) & (xyz[:, 2] == np.float32(1.5))
    assert roof.any() and not seen[roof].any()
    # a walker's returns stand up to 1.7 m over the road seen at his feet (seen is the cell's ground)
    body = (np.abs(xyz[:, 0] - 10.1) < 0.2) & (np.abs(xyz[:, 1] - 8.0) < 0.01) & (xyz[:, 2] > 0.5)
    assert seen[body].all() and np.abs(gz[body]).max() < 0.05 and (xyz[body, 2] - gz[body]).max() > 1.6
    # the ground is ground_height's (its envelope), whatever the sensor sees
    ref, _, _ = ground_height(xyz, 0.0, 45.0, 0.5, 0.1, 1, np.nan, 0.0, 0.0, 0.0)
    assert np.array_equal(gz, ref, equal_nan=True)


def test_beyond_the_range_nothing_is_seen():
    xyz = np.array([[50.0, 0.0, 0.0], [np.nan, 0.0, 0.0]], np.float32)
    gz, seen = ground_seen(xyz, 45.0, 0.5, 0.1, 1, SENSOR_Z, GROUND_HIDDEN_MARGIN_M, 0.0125)
    assert np.isnan(gz).all() and not seen.any()


def _road(x0: float, x1: float, half_w: float = 4.0) -> np.ndarray:
    x, y = (a.ravel() for a in np.meshgrid(np.arange(x0, x1, 0.25), np.arange(-half_w, half_w, 0.25)))
    return np.column_stack([x, y, np.zeros_like(x)])


def _block(x: float, z0: float, z1: float, half_w: float = 3.0) -> np.ndarray:
    """Returns on a 0.3 m deep block across the road at ``x``, from ``z0`` to ``z1`` up, every 0.05 m
    across (0.2 deg at 15 m, a spinning LiDAR's column spacing)."""
    g = np.meshgrid([x, x + 0.3], np.arange(-half_w, half_w, 0.05), np.arange(z0, z1, 0.1))
    return np.column_stack([a.ravel() for a in g])


def _seen_beyond(obstacle: np.ndarray, x0: float, x1: float) -> np.ndarray:
    xyz = np.vstack([_road(2.0, 45.0), obstacle]).astype(np.float32)
    _gz, seen = ground_seen(xyz, 50.0, 0.5, 0.1, 1, SENSOR_Z, GROUND_HIDDEN_MARGIN_M, 0.0125)
    road = (xyz[:, 2] == 0.0) & (xyz[:, 0] >= x0) & (xyz[:, 0] < x1) & (np.abs(xyz[:, 1]) < 1.0)
    assert road.sum() > 20
    return seen[road]


def test_the_road_under_a_crown_is_seen_and_behind_a_wall_of_its_height_is_not():
    """A tree crown over the road (3-6 m up, above the sensor) hides nothing on the road beyond:
    every beam to it passes under the crown. A wall as tall, standing on the road, hides it."""
    assert _seen_beyond(_block(15.0, 3.0, 6.0), 20.0, 44.0).all()
    assert not _seen_beyond(_block(15.0, 0.0, 6.0), 20.0, 44.0).any()


def test_a_band_with_air_under_it_hides_the_road_only_where_the_beams_meet_it():
    """A trailer's bed 1.0-1.6 m up at 10 m: the beams to the road pass under it out to
    10 x 1.9 / 0.9 = 21 m (less the margin and a beam gap: 15.6 m) and meet it beyond."""
    band = _block(10.0, 1.0, 1.6)
    assert _seen_beyond(band, 11.0, 15.0).all()
    assert not _seen_beyond(band, 25.0, 44.0).any()


def test_the_hidden_road_continues_from_the_road_not_from_a_wall_foot_over_glass():
    """A truck's rear 77 m ahead over a queue of cars (1.6 m tall from 50 m): only its top shows,
    1.9-3.3 m up. Off to the side, a façade whose ground floor is glass returns only from 1.9 m up, beam over
    beam; nothing hides it, so its lowest return passes the seen test. The road's continuation
    under the truck must start from the road seen (to 45 m), raised 2 % a metre, not from that
    wall's foot 15 m away, which left the truck no hidden ground and a car's height."""
    wall = [(x, -15.0, z) for x in np.arange(60.0, 75.0, 0.1) for z in (1.9, 2.3, 2.7, 3.1)]
    rear = [(77.0, y, z) for y in np.arange(-1.2, 1.2, 0.1) for z in (1.9, 2.35, 2.8, 3.25)]
    xyz = np.vstack([_road(2.0, 45.0), _block(50.0, 0.0, 1.61), wall, rear]).astype(np.float32)
    gz, hz, seen = ground_height(xyz, 0.0, 80.0, 0.5, 0.1, 1, SENSOR_Z, 0.02, GROUND_HIDDEN_MARGIN_M, 0.0125)
    at_wall = np.abs(xyz[:, 1] + 15.0) < 1e-3
    assert seen[at_wall].any()  # the foot passes the seen test; only the continuation ignores it
    at_rear = np.abs(xyz[:, 0] - 77.0) < 1e-3
    cont = 0.02 * 32.0  # the road seen to 45 m, raised 2 % over the 32 m to the rear
    assert np.isfinite(hz[at_rear]).all() and np.abs(hz[at_rear] - cont).max() < 0.1


def test_a_shadow_over_the_highest_road_hides_it_however_little():
    """Parked cars 1.5 m tall 30 m ahead; 70 m ahead a pier over glass returns from 1.2 m up. The
    sensor sees nothing there under 0.97 m (1.9 m - 0.4 m x 70 / 30), and the road continued from
    the last road seen (29.5 m) at 2 % stands at most 0.81 m: the road there is hidden, though the
    shadow passes only 0.16 m over it. Asking it to pass 0.3 m over (before session 44) left the
    pier no hidden road, and its height over the estimate (which climbs to its lowest return)
    made it a person."""
    pier = [(70.0, y, z) for y in (-0.1, 0.0, 0.1) for z in (1.2, 1.6, 2.0, 2.4, 2.8)]
    xyz = np.vstack([_road(2.0, 30.0), _block(30.0, 0.0, 1.51), pier]).astype(np.float32)
    gz, hz, _seen = ground_height(xyz, 0.0, 80.0, 0.5, 0.1, 1, SENSOR_Z, 0.02, GROUND_HIDDEN_MARGIN_M, 0.0125)
    at_pier = np.abs(xyz[:, 0] - 70.0) < 1e-3
    assert (gz[at_pier] > 1.0).all()  # the estimate climbs to the pier's foot
    assert np.isfinite(hz[at_pier]).all() and np.abs(hz[at_pier] - 0.02 * 40.5).max() < 0.1
