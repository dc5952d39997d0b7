"""bev/dataset.py: which LiDAR points count as inside a truth box."""

from __future__ import annotations

import numpy as np

from sensor_fusion.bev.dataset import count_in_boxes


def test_count_in_boxes_ignores_ground_under_the_box():
    pts = np.array([[0.0, 0.0, 0.05], [0.0, 0.0, 1.0], [2.1, 0.0, 1.0], [0.0, 1.5, 1.0]])
    n = count_in_boxes(pts, np.array([[0.0, 0.0, 0.75]]), np.array([[4.0, 2.0, 1.5]]), np.array([0.0]), 0.2)
    assert list(n) == [1]
