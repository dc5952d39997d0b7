r"""What the sensors could see at a frame, and how likely each track was to be detected there.

A missed detection is evidence against a track's existence only where the object could have been
detected. With :math:`P_D` the probability that a detector reports an existing object, a frame
without a detection has likelihood :math:`1 - P_D` if the object exists and 1 if it does not (a
non-existent object is never reported, up to clutter, which the hit side accounts for), so the
Bayes update of the existence odds is

.. math::
    \frac{r'}{1 - r'} = (1 - P_D) \frac{r}{1 - r}, \qquad
    \text{logit}(r') = \text{logit}(r) + \ln(1 - P_D),

exactly, in log-odds. A track outside every sensor's view (:math:`P_D = 0`) loses nothing; one
in plain view of a good detector (:math:`P_D = 0.9`) loses 2.3 log-odds per missed frame. Detectors
on different sensors' data miss independently: :math:`P_D = 1 - \prod_s (1 - P_{D,s})`; detectors
on the same data (the classical LiDAR detector and the BEV network on one sweep) miss together (an
object with few points, or behind another, is missed by both), so within such a group :math:`P_D`
is the largest of theirs, not the independent combination (0.99 for two 0.9 detectors: one frame
missed by both cost 4.6 log-odds, a confirmed track's whole existence).

Each detector's view is a value (:class:`SensorView`: origin, boresight, field of view, range in
the tracker's frame), built by whoever knows the calibration (the pipeline, the stream
evaluation, ``track-kitti``); the tracker's configuration holds each sensor's detection
probability in plain view and the range at which it halves (``detection_prob``,
``detection_range50_m``): :math:`P_{D,s}(r) = p_s / (1 + e^{(r - r_{50}) / w})` with
:math:`w = r_{50} / 7` (a logistic fall-off from about :math:`p_s` at half the range to near 0 at
1.5 times it), zero outside the field of view or range. Occlusion by nearer tracks: a track whose
bearing interval, seen from the sensor, is covered by a nearer confirmed track's for at least
``occlusion_min_overlap`` gets :math:`P_{D,s}` times ``1 - occluded_detection_drop``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SensorView", "detection_probability"]


@dataclass(frozen=True)
class SensorView:
    """One detector's coverage at a frame, in the tracker's frame (SI units, radians).

    ``sensor`` is the ``SENSOR_*`` bit of the detections it produces (its ``detection_prob``
    in the tracker configuration); ``half_fov_rad`` >= pi means all around.
    """

    sensor: int
    origin_xy: tuple[float, float]
    axis_yaw: float
    half_fov_rad: float
    max_range_m: float
    min_range_m: float = 0.0


def detection_probability(
    xy: np.ndarray,
    radius: np.ndarray,
    views: list[SensorView],
    pd_near: dict[int, float],
    range50: dict[int, float],
    occluders: np.ndarray | None = None,
    occlusion_drop: float = 0.0,
    occlusion_min_overlap: float = 0.5,
    data: dict[int, int] | None = None,
) -> np.ndarray:
    """Probability (N,) that at least one detector of ``views`` reports each track at ``xy`` (N, 2).

    ``radius`` (N,) is each track's footprint half-diagonal (its angular extent for occlusion);
    ``pd_near`` / ``range50`` map a sensor bit to its plain-view probability and half range
    (absent: 0, the sensor gives no miss evidence). ``occluders`` (N,) bool marks the tracks
    that may hide others (confirmed ones); ``data`` maps a sensor bit to the bit of the sensor whose
    data its detector runs on (absent: its own): views of one data combine as the largest
    probability, different data independently; see the module docstring.
    """
    n = xy.shape[0]
    by_data: dict[int, np.ndarray] = {}
    for v in views:
        p = float(pd_near.get(v.sensor, 0.0))
        if p <= 0.0 or n == 0:
            continue
        rel = xy - np.asarray(v.origin_xy, np.float64)
        r = np.hypot(rel[:, 0], rel[:, 1])
        bearing = np.arctan2(rel[:, 1], rel[:, 0])
        inside = (r >= v.min_range_m) & (r <= v.max_range_m)
        if v.half_fov_rad < math.pi:
            off = np.angle(np.exp(1j * (bearing - v.axis_yaw)))
            inside &= np.abs(off) <= v.half_fov_rad
        r50 = float(range50.get(v.sensor, math.inf))
        pd = np.full(n, p)
        if math.isfinite(r50):
            with np.errstate(over="ignore"):
                pd = p / (1.0 + np.exp((r - r50) / (r50 / 7.0)))
        pd = np.where(inside, pd, 0.0)
        if occlusion_drop > 0.0 and occluders is not None and occluders.any():
            pd = pd * (1.0 - occlusion_drop * _occluded(r, bearing, radius, occluders, occlusion_min_overlap))
        key = (data or {}).get(v.sensor, v.sensor)
        by_data[key] = np.maximum(by_data[key], pd) if key in by_data else pd
    miss = np.ones(n)
    for pd in by_data.values():
        miss *= 1.0 - pd
    return 1.0 - miss


def _occluded(
    r: np.ndarray, bearing: np.ndarray, radius: np.ndarray, occluders: np.ndarray, min_overlap: float
) -> np.ndarray:
    """(N,) 1.0 where a nearer occluder covers ``min_overlap`` of a track's bearing interval."""
    half = np.arcsin(np.clip(radius / np.maximum(r, 1e-3), 0.0, 1.0))  # (N,) angular half-width
    j = np.flatnonzero(occluders)
    d = np.angle(np.exp(1j * (bearing[:, None] - bearing[None, j])))  # (N, K) bearing differences
    # occluder j's interval relative to track i's bearing is [-d - h_j, -d + h_j]
    lo = np.maximum(-half[:, None], -d - half[None, j])
    hi = np.minimum(half[:, None], -d + half[None, j])
    cover = np.clip(hi - lo, 0.0, None) / np.maximum(2.0 * half[:, None], 1e-9)
    nearer = r[None, j] + radius[None, j] < r[:, None]
    return ((cover >= min_overlap) & nearer).any(axis=1).astype(np.float64)
