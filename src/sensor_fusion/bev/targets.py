"""CenterPoint training targets and losses.

Each box marks its centre cell in its class's heatmap with a Gaussian whose radius follows
CenterNet's ``gaussian_radius`` (IoU >= ``min_overlap`` of a box shifted by that much), at
least ``min_radius`` cells; the regression targets live at the centre cell only.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from torch.nn import functional as F

from ..core.classes import ObjectClass
from .grid import BevGrid
from .model import BEV_CLASSES, HM, NUM_BEV_CLASSES

MAX_OBJECTS = 160
REG_DIMS = 10  # offset x, y | z | log l, w, h | sin, cos | vx, vy
REG_WEIGHTS = (1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.25, 0.25)

# ObjectClass -> head index (-1: not predicted)
CLASS_TO_INDEX = np.full(len(ObjectClass), -1, np.int64)
for _i, _c in enumerate(BEV_CLASSES):
    CLASS_TO_INDEX[int(_c)] = _i


def gaussian_radius(length_cells: float, width_cells: float, min_overlap: float = 0.1) -> float:
    """CenterNet's radius (the smallest of its three overlap cases), in cells."""
    h, w = length_cells, width_cells
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


@numba.njit(cache=True)
def _splat(hm, cls, r, c, radius):
    H, W = hm.shape[1], hm.shape[2]
    sigma = (2 * radius + 1) / 6.0
    for k in range(cls.shape[0]):
        rad = radius[k]
        for dr in range(-rad, rad + 1):
            rr = r[k] + dr
            if rr < 0 or rr >= H:
                continue
            for dc in range(-rad, rad + 1):
                cc = c[k] + dc
                if cc < 0 or cc >= W:
                    continue
                g = np.exp(-(dr * dr + dc * dc) / (2 * sigma[k] * sigma[k]))
                if g > hm[cls[k], rr, cc]:
                    hm[cls[k], rr, cc] = g


def build_targets(
    grid: BevGrid,
    centers: np.ndarray,
    sizes: np.ndarray,
    yaw: np.ndarray,
    labels: np.ndarray,
    velocity: np.ndarray,
    min_radius: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap (NC, H, W), flat centre indices (M,), regression (M, 10), mask (M,) for boxes in base_link."""
    H, W = grid.shape
    hm = np.zeros((NUM_BEV_CLASSES, H, W), np.float32)
    idx = np.zeros(MAX_OBJECTS, np.int64)
    reg = np.zeros((MAX_OBJECTS, REG_DIMS), np.float32)
    mask = np.zeros(MAX_OBJECTS, np.float32)
    cls = CLASS_TO_INDEX[np.clip(np.asarray(labels, np.int64), 0, len(CLASS_TO_INDEX) - 1)]
    fr = (centers[:, 0] - grid.x_min_m) / grid.resolution_m
    fc = (centers[:, 1] - grid.y_min_m) / grid.resolution_m
    r, c = np.floor(fr).astype(np.int64), np.floor(fc).astype(np.int64)
    keep = (cls >= 0) & (r >= 0) & (r < H) & (c >= 0) & (c < W)
    keep &= np.isfinite(centers).all(axis=1) & np.isfinite(velocity).all(axis=1)
    keep = np.flatnonzero(keep)[:MAX_OBJECTS]
    if keep.size == 0:
        return hm, idx, reg, mask
    res = grid.resolution_m
    radius = np.array(
        [max(min_radius, int(gaussian_radius(sizes[k, 0] / res, sizes[k, 1] / res))) for k in keep], np.int64
    )
    _splat(hm, cls[keep], r[keep], c[keep], radius)
    n = keep.size
    idx[:n] = r[keep] * W + c[keep]
    reg[:n, 0] = fr[keep] - r[keep] - 0.5
    reg[:n, 1] = fc[keep] - c[keep] - 0.5
    reg[:n, 2] = centers[keep, 2]
    reg[:n, 3:6] = np.log(np.maximum(sizes[keep], 0.05))
    reg[:n, 6] = np.sin(yaw[keep])
    reg[:n, 7] = np.cos(yaw[keep])
    reg[:n, 8:10] = velocity[keep, :2]
    mask[:n] = 1.0
    return hm, idx, reg, mask


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), normalised by the positives."""
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1.0).float()
    neg = 1.0 - pos
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred**2 * (1 - target) ** 4 * neg
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def losses(
    head: torch.Tensor, hm: torch.Tensor, idx: torch.Tensor, reg: torch.Tensor, mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Heatmap focal loss and masked, weighted L1 on the regression channels at the centres."""
    B, C, H, W = head.shape
    heat = focal_loss(head[:, HM], hm)
    flat = head[:, NUM_BEV_CLASSES:].reshape(B, REG_DIMS, H * W)
    pred = torch.gather(flat, 2, idx.unsqueeze(1).expand(B, REG_DIMS, idx.shape[1])).transpose(1, 2)
    w = torch.tensor(REG_WEIGHTS, dtype=head.dtype, device=head.device)
    l1 = F.l1_loss(pred, reg, reduction="none") * mask.unsqueeze(2)
    per = l1.sum(dim=(0, 1)) / mask.sum().clamp(min=1.0)
    return {
        "heatmap": heat,
        "offset": per[0:2].sum(),
        "z": per[2],
        "size": per[3:6].sum(),
        "yaw": per[6:8].sum(),
        "velocity": per[8:10].sum(),
        "total": heat + (per * w).sum(),
    }
