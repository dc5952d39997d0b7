"""Tracker parameters, declared in the configuration schema (:mod:`sensor_fusion.core.schema`).

``TrackerConfig`` is re-exported by :mod:`sensor_fusion.tracking.tracker`.
Per-class overrides are dicts keyed by ``ObjectClass`` names (``"PEDESTRIAN"``);
ROS parameters flatten them to dotted names (``gate_prob_per_class.PEDESTRIAN``),
which :meth:`TrackerConfig.from_dict` folds back; a class set to NaN (the declared
default of every class) takes the global value. The per-sensor ``trust`` table
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
from dataclasses import dataclass

import numpy as np

from sensor_fusion.core.classes import (
    NUM_CLASSES,
    SENSOR_BEV,
    SENSOR_CAMERA,
    SENSOR_LIDAR,
    SENSOR_RADAR,
    ObjectClass,
)
from sensor_fusion.core.schema import ParamConfig, internal, param

ASSOCIATION_METRICS = ("mahalanobis", "iou3d")
MOTION_MODELS = ("cv", "imm")
SCORE_MAPS = ("probability", "logit", "unranked")
SENSOR_BITS = {"LIDAR": SENSOR_LIDAR, "RADAR": SENSOR_RADAR, "CAMERA": SENSOR_CAMERA, "BEV": SENSOR_BEV}
CLASS_NAMES = tuple(ObjectClass.__members__)
# Per-sensor trust flags (Autoware multi_object_tracker's input-channel flags, plus may_update)
TRUST_FLAG_DESC = {
    "may_update": "detections from it update tracks at all (false: ignored)",
    "may_spawn": "a detection from it may start a track",
    "spawn_needs_velocity": "a detection from it starts a track only if it carries a full velocity with "
    "std <= spawn_max_velocity_std_mps and speed >= spawn_min_speed_mps (radar: moving, well-measured "
    "targets)",
    "trust_class": "its label votes with full weight (else untrusted_class_vote_weight)",
    "trust_size": "its box size / height update the track's (else only until a trusted one)",
    "trust_yaw": "its box yaw updates the track's (else only until a trusted one)",
}
TRUST_FLAGS = tuple(TRUST_FLAG_DESC)
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
class TrackerConfig(ParamConfig):
    """Parameters of :class:`~sensor_fusion.tracking.tracker.Tracker` (SI units)."""

    # Fixed frame the detections are in and the tracks are reported in.
    frame_id: str = internal("odom", "the pipeline's tracking frame (fixed_frame, or base_frame without ego)")
    moving_frame: bool = internal(
        False,
        "frame_id moves with the vehicle (base_link before the heading is known): the stopped model "
        "is off there (at rest in it is moving with the vehicle); a change of frame ends it",
    )

    # --- motion model ---
    motion_model: str = param(
        "imm",
        unit="",
        choices=MOTION_MODELS,
        desc="cv: one constant-velocity Kalman filter on (x, y, vx, vy) (AB3DMOT-style baseline); "
        "imm: IMM of constant velocity and coordinated turn on (x, y, vx, vy, turn rate)",
    )
    accel_std_mps2: float = param(
        1.0, unit="m/s^2", gt=0.0, desc="Process noise (all models): acceleration std"
    )
    accel_std_mps2_per_class: dict[str, float] = param(
        {},
        unit="m/s^2",
        gt=0.0,
        keys=(CLASS_NAMES,),
        nan="accel_std_mps2",
        item=lambda k: f"{k[0]} tracks",
        desc="Process-noise acceleration std by track class, overriding accel_std_mps2",
    )
    init_velocity_std_mps: float = param(
        8.0, unit="m/s", gt=0.0, desc="Velocity std of a new track without a velocity measurement"
    )
    velocity_meas_std_mps: float = param(
        0.5,
        unit="m/s",
        gt=0.0,
        desc="Std of a detection's velocity when it carries no vel_cov (and of a Doppler radial without "
        "radial_var)",
    )
    turn_accel_std_radps2: float = param(
        0.5, unit="rad/s^2", gt=0.0, desc="IMM only: turn-rate process noise of the coordinated-turn model"
    )
    init_turn_rate_std_radps: float = param(
        0.3, unit="rad/s", gt=0.0, desc="IMM only: turn-rate std of a new track"
    )
    max_lateral_accel_mps2: float = param(
        8.0,
        unit="m/s^2",
        gt=0.0,
        inf_ok=True,
        desc="IMM only: the turning model's turn rate is held to |w| <= this / speed (lateral "
        "acceleration v w). 8: tyre-road friction on dry asphalt (about 0.8 g) bounds what any road "
        "vehicle can do; without the bound a track pulled sideways by a neighbour's boxes turned "
        "at 1 rad/s at 25 m/s (2.5 g) into the oncoming lane (the highway velocity tails; inf: off)",
    )
    imm_sojourn_cv_s: float = param(
        4.0, unit="s", gt=0.0, desc="IMM only: mean time an object keeps going straight before it turns"
    )
    imm_sojourn_ct_s: float = param(
        2.0, unit="s", gt=0.0, desc="IMM only: mean time an object keeps turning before it goes straight"
    )
    imm_sojourn_stop_s: float = param(
        30.0,
        unit="s",
        ge=0.0,
        desc="IMM only: mean time an object stays stopped, the sojourn of a third, stopped model (0: "
        "none, the CV + CT IMM). 30: a red phase at a signal (30-60 s), the shortest common stop of "
        "traffic; parked cars stand far longer. Without it a track on a parked car took the "
        "neighbour's box 2.5 m away as motion and hopped along the row (docs/detection-tracking.md)",
    )

    # --- association ---
    association: str = param(
        "mahalanobis",
        unit="",
        choices=ASSOCIATION_METRICS,
        desc="mahalanobis: on (x, y) with S = HPH' + R; iou3d: 3D IoU (AB3DMOT-style)",
    )
    gate_prob: float = param(
        0.9999,
        unit="1",
        gt=0.0,
        lt=1.0,
        desc="Gate: chi-square probability (2 dof) for the squared Mahalanobis distance (0.9999: "
        "d^2 <= 18.4)",
    )
    gate_prob_per_class: dict[str, float] = param(
        {},
        unit="1",
        gt=0.0,
        lt=1.0,
        keys=(CLASS_NAMES,),
        nan="gate_prob",
        item=lambda k: f"{k[0]} tracks",
        desc="Gate probability by track class, overriding gate_prob",
    )
    velocity_gate: bool = param(
        True,
        unit="",
        desc="Mahalanobis association: on a track whose velocity a sensor has measured, a detection's "
        "measured velocity or Doppler must lie inside the gate too (chi-square at the class's gate "
        "probability, 2 / 1 dof), not its position alone (an oncoming car's radar cluster beside a far "
        "track has the opposite Doppler); births stay suppressed by the position gate",
    )

    class_mismatch_cost: float = param(
        2.0,
        unit="1",
        ge=0.0,
        desc="Added to d^2 when track and detection labels differ (neither UNKNOWN); soft, never gates",
    )
    iou3d_min: float = param(
        0.01, unit="1", ge=0.0, lt=1.0, desc="iou3d association: pairs below this 3D IoU are gated out"
    )
    confirmed_first: bool = param(
        True,
        unit="",
        desc="Match confirmed tracks before tentative ones (else newborn tracks, with their wide velocity "
        "uncertainty, steal detections from an established track after one missed gate)",
    )
    suppress_birth_in_gate: bool = param(
        True,
        unit="",
        desc="Start no track from a detection inside a confirmed track's gate (a duplicate or split "
        "detection)",
    )
    use_capture_time: bool = param(
        True,
        unit="",
        desc="Compare each detection with its track at the detection's capture time (time_offset_s, e.g. "
        "a rotating LiDAR's per-box point time) instead of the frame stamp",
    )
    shape_slack: bool = param(
        True,
        unit="",
        desc="A shapeless detection (trust_size false: radar) matched to a track whose size a trusted sensor "
        "measured gets (half the size difference)^2 more position variance (class-prior box centre)",
    )
    anchor_near_face: bool = param(
        False,
        unit="",
        desc="A box whose sensor's box_extent is visible and whose extent differs from the track's "
        "measures the faces nearer that sensor: the update takes the centre a box of the track's extent "
        "would have with those faces, and the track's centre follows its size as the size is smoothed "
        "(Autoware's anchor point), so a box that grows as more of its object comes into view does not "
        "read as motion; needs the sensor views passed to step(). Off: on open roads it cut the 20-seed "
        "velocity RMSE medians by 0.03-0.15 m/s, in the street canyon (urban_clutter, parked-car rows) "
        "it raised velocity RMSE by 0.10-0.49 m/s and ID switches (docs/detection-tracking.md)",
    )
    box_extent: dict[str, str] = param(
        {"LIDAR": "object", "RADAR": "object", "CAMERA": "object", "BEV": "object"},
        unit="",
        choices=("object", "visible"),
        keys=(tuple(SENSOR_BITS),),
        item=lambda k: f"{k[0]} detections' boxes",
        desc="What each detector's boxes span: object (a learned detector's box of the whole object, its "
        "extent errors symmetric) or visible (a point cluster's box, ending where the returns did: the "
        "faces its sensor saw; anchor_near_face uses it). The pipeline sets LIDAR's from "
        "detector.box_extent, its classical detector's",
    )
    merge_min_overlap: float = param(
        0.5,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Two tracks (one confirmed) whose footprints overlap by this fraction of the smaller one, with "
        "velocities within merge_max_speed_diff_mps for merge_after_s, are one object and merge "
        "(Autoware's overlapped-tracker removal); 0 disables",
    )
    merge_max_speed_diff_mps: float = param(
        2.0, unit="m/s", ge=0.0, desc="Largest velocity difference of two tracks that merge"
    )
    merge_after_s: float = param(
        0.3, unit="s", ge=0.0, desc="Overlap must last this long before a merge (lets crossing objects pass)"
    )

    # --- per-sensor trust (see TRUST_FLAGS / DEFAULT_TRUST above) ---
    trust: dict[str, dict[str, bool]] = param(
        DEFAULT_TRUST,
        unit="",
        keys=(tuple(SENSOR_BITS), TRUST_FLAGS),
        item=lambda k: f"{k[0]}: {TRUST_FLAG_DESC[k[1]]}",
        desc="Per-sensor trust (Autoware multi_object_tracker's input-channel flags, plus may_update), by "
        "the sensor bits of a detection's sensors mask; a detection from several sensors gets a flag "
        "if any has it",
    )
    spawn_max_velocity_std_mps: float = param(
        1.0, unit="m/s", gt=0.0, desc="spawn_needs_velocity: largest velocity std that may start a track"
    )
    spawn_min_speed_mps: float = param(
        0.5, unit="m/s", ge=0.0, desc="spawn_needs_velocity: slowest speed that may start a track"
    )
    score_map: dict[str, str] = param(
        {"LIDAR": "probability", "RADAR": "probability", "CAMERA": "probability", "BEV": "probability"},
        unit="",
        choices=SCORE_MAPS,
        keys=(tuple(SENSOR_BITS),),
        item=lambda k: f"{k[0]} detections' scores",
        desc="What each detector's score is: probability (in [0, 1], used as is), logit (any real, "
        "mapped through the sigmoid) or unranked (in [0, 1], but it does not rank real boxes above false "
        "ones, as the classical LiDAR detector's shape and point-count score: its detections are not "
        "dropped below score_low and may start tracks below score_high, the stage order staying; the "
        "pipeline sets LIDAR's from detector.score_kind, its classical detector's); the thresholds and "
        "existence evidence below read probabilities",
    )
    score_high: float = param(
        0.3,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Two-stage association (ByteTrack): detections scoring at least this are matched first and "
        "may start tracks; lower ones (down to score_low) only extend tracks left unmatched and never "
        "start one (0: one stage). 0.3: a learned detector's false positives score mostly below it "
        "(sim/detection_stream.py); the classical LiDAR detector's scores do not rank (score_map unranked)",
    )
    score_low: float = param(
        0.1,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Detections scoring below this are dropped (a real detector's false positives crowd below "
        "0.1; CenterPoint's tracker input and our BEV network publish from 0.1)",
    )
    low_score_gate_prob: float = param(
        0.99,
        unit="1",
        gt=0.0,
        lt=1.0,
        desc="Gate (chi-square probability, 2 dof) of the second stage: a low-score detection extends a "
        "track only this close (0.99: d^2 <= 9.2, against gate_prob's 18.4). ByteTrack's second stage "
        "likewise asks more overlap of low-score boxes: they are likelier another object's weak, "
        "uncertain box (at 100 m a neighbouring lane's car pulled a track into the oncoming lane)",
    )
    detection_data: dict[str, str] = param(
        {"LIDAR": "LIDAR", "RADAR": "RADAR", "CAMERA": "CAMERA", "BEV": "LIDAR"},
        unit="",
        choices=tuple(SENSOR_BITS),
        keys=(tuple(SENSOR_BITS),),
        item=lambda k: f"{k[0]} detections",
        desc="The sensor whose data each detector runs on. Detectors on the same data miss together (an "
        "object with few points or behind another is missed by the classical LiDAR detector and the BEV "
        "network on the same sweep alike), so a miss by both costs log(1 - max Pd), not the sum of "
        "independent misses (log(0.01) = -4.6 for two 0.9 detectors: a confirmed track's whole existence "
        "in one frame). BEV: LIDAR (the network runs on the LiDAR sweep)",
    )
    detection_prob: dict[str, float] = param(
        {"LIDAR": 0.9, "RADAR": 0.0, "CAMERA": 0.0, "BEV": 0.9},
        unit="1",
        ge=0.0,
        lt=1.0,
        keys=(tuple(SENSOR_BITS),),
        item=lambda k: f"{k[0]}",
        desc="Probability that a sensor's detector reports an object in plain view close by, for the "
        "existence evidence of a miss (log(1 - Pd), where coverage is given). LiDAR/BEV 0.9: a "
        "learned or clustering detector's recall of unoccluded objects at a tracker's score "
        "threshold; RADAR 0: it reports moving objects only, so its silence says nothing of a "
        "stationary one; CAMERA 0: cameras relabel boxes, they do not report their own",
    )
    miss_repeat_prob: float = param(
        0.8,
        unit="1",
        ge=0.0,
        lt=1.0,
        desc="Probability that a detector misses an existing object again in the frame after a miss: "
        "misses come in bursts (occlusion, a hard viewpoint, a weak return stays weak), so a repeated "
        "miss is weaker evidence: its detection probability is Pd (1 - this). 0.8: bursts of about 5 "
        "frames, as a learned detector's misses of one object on KITTI run",
    )
    detection_range50_m: dict[str, float] = param(
        {"LIDAR": 70.0, "RADAR": 100.0, "CAMERA": 50.0, "BEV": 50.0},
        unit="m",
        gt=0.0,
        inf_ok=True,
        keys=(tuple(SENSOR_BITS),),
        item=lambda k: f"{k[0]}",
        desc="Range at which a sensor's detection probability halves (logistic, width range/7; inf: "
        "flat to the view's range). LiDAR 70 m: car recall of 64-beam detectors on Waymo/KITTI by range",
    )
    occluded_detection_drop: float = param(
        0.7,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="Fraction by which a track's detection probability drops while a nearer confirmed track "
        "hides occlusion_min_overlap of its bearing extent from the sensor (KITTI's hard objects: "
        "detected far less often; a LiDAR still sees over cars, hence not 1)",
    )
    occlusion_min_overlap: float = param(
        0.5, unit="1", gt=0.0, le=1.0, desc="Fraction of a track's bearing extent hidden to count as occluded"
    )
    untrusted_class_vote_weight: float = param(
        0.0, unit="1", ge=0.0, desc="Class-vote weight of a detection from a trust_class=false sensor"
    )

    # --- track management ---
    min_hits: int = param(
        3, unit="1", ge=1, desc="Updates needed (with existence >= existence_confirm) to confirm"
    )
    confirm_max_velocity_std_mps: float = param(
        2.0,
        unit="m/s",
        gt=0.0,
        inf_ok=True,
        desc="Confirm a track only once its velocity std (largest axis) is this small: a planner predicts "
        "with the velocity, and at 2 m/s a 1 s prediction is already off by a car's width; a new track's "
        "velocity starts at init_velocity_std_mps and a LiDAR-only track needs about 5 updates to get "
        "here (min_hits alone published tracks with 6 m/s velocity std: the velocity tails; inf: off)",
    )
    max_age_s: float = param(2.0, unit="s", gt=0.0, desc="Delete a track this long without an update")
    keep_lost_tracks: bool = param(
        True,
        unit="",
        desc="A confirmed track whose existence falls below existence_delete is kept, unpublished, until "
        "max_age_s without an update (ByteTrack's lost tracks; not merged until found again): a "
        "detection it gates that could start a track (a box at or above score_high, a radar return "
        "with a well-measured velocity; low-score clutter where a false track stood does not wake it) "
        "takes it back under its id, with its state and class votes, its existence restarting at "
        "existence_birth, and it is published again once confirmed as a new track would be (min_hits, "
        "existence_confirm). Why: a parked car the BEV network reported every other frame lost its "
        "track in two misses and came back under a new id, an ID switch each time (canyon bags: 102 "
        "of 106 switches were of a track no longer published). False: such a track is deleted",
    )
    existence_birth: float = param(
        0.4, unit="1", gt=0.0, lt=1.0, desc="Existence probability of a new (tentative) track"
    )
    existence_confirm: float = param(
        0.6, unit="1", gt=0.0, lt=1.0, desc="Existence needed to confirm a track (with min_hits)"
    )
    existence_delete: float = param(
        0.1, unit="1", gt=0.0, lt=1.0, desc="Delete a track whose existence falls below this"
    )
    existence_max: float = param(
        0.99, unit="1", gt=0.0, lt=1.0, desc="Existence cap, so a long-lived track still dies in bounded time"
    )
    existence_hit_logodds: float = param(
        1.0, unit="1", gt=0.0, desc="Log-odds added per update, times the detection score"
    )
    existence_miss_logodds_per_s: float = param(
        4.0,
        unit="1/s",
        gt=0.0,
        desc="Log-odds removed per second without an update in a frame that says nothing of what the "
        "sensors could see (no coverage given: every miss is assumed in view)",
    )
    radar_update_hides_box_miss: bool = param(
        False,
        unit="",
        desc="With coverage given: whether an update by radar-only detections spares a track the box "
        "detectors' miss (log(1 - Pd) of the LiDAR/BEV views it was in). False: radar (Pd 0: it reports "
        "moving returns, ghosts and clutter among them) says nothing of whether the LiDAR, which had the "
        "object in view, missed it; a radar ghost in a LiDAR's plain view is not kept alive by radar",
    )
    existence_unseen_logodds_per_s: float = param(
        0.5,
        unit="1/s",
        ge=0.0,
        desc="With coverage given: log-odds removed per second from every track not updated (that the "
        "object may have gone where no sensor notices it); a miss in view adds log(1 - Pd) per frame",
    )
    keep_tracks_on_frame_change: bool = param(
        True,
        unit="",
        desc="When the ego heading becomes known and tracking moves from base_link to odom, carry every "
        "track over (position, velocity relative to the vehicle made absolute, covariance, id); false: "
        "drop them all and start again (each object re-confirmed under a new id)",
    )
    output_max_coast_s: float = param(
        0.15,
        unit="s",
        ge=0.0,
        inf_ok=True,
        desc="Publish a confirmed track only if updated this recently (about one 10 Hz frame plus jitter: "
        "a planner acts on what was seen; older coasting tracks stay internal for re-identification "
        "until max_age_s or existence ends them; inf: publish every confirmed track)",
    )
    time_backwards_tolerance_s: float = param(
        0.02,
        unit="s",
        ge=0.0,
        desc="Stamps may go back this much (out-of-order inputs) without a reset; treated as dt = 0",
    )

    # --- shape and class ---
    size_alpha: float = param(
        0.3, unit="1", gt=0.0, le=1.0, desc="Exponential smoothing weight of a new size measurement"
    )
    yaw_alpha: float = param(
        0.3,
        unit="1",
        gt=0.0,
        le=1.0,
        desc="Smoothing weight of a new box yaw (flipped by pi when that is closer)",
    )
    z_alpha: float = param(0.3, unit="1", gt=0.0, le=1.0, desc="Smoothing weight of a new box-centre height")
    yaw_from_velocity_min_speed_mps: float = param(
        1.0,
        unit="m/s",
        ge=0.0,
        inf_ok=True,
        desc="Turn the box yaw to the velocity heading once speed exceeds this and 2 sigma (inf: never); "
        "cv: flips the box by pi where it points against the velocity; imm: also pulls it to "
        "atan2(vy, vx), weighted by the heading's uncertainty against yaw_box_std_rad",
    )
    yaw_box_std_rad: float = param(
        0.1, unit="rad", gt=0.0, desc="imm: std assumed for the smoothed box yaw in that fusion"
    )
    unknown_vote_weight: float = param(
        0.1, unit="1", ge=0.0, desc="Weight of an UNKNOWN-label detection in the class vote"
    )

    def cross_checks(self) -> list[str]:
        out = []
        if not isinstance(self.frame_id, str) or not self.frame_id:
            out.append(f"frame_id: must be a non-empty string, got {self.frame_id!r}")
        if not self.existence_delete < self.existence_birth < self.existence_max:
            out.append(
                "existence_birth: need existence_delete < existence_birth < existence_max, got "
                f"{self.existence_delete}, {self.existence_birth}, {self.existence_max}"
            )
        if not self.existence_delete < self.existence_confirm <= self.existence_max:
            out.append(
                "existence_confirm: need existence_delete < existence_confirm <= existence_max, got "
                f"{self.existence_delete}, {self.existence_confirm}, {self.existence_max}"
            )
        if self.score_high > 0.0 and self.score_low > self.score_high:
            out.append(f"score_low: must be <= score_high, got {self.score_low} > {self.score_high}")
        return out

    # --- derived tables, indexed by ObjectClass value ---
    def accel_std_table(self) -> np.ndarray:
        """(NUM_CLASSES,) acceleration std per class, m/s^2."""
        t = np.full(NUM_CLASSES, float(self.accel_std_mps2))
        for k, v in self.accel_std_mps2_per_class.items():
            if not math.isnan(v):  # NaN: the class takes accel_std_mps2
                t[ObjectClass[k]] = float(v)
        return t

    def gate_prob_table(self) -> np.ndarray:
        """(NUM_CLASSES,) gate probability per class."""
        p = np.full(NUM_CLASSES, float(self.gate_prob))
        for k, v in self.gate_prob_per_class.items():
            if not math.isnan(v):  # NaN: the class takes gate_prob
                p[ObjectClass[k]] = float(v)
        return p

    def gate_table(self) -> np.ndarray:
        """(NUM_CLASSES,) squared-Mahalanobis gate per class (chi-square, 2 dof)."""
        return -2.0 * np.log1p(-self.gate_prob_table())

    def trust_tables(self) -> dict[str, np.ndarray]:
        """Per-flag lookup tables (16,) bool indexed by a detection's ``sensors & 15``.

        A detection supported by several sensors gets a flag if any of them has
        it; ``spawn_plain`` / ``spawn_velocity``: some sensor may spawn without / only
        with a well-measured velocity; ``score_logit`` / ``score_unranked``: some sensor's scores are
        logits / unranked (see ``score_map``).
        Mask 0 (source unknown) is fully trusted.
        Flags missing from ``trust`` take :data:`DEFAULT_TRUST`'s values.
        """
        full = copy.deepcopy(DEFAULT_TRUST)
        for sensor, flags in self.trust.items():
            full[sensor].update(flags)
        masks = np.arange(16)
        out = {k: masks == 0 for k in ("may_update", "trust_class", "trust_size", "trust_yaw")}
        out["score_logit"] = np.zeros(16, bool)
        out["score_unranked"] = np.zeros(16, bool)
        for sensor, bit in SENSOR_BITS.items():
            kind = self.score_map.get(sensor, "probability")
            if kind in ("logit", "unranked"):
                out[f"score_{kind}"] |= (masks & bit) != 0
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

    def data_table(self) -> dict[int, int]:
        """``detection_data`` keyed by ``SENSOR_*`` bit: the bit of the sensor whose data it uses."""
        return {SENSOR_BITS[k]: SENSOR_BITS[v] for k, v in self.detection_data.items()}

    def sensor_table(self, name: str) -> dict[int, float]:
        """A per-sensor float parameter keyed by ``SENSOR_*`` bit."""
        return {SENSOR_BITS[k]: float(v) for k, v in getattr(self, name).items()}

    def logit(self, name: str) -> float:
        """Log-odds of the probability parameter ``name``."""
        return _logit(float(getattr(self, name)))
