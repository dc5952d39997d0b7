"""bev/targets.py: training targets decode (bev/decode.py) back to the boxes they came from."""

from __future__ import annotations

import numpy as np
import torch

from sensor_fusion.bev.decode import decode
from sensor_fusion.bev.grid import BevGrid
from sensor_fusion.bev.model import HEAD_CHANNELS, HM, OUTPUT_STRIDE
from sensor_fusion.bev.targets import CLASS_TO_INDEX, build_targets, losses
from sensor_fusion.core.classes import SENSOR_BEV, ObjectClass

GRID = BevGrid()
HEAD = GRID.coarse(OUTPUT_STRIDE)


def test_targets_decode_back_to_the_boxes():
    centers = np.array([[12.3, -4.1, 0.8], [-20.7, 8.2, 1.6], [5.1, 30.3, 0.9]])
    sizes = np.array([[4.5, 1.9, 1.5], [10.0, 2.5, 3.2], [0.6, 0.6, 1.8]])
    yaw = np.array([0.3, -2.8, 1.4])
    labels = np.array([ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.PEDESTRIAN])
    vel = np.array([[5.0, 1.0], [-3.0, 0.5], [0.0, 1.2]])
    hm, idx, reg, mask = build_targets(HEAD, centers, sizes, yaw, labels, vel)
    Ho, Wo = HEAD.shape
    head = torch.full((1, HEAD_CHANNELS, Ho, Wo), 0.0)
    head[0, HM] = torch.logit(torch.from_numpy(hm).clamp(1e-4, 1 - 1e-4))
    flat = head[0, 5:].reshape(10, -1)
    for j in range(int(mask.sum())):
        flat[:, idx[j]] = torch.from_numpy(reg[j])
    det = decode(head, HEAD, 7, "base_link")
    assert len(det) == 3 and (det.sensors == SENSOR_BEV).all()
    order = np.argsort(det.centers[:, 0])
    want = np.argsort(centers[:, 0])
    np.testing.assert_allclose(det.centers[order], centers[want], atol=1e-4)
    np.testing.assert_allclose(det.sizes[order], sizes[want], rtol=1e-4)
    np.testing.assert_allclose(det.velocity[order], vel[want], atol=1e-4)
    np.testing.assert_allclose(np.cos(det.yaw[order] - yaw[want]), 1.0, atol=1e-6)
    assert list(det.labels[order]) == list(labels[want])
    # the loss of a perfect head is the heatmap's floor, and L1 terms vanish
    t = [torch.from_numpy(a)[None] for a in (hm, idx, reg, mask)]
    out = losses(head, *t)
    assert float(out["offset"]) < 1e-5 and float(out["velocity"]) < 1e-5
    assert CLASS_TO_INDEX[int(ObjectClass.UNKNOWN)] == -1
