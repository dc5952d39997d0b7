r"""The track table: every track's filter state and attributes as one structure of arrays.

Row ``i`` of every field is track ``i`` (ids ascending, since new tracks are appended with
increasing ids). Keeping tracks as parallel arrays rather than objects lets every stage of the
step (predict, gate, update, existence, merge) run as one batched numpy operation over all
tracks; :meth:`TrackTable.take`, :meth:`~TrackTable.keep` and :meth:`~TrackTable.extend` are the
only ways rows are removed or added, so no field can fall out of step with the others.

:func:`birth` builds the rows of new (tentative) tracks from unmatched detections: the initial
state and covariance, including a Doppler-only detection's velocity along its line of sight.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from sensor_fusion.core.classes import NUM_CLASSES, SENSOR_RADAR, ObjectClass
from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.tracking.attributes import class_vote_weights
from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.measurements import Measurements

if TYPE_CHECKING:
    from sensor_fusion.tracking.filters import CVFilter, IMMFilter

__all__ = ["VOTE_PRIOR", "TrackTable", "birth", "birth_state"]

# Tiny UNKNOWN prior so a track with no weighted votes reads UNKNOWN rather than argmax of zeros.
VOTE_PRIOR = 1e-6


@dataclass
class TrackTable:
    """All tracks as parallel arrays (row i of every field is track i, ids ascending)."""

    ids: np.ndarray  # (N,) int64
    xm: np.ndarray  # (N, M, n) model-conditioned states; [..., :4] = x, y, vx, vy
    Pm: np.ndarray  # (N, M, n, n)
    mu: np.ndarray  # (N, M) mode probabilities (M = 1: ones)
    z: np.ndarray  # (N,)
    sizes: np.ndarray  # (N, 3)
    size_known: np.ndarray  # (N,) bool: size (and z) came from a size-trusted sensor
    yaw: np.ndarray  # (N,)
    yaw_known: np.ndarray  # (N,) bool: yaw came from a yaw-trusted sensor
    votes: np.ndarray  # (N, NUM_CLASSES) score-weighted class votes
    logit: np.ndarray  # (N,) existence log-odds
    hits: np.ndarray  # (N,) int64
    birth_ns: np.ndarray  # (N,) int64
    last_update_ns: np.ndarray  # (N,) int64
    shape_ns: np.ndarray  # (N,) int64: last update by a size-trusted sensor (0: never)
    vel_measured: np.ndarray  # (N,) bool: some detection measured its velocity (Doppler or velocity)
    box_ns: np.ndarray  # (N,) int64: last update by a detection that is not radar-only (0: never)
    sensors: np.ndarray  # (N,) uint8
    confirmed: np.ndarray  # (N,) bool
    lost: np.ndarray  # (N,) bool: existence fell below existence_delete since last confirmed (Tracker)

    @classmethod
    def empty(cls, M: int, n: int) -> TrackTable:
        """No tracks, for a filter bank of ``M`` models on an ``n``-state."""
        return cls(
            ids=np.zeros(0, np.int64),
            xm=np.zeros((0, M, n)),
            Pm=np.zeros((0, M, n, n)),
            mu=np.zeros((0, M)),
            z=np.zeros(0),
            sizes=np.zeros((0, 3)),
            size_known=np.zeros(0, bool),
            yaw=np.zeros(0),
            yaw_known=np.zeros(0, bool),
            votes=np.zeros((0, NUM_CLASSES)),
            logit=np.zeros(0),
            hits=np.zeros(0, np.int64),
            birth_ns=np.zeros(0, np.int64),
            last_update_ns=np.zeros(0, np.int64),
            shape_ns=np.zeros(0, np.int64),
            vel_measured=np.zeros(0, bool),
            box_ns=np.zeros(0, np.int64),
            sensors=np.zeros(0, np.uint8),
            confirmed=np.zeros(0, bool),
            lost=np.zeros(0, bool),
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, idx: np.ndarray) -> TrackTable:
        """New table of rows ``idx`` (boolean mask or indices); arrays are copies."""
        return TrackTable(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def keep(self, mask: np.ndarray) -> TrackTable:
        """Rows where ``mask``; ``self`` itself when nothing is dropped (the common case)."""
        return self if mask.all() else self.take(mask)

    def extend(self, other: TrackTable) -> TrackTable:
        """This table's rows followed by ``other``'s (new arrays)."""
        return TrackTable(
            **{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)}
        )

    def dormant(self, logit_delete: float) -> np.ndarray:
        """(N,) bool: lost tracks no box has found again since (existence still below deletion)."""
        return self.lost & (self.logit < logit_delete)

    def labels(self) -> np.ndarray:
        """Each track's class: the argmax of its votes."""
        return np.argmax(self.votes, axis=1).astype(np.int64)


def birth_state(m: Measurements, idx: np.ndarray, init_vel_var: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Initial (x, y, vx, vy) (K, 4) and covariance (K, 4, 4) of tracks from detections ``idx``.

    Velocity: the measured one (covariance ``vel_R``); with only a Doppler
    component :math:`r` along :math:`\ell`, :math:`v = r \ell` with covariance
    :math:`\sigma_r^2 \ell \ell^\top + \sigma_0^2 (I - \ell \ell^\top)` (known
    along the line of sight, unknown across); else 0 with
    :math:`\sigma_0^2 I` (``init_vel_var`` = :math:`\sigma_0^2`).
    """
    n = idx.size
    has_vel = m.has_vel[idx]
    has_rad = m.has_radial[idx]
    x = np.zeros((n, 4))
    x[:, :2] = m.xy[idx]
    x[:, 2:] = m.vel[idx]
    P = np.zeros((n, 4, 4))
    P[:, :2, :2] = m.R[idx]
    P[:, 2:, 2:] = np.where(has_vel[:, None, None], m.vel_R[idx], init_vel_var * np.eye(2))
    if has_rad.any():
        r = idx[has_rad]
        los = m.los[r]
        ll = los[:, :, None] * los[:, None, :]
        x[has_rad, 2:] = m.radial[r, None] * los
        P[has_rad, 2:, 2:] = m.radial_var[r, None, None] * ll + init_vel_var * (np.eye(2) - ll)
    return x, P


def birth(
    m: Measurements,
    idx: np.ndarray,
    stamp_ns: int,
    first_id: int,
    filt: CVFilter | IMMFilter,
    config: TrackerConfig,
) -> TrackTable:
    """Tentative tracks (ids ``first_id, first_id + 1, ...``) from detections ``idx``.

    State from :func:`birth_state` through the filter bank's ``init``; shape, yaw and z as
    measured (``size_known`` / ``yaw_known`` only from a sensor trusted for them); one class
    vote; existence ``existence_birth``; one hit.
    """
    c = config
    n = idx.size
    var0 = float(c.init_velocity_std_mps) ** 2
    x, P = birth_state(m, idx, var0)
    xm, Pm, mu = filt.init(x, P, var0)
    votes = np.zeros((n, NUM_CLASSES))
    votes[:, int(ObjectClass.UNKNOWN)] = VOTE_PRIOR
    votes[np.arange(n), m.labels[idx]] += class_vote_weights(m, idx, c)
    has_yaw = np.isfinite(m.yaw[idx])
    yaw = np.where(has_yaw, m.yaw[idx], 0.0)
    logit = np.minimum(c.logit("existence_birth") + np.zeros(n), c.logit("existence_max"))
    shape_trusted = m.has_size[idx] & m.trust_size[idx]
    return TrackTable(
        ids=np.arange(first_id, first_id + n, dtype=np.int64),
        xm=xm,
        Pm=Pm,
        mu=mu,
        z=np.nan_to_num(m.z[idx], nan=0.0),
        sizes=m.sizes[idx].copy(),
        size_known=shape_trusted,
        yaw=wrap_angle(yaw),
        yaw_known=has_yaw & m.trust_yaw[idx],
        votes=votes,
        logit=logit,
        hits=np.ones(n, np.int64),
        birth_ns=np.full(n, stamp_ns, np.int64),
        last_update_ns=np.full(n, stamp_ns, np.int64),
        shape_ns=np.where(shape_trusted, stamp_ns, 0).astype(np.int64),
        vel_measured=m.has_vel[idx] | m.has_radial[idx],
        box_ns=np.where(m.sensors[idx] != SENSOR_RADAR, stamp_ns, 0).astype(np.int64),
        sensors=m.sensors[idx].copy(),
        confirmed=np.zeros(n, bool),
        lost=np.zeros(n, bool),
    )
