"""Camera evidence for 3D boxes: which camera sees each box, how much of it, and a class cue.

ROS-free perception layer. Input: 3D boxes (LiDAR clusters, radar objects or
tracks) as :class:`Detections`, either in ``base_link`` or in the fixed frame
(then ``T_world_base`` brings them back), and the synchronised
:class:`CameraFrame` of each camera. Output: :class:`CameraCues`, one row per box.

Per camera (extrinsic from the calibration, intrinsics from the frame or the
calibration), all boxes at once:

1. **2D box.** The 8 corners go to the optical frame. The part of the box in
   front of ``z = near_clip_m`` is represented by the corners in front plus the
   points where the 12 edges cross the near plane (so a box reaching behind the
   camera still covers the right part of the image). These points, clamped to a
   margin around the image on the normalised plane (``x/z, y/z``), go through
   ``cv2.projectPoints`` with the camera's distortion; their bounding box,
   clipped to the image, is the 2D box. Clamping matters: a polynomial lens
   model is only meaningful near the image, and far outside it (points just in
   front of the camera) it can fold points back inside. The margin is shrunk at
   start-up until the model is monotonic on it.
2. **In-view fraction** = the fraction of ``volume_samples``^3 points spread
   through the box that lie in front of the near plane and inside the image
   border (the border undistorted once per camera with ``cv2.undistortPoints``
   and tabulated, so the test respects the distortion); 1 without sampling when
   all 8 corners are in view. Unlike the area ratio of the projected box on the
   image plane, this stays meaningful for boxes reaching behind the camera,
   whose projection is unbounded; for a box well in front it is the fraction of
   the projected box inside the image (0.5 for a box centred on the border).
   A box around the camera itself (ego returns) counts as not visible.
3. **Occlusion.** Each box's clipped 2D box is sampled on a regular grid
   (``grid_samples``^2); a sample is hidden when the 2D box of a nearer box
   (Euclidean distance from the camera to the closest point of the box) covers
   it. Visibility = in-view fraction x fraction of samples not hidden. 2D boxes
   are rectangles, so a nearer pedestrian hides more than its silhouette.

Boxes whose clipped 2D box is narrower or lower than ``min_box_px`` get visibility
0 in that camera (they still hide what is behind them). The best camera is the one
with the highest visibility; a box is ``visible`` when that reaches ``min_visibility``.
The class cue (``camera_cue.py``) reads the unhidden grid samples of the best
camera's patch; its probabilities are blended towards uniform as visibility
drops below ``cue_full_visibility`` and floored by ``prob_floor``, so a glimpse
never overrules the other modalities. Boxes not visible anywhere get uniform
probabilities and NaN 2D boxes.

Cameras are skipped (counted in ``skipped``, warned once) when their frame is
missing, the image is not HxWx3 uint8, the frame id has no calibration, there are
no usable intrinsics, or the image size disagrees with the intrinsics. Cost: about
3-4 ms for 30 boxes and two 640x384 cameras on this 2-core machine (bench/bench_camera.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..core.calibration import Calibration
from ..core.classes import NUM_CLASSES
from ..core.geometry import invert_transform
from ..core.schema import ParamConfig, param
from ..core.types import CameraFrame, CameraIntrinsics, Detections, Tracks
from .camera_cue import DEFAULT_MODEL_PATH, NUM_FEATURES, CueModel, patch_features, sample_grid
from .camera_model import EDGES, CameraModel, box_corners, camera_model, project_normalised

log = logging.getLogger(__name__)


@dataclass
class CameraEvidenceConfig(ParamConfig):
    """Camera evidence parameters (lengths in m, image sizes in px)."""

    near_clip_m: float = param(
        0.1, unit="m", gt=0.0, desc="Optical-frame depth below which box parts count as behind the camera"
    )
    min_visibility: float = param(
        0.05, unit="1", ge=0.0, le=1.0, desc="A box is visible in a camera from this visible fraction up"
    )
    min_box_px: float = param(
        4.0, unit="px", ge=0.0, desc="The clipped 2D box must be at least this wide and high to be visible"
    )
    grid_samples: int = param(
        16, unit="1", ge=2, le=64, desc="Samples per side of each patch (occlusion test and class cue)"
    )
    volume_samples: int = param(
        6, unit="1", ge=2, le=64, desc="Samples per box axis for the in-view fraction (visibility resolution)"
    )
    clamp_margin: float = param(
        0.5,
        unit="1",
        ge=0.0,
        le=4.0,
        desc="Normalised-plane clamp region around the image, as a fraction of its half-size",
    )
    class_cue: bool = param(
        True, unit="", desc="Run the class cue model (false: class probabilities stay uniform)"
    )
    model_path: str = param(
        "", unit="", desc='Class cue weights (.npz); "": the packaged models/camera_cue.npz'
    )
    cue_full_visibility: float = param(
        0.5, unit="1", gt=0.0, le=1.0, desc="Below this visibility the class cue is blended towards uniform"
    )
    prob_floor: float = param(
        0.02, unit="1", ge=0.0, lt=1.0, desc="Probability mass always spread uniformly over the classes"
    )
    relabel_min_prob: float = param(
        0.6,
        unit="1",
        ge=0.0,
        le=1.0,
        desc="A LiDAR box a camera sees takes the camera's class when its class probability reaches this",
    )
    relabel_size_gate: bool = param(
        True,
        unit="",
        desc="... and only when the box's measured size fits that class (not longer or taller than its "
        "shape rules allow, not lower than their lowest, never to unknown, never to a road vehicle from "
        "under 1 m long): the cue sees appearance, not size (perception/size_class.relabel_plausible)",
    )


@dataclass
class CameraCues:
    """Per-detection camera evidence (rows follow the input detections)."""

    visible: np.ndarray  # (N,) bool, visible in at least one camera
    camera: list[str | None]  # best camera per detection (the frames' dict key), None if not visible
    box2d: np.ndarray  # (N, 4) x0, y0, x1, y1 px in that camera (NaN when not visible)
    visibility: np.ndarray  # (N,) [0, 1] in the best camera (also reported when below the threshold)
    class_probs: np.ndarray  # (N, NUM_CLASSES) rows sum to 1 (uniform when not visible)
    # camera -> (N,) visibility in that camera (after occlusion); only cameras that were usable
    per_camera: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, n: int) -> CameraCues:
        return cls(
            np.zeros(n, bool),
            [None] * n,
            np.full((n, 4), np.nan),
            np.zeros(n),
            np.full((n, NUM_CLASSES), 1.0 / NUM_CLASSES),
        )


@dataclass
class _View:
    """What one camera says about every box (internal)."""

    vis: np.ndarray  # (N,) after occlusion
    box: np.ndarray  # (N, 4) clipped 2D box (NaN where nothing projects)
    hidden: np.ndarray  # (N, S) grid samples covered by nearer boxes


def _rect_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    return w * h


def detections_from_tracks(tracks: Tracks) -> Detections:
    """Tracks as boxes, so :meth:`CameraEvidence.annotate` can project them (in the tracks' frame)."""
    if len(tracks) == 0:
        return Detections.empty(tracks.stamp_ns, tracks.frame_id)
    return Detections(
        tracks.stamp_ns,
        tracks.frame_id,
        np.asarray(tracks.centers, np.float64),
        np.asarray(tracks.sizes, np.float64),
        np.asarray(tracks.yaw, np.float64),
        np.asarray(tracks.labels, np.int64),
        np.asarray(tracks.existence, np.float64),
        np.asarray(tracks.velocity, np.float64).copy(),
        np.asarray(tracks.cov, np.float64)[:, :2, :2].copy(),
        np.asarray(tracks.sensors, np.uint8),
    )


class CameraEvidence:
    """Projects 3D boxes into the cameras and reads visibility and a class cue (see module doc).

    Keeps per-camera constants between calls; not thread-safe for concurrent ``annotate``.
    """

    def __init__(self, calibration: Calibration, config: CameraEvidenceConfig | None = None):
        self.calibration = calibration
        self.config = config if config is not None else CameraEvidenceConfig()
        self.config.validate()
        self.model: CueModel | None = None
        if self.config.class_cue:
            path = Path(self.config.model_path) if self.config.model_path else DEFAULT_MODEL_PATH
            if not path.is_file():
                raise FileNotFoundError(
                    f"camera cue weights {path} not found (train them with scripts/train_camera_cue.py, "
                    "or set class_cue: false)"
                )
            self.model = CueModel.load(path)
        self._grid, self._inner = sample_grid(self.config.grid_samples)
        t = (np.arange(self.config.volume_samples) + 0.5) / self.config.volume_samples - 0.5
        self._vol = np.stack(np.meshgrid(t, t, t, indexing="ij"), -1).reshape(-1, 3)  # unit-box offsets
        self._models: dict[tuple, CameraModel] = {}
        self.skipped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._warned: set[str] = set()

    # -- public ----------------------------------------------------------------------------------
    def annotate(
        self, det: Detections, frames: dict[str, CameraFrame], T_world_base: np.ndarray | None = None
    ) -> CameraCues:
        """Evidence per detection: boxes in base_link, or in the fixed frame given ``T_world_base``."""
        cues, feats = self.extract(det, frames, T_world_base)
        if self.model is not None and cues.visible.any():
            v = cues.visible
            cfg = self.config
            p = self.model.full_probs(feats[v])
            alpha = np.clip(cues.visibility[v] / cfg.cue_full_visibility, 0.0, 1.0) * (1.0 - cfg.prob_floor)
            cues.class_probs[v] = alpha[:, None] * p + (1.0 - alpha[:, None]) / NUM_CLASSES
        return cues

    def extract(
        self, det: Detections, frames: dict[str, CameraFrame], T_world_base: np.ndarray | None = None
    ) -> tuple[CameraCues, np.ndarray]:
        """Geometry (uniform class_probs) and cue features (N, F), NaN rows where not visible.

        Separate from :meth:`annotate` so that training sees exactly the features run time computes.
        """
        n = len(det)
        cues = CameraCues.empty(n)
        feats = np.full((n, NUM_FEATURES), np.nan)
        T_base_det = np.eye(4)
        if T_world_base is not None:
            T = np.asarray(T_world_base, np.float64)
            if T.shape != (4, 4) or not np.all(np.isfinite(T)):
                raise ValueError("T_world_base must be a finite 4x4 transform")
            T_base_det = invert_transform(T)
        elif det.frame_id and det.frame_id != self.calibration.base_frame:
            self._warn_once("frame", f"boxes in '{det.frame_id}' without T_world_base: taken as base_link")
        if n == 0 or not frames:
            return cues, feats
        centers = np.asarray(det.centers, np.float64).reshape(n, 3)
        sizes = np.asarray(det.sizes, np.float64).reshape(n, 3)
        yaw = np.asarray(det.yaw, np.float64).reshape(n)
        ok = np.all(np.isfinite(centers), 1) & np.all(np.isfinite(sizes) & (sizes > 0), 1) & np.isfinite(yaw)
        if not ok.any():
            return cues, feats
        centers = np.where(ok[:, None], centers, 0.0)
        sizes = np.where(ok[:, None], sizes, 1.0)
        yaw = np.where(ok, yaw, 0.0)
        corners = box_corners(centers, sizes, yaw)

        names: list[str] = []
        views: list[_View] = []
        images: list[np.ndarray] = []
        for name, frame in frames.items():
            model = self._model_for(name, frame)
            if model is None:
                continue
            view = self._view(model, T_base_det, corners, centers, sizes, yaw, ok)
            names.append(name)
            views.append(view)
            images.append(frame.image)
            cues.per_camera[name] = view.vis
        if not views:
            return cues, feats

        vis = np.stack([v.vis for v in views])  # (C, N)
        best = np.argmax(vis, axis=0)
        cols = np.arange(n)
        cues.visibility = vis[best, cols]
        boxes = np.stack([v.box for v in views])[best, cols]  # (N, 4)
        wh = boxes[:, 2:] - boxes[:, :2]
        cfg = self.config
        with np.errstate(invalid="ignore"):
            visible = (cues.visibility >= cfg.min_visibility) & np.all(wh >= cfg.min_box_px, axis=1)
        visible &= cues.visibility > 0
        cues.visible = visible
        cues.box2d[visible] = boxes[visible]
        cues.camera = [names[b] if v else None for b, v in zip(best, visible)]
        for c, view in enumerate(views):
            sel = np.nonzero(visible & (best == c))[0]
            if sel.size:
                feats[sel] = self._features(images[c], boxes[sel], view.hidden[sel])
        return cues, feats

    # -- internals -------------------------------------------------------------------------------
    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:  # one line per cause; counts are in ``skipped``
            self._warned.add(key)
            log.warning("camera evidence: %s", text)

    def _skip(self, camera: str, reason: str, text: str) -> None:
        self.skipped[camera][reason] += 1
        self._warn_once(f"{camera}:{reason}", f"skipping {camera}: {text}")

    def _model_for(self, name: str, frame: CameraFrame | None) -> CameraModel | None:
        if frame is None:
            self._skip(name, "missing", "no frame")
            return None
        img = frame.image
        if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3) or img.dtype != np.uint8:
            self._skip(name, "bad_image", "image is not HxWx3 uint8")
            return None
        if img.shape[0] == 0 or img.shape[1] == 0:
            self._skip(name, "bad_image", "image is empty")
            return None
        frame_id = frame.frame_id or name
        if not self.calibration.has_frame(frame_id):
            self._skip(name, "unknown_frame", f"frame_id '{frame_id}' has no calibration")
            return None
        intr = frame.intrinsics if frame.intrinsics is not None else self.calibration.intrinsics.get(frame_id)
        if intr is None:
            self._skip(name, "no_intrinsics", f"no intrinsics for '{frame_id}'")
            return None
        if (img.shape[1], img.shape[0]) != (int(intr.width), int(intr.height)):
            self._skip(
                name,
                "size_mismatch",
                f"image {img.shape[1]}x{img.shape[0]} but intrinsics {intr.width}x{intr.height}",
            )
            return None
        K = np.asarray(intr.K, np.float64)
        D = np.asarray(intr.D, np.float64)
        key = (frame_id, int(intr.width), int(intr.height), K.tobytes(), D.tobytes(), intr.distortion_model)
        model = self._models.get(key)
        if model is None:
            if K.shape != (3, 3) or D.size not in (0, 4, 5, 8, 12, 14) or not np.all(np.isfinite(D)):
                self._skip(name, "bad_intrinsics", f"K {K.shape}, D of {D.size} values: not an OpenCV model")
                return None
            D = D if D.size else np.zeros(5)
            intr = CameraIntrinsics(intr.width, intr.height, K, D, intr.distortion_model)
            try:
                model = camera_model(self.calibration.T_base_from(frame_id), intr, self.config.clamp_margin)
            except cv2.error as e:
                self._skip(name, "bad_intrinsics", f"OpenCV rejects the intrinsics: {e}")
                return None
            if len(self._models) > 32:
                self._models.clear()
            self._models[key] = model
        return model

    def _view(
        self,
        model: CameraModel,
        T_base_det: np.ndarray,
        corners: np.ndarray,
        centers: np.ndarray,
        sizes: np.ndarray,
        yaw: np.ndarray,
        ok: np.ndarray,
    ) -> _View:
        cfg = self.config
        near = cfg.near_clip_m
        n = corners.shape[0]
        T = model.T_cam_base @ T_base_det
        pc = corners @ T[:3, :3].T + T[:3, 3]  # (N, 8, 3) optical frame
        z = pc[..., 2]
        front = (z > near) & ok[:, None]
        # edges crossing the near plane contribute their crossing point
        a, b = pc[:, EDGES[:, 0]], pc[:, EDGES[:, 1]]
        fa, fb = front[:, EDGES[:, 0]], front[:, EDGES[:, 1]]
        cross = fa != fb
        dz = b[..., 2] - a[..., 2]
        s = np.where(cross, (near - a[..., 2]) / np.where(cross, dz, 1.0), 0.0)
        pts = np.concatenate([pc, a + s[..., None] * (b - a)], axis=1)  # (N, 20, 3)
        valid = np.concatenate([front, cross], axis=1)
        depth = np.where(valid, np.maximum(pts[..., 2], near), 1.0)
        xn = pts[..., :2] / depth[..., None]
        any_front = valid.any(axis=1)

        # visibility: fraction of the box's volume samples inside the view frustum (in front, in the image);
        # boxes with every corner in view are 1 without sampling, boxes with none in front are 0
        corner_in = front.copy()
        corner_in[front] = model.inside(xn[:, :8][front])
        vis0 = corner_in.all(axis=1).astype(np.float64)
        part = np.nonzero(any_front & ~corner_in.all(axis=1))[0]
        if part.size:
            vol = _volume_points(centers[part], sizes[part], yaw[part], self._vol, T)  # (P, V, 3) optical
            cand = vol[..., 2] > near
            inside = np.zeros_like(cand)
            if cand.any():
                vc = vol[cand]
                inside[cand] = model.inside(vc[:, :2] / vc[:, 2:3])
            vis0[part] = inside.mean(axis=1)

        # 2D box: clamp to the region where the lens model is valid, project, clip to the image
        cl = model.clamp_n
        vi, vk = np.nonzero(valid)
        uv = project_normalised(np.clip(xn[vi, vk], cl[:2], cl[2:]), model)
        ulo = np.full((n, 2), np.inf)
        uhi = np.full((n, 2), -np.inf)
        np.minimum.at(ulo, vi, uv)
        np.maximum.at(uhi, vi, uv)
        W, H = model.width, model.height
        box = np.hstack([np.maximum(ulo, -0.5), np.minimum(uhi, [W - 0.5, H - 0.5])])
        # a box around the camera itself (ego returns, a track on the ego) neither shows nor hides anything
        dist = _closest_distance(invert_transform(T)[:3, 3], centers, sizes, yaw)
        has_box = any_front & (vis0 > 0) & (dist > 0) & np.all(box[:, 2:] > box[:, :2], axis=1)
        box[~has_box] = np.nan
        big_enough = has_box & np.all(box[:, 2:] - box[:, :2] >= cfg.min_box_px, axis=1)
        vis0 = np.where(big_enough, vis0, 0.0)  # too small to say anything, but may still hide others

        # occlusion: grid samples of each box covered by a nearer box's 2D box (overlapping pairs only)
        S = self._grid.shape[0]
        hidden = np.zeros((n, S), bool)
        nearer = (
            big_enough[:, None]
            & has_box[None, :]
            & (dist[None, :] < dist[:, None])
            & (_rect_intersection(box[:, None, :], box[None, :, :]) > 0)
        )
        ii, jj = np.nonzero(nearer)  # row-major: ii sorted
        if ii.size:
            bi, bj = box[ii], box[jj]
            su = bi[:, None, 0] + self._grid[None, :, 0] * (bi[:, None, 2] - bi[:, None, 0])  # (P, S)
            sv = bi[:, None, 1] + self._grid[None, :, 1] * (bi[:, None, 3] - bi[:, None, 1])
            inside = (su >= bj[:, None, 0]) & (su <= bj[:, None, 2])
            inside &= (sv >= bj[:, None, 1]) & (sv <= bj[:, None, 3])
            rows, start = np.unique(ii, return_index=True)
            hidden[rows] = np.logical_or.reduceat(inside, start, axis=0)
        vis = vis0 * (1.0 - hidden.mean(axis=1))
        return _View(vis, box, hidden)

    def _features(self, image: np.ndarray, boxes: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        H, W = image.shape[:2]
        wh = boxes[:, 2:] - boxes[:, :2]
        su = boxes[:, None, 0] + self._grid[None, :, 0] * wh[:, None, 0]
        sv = boxes[:, None, 1] + self._grid[None, :, 1] * wh[:, None, 1]
        iu = np.clip(np.rint(su), 0, W - 1).astype(np.intp)
        iv = np.clip(np.rint(sv), 0, H - 1).astype(np.intp)
        return patch_features(image[iv, iu], (~hidden).astype(np.float64), self._inner, wh)


def _volume_points(
    centers: np.ndarray, sizes: np.ndarray, yaw: np.ndarray, unit: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """(N, V, 3) points at ``unit`` offsets (V, 3) inside each yaw-rotated box, mapped by ``T``."""
    c, s = np.cos(yaw), np.sin(yaw)
    Rz = np.zeros((yaw.shape[0], 3, 3))
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = c, -s, s, c, 1.0
    A = T[:3, :3] @ Rz * sizes[:, None, :]  # rotation times diag(size), per box
    return unit @ A.transpose(0, 2, 1) + (centers @ T[:3, :3].T + T[:3, 3])[:, None, :]


def _closest_distance(p: np.ndarray, centers: np.ndarray, sizes: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Distance (N,) from point ``p`` (3,) to each yaw-rotated box (0 inside)."""
    d = p[None, :] - centers
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.column_stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]])
    half = 0.5 * sizes
    return np.linalg.norm(local - np.clip(local, -half, half), axis=1)
