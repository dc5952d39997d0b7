"""bev/model.py: output shapes for any number of cameras."""

from __future__ import annotations

import torch

from sensor_fusion.bev.grid import LIDAR_CHANNELS, RADAR_CHANNELS, BevGrid
from sensor_fusion.bev.model import HEAD_CHANNELS, OUTPUT_STRIDE, BevFusionNet

GRID = BevGrid()
HEAD = GRID.coarse(OUTPUT_STRIDE)


def test_model_shapes_for_any_camera_count():
    model = BevFusionNet().eval()
    H, W = GRID.shape
    Ho, Wo = HEAD.shape
    for nc in (1, 2, 3):
        args = (
            torch.zeros(2, LIDAR_CHANNELS, H, W),
            torch.zeros(2, RADAR_CHANNELS, H, W),
            torch.zeros(2, nc, 3, 96, 160),
            torch.zeros(nc, 4 * Ho, Wo, 2),
            torch.zeros(2, nc, 4 * Ho, Wo),
            torch.ones(2, 3),
        )
        with torch.inference_mode():
            assert model(*args).shape == (2, HEAD_CHANNELS, Ho, Wo)
