"""Camera evidence: projection against cv2.projectPoints, visibility, occlusion, class cue, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.classes import NUM_CLASSES, ObjectClass
from sensor_fusion.core.geometry import invert_transform, pose2d_to_transform
from sensor_fusion.core.types import CameraFrame, CameraIntrinsics, Detections, Tracks
from sensor_fusion.perception.camera import (
    CameraEvidence,
    CameraEvidenceConfig,
    box_corners,
    detections_from_tracks,
)
from sensor_fusion.perception.camera_cue import NUM_FEATURES, CueModel
from sensor_fusion.sim.camera import render_camera_labels
from sensor_fusion.sim.scenarios import scenario_config
from sensor_fusion.sim.world import World

REPO = Path(__file__).resolve().parents[2]
CAL = load_calibration(REPO / "config" / "calibration.yaml")
W, H = 640, 384
UNIFORM = 1.0 / NUM_CLASSES


def dets(centers, sizes, yaw=None, frame_id: str = "base_link") -> Detections:
    c = np.asarray(centers, np.float64).reshape(-1, 3)
    n = len(c)
    return Detections(
        0,
        frame_id,
        c,
        np.asarray(sizes, np.float64).reshape(n, 3),
        np.zeros(n) if yaw is None else np.asarray(yaw, np.float64).reshape(n),
        np.zeros(n, np.int64),
        np.ones(n),
        np.full((n, 2), np.nan),
        np.tile(np.eye(2), (n, 1, 1)),
        np.zeros(n, np.uint8),
    )


def blank_frames(*names: str, intrinsics: CameraIntrinsics | None = None) -> dict[str, CameraFrame]:
    return {n: CameraFrame(0, n, n, np.full((H, W, 3), 90, np.uint8), intrinsics) for n in names}


def geometry_only(**kw) -> CameraEvidence:
    return CameraEvidence(CAL, CameraEvidenceConfig(class_cue=False, **kw))


def reference_box(cam: str, centers, sizes, yaw) -> np.ndarray:
    """Bounding box of cv2.projectPoints of the 8 corners through the calibration (with distortion)."""
    T_cam_base = invert_transform(CAL.T_base_from(cam))
    rvec, _ = cv2.Rodrigues(T_cam_base[:3, :3])
    intr = CAL.intrinsics[cam]
    corners = box_corners(np.atleast_2d(centers), np.atleast_2d(sizes), np.atleast_1d(yaw))[0]
    uv, _ = cv2.projectPoints(corners.reshape(-1, 1, 3), rvec, T_cam_base[:3, 3], intr.K, intr.D)
    uv = uv.reshape(-1, 2)
    return np.r_[uv.min(0), uv.max(0)]


# -- projection ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cam", "center", "yaw"),
    [("camera_front", (10.0, 4.0, 0.8), 0.3), ("camera_rear", (-12.0, -5.0, 1.0), -0.7)],
)
def test_box_corners_project_like_cv2_through_the_calibration(cam, center, yaw):
    size = (4.5, 1.9, 1.6)
    ev = geometry_only()
    cues = ev.annotate(dets([center], [size], [yaw]), blank_frames("camera_front", "camera_rear"))
    ref = reference_box(cam, center, size, yaw)
    assert cues.visible[0] and cues.camera[0] == cam
    np.testing.assert_allclose(cues.box2d[0], ref, atol=1e-6)
    assert cues.visibility[0] == pytest.approx(1.0)
    assert cues.per_camera["camera_front" if cam == "camera_rear" else "camera_rear"][0] == 0.0
    # the test is sensitive to distortion: the pinhole-only box differs by more than a pixel
    T_cam_base = invert_transform(CAL.T_base_from(cam))
    rvec, _ = cv2.Rodrigues(T_cam_base[:3, :3])
    corners = box_corners(np.array([center]), np.array([size]), np.array([yaw]))[0]
    uv0, _ = cv2.projectPoints(
        corners.reshape(-1, 1, 3), rvec, T_cam_base[:3, 3], CAL.intrinsics[cam].K, None
    )
    assert np.max(np.abs(np.r_[uv0.reshape(-1, 2).min(0), uv0.reshape(-1, 2).max(0)] - ref)) > 1.0


def test_fixed_frame_boxes_are_brought_back_to_base_link():
    ev = geometry_only()
    frames = blank_frames("camera_front", "camera_rear")
    centers = np.array([[10.0, 4.0, 0.8], [-12.0, -5.0, 1.0], [25.0, -3.0, 1.5]])
    sizes = np.array([[4.5, 1.9, 1.6], [0.6, 0.6, 1.8], [10.0, 2.5, 3.2]])
    yaw = np.array([0.3, -0.7, 1.2])
    base = ev.annotate(dets(centers, sizes, yaw), frames)
    T_wb = pose2d_to_transform(105.0, -42.0, 2.1)
    cw = centers @ T_wb[:3, :3].T + T_wb[:3, 3]
    world = ev.annotate(dets(cw, sizes, yaw + 2.1, "odom"), frames, T_wb)
    assert base.visible.all()
    assert base.camera == world.camera == ["camera_front", "camera_rear", "camera_front"]
    np.testing.assert_allclose(world.box2d, base.box2d, atol=1e-6)
    np.testing.assert_allclose(world.visibility, base.visibility, atol=1e-9)


def test_fixed_frame_boxes_without_a_pose_are_taken_as_base_link_with_a_warning(caplog):
    ev = geometry_only()
    with caplog.at_level("WARNING"):
        a = ev.annotate(
            dets([[12.0, 0.0, 0.8]], [[4.5, 1.9, 1.6]], frame_id="odom"), blank_frames("camera_front")
        )
    b = ev.annotate(dets([[12.0, 0.0, 0.8]], [[4.5, 1.9, 1.6]]), blank_frames("camera_front"))
    np.testing.assert_array_equal(a.box2d, b.box2d)
    assert "without T_world_base" in caplog.text
    # no distortion coefficients at all (CameraInfo with empty D) is a pinhole camera
    pin = CameraIntrinsics(W, H, CAL.intrinsics["camera_front"].K, np.zeros(0))
    off = dets([[10.0, 4.0, 0.8]], [[4.5, 1.9, 1.6]])
    c = ev.annotate(off, blank_frames("camera_front", intrinsics=pin))
    d = ev.annotate(off, blank_frames("camera_front"))
    assert c.visible[0] and d.visible[0] and np.max(np.abs(c.box2d - d.box2d)) > 1.0


def test_box_behind_the_camera_is_not_visible():
    ev = geometry_only()
    # far behind; just behind the image plane (x < 1.6 m) below the camera; around the camera (ego box)
    behind = dets(
        [[-10.0, 0.0, 0.8], [0.0, 0.0, 0.8], [1.0, 0.0, 0.8]], [[4.5, 1.9, 1.6], [3, 1.9, 1.6], [4.7, 2, 1.6]]
    )
    cues = ev.annotate(behind, blank_frames("camera_front"))
    assert not cues.visible.any()
    assert cues.camera == [None, None, None]
    assert np.all(np.isnan(cues.box2d)) and np.all(cues.visibility == 0.0)
    np.testing.assert_allclose(cues.class_probs, UNIFORM)
    # the rear camera does see the first one
    both = ev.annotate(
        dets([[-10.0, 0.0, 0.8]], [[4.5, 1.9, 1.6]]), blank_frames("camera_front", "camera_rear")
    )
    assert both.visible[0] and both.camera[0] == "camera_rear"


def _edge_lateral(depth: float, u: float) -> float:
    """base_link y of the point on the front camera's centre row at pixel column u and ``depth``."""
    intr = CAL.intrinsics["camera_front"]
    xn = cv2.undistortPoints(np.array([[[u, 191.5]]]), intr.K, intr.D).reshape(2)[0]
    return -xn * depth  # optical x is -y of base_link


def test_box_half_outside_the_image_has_half_visibility():
    ev = geometry_only()
    depth, cam_x, cam_z = 20.0, 1.6, 1.5
    # a thin board facing the camera, centred on the left image border
    y = _edge_lateral(depth, -0.5)
    cues = ev.annotate(dets([[cam_x + depth, y, cam_z]], [[0.05, 4.0, 2.0]]), blank_frames("camera_front"))
    assert cues.visible[0]
    assert cues.visibility[0] == pytest.approx(0.5, abs=0.03)
    assert cues.box2d[0, 0] == -0.5 and 30 < cues.box2d[0, 2] < 50
    # a quarter of it inside: visibility ~0.25; fully inside: 1
    y_q = y + 0.5 * 4.0 / 2
    q = ev.annotate(dets([[cam_x + depth, y_q, cam_z]], [[0.05, 4.0, 2.0]]), blank_frames("camera_front"))
    assert q.visibility[0] == pytest.approx(0.25, abs=0.03)
    full = ev.annotate(
        dets([[cam_x + depth, y - 3.0, cam_z]], [[0.05, 4.0, 2.0]]), blank_frames("camera_front")
    )
    assert full.visibility[0] == pytest.approx(1.0)


def test_box_reaching_behind_the_camera_stays_on_its_side_with_strong_distortion():
    # k1 = -0.1 folds normalised points beyond ~1.8 back towards the centre; the box beside the camera
    # (part of it behind the image plane) must still only cover the right of the image
    K = CAL.intrinsics["camera_front"].K
    intr = CameraIntrinsics(W, H, K, np.array([-0.1, 0.0, 0.0, 0.0, 0.0]))
    ev = geometry_only()
    cues = ev.annotate(
        dets([[5.0, -3.0, 1.5]], [[8.0, 1.0, 1.0]]), blank_frames("camera_front", intrinsics=intr)
    )
    assert cues.visible[0]
    assert cues.box2d[0, 0] > W / 2 and cues.box2d[0, 2] == W - 0.5
    assert 0.2 < cues.visibility[0] < 0.8


def test_occlusion_by_a_nearer_box_reduces_visibility_of_the_farther_one():
    ev = geometry_only()
    frames = blank_frames("camera_front")
    near = ([10.0, 0.0, 1.0], [1.0, 2.0, 2.0])
    far = ([25.0, 2.0, 1.2], [1.0, 3.0, 2.0])
    alone = ev.annotate(dets([far[0]], [far[1]]), frames)
    near_alone = ev.annotate(dets([near[0]], [near[1]]), frames)
    both = ev.annotate(dets([far[0], near[0]], [far[1], near[1]]), frames)
    assert alone.visibility[0] == pytest.approx(1.0) and both.visibility[1] == pytest.approx(1.0)
    bf, bn = alone.box2d[0], near_alone.box2d[0]
    covered_u = (min(bf[2], bn[2]) - max(bf[0], bn[0])) / (bf[2] - bf[0])
    assert bn[1] < bf[1] and bn[3] > bf[3]  # the near box spans the far one vertically
    assert 0.3 < covered_u < 0.95
    assert both.visibility[0] == pytest.approx(1.0 - covered_u, abs=0.08)
    # entirely hidden: not visible
    hidden = ev.annotate(dets([[25.0, 0.0, 1.2], near[0]], [far[1], near[1]]), frames)
    assert not hidden.visible[0] and hidden.visible[1]


# -- class cue on rendered simulator patches --------------------------------------------------------
def _labelled(cues, aid: dict[str, np.ndarray], ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes whose own pixels fill >= 15 % of their 2D box and most of its object pixels; object fraction."""
    keep = np.zeros(len(ids), bool)
    obj = np.ones(len(ids))
    for i in np.nonzero(cues.visible)[0]:
        x0, y0, x1, y1 = np.floor(cues.box2d[i] + 0.5).astype(int)
        sub = aid[cues.camera[i]][max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1]
        own = np.count_nonzero(sub == ids[i]) if ids[i] >= 0 else 0
        n_obj = np.count_nonzero(sub >= 0)
        obj[i] = n_obj / sub.size
        keep[i] = own >= 20 and own >= 0.15 * sub.size and own >= 0.5 * n_obj
    return keep, obj


def test_class_cue_on_held_out_simulator_renders():
    ev = CameraEvidence(CAL)
    rng = np.random.default_rng(5)
    mixed = {
        "world": {"duration_s": 6.0, "actors": {"cyclists": 6, "buses": 3, "trucks": 3, "pedestrians": 10}}
    }
    truth, pred, probs = [], [], []
    for name, over, seed in [("dense_traffic", {"world": {"duration_s": 6.0}}, 901), ("urban", mixed, 902)]:
        world = World(scenario_config(name, over), seed=seed)  # seeds never used for training
        for stamp in world.t0_ns + np.array([1, 3, 5]) * 10**9:
            ego = world.ego_at(int(stamp))
            T_wb = pose2d_to_transform(float(ego.position[0]), float(ego.position[1]), float(ego.yaw))
            frames, aid = {}, {}
            for cam in ("camera_front", "camera_rear"):
                r = render_camera_labels(world, int(stamp), CAL.T_base_from(cam), CAL.intrinsics[cam], rng)
                frames[cam], aid[cam] = CameraFrame(int(stamp), cam, cam, r.image), r.actor_id
            a = world.actors_at(int(stamp))
            cues = ev.annotate(dets(a.centers, a.sizes, a.yaw, "odom"), frames, T_wb)
            keep, _ = _labelled(cues, aid, a.ids)
            truth.append(a.labels[keep])
            pred.append(np.argmax(cues.class_probs[keep], 1))
            probs.append(cues.class_probs)
            # empty-scene boxes (LiDAR false positives): ground in front of / behind the ego
            m = 8
            fwd = np.where(np.arange(m) % 2, 1.0, -1.0) * rng.uniform(6.0, 40.0, m)
            pb = np.column_stack([fwd, rng.uniform(-0.5, 0.5, m) * np.abs(fwd), np.full(m, 0.8)])
            pw = pb @ T_wb[:3, :3].T + T_wb[:3, 3]
            ph = ev.annotate(dets(pw, np.tile([1.5, 1.5, 1.6], (m, 1)), np.zeros(m), "odom"), frames, T_wb)
            _, obj = _labelled(ph, aid, np.full(m, -1))
            empty = ph.visible & (obj < 0.05)
            truth.append(np.full(int(empty.sum()), int(ObjectClass.UNKNOWN)))
            pred.append(np.argmax(ph.class_probs[empty], 1))
    truth, pred = np.concatenate(truth), np.concatenate(pred)
    for p in probs:
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-9)
        assert np.all(p >= 0)
    per_class = {}
    for c in (ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.PEDESTRIAN, ObjectClass.UNKNOWN):
        sel = truth == c
        assert sel.sum() >= 5, f"too few {c.name} samples ({sel.sum()}) for a meaningful check"
        per_class[c.name] = float(np.mean(pred[sel] == c))
    assert all(v > 0.8 for v in per_class.values()), per_class
    assert np.mean(pred == truth) > 0.85


def test_invisible_boxes_get_uniform_probabilities_and_visible_ones_a_cue():
    ev = CameraEvidence(CAL)
    img = np.full((H, W, 3), 90, np.uint8)
    frames = {"camera_front": CameraFrame(0, "camera_front", "camera_front", img)}
    cues = ev.annotate(dets([[12.0, 0.0, 0.8], [-12.0, 0.0, 0.8]], [[4.5, 1.9, 1.6]] * 2), frames)
    assert cues.visible.tolist() == [True, False]
    np.testing.assert_allclose(cues.class_probs[1], UNIFORM)
    np.testing.assert_allclose(cues.class_probs.sum(1), 1.0)
    assert cues.class_probs[0].max() > 0.3  # grey asphalt-like patch: a confident (unknown) cue


# -- bad input -----------------------------------------------------------------------------------
def _assert_nothing_visible(cues, n: int) -> None:
    assert cues.visible.shape == (n,) and not cues.visible.any()
    assert cues.camera == [None] * n
    assert cues.box2d.shape == (n, 4) and np.all(np.isnan(cues.box2d))
    assert cues.visibility.shape == (n,) and np.all(cues.visibility == 0)
    assert cues.class_probs.shape == (n, NUM_CLASSES)
    np.testing.assert_allclose(cues.class_probs, UNIFORM)


def test_missing_empty_and_bad_frames_give_nothing_visible_without_raising():
    ev = CameraEvidence(CAL)
    d = dets([[12.0, 0.0, 0.8], [-12.0, 0.0, 0.8]], [[4.5, 1.9, 1.6]] * 2)
    _assert_nothing_visible(ev.annotate(d, {}), 2)
    _assert_nothing_visible(ev.annotate(d, {"camera_front": None}), 2)  # type: ignore[dict-item]
    bad = {
        "empty": np.zeros((0, 0, 3), np.uint8),
        "gray": np.zeros((H, W), np.uint8),
        "float": np.zeros((H, W, 3), np.float32),
        "small": np.zeros((H // 2, W // 2, 3), np.uint8),
    }
    for img in bad.values():
        _assert_nothing_visible(ev.annotate(d, {"camera_front": CameraFrame(0, "camera_front", "f", img)}), 2)
    unknown = {"cam_x": CameraFrame(0, "camera_nowhere", "cam_x", np.zeros((H, W, 3), np.uint8))}
    _assert_nothing_visible(ev.annotate(d, unknown), 2)
    no_intr = {"lidar": CameraFrame(0, "lidar_top", "lidar", np.zeros((H, W, 3), np.uint8))}
    _assert_nothing_visible(ev.annotate(d, no_intr), 2)
    odd = CameraIntrinsics(W, H, CAL.intrinsics["camera_front"].K, np.array([0.1, 0.0, 0.0]))
    _assert_nothing_visible(ev.annotate(d, blank_frames("camera_front", intrinsics=odd)), 2)
    assert set(ev.skipped["camera_front"]) == {"missing", "bad_image", "size_mismatch", "bad_intrinsics"}
    assert ev.skipped["cam_x"]["unknown_frame"] == 1 and ev.skipped["lidar"]["no_intrinsics"] == 1
    # no detections, and detections with NaN / zero sizes, next to a good camera
    frames = blank_frames("camera_front")
    _assert_nothing_visible(ev.annotate(Detections.empty(0, "base_link"), frames), 0)
    nan = dets(
        [[np.nan, 0.0, 0.8], [12.0, 0.0, 0.8], [12.0, 0.0, 0.8]],
        [[4.5, 1.9, 1.6], [0.0, 1.9, 1.6], [4, 2, 1]],
    )
    nan.yaw[2] = np.nan
    _assert_nothing_visible(ev.annotate(nan, frames), 3)


def test_tracks_can_be_annotated():
    n = 2
    tracks = Tracks(
        0, "odom", np.arange(n), np.array([[12.0, 0.0, 0.0, 0.0], [-12.0, 0.0, 0.0, 0.0]]),
        np.tile(np.eye(4), (n, 1, 1)), np.full(n, 0.8), np.tile([4.5, 1.9, 1.6], (n, 1)), np.zeros(n),
        np.ones(n, np.int64), np.ones(n), np.ones(n), np.zeros(n, np.int64), np.ones(n, np.int64),
        np.ones(n, np.uint8),
    )  # fmt: skip
    cues = geometry_only().annotate(
        detections_from_tracks(tracks), blank_frames("camera_front", "camera_rear")
    )
    assert cues.camera == ["camera_front", "camera_rear"]


# -- configuration and model file ----------------------------------------------------------------
def test_config_validation_and_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="near_clip: unknown parameter"):
        CameraEvidenceConfig.from_dict({"near_clip": 0.2})
    for bad in ({"near_clip_m": 0.0}, {"min_visibility": 1.5}, {"grid_samples": 1}, {"prob_floor": 1.0},
                {"class_cue": "yes"}, {"cue_full_visibility": float("nan")}):  # fmt: skip
        with pytest.raises(ValueError):
            CameraEvidenceConfig.from_dict(bad)
    cfg = CameraEvidenceConfig.from_dict({"near_clip_m": 0.2, "grid_samples": 8})
    assert cfg.near_clip_m == 0.2 and cfg.grid_samples == 8
    with pytest.raises(FileNotFoundError):
        CameraEvidence(CAL, CameraEvidenceConfig(model_path=str(tmp_path / "none.npz")))
    stale = tmp_path / "stale.npz"
    np.savez(stale, feature_spec=np.array([0]), classes=np.array([1]))
    with pytest.raises(ValueError, match="retrain"):
        CameraEvidence(CAL, CameraEvidenceConfig(model_path=str(stale)))


def test_shipped_model_is_small_and_consistent():
    path = REPO / "src" / "sensor_fusion" / "models" / "camera_cue.npz"
    assert path.stat().st_size < 1_000_000
    m = CueModel.load(path)
    assert m.mu.shape == (NUM_FEATURES,)
    p = m.full_probs(np.tile(m.mu, (3, 1)))
    np.testing.assert_allclose(p.sum(1), 1.0)
