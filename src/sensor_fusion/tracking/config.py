"""Tracker parameters: defaults, units and validation.

``TrackerConfig`` is re-exported by :mod:`sensor_fusion.tracking.tracker`.
Per-class overrides are dicts keyed by ``ObjectClass`` names (``"PEDESTRIAN"``);
ROS parameters flatten them to dotted names (``gate_prob_per_class.PEDESTRIAN``),
which :meth:`TrackerConfig.from_dict` folds back. The per-sensor ``trust`` table
(Autoware's per-input-channel flags) is keyed by sensor name (``LIDAR``,
``RADAR``, ``CAMERA``, ``BEV``: the ``SENSOR_*`` bits of a detection's
``sensors`` mask) and flag, flattened as ``trust.RADAR.may_spawn``; entries not
given keep their defaults (:data:`DEFAULT_TRUST`).

The AB3DMOT-style baseline is ``association: iou3d``, ``motion_model: cv``
and ``trust.RADAR.may_update: false`` (LiDAR boxes only).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields

import numpy as np

from sensor_fusion.core.classes import (
    NUM_CLASSES,
    SENSOR_BEV,
    SENSOR_CAMERA,
    SENSOR_LIDAR,
    SENSOR_RADAR,
    ObjectClass,
)

ASSOCIATION_METRICS = ("mahalanobis", "iou3d")
MOTION_MODELS = ("cv", "imm")
SENSOR_BITS = {"LIDAR": SENSOR_LIDAR, "RADAR": SENSOR_RADAR, "CAMERA": SENSOR_CAMERA, "BEV": SENSOR_BEV}
# Per-sensor trust flags (Autoware multi_object_tracker's input-channel flags, plus may_update):
#   may_update            detections from it update tracks at all (false: ignored)
#   may_spawn             a detection from it may start a track
#   spawn_needs_velocity  ... only if it carries a full velocity with std <= spawn_max_velocity_std_mps
#                         and speed >= spawn_min_speed_mps (radar: moving, well-measured targets)
#   trust_class           its label votes with full weight (else untrusted_class_vote_weight)
#   trust_size            its box size / height update the track's (else only until a trusted one)
#   trust_yaw             its box yaw updates the track's (else only until a trusted one)
TRUST_FLAGS = ("may_update", "may_spawn", "spawn_needs_velocity", "trust_class", "trust_size", "trust_yaw")
DEFAULT_TRUST: dict[str, dict[str, bool]] = {
    "LIDAR": dict(may_update=True, may_spawn=True, spawn_needs_velocity=False,
                  trust_class=True, trust_size=True, trust_yaw=True),
    "RADAR": dict(may_update=True, may_spawn=True, spawn_needs_velocity=True,
                  trust_class=False, trust_size=False, trust_yaw=False),
    "CAMERA": dict(may_update=True, may_spawn=True, spawn_needs_velocity=False,
                   trust_class=True, trust_size=False, trust_yaw=False),
    "BEV": dict(may_update=True, may_spawn=True, spawn_needs_velocity=False,
                trust_class=True, trust_size=True, trust_yaw=True),
}  # fmt: skip


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass
class TrackerConfig:
    """Parameters of :class:`~sensor_fusion.tracking.tracker.Tracker` (SI units)."""

    # Fixed frame the detections are in and the tracks are reported in.
    frame_id: str = "odom"

    # --- motion model ---
    # "cv": one constant-velocity Kalman filter on (x, y, vx, vy) (AB3DMOT-style baseline);
    # "imm": IMM of constant velocity and coordinated turn on (x, y, vx, vy, turn rate).
    motion_model: str = "imm"
    accel_std_mps2: float = 1.0  # process noise (all models): acceleration std, m/s^2
    accel_std_mps2_per_class: dict[str, float] = field(default_factory=dict)  # class name -> m/s^2
    init_velocity_std_mps: float = 8.0  # velocity std of a new track without a velocity measurement, m/s
    # Std of a detection's velocity when it carries no ``vel_cov`` (and of a Doppler ``radial``
    # without ``radial_var``), m/s.
    velocity_meas_std_mps: float = 0.5
    # IMM only: turn-rate process noise of the coordinated-turn model (turn acceleration std), rad/s^2.
    turn_accel_std_radps2: float = 0.5
    init_turn_rate_std_radps: float = 0.3  # IMM only: turn-rate std of a new track, rad/s
    # IMM only: mean time an object keeps going straight / keeps turning before it switches, s.
    imm_sojourn_cv_s: float = 4.0
    imm_sojourn_ct_s: float = 2.0

    # --- association ---
    association: str = "mahalanobis"  # "mahalanobis" (x, y with S = HPH' + R) or "iou3d" (AB3DMOT-style)
    # Gate: chi-square probability (2 dof) for the squared Mahalanobis distance, by track class.
    gate_prob: float = 0.9999  # -> d^2 <= 18.4
    gate_prob_per_class: dict[str, float] = field(default_factory=dict)  # class name -> probability
    # Added to d^2 when track and detection labels differ (neither UNKNOWN); soft, never gates.
    class_mismatch_cost: float = 2.0
    iou3d_min: float = 0.01  # iou3d metric: pairs below this 3D IoU are gated out
    # Match confirmed tracks before tentative ones (else newborn tracks, with their wide
    # velocity uncertainty, steal detections from an established track after one missed gate).
    confirmed_first: bool = True
    # Do not start a track from a detection that lies inside a confirmed track's gate
    # (duplicates / split detections of an object already tracked).
    suppress_birth_in_gate: bool = True
    # Compare each detection with its track at the detection's capture time (Detections.time_offset_s,
    # e.g. a rotating LiDAR's per-box point time) instead of the frame stamp.
    use_capture_time: bool = True
    # A shapeless detection (from a sensor with trust_size false: radar) matched to a track whose
    # size a trusted sensor measured gets (half the size difference)^2 more position variance:
    # the detector placed its centre with a class-prior box (see Tracker._shape_slack).
    shape_slack: bool = True
    # Overlapping tracks are one object tracked twice (a split detection, a radar centroid pulled
    # off the box centre): two tracks, at least one confirmed, whose footprints overlap by this
    # fraction of the smaller one and whose velocities differ by at most merge_max_speed_diff_mps
    # for merge_after_s become one (Autoware's overlapped-tracker removal; the wait lets objects
    # that cross or merge lanes pass). merge_min_overlap 0 disables.
    merge_min_overlap: float = 0.5
    merge_max_speed_diff_mps: float = 2.0
    merge_after_s: float = 0.3

    # --- per-sensor trust (see TRUST_FLAGS / DEFAULT_TRUST above) ---
    trust: dict[str, dict[str, bool]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_TRUST))
    spawn_max_velocity_std_mps: float = 1.0  # spawn_needs_velocity: largest velocity std, m/s
    spawn_min_speed_mps: float = 0.5  # spawn_needs_velocity: slowest speed that may spawn, m/s
    untrusted_class_vote_weight: float = 0.0  # class-vote weight of a trust_class=false detection

    # --- track management ---
    min_hits: int = 3  # updates needed (with existence >= existence_confirm) to confirm
    max_age_s: float = 2.0  # delete a track this long without an update, s
    existence_birth: float = 0.4  # existence probability of a new (tentative) track
    existence_confirm: float = 0.6  # existence needed to confirm (with min_hits)
    existence_delete: float = 0.1  # delete a track whose existence falls below this
    existence_max: float = 0.99  # cap, so a long-lived track still dies in bounded time
    existence_hit_logodds: float = 1.0  # log-odds added per update, times the detection score
    existence_miss_logodds_per_s: float = 4.0  # log-odds removed per second without an update
    # Stamps may go back by this much (out-of-order inputs) without a reset; treated as dt = 0, s.
    time_backwards_tolerance_s: float = 0.02

    # --- shape and class ---
    size_alpha: float = 0.3  # exponential smoothing weight of a new size measurement, (0, 1]
    yaw_alpha: float = 0.3  # same for yaw (measurement flipped by pi when that is closer)
    z_alpha: float = 0.3  # same for the box-centre height
    # Turn the box yaw to the velocity heading once speed exceeds this and 2 sigma, m/s (inf: never).
    # "cv": flips the box by pi where it points against the velocity. "imm": also pulls the box yaw
    # to the velocity heading psi = atan2(vy, vx), weighted by the heading's uncertainty against
    # yaw_box_std_rad, so the box turns with the track (and while coasting).
    yaw_from_velocity_min_speed_mps: float = 1.0
    yaw_box_std_rad: float = 0.1  # imm: std assumed for the smoothed box yaw in that fusion, rad
    unknown_vote_weight: float = 0.1  # weight of an UNKNOWN-label detection in the class vote

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad parameter."""

        def fail(name: str, msg: str) -> None:
            raise ValueError(f"TrackerConfig.{name} {msg}, got {getattr(self, name)!r}")

        def finite(name: str) -> float:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                fail(name, "must be a finite number")
            return float(v)

        def positive(name: str) -> None:
            if finite(name) <= 0.0:
                fail(name, "must be > 0")

        def open_unit(name: str) -> None:
            if not 0.0 < finite(name) < 1.0:
                fail(name, "must be in (0, 1)")

        if not isinstance(self.frame_id, str) or not self.frame_id:
            fail("frame_id", "must be a non-empty string")
        for name in (
            "accel_std_mps2",
            "init_velocity_std_mps",
            "velocity_meas_std_mps",
            "max_age_s",
            "turn_accel_std_radps2",
            "init_turn_rate_std_radps",
            "imm_sojourn_cv_s",
            "imm_sojourn_ct_s",
            "spawn_max_velocity_std_mps",
            "yaw_box_std_rad",
        ):
            positive(name)
        for name in ("existence_hit_logodds", "existence_miss_logodds_per_s"):
            positive(name)
        for name in (
            "class_mismatch_cost",
            "time_backwards_tolerance_s",
            "unknown_vote_weight",
            "untrusted_class_vote_weight",
            "spawn_min_speed_mps",
            "merge_max_speed_diff_mps",
            "merge_after_s",
        ):
            if finite(name) < 0.0:
                fail(name, "must be >= 0")
        for name in (
            "gate_prob",
            "existence_birth",
            "existence_confirm",
            "existence_delete",
            "existence_max",
        ):
            open_unit(name)
        for name in ("size_alpha", "yaw_alpha", "z_alpha"):
            if not 0.0 < finite(name) <= 1.0:
                fail(name, "must be in (0, 1]")
        if not 0.0 <= finite("iou3d_min") < 1.0:
            fail("iou3d_min", "must be in [0, 1)")
        if not 0.0 <= finite("merge_min_overlap") <= 1.0:
            fail("merge_min_overlap", "must be in [0, 1] (0 disables)")
        v = self.yaw_from_velocity_min_speed_mps
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or v < 0:
            fail("yaw_from_velocity_min_speed_mps", "must be >= 0 (inf disables)")
        if isinstance(self.min_hits, bool) or not isinstance(self.min_hits, (int, np.integer)):
            fail("min_hits", "must be an integer")
        if self.min_hits < 1:
            fail("min_hits", "must be >= 1")
        for name in ("suppress_birth_in_gate", "confirmed_first", "shape_slack", "use_capture_time"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                fail(name, "must be a bool")
        if self.association not in ASSOCIATION_METRICS:
            fail("association", f"must be one of {ASSOCIATION_METRICS}")
        if self.motion_model not in MOTION_MODELS:
            fail("motion_model", f"must be one of {MOTION_MODELS}")
        self._validate_trust()
        if not self.existence_delete < self.existence_birth < self.existence_max:
            raise ValueError(
                "TrackerConfig needs existence_delete < existence_birth < existence_max, got "
                f"{self.existence_delete}, {self.existence_birth}, {self.existence_max}"
            )
        if not self.existence_delete < self.existence_confirm <= self.existence_max:
            raise ValueError(
                "TrackerConfig needs existence_delete < existence_confirm <= existence_max, got "
                f"{self.existence_delete}, {self.existence_confirm}, {self.existence_max}"
            )
        for name, lo_open, hi_open in (
            ("accel_std_mps2_per_class", 0.0, math.inf),
            ("gate_prob_per_class", 0.0, 1.0),
        ):
            d = getattr(self, name)
            if not isinstance(d, dict):
                fail(name, "must be a dict of class name -> value")
            bad = sorted(str(k) for k in d if k not in ObjectClass.__members__)
            if bad:
                raise ValueError(
                    f"TrackerConfig.{name} has unknown class names {bad}; "
                    f"known: {list(ObjectClass.__members__)}"
                )
            for k, v in d.items():
                ok = not isinstance(v, bool) and isinstance(v, (int, float)) and lo_open < v < hi_open
                if not ok:
                    raise ValueError(
                        f"TrackerConfig.{name}[{k!r}] must be in ({lo_open}, {hi_open}), got {v!r}"
                    )

    def _validate_trust(self) -> None:
        if not isinstance(self.trust, dict):
            raise ValueError(f"TrackerConfig.trust must be a dict sensor -> flags, got {self.trust!r}")
        bad = sorted(str(k) for k in self.trust if k not in SENSOR_BITS)
        if bad:
            raise ValueError(f"TrackerConfig.trust has unknown sensors {bad}; known: {list(SENSOR_BITS)}")
        for sensor, flags in self.trust.items():
            if not isinstance(flags, dict):
                raise ValueError(f"TrackerConfig.trust[{sensor!r}] must be a dict of flags, got {flags!r}")
            bad = sorted(str(k) for k in flags if k not in TRUST_FLAGS)
            if bad:
                raise ValueError(
                    f"TrackerConfig.trust[{sensor!r}] has unknown flags {bad}; known: {list(TRUST_FLAGS)}"
                )
            for k, v in flags.items():
                if not isinstance(v, (bool, np.bool_)):
                    raise ValueError(f"TrackerConfig.trust[{sensor!r}][{k!r}] must be a bool, got {v!r}")

    @classmethod
    def from_dict(cls, d: dict) -> TrackerConfig:
        """Build and validate from a flat or nested dict (e.g. ROS parameters).

        Keys ``"<dict_field>.<CLASS>"`` fill the per-class dicts; ``"trust.<SENSOR>.<flag>"``
        (or nested ``trust: {SENSOR: {flag: value}}``) override single trust flags, the
        others keeping their defaults. Unknown keys raise ``ValueError`` naming all of them.
        """
        names = {f.name for f in fields(cls)}
        dict_fields = {"accel_std_mps2_per_class", "gate_prob_per_class"}
        kwargs: dict = {}
        unknown = []
        for key, value in d.items():
            head, dot, tail = str(key).partition(".")
            if head == "trust":
                trust = kwargs.setdefault("trust", copy.deepcopy(DEFAULT_TRUST))
                sensor, dot2, flag = tail.partition(".")
                if not dot:  # trust: {SENSOR: {flag: v}}
                    items = [(f"{s}.{f}", v) for s, fl in dict(value).items() for f, v in dict(fl).items()]
                elif not dot2:  # trust.SENSOR: {flag: v}
                    items = [(f"{sensor}.{f}", v) for f, v in dict(value).items()]
                else:
                    items = [(tail, value)]
                for name, v in items:
                    sensor, _, flag = name.partition(".")
                    trust.setdefault(sensor, {})[flag] = v
            elif dot and head in dict_fields:
                kwargs.setdefault(head, {})[tail] = value
            elif key in dict_fields:
                kwargs.setdefault(key, {}).update(dict(value))
            elif key in names:
                kwargs[key] = value
            else:
                unknown.append(str(key))
        if unknown:
            raise ValueError(f"TrackerConfig: unknown parameters {sorted(unknown)}; known: {sorted(names)}")
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    # --- derived tables, indexed by ObjectClass value ---
    def accel_std_table(self) -> np.ndarray:
        """(NUM_CLASSES,) acceleration std per class, m/s^2."""
        t = np.full(NUM_CLASSES, float(self.accel_std_mps2))
        for k, v in self.accel_std_mps2_per_class.items():
            t[ObjectClass[k]] = float(v)
        return t

    def gate_table(self) -> np.ndarray:
        """(NUM_CLASSES,) squared-Mahalanobis gate per class (chi-square, 2 dof)."""
        p = np.full(NUM_CLASSES, float(self.gate_prob))
        for k, v in self.gate_prob_per_class.items():
            p[ObjectClass[k]] = float(v)
        return -2.0 * np.log1p(-p)

    def trust_tables(self) -> dict[str, np.ndarray]:
        """Per-flag lookup tables (16,) bool indexed by a detection's ``sensors & 15``.

        A detection supported by several sensors gets a flag if any of them has
        it; ``spawn_plain`` / ``spawn_velocity``: some sensor may spawn without / only
        with a well-measured velocity. Mask 0 (source unknown) is fully trusted.
        Flags missing from ``trust`` take :data:`DEFAULT_TRUST`'s values.
        """
        full = copy.deepcopy(DEFAULT_TRUST)
        for sensor, flags in self.trust.items():
            full[sensor].update(flags)
        masks = np.arange(16)
        out = {k: masks == 0 for k in ("may_update", "trust_class", "trust_size", "trust_yaw")}
        out["spawn_plain"] = masks == 0
        out["spawn_velocity"] = np.zeros(16, bool)
        for sensor, bit in SENSOR_BITS.items():
            has = (masks & bit) != 0
            f = full[sensor]
            for k in ("may_update", "trust_class", "trust_size", "trust_yaw"):
                out[k] |= has & bool(f[k])
            if f["may_spawn"] and f["may_update"]:
                key = "spawn_velocity" if f["spawn_needs_velocity"] else "spawn_plain"
                out[key] |= has
        return out

    def logit(self, name: str) -> float:
        """Log-odds of the probability parameter ``name``."""
        return _logit(float(getattr(self, name)))
