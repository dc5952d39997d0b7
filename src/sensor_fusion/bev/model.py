"""BEV fusion network: LiDAR raster + radar raster + lifted camera features -> CenterPoint head.

Inputs (all tensors, so the whole network exports to ONNX as one graph):

* ``lidar`` (B, 8, H, W) and ``radar`` (B, 5, H, W): rasters from :mod:`.grid`;
* ``images`` (B, Nc, 3, h, w) in [0, 1], RGB, any fixed network input size;
* ``cam_grid`` (Nc, K*H', W', 2) and ``cam_valid`` (B, Nc, K*H', W'): the calibration-derived
  lift (:mod:`.lift`) on the output grid (H' = H / OUTPUT_STRIDE), the mask already multiplied
  by "this camera delivered a frame";
* ``present`` (B, 3): which of lidar, camera, radar were given (a missing modality is zeros).

Each modality has its own small encoder into the common grid; their features are concatenated
with the presence flags (so the backbone knows a zero means "not measured", not "empty") and
run through a two-level U-Net. The head (one tensor, (B, :data:`HEAD_CHANNELS`, H', W')) is CenterPoint's:
per-class centre heatmap logits, sub-cell offset, z, log size, yaw as (sin, cos), velocity.
Velocities are ground-relative in base_link axes (radar Doppler arrives ego-compensated).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..core.classes import ObjectClass
from .grid import LIDAR_CHANNELS, RADAR_CHANNELS

# classes the head predicts (the scenario generator's); index -> ObjectClass
BEV_CLASSES = (
    ObjectClass.CAR,
    ObjectClass.TRUCK,
    ObjectClass.BUS,
    ObjectClass.BICYCLE,
    ObjectClass.PEDESTRIAN,
)
NUM_BEV_CLASSES = len(BEV_CLASSES)
# head layout: heatmap | offset(2) | z | log size(3) | sin, cos | vx, vy
HM = slice(0, NUM_BEV_CLASSES)
OFF = slice(NUM_BEV_CLASSES, NUM_BEV_CLASSES + 2)
Z = slice(NUM_BEV_CLASSES + 2, NUM_BEV_CLASSES + 3)
SIZE = slice(NUM_BEV_CLASSES + 3, NUM_BEV_CLASSES + 6)
ROT = slice(NUM_BEV_CLASSES + 6, NUM_BEV_CLASSES + 8)
VEL = slice(NUM_BEV_CLASSES + 8, NUM_BEV_CLASSES + 10)
HEAD_CHANNELS = NUM_BEV_CLASSES + 10
MODALITIES = ("lidar", "camera", "radar")
OUTPUT_STRIDE = 2  # head (and camera lift) cells per raster cell, per side


def _conv(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def sample_to_bev(feats: torch.Tensor, cam_grid: torch.Tensor, cam_valid: torch.Tensor, heights: int):
    """Lift per-camera image features to the BEV grid: masked mean over cameras, heights stacked.

    feats (B*Nc, C, h, w); cam_grid (Nc, K*H, W, 2); cam_valid (B, Nc, K*H, W) -> (B, C*K, H, W).
    """
    B, Nc = cam_valid.shape[0], cam_valid.shape[1]
    KH, W = cam_grid.shape[1], cam_grid.shape[2]
    C = feats.shape[1]
    g = cam_grid.unsqueeze(0).expand(B, Nc, KH, W, 2).reshape(B * Nc, KH, W, 2)
    s = F.grid_sample(feats, g, mode="bilinear", padding_mode="zeros", align_corners=False)
    s = s.reshape(B, Nc, C, KH, W) * cam_valid.unsqueeze(2)
    den = cam_valid.sum(dim=1).unsqueeze(1).clamp(min=1.0)  # (B, 1, K*H, W)
    out = s.sum(dim=1) / den
    return out.reshape(B, C * heights, KH // heights, W)


class CameraEncoder(nn.Module):
    """A small CNN shared by all cameras (stride 4 on the network input image)."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            _conv(3, 16, 2), _conv(16, 32, 2), _conv(32, channels), _conv(channels, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BevFusionNet(nn.Module):
    """Modality encoders at the raster resolution, everything after them at half of it.

    The full-resolution layers dominate the cost on a CPU, so each encoder ends in a stride-2
    convolution, the camera lift samples straight onto the half-resolution grid, and the head
    predicts at :data:`OUTPUT_STRIDE` (1.6 m cells for the 0.8 m default raster) with a sub-cell
    offset (CenterPoint's output grid is 0.6-0.8 m at stride 8 of its voxels).
    """

    def __init__(self, lift_heights: int = 4, width: int = 48, cam_channels: int = 24):
        super().__init__()
        self.lift_heights = lift_heights
        w = width
        self.lidar_enc = nn.Sequential(_conv(LIDAR_CHANNELS, 16), _conv(16, 32, 2))
        self.radar_enc = nn.Sequential(_conv(RADAR_CHANNELS, 16), _conv(16, 16, 2))
        self.cam_enc = CameraEncoder(cam_channels)
        self.cam_bev = _conv(cam_channels * lift_heights, 32, k=1)
        self.stem = _conv(32 + 32 + 16 + len(MODALITIES), w)
        self.down1 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.down2 = nn.Sequential(_conv(2 * w, 128, 2), _conv(128, 128), _conv(128, 128))
        self.up1 = _conv(128 + 2 * w, 2 * w)
        self.up0 = _conv(2 * w + w, w)
        self.head_shared = _conv(w, w)
        self.head = nn.Conv2d(w, HEAD_CHANNELS, 1)
        with torch.no_grad():  # CenterNet prior: start with a background heatmap (p ~ 0.01)
            self.head.bias[HM].fill_(-4.6)

    def forward(
        self,
        lidar: torch.Tensor,
        radar: torch.Tensor,
        images: torch.Tensor,
        cam_grid: torch.Tensor,
        cam_valid: torch.Tensor,
        present: torch.Tensor,
    ) -> torch.Tensor:
        B = lidar.shape[0]
        fl = self.lidar_enc(lidar)
        fr = self.radar_enc(radar)
        H, W = fl.shape[2], fl.shape[3]
        Nc = images.shape[1]
        img = images.reshape(B * Nc, images.shape[2], images.shape[3], images.shape[4])
        fc = self.cam_bev(sample_to_bev(self.cam_enc(img), cam_grid, cam_valid, self.lift_heights))
        flags = present.reshape(B, len(MODALITIES), 1, 1).expand(B, len(MODALITIES), H, W)
        x0 = self.stem(torch.cat([fl, fc, fr, flags], dim=1))
        x1 = self.down1(x0)
        x2 = self.down2(x1)
        u1 = self.up1(torch.cat([F.interpolate(x2, size=x1.shape[2:], mode="nearest"), x1], dim=1))
        u0 = self.up0(torch.cat([F.interpolate(u1, size=x0.shape[2:], mode="nearest"), x0], dim=1))
        return self.head(self.head_shared(u0))
