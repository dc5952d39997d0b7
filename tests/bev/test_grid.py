"""bev/grid.py: the LiDAR and radar rasters."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.bev.grid import LIDAR_CHANNELS, RADAR_CHANNELS, BevGrid, lidar_raster, radar_raster
from sensor_fusion.bev.inputs import radar_to_anchor
from sensor_fusion.bev.model import OUTPUT_STRIDE
from sensor_fusion.core.types import RadarScan

GRID = BevGrid()
HEAD = GRID.coarse(OUTPUT_STRIDE)


def test_lidar_raster_counts_heights_and_drops_bad_points():
    pts = np.array(
        [
            [10.1, -3.9, 0.1],  # ground slice
            [10.2, -3.8, 1.0],  # 0.75..1.5 slice, same cell
            [10.3, -3.7, 1.2],
            [np.nan, 0.0, 1.0],  # dropped
            [80.0, 0.0, 1.0],  # outside the grid
        ],
        np.float32,
    )
    r = lidar_raster(GRID, pts, np.array([255, 0, 255, 255, 255], np.float32))
    assert r.shape == (LIDAR_CHANNELS, *GRID.shape)
    row, col = int((10.1 + 51.2) / 0.8), int((-3.9 + 51.2) / 0.8)
    assert r[0, row, col] == pytest.approx(np.log1p(1)) and r[2, row, col] == pytest.approx(np.log1p(2))
    assert r[5, row, col] == pytest.approx(1.2) and r[6, row, col] == pytest.approx(2 / 3)
    assert r[7].sum() == 1.0  # one occupied cell
    assert not lidar_raster(GRID, np.zeros((0, 3), np.float32)).any()
    assert not lidar_raster(GRID, None).any()


def test_lidar_raster_intensity_scales_to_unit_range():
    pts = np.array([[10.1, -3.9, 0.1], [20.1, 3.9, 0.1]], np.float32)
    row, col = int((10.1 + 51.2) / 0.8), int((-3.9 + 51.2) / 0.8)
    for values, want in (([0.5, 1.0], 0.5), ([127.5, 255.0], 0.5), ([32767.5, 65535.0], 0.5)):
        r = lidar_raster(GRID, pts, np.array(values, np.float32))
        assert r[6, row, col] == pytest.approx(want), values  # KITTI 0-1, 8-bit, 16-bit
        assert r[6].max() <= 1.0
    # the sensor's stated full scale instead of the guess; above it clipped to 1
    r = lidar_raster(GRID, pts, np.array([0.6, 300.0], np.float32), full_scale=255.0)
    assert r[6, row, col] == pytest.approx(0.6 / 255) and r[6].max() == 1.0


def test_radar_doppler_is_ego_compensated_and_rasterised():
    # ego drives at 10 m/s; a static point ahead reads -10 m/s, a car ahead at +5 m/s reads -5 m/s
    T_br = np.eye(4)
    T_br[:3, 3] = [3.6, 0.0, 0.6]
    f32 = np.float32
    pts = np.array([[20.3, 0, 0], [30.3, 0, 0]], f32)
    scan = RadarScan(0, "radar_front", pts, np.array([-10.0, -5.0], f32), np.array([10.0, 10.0], f32))
    xyz, dop, los, rcs = radar_to_anchor([(scan, T_br, np.eye(4))], np.array([10.0, 0, 0]), 0.0)
    np.testing.assert_allclose(dop, [0.0, 5.0], atol=1e-5)
    np.testing.assert_allclose(xyz[:, 0], [23.9, 33.9], atol=1e-5)
    r = radar_raster(GRID, xyz, dop, los, rcs)
    assert r.shape == (RADAR_CHANNELS, *GRID.shape)
    row = int((33.9 + 51.2) / 0.8)
    assert r[1, row, 64] == pytest.approx(5.0) and r[3, row, 64] == pytest.approx(5.0)
    # a NaN return is dropped, not rasterised
    bad = RadarScan(0, "radar_front", np.array([[np.nan, 0, 0]], f32), np.zeros(1, f32), np.zeros(1, f32))
    assert len(radar_to_anchor([(bad, T_br, np.eye(4))], np.zeros(3), 0.0)[0]) == 0
