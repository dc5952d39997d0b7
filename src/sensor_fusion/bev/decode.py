"""Head output -> boxes: heatmap peaks (3x3 max), top-k, then distance NMS across classes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numba
import numpy as np
import torch
from torch.nn import functional as F

from ..core.classes import SENSOR_BEV
from ..core.types import Detections
from .grid import BevGrid
from .model import BEV_CLASSES, HM, NUM_BEV_CLASSES, OFF, ROT, SIZE, VEL, Z

_LABELS = np.array([int(c) for c in BEV_CLASSES], np.int64)


@dataclass
class DecodeConfig:
    score_threshold: float = 0.1
    max_detections: int = 200
    # two peaks closer than max(nms_min_m, nms_length_fraction * shorter box length) are one object
    nms_length_fraction: float = 0.5
    nms_min_m: float = 0.3


def peaks(head: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k local maxima of the class heatmaps of one frame: scores, class, row, col."""
    hm = torch.sigmoid(head[0, HM].float())
    keep = F.max_pool2d(hm.unsqueeze(0), 3, 1, 1)[0] == hm
    flat = (hm * keep).reshape(-1)
    scores, ind = torch.topk(flat, min(k, flat.numel()))
    H, W = hm.shape[1], hm.shape[2]
    cls = ind // (H * W)
    rc = ind % (H * W)
    return scores, cls, rc // W, rc % W


@numba.njit(cache=True)
def _nms(xy, length, frac, dmin):
    """Greedy suppression in descending-score order (rows are already sorted)."""
    n = xy.shape[0]
    keep = np.ones(n, np.bool_)
    for i in range(n):
        if not keep[i]:
            continue
        for j in range(i + 1, n):
            if keep[j]:
                d = np.hypot(xy[i, 0] - xy[j, 0], xy[i, 1] - xy[j, 1])
                if d < max(dmin, frac * min(length[i], length[j])):
                    keep[j] = False
    return keep


def decode(
    head: torch.Tensor,
    grid: BevGrid,
    stamp_ns: int,
    frame_id: str,
    config: DecodeConfig | None = None,
    pos_std_m: np.ndarray | None = None,
    vel_std_mps: np.ndarray | None = None,
) -> Detections:
    """Detections in ``frame_id`` (base_link) from the head output of one frame (1, C, H, W).

    ``pos_std_m`` / ``vel_std_mps`` (per head class): the validation residuals, reported as
    the detections' position and velocity covariances.
    """
    cfg = config or DecodeConfig()
    scores, cls, r, c = peaks(head, cfg.max_detections)
    sel = scores >= cfg.score_threshold
    scores, cls, r, c = scores[sel], cls[sel], r[sel], c[sel]
    n = int(scores.numel())
    if n == 0:
        return Detections.empty(stamp_ns, frame_id)
    vals = head[0, :, r, c].float().cpu().numpy().T  # (n, C)
    cls_np, r_np, c_np = cls.cpu().numpy(), r.cpu().numpy(), c.cpu().numpy()
    res = grid.resolution_m
    x = grid.x_min_m + (r_np + 0.5 + vals[:, OFF][:, 0]) * res
    y = grid.y_min_m + (c_np + 0.5 + vals[:, OFF][:, 1]) * res
    sizes = np.exp(np.clip(vals[:, SIZE], -3.0, 3.5))
    rot = vals[:, ROT]
    yaw = np.arctan2(rot[:, 0], rot[:, 1])
    xy = np.column_stack([x, y])
    keep = _nms(xy, sizes[:, 0], cfg.nms_length_fraction, cfg.nms_min_m)
    m = int(keep.sum())
    pos_std = (np.full(NUM_BEV_CLASSES, 0.3) if pos_std_m is None else np.asarray(pos_std_m))[cls_np[keep]]
    vel_std = (np.full(NUM_BEV_CLASSES, 1.0) if vel_std_mps is None else np.asarray(vel_std_mps))[
        cls_np[keep]
    ]
    eye = np.eye(2)[None]
    return Detections(
        stamp_ns,
        frame_id,
        centers=np.column_stack([xy[keep], vals[keep][:, Z][:, 0]]).astype(np.float64),
        sizes=sizes[keep].astype(np.float64),
        yaw=yaw[keep].astype(np.float64),
        labels=_LABELS[cls_np[keep]],
        scores=scores.cpu().numpy()[keep].astype(np.float64),
        velocity=vals[keep][:, VEL].astype(np.float64),
        pos_cov=eye * (pos_std**2)[:, None, None],
        sensors=np.full(m, SENSOR_BEV, np.uint8),
        vel_cov=eye * (vel_std**2)[:, None, None],
    )


def velocity_support(
    det: Detections,
    radar_xy: np.ndarray | None,
    margin_m: float,
    doppler: np.ndarray | None = None,
    los: np.ndarray | None = None,
    doppler_std_mps: float = 0.14,
    gate_sigma: float = 3.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observed, supported, sight): (N,) bool each, a radar return lies on the box, one of them
    also reads the box's velocity; and (N, 2) the mean unit line of sight of the returns that read
    it (NaN where none did, or where no Doppler and line of sight were given), the one direction
    in which that velocity was measured. The pipeline keeps only supported velocities
    (:func:`without_velocity` on the rest).

    The network reads one deskewed LiDAR sweep, camera images and radar Doppler: only Doppler
    carries motion. For a box with no return within its footprint grown by ``margin_m`` (one
    raster cell: the radar raster's quantisation) its velocity head can only answer with a
    prior (the typical speed of a car on the road, 10-15 m/s for a parked car in the LiDAR-only
    frames of tests/ros/test_node_bev.py), while ``vel_cov`` holds the validation residual of
    frames where Doppler was there (1.4 m/s for cars). A tracker took that guess as a measurement
    and its tracks ran off their objects (no frame-to-frame association, nothing confirmed).

    With returns on the box the head can still answer with its prior: a bicycle standing in the
    street canyon came out at 4.5 m/s and a car rolling at 1-2 m/s at 5-7 m/s, while the returns on
    them read their true radial speeds, 0 and 1-2 m/s (development bags ``urban_clutter``
    711-713; the tracks ran ahead of their boxes and were replaced every half second). So where
    ``doppler`` and ``los`` are given (ego-compensated radial speed, positive away, and the
    horizontal unit line of sight, as :func:`~sensor_fusion.bev.inputs.radar_to_anchor` makes
    them) a box keeps its velocity only if some return on it reads the velocity's radial
    component within ``gate_sigma`` standard deviations (``doppler_std_mps`` and the box's
    ``vel_cov`` along that line of sight); 0 turns that test off. One agreeing return is
    enough: returns from the ground or a wall behind the box fall on its footprint too. A
    velocity across every line of sight is not tested (Doppler cannot see it):
    :func:`radial_velocity_only` keeps only the component the returns measured.
    """
    n = len(det)
    observed = np.zeros(n, bool)
    supported = np.zeros(n, bool)
    sight = np.full((n, 2), np.nan)
    if n == 0 or radar_xy is None or not len(radar_xy):
        return observed, supported, sight
    p = np.asarray(radar_xy, np.float64)[:, :2]
    ok = np.isfinite(p).all(axis=1)
    check = gate_sigma > 0.0 and doppler is not None and los is not None and det.vel_cov is not None
    if check:
        dop = np.asarray(doppler, np.float64)
        u = np.asarray(los, np.float64)[:, :2]
        ok &= np.isfinite(dop) & np.isfinite(u).all(axis=1)
        dop, u = dop[ok], u[ok]
    p = p[ok]
    d = p[None, :, :] - det.centers[:, None, :2]  # (n, R, 2)
    c, s = np.cos(det.yaw)[:, None], np.sin(det.yaw)[:, None]
    along = np.abs(d[..., 0] * c + d[..., 1] * s)
    across = np.abs(-d[..., 0] * s + d[..., 1] * c)
    half = 0.5 * det.sizes[:, None, :2] + margin_m
    on = (along <= half[..., 0]) & (across <= half[..., 1])
    observed = on.any(axis=1)
    if check:
        v = np.nan_to_num(np.asarray(det.velocity, np.float64))
        pred = v @ u.T  # (n, R): the radial speed each return would read
        var = doppler_std_mps**2 + np.einsum("ri,nij,rj->nr", u, det.vel_cov, u)
        on &= (dop[None, :] - pred) ** 2 <= gate_sigma**2 * var
        mean = on.astype(np.float64) @ u  # (n, 2): sum of the agreeing lines of sight
        norm = np.linalg.norm(mean, axis=1)
        has = on.any(axis=1) & (norm > 0.0)
        sight[has] = mean[has] / norm[has, None]
    return observed, on.any(axis=1), sight


def radial_velocity_only(det: Detections, sight: np.ndarray) -> Detections:
    """``det`` with each velocity that has a line of sight (finite rows of ``sight``, unit) cut to
    its component along it, the component across it not measured (variance 1e6, as
    :func:`without_velocity` gives).

    One deskewed sweep, images and Doppler carry no motion across the radar's line of sight: the
    head's answer there is the prior of its training set. The network trained on graded streets
    with parked rows (docs/bev.md, session 38) answers a car crossing 72 m ahead at 10.5 m/s with
    0 m/s, which its returns' radial speeds (0) cannot refute; the tracker took it and replaced
    the car's track six times in 20 frames (`intersection` 302). The network before it answered
    the same car with 5-10 m/s: a prior too, which happened to fit open roads."""
    rows = np.isfinite(sight).all(axis=1)
    if not rows.any() or det.vel_cov is None:
        return det
    u = sight[rows]
    t = np.column_stack([-u[:, 1], u[:, 0]])
    v = np.asarray(det.velocity, np.float64)[rows]
    radial = np.einsum("ni,ni->n", v, u)
    var = np.einsum("ni,nij,nj->n", u, det.vel_cov[rows], u)
    velocity = np.array(det.velocity, np.float64, copy=True)
    vel_cov = np.array(det.vel_cov, np.float64, copy=True)
    velocity[rows] = radial[:, None] * u
    vel_cov[rows] = var[:, None, None] * np.einsum("ni,nj->nij", u, u) + 1e6 * np.einsum("ni,nj->nij", t, t)
    return replace(det, velocity=velocity, vel_cov=vel_cov)


def without_velocity(det: Detections, rows: np.ndarray) -> Detections:
    """``det`` with the velocity of ``rows`` (bool mask) set to not measured (NaN, and the
    ``vel_cov`` of no information)."""
    if not rows.any() or det.vel_cov is None:
        return det
    velocity = np.where(rows[:, None], np.nan, det.velocity)
    vel_cov = np.where(rows[:, None, None], 1e6 * np.eye(2), det.vel_cov)
    return replace(det, velocity=velocity, vel_cov=vel_cov)
