"""What a real 3D detector outputs, generated from the world: a stream of boxes for tracker tests.

The sensor simulators feed our own detectors, which see every object of a 360-degree LiDAR and
rarely hallucinate; a tracker tuned there never meets a deployed detector's failure modes. This
module emits, per LiDAR frame, the boxes a learned LiDAR detector (PointRCNN, CenterPoint, ...)
would: a limited field of view, misses that grow with range and occlusion and come in bursts,
low-score false positives (some persisting at fixed world places, as static structure does),
jittered boxes and a realistic score distribution, per class. It reads only the World's public
queries (``ego_at``, ``ego_arrays``, ``actors_at``, ``t0_ns``, ``t_end_ns``), so it works on any
``WorldView`` that also has a trajectory.

Model (every number below is a field of :class:`DetectionStreamConfig`):

* **Field of view.** A sector of ``fov_deg`` (default 90, a front camera's view: KITTI labels only
  exist inside the camera image and KITTI detectors such as PointRCNN are trained on the points
  in it) around the vehicle's heading, from the ``sensor_frame``'s position (the roof LiDAR),
  between ``min_range_m`` and ``max_range_m`` (80 m: KITTI labels reach about that far).
* **Visibility.** :func:`~.visibility.visibility` computes for every object the fraction of its angular
  extent, as seen from the sensor, that is hidden by nearer objects (per azimuth bin, the fraction
  of its vertical extent below a nearer object's silhouette: a roof LiDAR sees over a car onto a
  truck behind it, not onto a pedestrian) or cut off by the field of view's edge (truncation).
* **Detection probability.** ``p = p_near / (1 + exp((r - range50_m) / range_width_m))`` times
  ``clip((v - occlusion_v0) / (occlusion_v1 - occlusion_v0), 0, 1)`` for visible fraction ``v``,
  perturbed in log-odds by a per-object AR(1) latent state (std ``latent_std``, time constant
  ``latent_tau_s``), so a hard object stays hard for a while and misses come in bursts.
  Published range breakdowns read (approximately) as: on the Waymo Open Dataset (Sun et al.,
  CVPR 2020, and the PV-RCNN and CenterPoint papers' tables) vehicle 3D AP is about 0.8-0.9
  within 30 m, 0.6-0.75 at 30-50 m and 0.3-0.55 beyond 50 m, pedestrians lower and falling
  faster; nuScenes' CenterPoint evaluation stops at 50 m for vehicles and 40 m for pedestrians
  and cyclists because detections beyond are unreliable. Recall at a tracker's operating point
  (scores >= 0.1) lies above AP, hence ``p_near`` 0.95 for cars (0.85 for pedestrians and
  cyclists) and half-recall ranges of 70 m (cars), 75 m (large vehicles), 45-50 m (vulnerable
  road users). KITTI's hard category (occlusion level 2, truncation up to 50%) costs PointRCNN
  about 8-10 AP points against moderate (car 3D AP about 86 / 76 / 68 easy / moderate / hard on
  the test set), and an object under about a tenth visible is essentially never detected:
  occlusion_v0 0.1, occlusion_v1 0.6.
* **Boxes.** Centre error anisotropic in the sensor frame (along the line of sight 1.5x across
  it: a LiDAR sees the near faces, the far extent is inferred), std ``pos_std_m + pos_std_per_m
  * r`` (cars about 0.15 m close, 0.4 m at 60 m: what a 3D IoU of 0.7 tolerates at short range),
  with ``outlier_prob`` of errors ``outlier_scale`` times larger (heavy tails of learned
  regressors); sizes log-normal (``size_std_frac``) and yaw normal, both stds times
  ``1 + r / growth_range_m`` (twice as large at 50 m: fewer points constrain extent and
  heading), yaw also flipped by pi with ``yaw_flip_prob`` (heading-bin confusions; pedestrians'
  headings are barely determined).
  ``pos_cov`` carries the nominal (outlier-free) covariance, as a calibrated error model would.
  Labels swap by the ``confusion`` table (truck as car, bus as truck, cyclist as pedestrian).
  No velocity (PointRCNN-like) unless ``velocity_std_mps`` > 0 (CenterPoint-like).
* **Scores.** True positives: ``sigmoid(score_tp_offset + score_tp_gain * logit(p) + N(0,
  score_tp_std))`` with ``p`` the object's current detection probability: close, clear objects
  score about 0.9, far or occluded ones 0.3-0.6, spread over the whole range. False positives:
  ``sigmoid(N(score_fp_mean, score_fp_std))``, mostly below 0.3 with a tail overlapping the true
  positives'. Detections below ``score_min`` (0.1, the threshold CenterPoint's tracker input
  and our BEV network publish at) are dropped.
* **False positives.** Random ones (Poisson, ``fp_random_per_frame`` per frame before the
  score threshold, uniform over the field of view's area) and static-structure ones: sites
  (``fp_sites_per_100m`` per side of the ego path, ``fp_site_lateral_m`` off it, each with a
  fixed class, box and base score) that switch on for episodes (probability ``fp_site_on_prob``
  per frame while in view within ``fp_site_max_range_m``, mean ``fp_site_mean_frames`` frames),
  the persistent false detections a tracker confirms. On the real KITTI benchmark AB3DMOT,
  which passes nearly every matched detection through, reaches precision 0.66 at recall 0.92 on
  PointRCNN's boxes (issue 14's measurement), so a real raw stream has at most about that
  precision at its operating point. With these rates the stream's raw precision (score >= 0.1,
  truth in view) is about 0.65 (0.95 at score >= 0.5), its recall 0.6-0.75 over the whole 80 m
  view and about 0.85 within 30 m (urban and highway, seeds 401-405, 20 s; the tests check the
  ranges on another seed).

Deterministic per seed: the stream draws from its own generator (``stream_rng(seed,
"detection_stream")``), so it never shifts the sensor streams' noise.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields

import numpy as np

from ..core.classes import SENSOR_LIDAR, ObjectClass
from ..core.geometry import wrap_angle
from ..core.types import Detections
from .scenarios import stream_rng
from .state import ActorStates
from .visibility import SensorPose, Visibility, sensor_pose, visibility

# Per-class model; classes absent from ``DetectionStreamConfig.classes`` use CAR's.
CLASS_KEYS = (
    "p_near",  # detection probability of a fully visible object close by
    "range50_m",  # range at which it halves, m
    "range_width_m",  # logistic width of the fall-off, m
    "pos_std_m",  # centre error std across the line of sight at 0 m, m
    "pos_std_per_m",  # growth of that std per metre of range
    "size_std_frac",  # log-normal size error std (fraction)
    "yaw_std_rad",
    "yaw_flip_prob",
)
DEFAULT_CLASSES: dict[str, dict[str, float]] = {
    "CAR": dict(p_near=0.95, range50_m=70.0, range_width_m=10.0, pos_std_m=0.12, pos_std_per_m=0.004,
                size_std_frac=0.05, yaw_std_rad=0.05, yaw_flip_prob=0.03),
    "TRUCK": dict(p_near=0.9, range50_m=75.0, range_width_m=12.0, pos_std_m=0.25, pos_std_per_m=0.006,
                  size_std_frac=0.1, yaw_std_rad=0.05, yaw_flip_prob=0.05),
    "BUS": dict(p_near=0.9, range50_m=75.0, range_width_m=12.0, pos_std_m=0.25, pos_std_per_m=0.006,
                size_std_frac=0.1, yaw_std_rad=0.05, yaw_flip_prob=0.05),
    "TRAILER": dict(p_near=0.9, range50_m=75.0, range_width_m=12.0, pos_std_m=0.25, pos_std_per_m=0.006,
                    size_std_frac=0.1, yaw_std_rad=0.05, yaw_flip_prob=0.05),
    "PEDESTRIAN": dict(p_near=0.85, range50_m=45.0, range_width_m=8.0, pos_std_m=0.1, pos_std_per_m=0.004,
                       size_std_frac=0.1, yaw_std_rad=0.5, yaw_flip_prob=0.3),
    "BICYCLE": dict(p_near=0.85, range50_m=50.0, range_width_m=8.0, pos_std_m=0.12, pos_std_per_m=0.004,
                    size_std_frac=0.1, yaw_std_rad=0.15, yaw_flip_prob=0.1),
    "MOTORCYCLE": dict(p_near=0.85, range50_m=50.0, range_width_m=8.0, pos_std_m=0.12, pos_std_per_m=0.004,
                       size_std_frac=0.1, yaw_std_rad=0.15, yaw_flip_prob=0.1),
}  # fmt: skip
# Typical boxes (l, w, h) of false positives by the class they are reported as, m.
FP_SIZES = {
    "CAR": (4.4, 1.8, 1.5),
    "TRUCK": (7.5, 2.5, 3.0),
    "PEDESTRIAN": (0.7, 0.7, 1.7),
    "BICYCLE": (1.8, 0.6, 1.7),
}
ALONG_LOS_FACTOR = 1.5  # centre error along the line of sight / across it (see the docstring)


@dataclass
class DetectionStreamConfig:
    """Parameters of :class:`DetectionStream` (SI units; see the module docstring for the reasons)."""

    frame_id: str = "odom"  # boxes are reported in the world frame the bag's truth uses
    sensor_frame: str = "lidar_top"  # calibration frame of the sensor: range, occlusion origin
    fov_deg: float = 90.0
    fov_center_deg: float = 0.0  # the sector's axis relative to the vehicle heading, deg
    min_range_m: float = 1.0
    max_range_m: float = 80.0
    occlusion_v0: float = 0.1  # visible fraction at which detection becomes possible
    occlusion_v1: float = 0.6  # ... and from which occlusion no longer matters
    care_min_visible: float = 0.1  # truth less visible than this is "don't care" (no points: no label)
    latent_std: float = 0.8  # log-odds std of the per-object difficulty state
    latent_tau_s: float = 0.5  # its correlation time, s
    classes: dict[str, dict[str, float]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_CLASSES))
    confusion: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "TRUCK": {"CAR": 0.08},
            "BUS": {"TRUCK": 0.1},
            "BICYCLE": {"PEDESTRIAN": 0.05},
            "PEDESTRIAN": {"BICYCLE": 0.02},
            "CAR": {"TRUCK": 0.01},
        }
    )
    growth_range_m: float = 50.0  # size and yaw error stds grow by (1 + range / this)
    outlier_prob: float = 0.03
    outlier_scale: float = 4.0
    velocity_std_mps: float = 0.0  # > 0: boxes carry a velocity with this noise (CenterPoint-like)
    score_tp_offset: float = 0.5
    score_tp_gain: float = 0.6
    score_tp_std: float = 0.7
    score_fp_mean: float = -2.0  # log-odds
    score_fp_std: float = 1.0
    score_min: float = 0.1
    fp_random_per_frame: float = 1.5
    fp_class_probs: dict[str, float] = field(
        default_factory=lambda: {"CAR": 0.5, "PEDESTRIAN": 0.35, "BICYCLE": 0.1, "TRUCK": 0.05}
    )
    fp_sites_per_100m: float = 3.0  # per side of the ego path
    fp_site_lateral_m: tuple[float, float] = (6.0, 20.0)
    fp_site_max_range_m: float = 50.0
    fp_site_on_prob: float = 0.1
    fp_site_mean_frames: float = 5.0
    fp_site_score_mean: float = -1.2  # log-odds of a site's base score
    fp_site_score_std: float = 0.9  # spread of base scores across sites
    fp_site_frame_std: float = 0.4  # frame-to-frame spread of a site's score

    def validate(self) -> None:
        def bad(name: str, why: str) -> None:
            raise ValueError(f"DetectionStreamConfig.{name} {why}, got {getattr(self, name)!r}")

        if not 0.0 < self.fov_deg <= 360.0:
            bad("fov_deg", "must be in (0, 360]")
        if not 0.0 <= self.min_range_m < self.max_range_m:
            bad("max_range_m", "must exceed min_range_m >= 0")
        if not 0.0 <= self.occlusion_v0 < self.occlusion_v1 <= 1.0:
            bad("occlusion_v1", "needs 0 <= occlusion_v0 < occlusion_v1 <= 1")
        for name in (
            "latent_std",
            "outlier_prob",
            "velocity_std_mps",
            "fp_random_per_frame",
            "fp_sites_per_100m",
        ):
            if not getattr(self, name) >= 0.0:
                bad(name, "must be >= 0")
        for name in (
            "latent_tau_s",
            "growth_range_m",
            "outlier_scale",
            "score_tp_std",
            "score_fp_std",
            "fp_site_mean_frames",
        ):
            if not getattr(self, name) > 0.0:
                bad(name, "must be > 0")
        for name in ("score_min", "fp_site_on_prob", "care_min_visible"):
            if not 0.0 <= getattr(self, name) < 1.0:
                bad(name, "must be in [0, 1)")
        for cls, vals in self.classes.items():
            if cls not in ObjectClass.__members__:
                raise ValueError(f"DetectionStreamConfig.classes: unknown class {cls!r}")
            unknown = set(vals) - set(CLASS_KEYS)
            if unknown:
                raise ValueError(f"DetectionStreamConfig.classes[{cls!r}]: unknown keys {sorted(unknown)}")
            if not 0.0 <= vals.get("p_near", 0.5) <= 1.0 or not 0.0 <= vals.get("yaw_flip_prob", 0.0) <= 1.0:
                raise ValueError(f"DetectionStreamConfig.classes[{cls!r}]: probabilities must be in [0, 1]")
        for table in (self.confusion, {"fp": self.fp_class_probs}):
            for src, row in table.items():
                names = [src] if src != "fp" else []
                names += list(row)
                if any(n not in ObjectClass.__members__ for n in names):
                    raise ValueError(f"DetectionStreamConfig: unknown class name in {src!r}: {row}")
        if any(sum(row.values()) > 1.0 for row in self.confusion.values()):
            raise ValueError("DetectionStreamConfig.confusion: each row must sum to <= 1")
        if not self.fp_class_probs or abs(sum(self.fp_class_probs.values()) - 1.0) > 1e-6:
            raise ValueError("DetectionStreamConfig.fp_class_probs must sum to 1")
        if set(self.fp_class_probs) - set(FP_SIZES):
            raise ValueError(f"DetectionStreamConfig.fp_class_probs: classes limited to {sorted(FP_SIZES)}")
        lo, hi = self.fp_site_lateral_m
        if not 0.0 <= lo <= hi:
            bad("fp_site_lateral_m", "must be (min, max) with 0 <= min <= max")

    @classmethod
    def from_dict(cls, d: dict | None) -> DetectionStreamConfig:
        """Defaults overridden by ``d`` (``classes`` entries merge per class and key)."""
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"DetectionStreamConfig: unknown keys {unknown}; known: {sorted(names)}")
        classes = copy.deepcopy(DEFAULT_CLASSES)
        for k, v in dict(d.pop("classes", {}) or {}).items():
            classes.setdefault(str(k), dict(DEFAULT_CLASSES["CAR"])).update(dict(v))
        if "fp_site_lateral_m" in d:
            d["fp_site_lateral_m"] = tuple(float(x) for x in d["fp_site_lateral_m"])
        cfg = cls(classes=classes, **d)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}
        out["fp_site_lateral_m"] = list(self.fp_site_lateral_m)
        return out

    def class_table(self, key: str) -> np.ndarray:
        """(len(ObjectClass),) values of a per-class key, CAR's for classes not listed."""
        car = self.classes.get("CAR", DEFAULT_CLASSES["CAR"])
        return np.array([self.classes.get(c.name, car).get(key, car[key]) for c in ObjectClass], np.float64)


def care_mask(vis: Visibility, cfg: DetectionStreamConfig) -> np.ndarray:
    """Truth that counts in evaluation: centre inside the field of view and range, and visible."""
    return (
        vis.center_in_fov
        & (vis.range_m >= cfg.min_range_m)
        & (vis.range_m <= cfg.max_range_m)
        & (vis.visible >= cfg.care_min_visible)
    )


def detection_probability(labels: np.ndarray, vis: Visibility, cfg: DetectionStreamConfig) -> np.ndarray:
    """(N,) probability of detecting each object before the latent difficulty state (see docstring)."""
    idx = np.clip(np.asarray(labels, np.int64), 0, len(ObjectClass) - 1)
    p_near = cfg.class_table("p_near")[idx]
    r50 = cfg.class_table("range50_m")[idx]
    w = cfg.class_table("range_width_m")[idx]
    p_range = p_near / (1.0 + np.exp(np.clip((vis.range_m - r50) / w, -50.0, 50.0)))
    p_vis = np.clip((vis.visible - cfg.occlusion_v0) / (cfg.occlusion_v1 - cfg.occlusion_v0), 0.0, 1.0)
    inside = vis.center_in_fov & (vis.range_m >= cfg.min_range_m) & (vis.range_m <= cfg.max_range_m)
    return np.where(inside, p_range * p_vis, 0.0)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1.0 - 1e-9)
    return np.log(p / (1.0 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class StreamFrame:
    """One frame of the stream with what produced it (for tests and statistics)."""

    detections: Detections
    truth_ids: np.ndarray  # (N,) actor id behind each detection, -1 for false positives
    static_fp: np.ndarray  # (N,) bool: a static-structure false positive
    pose: SensorPose


class DetectionStream:
    """Frames of detector output over a world, generated in stamp order (see the module docstring)."""

    def __init__(self, world, mount_xyz: np.ndarray, cfg: DetectionStreamConfig | None = None, seed: int = 0):
        self.world = world
        self.cfg = cfg if cfg is not None else DetectionStreamConfig()
        self.cfg.validate()
        self.mount = np.asarray(mount_xyz, np.float64).reshape(3)
        self.rng = stream_rng(seed, "detection_stream")
        self._latent: dict[int, float] = {}
        self._last_ns: int | None = None
        self._place_sites()

    # -- static-structure false-positive sites --------------------------------------------------
    def _place_sites(self) -> None:
        c, rng = self.cfg, self.rng
        w = self.world
        st = np.arange(w.t0_ns, w.t_end_ns + 1, 100_000_000, dtype=np.int64)
        e = w.ego_arrays(st)
        xy, yaw = e["position"][:, :2], e["yaw"]
        # extend the path straight ahead by the view range, so sites are in view up to the end
        ext = np.arange(5.0, c.max_range_m + 5.0, 5.0)
        xy = np.vstack([xy, xy[-1] + ext[:, None] * np.array([math.cos(yaw[-1]), math.sin(yaw[-1])])])
        yaw = np.concatenate([yaw, np.full(ext.size, yaw[-1])])
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        n = int(rng.poisson(2.0 * c.fp_sites_per_100m * s[-1] / 100.0))
        at = rng.uniform(0.0, s[-1], n)
        side = rng.choice([-1.0, 1.0], n)
        lat = rng.uniform(*c.fp_site_lateral_m, n)
        px, py = np.interp(at, s, xy[:, 0]), np.interp(at, s, xy[:, 1])
        h = np.interp(at, s, np.unwrap(yaw))
        names = list(c.fp_class_probs)
        cls = rng.choice(len(names), n, p=np.array([c.fp_class_probs[k] for k in names]))
        self.site_labels = np.array([int(ObjectClass[names[k]]) for k in cls], np.int64)
        base = np.array([FP_SIZES[names[k]] for k in cls]).reshape(n, 3)
        self.site_sizes = base * np.exp(rng.normal(0.0, 0.1, (n, 3)))
        self.site_centers = np.column_stack(
            [px - side * lat * np.sin(h), py + side * lat * np.cos(h), 0.5 * self.site_sizes[:, 2]]
        )
        self.site_yaw = rng.uniform(-math.pi, math.pi, n)
        self.site_score = rng.normal(c.fp_site_score_mean, c.fp_site_score_std, n)
        self.site_on = np.zeros(n, bool)

    # -- one frame --------------------------------------------------------------------------------
    def frame(self, stamp_ns: int) -> StreamFrame:
        """The detector's output at ``stamp_ns`` (call in increasing stamp order)."""
        c, rng = self.cfg, self.rng
        dt = 0.1 if self._last_ns is None else max((stamp_ns - self._last_ns) * 1e-9, 0.0)
        self._last_ns = int(stamp_ns)
        ego = self.world.ego_at(int(stamp_ns))
        pose = sensor_pose(ego.position, ego.yaw, self.mount, math.radians(c.fov_center_deg))
        a: ActorStates = self.world.actors_at(int(stamp_ns))
        fov = math.radians(c.fov_deg)
        vis = visibility(a.centers, a.sizes, a.yaw, pose, fov)
        p = detection_probability(a.labels, vis, c)

        # per-object difficulty: AR(1) in log-odds, kept per actor id
        rho = math.exp(-dt / c.latent_tau_s)
        z = np.empty(len(a))
        for i, aid in enumerate(a.ids.tolist()):  # a few dozen actors; dict state by id
            prev = self._latent.get(aid)
            z[i] = (
                rng.standard_normal()
                if prev is None
                else rho * prev + math.sqrt(1 - rho * rho) * rng.standard_normal()
            )
            self._latent[aid] = z[i]
        p_eff = np.where(p > 0.0, _sigmoid(_logit(p) + c.latent_std * z), 0.0)
        hit = rng.random(len(a)) < p_eff
        idx = np.flatnonzero(hit)
        tp = self._true_positives(a, idx, p_eff[idx], pose)
        fp_r = self._random_fps(pose)
        fp_s = self._site_fps(pose, fov)
        det = _concat([tp, fp_r, fp_s], int(stamp_ns), c.frame_id)
        truth_ids = np.concatenate([a.ids[idx], np.full(len(fp_r) + len(fp_s), -1, np.int64)])
        static = np.concatenate([np.zeros(len(idx) + len(fp_r), bool), np.ones(len(fp_s), bool)])
        keep = det.scores >= c.score_min
        return StreamFrame(det.select(keep), truth_ids[keep], static[keep], pose)

    def _boxes(
        self, centers: np.ndarray, sizes: np.ndarray, yaw: np.ndarray, labels: np.ndarray, pose: SensorPose
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Jittered centres, sizes, yaws and the nominal (x, y) covariance of true boxes."""
        c, rng = self.cfg, self.rng
        n = centers.shape[0]
        lab = np.clip(labels, 0, len(ObjectClass) - 1)
        u, v, std_r, std_t, cov = _error_model(centers, labels, pose, c)
        grow = 1.0 + np.hypot(*(centers[:, :2] - pose.xy).T) / c.growth_range_m
        scale = np.where(rng.random(n) < c.outlier_prob, c.outlier_scale, 1.0)
        e_r = rng.standard_normal(n) * std_r * scale
        e_t = rng.standard_normal(n) * std_t * scale
        out_c = centers.copy()
        out_c[:, :2] += e_r[:, None] * u + e_t[:, None] * v
        out_c[:, 2] += rng.standard_normal(n) * 0.5 * std_t
        size_std = c.class_table("size_std_frac")[lab] * grow
        out_s = sizes * np.exp(rng.standard_normal((n, 3)) * size_std[:, None])
        out_c[:, 2] += 0.5 * (out_s[:, 2] - sizes[:, 2])  # boxes stand on the ground
        flip = rng.random(n) < c.class_table("yaw_flip_prob")[lab]
        yaw_std = c.class_table("yaw_std_rad")[lab] * grow
        out_y = wrap_angle(yaw + rng.standard_normal(n) * yaw_std + np.pi * flip)
        return out_c, out_s, out_y, cov

    def _true_positives(self, a: ActorStates, idx: np.ndarray, p: np.ndarray, pose: SensorPose) -> Detections:
        c, rng = self.cfg, self.rng
        n = idx.size
        labels = a.labels[idx].copy()
        for src, row in c.confusion.items():  # label swaps
            sel = np.flatnonzero(labels == int(ObjectClass[src]))
            if sel.size and row:
                u = rng.random(sel.size)
                edges = np.cumsum(list(row.values()))
                k = np.searchsorted(edges, u, side="right")
                to = np.array([int(ObjectClass[t]) for t in row] + [int(ObjectClass[src])])
                labels[sel] = to[k]
        centers, sizes, yaw, cov = self._boxes(a.centers[idx], a.sizes[idx], a.yaw[idx], a.labels[idx], pose)
        scores = _sigmoid(
            c.score_tp_offset + c.score_tp_gain * _logit(p) + c.score_tp_std * rng.standard_normal(n)
        )
        vel = np.full((n, 2), np.nan)
        if c.velocity_std_mps > 0.0:
            vel = a.velocity[idx, :2] + rng.normal(0.0, c.velocity_std_mps, (n, 2))
        return _det(centers, sizes, yaw, labels, scores, cov, vel)

    def _random_fps(self, pose: SensorPose) -> Detections:
        c, rng = self.cfg, self.rng
        n = int(rng.poisson(c.fp_random_per_frame))
        half = 0.5 * math.radians(c.fov_deg)
        r = np.sqrt(rng.uniform(c.min_range_m**2, c.max_range_m**2, n))  # uniform over the area
        b = pose.axis_yaw + rng.uniform(-half, half, n)
        names = list(c.fp_class_probs)
        k = rng.choice(len(names), n, p=np.array([c.fp_class_probs[x] for x in names]))
        labels = np.array([int(ObjectClass[names[i]]) for i in k], np.int64)
        sizes = np.array([FP_SIZES[names[i]] for i in k]).reshape(n, 3) * np.exp(rng.normal(0.0, 0.1, (n, 3)))
        centers = np.column_stack([pose.xy[0] + r * np.cos(b), pose.xy[1] + r * np.sin(b), 0.5 * sizes[:, 2]])
        yaw = rng.uniform(-math.pi, math.pi, n)
        scores = _sigmoid(rng.normal(c.score_fp_mean, c.score_fp_std, n))
        cov = _error_model(centers, labels, pose, c)[4]
        return _det(centers, sizes, yaw, labels, scores, cov, np.full((n, 2), np.nan))

    def _site_fps(self, pose: SensorPose, fov: float) -> Detections:
        c, rng = self.cfg, self.rng
        n = self.site_labels.size
        rel = self.site_centers[:, :2] - pose.xy
        r = np.hypot(rel[:, 0], rel[:, 1])
        b = wrap_angle(np.arctan2(rel[:, 1], rel[:, 0]) - pose.axis_yaw)
        seen = (np.abs(b) <= 0.5 * fov) & (r >= c.min_range_m) & (r <= c.fp_site_max_range_m)
        u = rng.random(n)
        off = 1.0 / c.fp_site_mean_frames
        self.site_on = np.where(self.site_on, u >= off, u < c.fp_site_on_prob) & seen
        idx = np.flatnonzero(self.site_on)
        centers, sizes, yaw, cov = self._boxes(
            self.site_centers[idx], self.site_sizes[idx], self.site_yaw[idx], self.site_labels[idx], pose
        )
        scores = _sigmoid(self.site_score[idx] + c.fp_site_frame_std * rng.standard_normal(idx.size))
        return _det(centers, sizes, yaw, self.site_labels[idx], scores, cov, np.full((idx.size, 2), np.nan))


def _error_model(centers: np.ndarray, labels: np.ndarray, pose: SensorPose, c: DetectionStreamConfig):
    """Line of sight ``u``, across ``v``, centre error stds along and across, and their (x, y)
    covariance (N, 2, 2) for boxes at ``centers`` (see the module docstring)."""
    lab = np.clip(np.asarray(labels, np.int64), 0, len(ObjectClass) - 1)
    rel = centers[:, :2] - pose.xy
    r = np.hypot(rel[:, 0], rel[:, 1])
    u = rel / np.maximum(r, 1e-6)[:, None]
    v = np.column_stack([-u[:, 1], u[:, 0]])
    std_t = c.class_table("pos_std_m")[lab] + c.class_table("pos_std_per_m")[lab] * r
    std_r = ALONG_LOS_FACTOR * std_t
    cov = (std_r**2)[:, None, None] * np.einsum("ni,nj->nij", u, u)
    cov += (std_t**2)[:, None, None] * np.einsum("ni,nj->nij", v, v)
    return u, v, std_r, std_t, cov


def _det(centers, sizes, yaw, labels, scores, cov, vel) -> Detections:
    n = len(scores)
    return Detections(
        stamp_ns=0,
        frame_id="",
        centers=np.asarray(centers, np.float64).reshape(n, 3),
        sizes=np.asarray(sizes, np.float64).reshape(n, 3),
        yaw=np.asarray(yaw, np.float64).reshape(n),
        labels=np.asarray(labels, np.int64).reshape(n),
        scores=np.asarray(scores, np.float64).reshape(n),
        velocity=np.asarray(vel, np.float64).reshape(n, 2),
        pos_cov=np.asarray(cov, np.float64).reshape(n, 2, 2),
        sensors=np.full(n, SENSOR_LIDAR, np.uint8),
    )


def _concat(parts: list[Detections], stamp_ns: int, frame_id: str) -> Detections:
    return Detections(
        stamp_ns=stamp_ns,
        frame_id=frame_id,
        centers=np.concatenate([p.centers for p in parts]),
        sizes=np.concatenate([p.sizes for p in parts]),
        yaw=np.concatenate([p.yaw for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        scores=np.concatenate([p.scores for p in parts]),
        velocity=np.concatenate([p.velocity for p in parts]),
        pos_cov=np.concatenate([p.pos_cov for p in parts]),
        sensors=np.concatenate([p.sensors for p in parts]),
    )
