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
    ref, _ = ground_height(xyz, 0.0, 45.0, 0.5, 0.1, 1, np.nan, 0.0, 0.0, 0.0)
    assert np.array_equal(gz, ref, equal_nan=True)


def test_beyond_the_range_nothing_is_seen():
    xyz = np.array([[50.0, 0.0, 0.0], [np.nan, 0.0, 0.0]], np.float32)
    gz, seen = ground_seen(xyz, 45.0, 0.5, 0.1, 1, SENSOR_Z, GROUND_HIDDEN_MARGIN_M, 0.0125)
    assert np.isnan(gz).all() and not seen.any()
