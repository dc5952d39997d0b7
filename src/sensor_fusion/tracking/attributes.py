r"""Track attributes outside the motion state: z, size, yaw and class, and how sensors feed them.

The Kalman state holds only where an object is and how it moves; its box (z, length, width,
height, yaw) and class are smoothed here, apart from it, because they are not observable from
every sensor alike. The per-sensor trust flags decide who may set them: a LiDAR or BEV box
measures shape, a radar centroid carries only a class-prior box, a camera's class is better than
a clustered cloud's. So:

* z / size / yaw (:func:`smooth_shape`): exponential smoothing from sensors trusted for them; an
  untrusted sensor fills in only until the first trusted measurement, which then replaces its
  value outright (``*_known`` flags). A box's yaw is ambiguous by pi, so the closer of yaw and
  yaw + pi is used;
* class (:func:`class_vote_weights`, :func:`vote_class`): score-weighted votes per class, UNKNOWN
  and untrusted-class detections down-weighted; the track's class is the argmax;
* heading (:func:`align_yaw_to_velocity`): a confident velocity flips or steers the box yaw;
* :func:`shape_slack`: the position variance a shapeless detection's centre carries on a track
  whose size a trusted sensor measured (the centre is off by up to half the size difference);
* :func:`near_face_axes`, :func:`near_face_offset`: a box measures the faces nearer its sensor,
  so where its extent differs from the track's, the centre a box of the track's extent would
  have with those faces (``anchor_near_face``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.filters import CVFilter, IMMFilter
from sensor_fusion.tracking.measurements import Measurements

if TYPE_CHECKING:
    from sensor_fusion.tracking.track_table import TrackTable

__all__ = [
    "align_yaw_to_velocity",
    "class_vote_weights",
    "near_face_axes",
    "near_face_offset",
    "shape_slack",
    "smooth_shape",
    "vote_class",
]


def smooth_shape(
    t: TrackTable, m: Measurements, rows: np.ndarray, cols: np.ndarray, config: TrackerConfig
) -> None:
    """Smooth z, size and yaw of tracks ``rows`` towards detections ``cols`` (pairs), in place.

    Exponential smoothing (``z_alpha``, ``size_alpha``, ``yaw_alpha``) where measured, by a
    sensor trusted for it; an untrusted one only until the first trusted measurement, which
    then replaces it outright (gain 1) and sets ``size_known`` / ``yaw_known``.
    """
    c = config
    trusted, known = m.trust_size[cols], t.size_known[rows]
    plain = trusted.all() and known.all()  # the usual case (LiDAR boxes): plain smoothing
    use = trusted | ~known
    zm = m.z[cols]
    ok = np.isfinite(zm) if plain else np.isfinite(zm) & use
    alpha = c.z_alpha if plain else np.where(trusted & ~known, 1.0, c.z_alpha)[ok]
    t.z[rows[ok]] += alpha * (zm[ok] - t.z[rows[ok]])
    ok = m.has_size[cols] if plain else m.has_size[cols] & use
    alpha = c.size_alpha if plain else np.where(trusted & ~known, 1.0, c.size_alpha)[ok, None]
    t.sizes[rows[ok]] += alpha * (m.sizes[cols[ok]] - t.sizes[rows[ok]])
    if not plain:
        t.size_known[rows[ok]] |= trusted[ok]
    # Yaw: a box's heading is ambiguous by pi, so use whichever of yaw, yaw + pi is closer.
    trusted, known = m.trust_yaw[cols], t.yaw_known[rows]
    plain = trusted.all() and known.all()
    ym = m.yaw[cols]
    ok = np.isfinite(ym) if plain else np.isfinite(ym) & (trusted | ~known)
    rr = rows[ok]
    alpha = c.yaw_alpha if plain else np.where(trusted[ok] & ~known[ok], 1.0, c.yaw_alpha)
    dy = wrap_angle(ym[ok] - t.yaw[rr])
    dy = np.where(np.abs(dy) > 0.5 * np.pi, wrap_angle(dy + np.pi), dy)
    t.yaw[rr] = wrap_angle(t.yaw[rr] + alpha * dy)
    if not plain:
        t.yaw_known[rr] |= trusted[ok]


def class_vote_weights(m: Measurements, cols: np.ndarray, config: TrackerConfig) -> np.ndarray:
    """Class-vote weight of detections ``cols``: the score, times ``unknown_vote_weight`` for an
    UNKNOWN label (it says little) and ``untrusted_class_vote_weight`` for a sensor whose class
    is not trusted (a cluster's size-based guess must not outvote a camera's or the BEV's)."""
    c = config
    w = m.scores[cols] * np.where(m.labels[cols] == int(ObjectClass.UNKNOWN), c.unknown_vote_weight, 1.0)
    trusted = m.trust_class[cols]
    if not trusted.all():
        w = w * np.where(trusted, 1.0, c.untrusted_class_vote_weight)
    return w


def vote_class(
    t: TrackTable, m: Measurements, rows: np.ndarray, cols: np.ndarray, config: TrackerConfig
) -> None:
    """Add detections ``cols``' class votes to tracks ``rows`` (pairs), in place."""
    t.votes[rows, m.labels[cols]] += class_vote_weights(m, cols, config)


def align_yaw_to_velocity(
    t: TrackTable, rows: np.ndarray, filt: CVFilter | IMMFilter, config: TrackerConfig
) -> None:
    r"""Turn the box yaw of tracks ``rows`` to their motion, in place.

    Where the speed is confidently non-zero (above ``yaw_from_velocity_min_speed_mps``
    and twice its std) the yaw is flipped by pi if it points against the
    velocity. With the IMM it is then fused with the velocity heading
    :math:`\psi = \operatorname{atan2}(v_y, v_x)`, whose variance is that of the
    velocity across the motion over the squared speed,
    :math:`\sigma_\psi^2 = u_\perp^\top P_v u_\perp / |v|^2`:
    :math:`\text{yaw} \leftarrow \text{yaw} + g\, \operatorname{wrap}(\psi - \text{yaw})`,
    :math:`g = \sigma_b^2 / (\sigma_b^2 + \sigma_\psi^2)` (``yaw_box_std_rad`` =
    :math:`\sigma_b`): a well-measured velocity steers the box.
    """
    vmin = config.yaw_from_velocity_min_speed_mps
    if not np.isfinite(vmin):
        return
    x, P = filt.combine(t.xm[rows], t.Pm[rows], t.mu[rows])
    v = x[:, 2:4]
    speed = np.hypot(v[:, 0], v[:, 1])
    sigma = np.sqrt(0.5 * (P[:, 2, 2] + P[:, 3, 3]))
    sure = (speed > vmin) & (speed > 2.0 * sigma)
    heading = np.arctan2(v[:, 1], v[:, 0])
    flip = sure & (np.abs(wrap_angle(t.yaw[rows] - heading)) > 0.5 * np.pi)
    t.yaw[rows[flip]] = wrap_angle(t.yaw[rows[flip]] + np.pi)
    if isinstance(filt, CVFilter) or not sure.any():
        return
    s = np.flatnonzero(sure)
    ux, uy = -np.sin(heading[s]), np.cos(heading[s])
    var_perp = ux * ux * P[s, 2, 2] + 2.0 * ux * uy * P[s, 2, 3] + uy * uy * P[s, 3, 3]
    b2 = config.yaw_box_std_rad**2
    g = b2 / (b2 + var_perp / speed[s] ** 2)
    rr = rows[s]
    t.yaw[rr] = wrap_angle(t.yaw[rr] + g * wrap_angle(heading[s] - t.yaw[rr]))


def shape_slack(t: TrackTable, m: Measurements, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Isotropic position variance to add where a detection whose sensor's size is not trusted
    (radar: a centroid moved to a centre with a class-prior box) meets a track whose size a
    trusted sensor measured: the centre is off by up to half the size difference (a bus
    placed with a car's box by 3 m). Without it the radar drags the track off the LiDAR box,
    whose next detection then falls outside the gate and starts a duplicate. Broadcasts
    ``rows``/``cols`` (pairs, or a (T, 1) x (1, D) grid)."""
    apply = t.size_known[rows] & ~m.trust_size[cols] & m.has_size[cols]
    diff = np.abs(t.sizes[rows, :2] - m.sizes[cols, :2]).max(axis=-1)
    return np.where(apply, (0.5 * diff) ** 2, 0.0)


def near_face_axes(yaw: np.ndarray, xy: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(P, 2, 2) the box axes (length, width) of yaw ``yaw`` at ``xy``, each times its cosine with
    the line of sight from the sensor at ``origin``: signed away from the sensor, full where the
    sensor looks along the axis (its far face hidden behind the near one), fading to 0 where it
    looks across it (both ends seen alike, at grazing incidence, so a change of extent is no
    nearer one end than the other) -- and continuous as an object passes beside the sensor."""
    c, s = np.cos(yaw), np.sin(yaw)
    axes = np.stack([np.column_stack([c, s]), np.column_stack([-s, c])], axis=1)  # (P, 2, 2)
    los = xy - origin
    los = los / np.maximum(np.hypot(los[:, 0], los[:, 1]), 1e-9)[:, None]
    return axes * np.einsum("pkj,pj->pk", axes, los)[..., None]


_ANCHOR_MAX_YAW_RAD = 0.35  # a box turned further from the track's axes (a car turning) is not compared


def near_face_offset(
    t: TrackTable, m: Measurements, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Where detections ``cols`` measure the near faces of tracks ``rows`` (pairs): (use (P,) bool,
    offset (P, 2), weighted axes (P, 2, 2) from :func:`near_face_axes`).

    A LiDAR box spans the faces its sensor saw; the far ones are where the returns stopped. A box
    longer or shorter than the track's (more of the object in view, or less) moves its centre by
    half the difference *away from the sensor* while the object stays put, and a Kalman update on
    that centre reads the growth as motion. With :math:`\Delta l, \Delta w` the detection's
    extent less the track's along the track's axes :math:`a_l, a_w` and :math:`u` the line of
    sight, the detection's centre less ``offset`` :math:`= \tfrac12 \sum_k \Delta_k (a_k \cdot u)
    a_k` is where a box of the track's extent with the detection's near faces would be centred.
    Used where the detection's size is trusted, the track's size is known, the sensor's position is
    (``m.origin``) and the box is aligned with the track's axes within ``_ANCHOR_MAX_YAW_RAD`` (or
    across them); elsewhere ``use`` is False and the offset 0.
    """
    use = m.trust_size[cols] & m.has_size[cols] & t.size_known[rows] & np.isfinite(m.origin[cols]).all(axis=1)
    dy = np.abs(wrap_angle(np.where(np.isfinite(m.yaw[cols]), m.yaw[cols], t.yaw[rows]) - t.yaw[rows]))
    across = np.abs(dy - 0.5 * np.pi) < 0.25 * np.pi
    off_axis = np.where(across, np.abs(dy - 0.5 * np.pi), np.minimum(dy, np.pi - dy))
    use &= off_axis <= _ANCHOR_MAX_YAW_RAD
    offset = np.zeros((rows.size, 2))
    axes = np.zeros((rows.size, 2, 2))
    if not use.any():
        return use, offset, axes
    r, k = rows[use], cols[use]
    axes[use] = near_face_axes(t.yaw[r], m.xy[k], m.origin[k])
    # the detection's extents along the track's axes: length and width swap where it lies across
    ext = np.where(across[use][:, None], m.sizes[k, 1::-1], m.sizes[k, :2])
    offset[use] = 0.5 * np.einsum("pk,pkj->pj", ext - t.sizes[r, :2], axes[use])
    return use, offset, axes
