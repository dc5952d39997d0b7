"""ROS-free multi-object tracker: constant-velocity Kalman filter + gated Hungarian.

One :meth:`Tracker.step` per fused frame:

1. predict every track to the frame stamp (one batched CV prediction);
2. drop tracks not updated for ``max_age_s``;
3. associate: squared Mahalanobis distance of each detection's (x, y) to each
   predicted (x, y) with ``S = H P H' + R`` (``R`` = the detection's
   ``pos_cov``), gated per track class, plus a soft class-mismatch cost
   (or ``1 - IoU3D`` for the ``iou3d`` baseline), solved by
   ``linear_sum_assignment``;
4. update matched tracks (Joseph form) with (x, y), or (x, y, vx, vy) where
   the detection measured velocity; smooth z, size and yaw; vote the class;
5. existence: log-odds up on an update (times the score), down with the time
   spent unmatched; delete below ``existence_delete``;
6. start tentative tracks from unmatched detections; confirm after
   ``min_hits`` updates with enough existence.

All track data lives in one structure of arrays; every stage is batched
numpy over tracks. Only confirmed tracks are returned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np

from sensor_fusion.core.classes import NUM_CLASSES, ObjectClass
from sensor_fusion.core.geometry import wrap_angle
from sensor_fusion.core.types import Detections, Tracks
from sensor_fusion.tracking import kalman
from sensor_fusion.tracking.association import gated_assignment, mahalanobis_sq
from sensor_fusion.tracking.config import TrackerConfig
from sensor_fusion.tracking.iou import iou_pairwise
from sensor_fusion.tracking.motion import ConstantVelocity

__all__ = ["Tracker", "TrackerConfig"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
# Tiny UNKNOWN prior so a track with no weighted votes reads UNKNOWN rather than argmax of zeros.
_VOTE_PRIOR = 1e-6


@dataclass
class _TrackTable:
    """All tracks as parallel arrays (row i of every field is track i, ids ascending)."""

    ids: np.ndarray  # (N,) int64
    x: np.ndarray  # (N, 4) x, y, vx, vy
    P: np.ndarray  # (N, 4, 4)
    z: np.ndarray  # (N,)
    sizes: np.ndarray  # (N, 3)
    yaw: np.ndarray  # (N,)
    votes: np.ndarray  # (N, NUM_CLASSES) score-weighted class votes
    logit: np.ndarray  # (N,) existence log-odds
    hits: np.ndarray  # (N,) int64
    birth_ns: np.ndarray  # (N,) int64
    last_update_ns: np.ndarray  # (N,) int64
    sensors: np.ndarray  # (N,) uint8
    confirmed: np.ndarray  # (N,) bool

    @classmethod
    def empty(cls) -> _TrackTable:
        return cls(
            ids=np.zeros(0, np.int64),
            x=np.zeros((0, 4)),
            P=np.zeros((0, 4, 4)),
            z=np.zeros(0),
            sizes=np.zeros((0, 3)),
            yaw=np.zeros(0),
            votes=np.zeros((0, NUM_CLASSES)),
            logit=np.zeros(0),
            hits=np.zeros(0, np.int64),
            birth_ns=np.zeros(0, np.int64),
            last_update_ns=np.zeros(0, np.int64),
            sensors=np.zeros(0, np.uint8),
            confirmed=np.zeros(0, bool),
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, idx: np.ndarray) -> _TrackTable:
        """New table of rows ``idx`` (boolean mask or indices); arrays are copies."""
        return _TrackTable(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def keep(self, mask: np.ndarray) -> _TrackTable:
        """Rows where ``mask``; ``self`` itself when nothing is dropped (the common case)."""
        return self if mask.all() else self.take(mask)

    def extend(self, other: _TrackTable) -> _TrackTable:
        return _TrackTable(
            **{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)}
        )

    def labels(self) -> np.ndarray:
        return np.argmax(self.votes, axis=1).astype(np.int64)


@dataclass
class _Meas:
    """Detections after validation, as the filter sees them."""

    xy: np.ndarray  # (D, 2)
    R: np.ndarray  # (D, 2, 2)
    vel: np.ndarray  # (D, 2), valid where has_vel
    has_vel: np.ndarray  # (D,) bool
    z: np.ndarray  # (D,) NaN where not measured
    sizes: np.ndarray  # (D, 3), valid where has_size
    has_size: np.ndarray  # (D,) bool
    yaw: np.ndarray  # (D,) NaN where not measured
    labels: np.ndarray  # (D,) int64
    scores: np.ndarray  # (D,)
    sensors: np.ndarray  # (D,) uint8

    def __len__(self) -> int:
        return int(self.xy.shape[0])


class Tracker:
    """Multi-object tracker over :class:`Detections` in a fixed frame; see the module docstring."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config if config is not None else TrackerConfig()
        self.config.validate()
        c = self.config
        self._model = ConstantVelocity()
        self._accel_std = c.accel_std_table()
        self._gate = c.gate_table()
        self._logit_birth = c.logit("existence_birth")
        self._logit_confirm = c.logit("existence_confirm")
        self._logit_delete = c.logit("existence_delete")
        self._logit_max = c.logit("existence_max")
        self._vel_var = float(c.velocity_meas_std_mps) ** 2
        self._init_vel_var = float(c.init_velocity_std_mps) ** 2
        self._max_age_ns = int(round(c.max_age_s * _NS))
        self._back_tol_ns = int(round(c.time_backwards_tolerance_s * _NS))
        self._warned_frames: set[str] = set()
        self.reset()

    # ------------------------------------------------------------------ API
    def reset(self) -> None:
        """Forget all tracks and the clock; ids start again from 1 (as a new Tracker)."""
        self._clear()
        self._next_id = 1

    def step(self, stamp_ns: int, detections: Detections) -> Tracks:
        """Advance to ``stamp_ns``, fuse ``detections`` and return the confirmed tracks.

        ``stamp_ns`` is authoritative (``detections.stamp_ns`` is not used). A
        stamp more than ``time_backwards_tolerance_s`` before the previous one
        (bag loop, clock reset) logs a warning and clears all tracks (ids keep
        increasing so none is reused within this tracker's output); a smaller
        step back is treated as ``dt = 0`` and the clock stays where it was.
        """
        stamp_ns = int(stamp_ns)
        dt = 0.0
        if self._stamp_ns is not None:
            delta = stamp_ns - self._stamp_ns
            if delta < -self._back_tol_ns:
                log.warning(
                    "tracker: time went back %.3f s (%d -> %d ns); clearing %d tracks",
                    -delta / _NS,
                    self._stamp_ns,
                    stamp_ns,
                    len(self._t),
                )
                self._clear()
            elif delta <= 0:
                stamp_ns = self._stamp_ns
            else:
                dt = delta / _NS
        self._stamp_ns = stamp_ns

        meas = self._validate(detections)
        t = self._t
        if dt > 0.0 and len(t):
            t.x, t.P = self._model.predict(t.x, t.P, dt, self._accel_std[t.labels()])
        t = t.keep(stamp_ns - t.last_update_ns <= self._max_age_ns)

        rows, cols, suppressed = self._associate(t, meas)
        self._update(t, meas, rows, cols, stamp_ns)

        missed = np.ones(len(t), bool)
        missed[rows] = False
        t.logit[missed] -= self.config.existence_miss_logodds_per_s * dt
        t = t.keep(t.logit >= self._logit_delete)

        born = np.ones(len(meas), bool)
        born[cols] = False
        born &= ~suppressed
        if born.any():
            t = t.extend(self._birth(meas, np.flatnonzero(born), stamp_ns))
        t.confirmed |= (t.hits >= self.config.min_hits) & (t.logit >= self._logit_confirm - 1e-12)
        self._t = t
        return self._output(stamp_ns)

    @property
    def num_tracks(self) -> int:
        """Number of live tracks, tentative included (for diagnostics)."""
        return len(self._t)

    # ------------------------------------------------------------ internals
    def _clear(self) -> None:
        self._t = _TrackTable.empty()
        self._stamp_ns: int | None = None

    def _validate(self, d: Detections) -> _Meas:
        """Drop unusable detection rows (logged); mark optional fields as measured or not."""
        n = len(d)
        shapes = {
            "sizes": (n, 3),
            "yaw": (n,),
            "labels": (n,),
            "scores": (n,),
            "velocity": (n, 2),
            "pos_cov": (n, 2, 2),
            "sensors": (n,),
        }
        if d.centers.ndim != 2 or d.centers.shape[1] < 2:
            raise ValueError(f"Detections.centers must be (N, 3), got {d.centers.shape}")
        for name, shape in shapes.items():
            if np.shape(getattr(d, name)) != shape:
                raise ValueError(
                    f"Detections.{name} must have shape {shape}, got {np.shape(getattr(d, name))}"
                )
        if d.frame_id and d.frame_id != self.config.frame_id:
            level = logging.DEBUG if d.frame_id in self._warned_frames else logging.WARNING
            self._warned_frames.add(d.frame_id)
            log.log(
                level,
                "tracker: dropping detections in frame %r (tracker frame is %r; warned once per frame)",
                d.frame_id,
                self.config.frame_id,
            )
            n = 0
            d = d.select(np.zeros(len(d), bool))

        xy = np.asarray(d.centers[:, :2], dtype=np.float64)
        R = kalman.symmetrize(np.asarray(d.pos_cov, dtype=np.float64))
        scores = np.asarray(d.scores, dtype=np.float64)
        labels = np.asarray(d.labels).astype(np.int64, copy=False)
        with np.errstate(invalid="ignore"):
            det_R = R[:, 0, 0] * R[:, 1, 1] - R[:, 0, 1] * R[:, 1, 0]
            good = (
                np.isfinite(xy).all(axis=1)
                & np.isfinite(R).all(axis=(1, 2))
                & (R[:, 0, 0] > 0.0)
                & (det_R > 0.0)
                & np.isfinite(scores)
                & (labels >= 0)
                & (labels < NUM_CLASSES)
            )
        if not good.all():
            log.warning(
                "tracker: dropped %d of %d detections with non-finite position/score, "
                "non positive-definite pos_cov or unknown label",
                int(n - good.sum()),
                n,
            )
        vel = np.asarray(d.velocity, dtype=np.float64)[good]
        sizes = np.asarray(d.sizes, dtype=np.float64)[good]
        z = (
            np.asarray(d.centers[good, 2], dtype=np.float64)
            if d.centers.shape[1] > 2
            else np.full(good.sum(), np.nan)
        )
        yaw = np.asarray(d.yaw, dtype=np.float64)[good]
        has_vel = np.isfinite(vel).all(axis=1)
        has_size = np.isfinite(sizes).all(axis=1) & (sizes > 0.0).all(axis=1)
        return _Meas(
            xy=xy[good],
            R=R[good],
            vel=np.where(has_vel[:, None], vel, 0.0),
            has_vel=has_vel,
            z=z,
            sizes=np.where(has_size[:, None], sizes, 0.0),
            has_size=has_size,
            yaw=yaw,
            labels=labels[good],
            scores=np.clip(scores[good], 0.0, 1.0),
            sensors=np.asarray(d.sensors)[good].astype(np.uint8),
        )

    def _associate(self, t: _TrackTable, m: _Meas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Matched (track rows, detection cols) and the detections barred from starting a track."""
        c = self.config
        nt, nd = len(t), len(m)
        suppressed = np.zeros(nd, bool)
        if nt == 0 or nd == 0:
            e = np.zeros(0, np.int64)
            return e, e, suppressed
        labels_t = t.labels()
        if c.association == "mahalanobis":
            d2 = mahalanobis_sq(t.x[:, :2], t.P[:, :2, :2], m.xy, m.R)
            allowed = d2 <= self._gate[labels_t][:, None]
            unknown = int(ObjectClass.UNKNOWN)
            mismatch = (
                (labels_t[:, None] != m.labels[None, :])
                & (labels_t[:, None] != unknown)
                & (m.labels[None, :] != unknown)
            )
            cost = d2 + c.class_mismatch_cost * mismatch
        else:  # "iou3d"
            centers_t = np.column_stack([t.x[:, :2], t.z])
            centers_d = np.column_stack([m.xy, np.nan_to_num(m.z)])
            iou = iou_pairwise(centers_t, t.sizes, t.yaw, centers_d, m.sizes, np.nan_to_num(m.yaw))
            allowed = iou >= max(c.iou3d_min, 1e-12)
            cost = 1.0 - iou
        rows, cols = self._cascade(cost, allowed, t.confirmed)
        if c.suppress_birth_in_gate:
            suppressed = allowed[t.confirmed].any(axis=0)
        return rows, cols, suppressed

    def _cascade(
        self, cost: np.ndarray, allowed: np.ndarray, confirmed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Assign confirmed tracks first, then tentative tracks to the detections left.

        A newborn track's velocity is barely known, so its gate is wide and its
        Mahalanobis distances small: in one joint assignment it would take the
        detections of an established track that missed a single frame (the
        classic duplicate-and-steal failure). Confirmed-first (as in DeepSORT's
        matching cascade) keeps established tracks on their objects.
        """
        if not self.config.confirmed_first or confirmed.all() or not confirmed.any():
            return gated_assignment(cost, allowed)
        conf = np.flatnonzero(confirmed)
        tent = np.flatnonzero(~confirmed)
        r1, c1 = gated_assignment(cost[conf], allowed[conf])
        free = np.ones(cost.shape[1], bool)
        free[c1] = False
        left = np.flatnonzero(free)
        r2, c2 = gated_assignment(cost[np.ix_(tent, left)], allowed[np.ix_(tent, left)])
        rows = np.concatenate([conf[r1], tent[r2]])
        cols = np.concatenate([c1, left[c2]])
        order = np.argsort(rows, kind="stable")
        return rows[order], cols[order]

    def _update(self, t: _TrackTable, m: _Meas, rows: np.ndarray, cols: np.ndarray, stamp_ns: int) -> None:
        """Filter, shape, class and bookkeeping updates of matched tracks, in place."""
        if rows.size == 0:
            return
        c = self.config
        vel_meas = m.has_vel[cols]
        # Position-only group, then position + velocity group: two batched updates.
        r, k = rows[~vel_meas], cols[~vel_meas]
        if r.size:
            t.x[r], t.P[r] = kalman.linear_update(t.x[r], t.P[r], m.xy[k], ConstantVelocity.H_POS, m.R[k])
        r, k = rows[vel_meas], cols[vel_meas]
        if r.size:
            R4 = np.zeros((r.size, 4, 4))
            R4[:, :2, :2] = m.R[k]
            R4[:, 2, 2] = R4[:, 3, 3] = self._vel_var
            z4 = np.concatenate([m.xy[k], m.vel[k]], axis=1)
            t.x[r], t.P[r] = kalman.linear_update(t.x[r], t.P[r], z4, ConstantVelocity.H_POS_VEL, R4)

        # z / size: exponential smoothing where measured.
        zm = m.z[cols]
        ok = np.isfinite(zm)
        t.z[rows[ok]] += c.z_alpha * (zm[ok] - t.z[rows[ok]])
        ok = m.has_size[cols]
        t.sizes[rows[ok]] += c.size_alpha * (m.sizes[cols[ok]] - t.sizes[rows[ok]])
        # Yaw: a box's heading is ambiguous by pi, so use whichever of yaw, yaw + pi is closer.
        ym = m.yaw[cols]
        ok = np.isfinite(ym)
        rr = rows[ok]
        dy = wrap_angle(ym[ok] - t.yaw[rr])
        dy = np.where(np.abs(dy) > 0.5 * np.pi, wrap_angle(dy + np.pi), dy)
        t.yaw[rr] = wrap_angle(t.yaw[rr] + c.yaw_alpha * dy)
        self._align_yaw_to_velocity(t, rows)

        w = m.scores[cols] * np.where(m.labels[cols] == int(ObjectClass.UNKNOWN), c.unknown_vote_weight, 1.0)
        t.votes[rows, m.labels[cols]] += w
        t.logit[rows] = np.minimum(t.logit[rows] + c.existence_hit_logodds * m.scores[cols], self._logit_max)
        t.hits[rows] += 1
        t.last_update_ns[rows] = stamp_ns
        t.sensors[rows] = m.sensors[cols]

    def _align_yaw_to_velocity(self, t: _TrackTable, rows: np.ndarray) -> None:
        """Flip the box yaw by pi where it points against a confidently known velocity."""
        vmin = self.config.yaw_from_velocity_min_speed_mps
        if not np.isfinite(vmin):
            return
        v = t.x[rows, 2:4]
        speed = np.hypot(v[:, 0], v[:, 1])
        sigma = np.sqrt(0.5 * (t.P[rows, 2, 2] + t.P[rows, 3, 3]))
        sure = (speed > vmin) & (speed > 2.0 * sigma)
        heading = np.arctan2(v[:, 1], v[:, 0])
        flip = sure & (np.abs(wrap_angle(t.yaw[rows] - heading)) > 0.5 * np.pi)
        t.yaw[rows[flip]] = wrap_angle(t.yaw[rows[flip]] + np.pi)

    def _birth(self, m: _Meas, idx: np.ndarray, stamp_ns: int) -> _TrackTable:
        """Tentative tracks from detections ``idx``; velocity 0 (wide) unless measured."""
        c = self.config
        n = idx.size
        has_vel = m.has_vel[idx]
        x = np.zeros((n, 4))
        x[:, :2] = m.xy[idx]
        x[:, 2:] = m.vel[idx]
        P = np.zeros((n, 4, 4))
        P[:, :2, :2] = m.R[idx]
        vvar = np.where(has_vel, self._vel_var, self._init_vel_var)
        P[:, 2, 2] = P[:, 3, 3] = vvar
        votes = np.zeros((n, NUM_CLASSES))
        votes[:, int(ObjectClass.UNKNOWN)] = _VOTE_PRIOR
        labels = m.labels[idx]
        w = m.scores[idx] * np.where(labels == int(ObjectClass.UNKNOWN), c.unknown_vote_weight, 1.0)
        votes[np.arange(n), labels] += w
        yaw = np.where(np.isfinite(m.yaw[idx]), m.yaw[idx], 0.0)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        logit = np.minimum(self._logit_birth + np.zeros(n), self._logit_max)
        new = _TrackTable(
            ids=ids,
            x=x,
            P=P,
            z=np.nan_to_num(m.z[idx], nan=0.0),
            sizes=m.sizes[idx].copy(),
            yaw=wrap_angle(yaw),
            votes=votes,
            logit=logit,
            hits=np.ones(n, np.int64),
            birth_ns=np.full(n, stamp_ns, np.int64),
            last_update_ns=np.full(n, stamp_ns, np.int64),
            sensors=m.sensors[idx].copy(),
            confirmed=np.zeros(n, bool),
        )
        self._align_yaw_to_velocity(new, np.arange(n))
        return new

    def _output(self, stamp_ns: int) -> Tracks:
        t = self._t.take(self._t.confirmed)
        labels = t.labels()
        total = t.votes.sum(axis=1)
        probs = t.votes[np.arange(len(t)), labels] / np.where(total > 0, total, 1.0)
        return Tracks(
            stamp_ns=stamp_ns,
            frame_id=self.config.frame_id,
            ids=t.ids,
            state=t.x,
            cov=t.P,
            z=t.z,
            sizes=t.sizes,
            yaw=t.yaw,
            labels=labels,
            label_probs=probs,
            existence=1.0 / (1.0 + np.exp(-t.logit)),
            age_ns=stamp_ns - t.birth_ns,
            hits=t.hits,
            sensors=t.sensors,
        )
