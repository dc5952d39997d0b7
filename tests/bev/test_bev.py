"""BEV fusion network: rasters, the geometric camera lift, shapes, targets <-> decoding,
missing modalities, ONNX export, training/resume and the shipped weights in the pipeline."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from sensor_fusion.bev.config import BevDetectorConfig
from sensor_fusion.bev.dataset import SampleSet, count_in_boxes
from sensor_fusion.bev.decode import decode
from sensor_fusion.bev.detector import DEFAULT_WEIGHTS, BevDetector, load_checkpoint
from sensor_fusion.bev.export import export_onnx
from sensor_fusion.bev.grid import LIDAR_CHANNELS, RADAR_CHANNELS, BevGrid, lidar_raster, radar_raster
from sensor_fusion.bev.inputs import BevInputs, radar_to_anchor
from sensor_fusion.bev.lift import camera_lift_grid
from sensor_fusion.bev.model import HEAD_CHANNELS, HM, OUTPUT_STRIDE, BevFusionNet, sample_to_bev
from sensor_fusion.bev.targets import CLASS_TO_INDEX, build_targets, losses
from sensor_fusion.bev.train import TrainConfig, train
from sensor_fusion.bev_training import extract_bag
from sensor_fusion.config import ConfigError, from_flat, load_params_file
from sensor_fusion.core.calibration import load_calibration
from sensor_fusion.core.classes import SENSOR_BEV, ObjectClass
from sensor_fusion.core.types import CameraFrame, RadarScan

GRID = BevGrid()
HEAD = GRID.coarse(OUTPUT_STRIDE)


@pytest.fixture(scope="module")
def calibration(repo):
    return load_calibration(repo / "config" / "calibration.yaml")


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A checkpoint of an untrained network: tests of plumbing must not depend on training."""
    torch.manual_seed(0)
    p = tmp_path_factory.mktemp("w") / "random.pt"
    meta = {"grid": GRID.to_dict(), "image_wh": [160, 96], "arch": {"lift_heights": 4}, "output_stride": 2}
    torch.save({"model": BevFusionNet().state_dict(), "meta": meta}, p)
    return p


def test_lidar_raster_counts_heights_and_drops_bad_points():
    pts = np.array(
        [
            [10.1, -3.9, 0.1],  # ground slice
            [10.2, -3.8, 1.0],  # 0.75..1.5 slice, same cell
            [10.3, -3.7, 1.2],
            [np.nan, 0.0, 1.0],  # dropped
            [80.0, 0.0, 1.0],  # outside the grid
        ],
        np.float32,
    )
    r = lidar_raster(GRID, pts, np.array([255, 0, 255, 255, 255], np.float32))
    assert r.shape == (LIDAR_CHANNELS, *GRID.shape)
    row, col = int((10.1 + 51.2) / 0.8), int((-3.9 + 51.2) / 0.8)
    assert r[0, row, col] == pytest.approx(np.log1p(1)) and r[2, row, col] == pytest.approx(np.log1p(2))
    assert r[5, row, col] == pytest.approx(1.2) and r[6, row, col] == pytest.approx(2 / 3)
    assert r[7].sum() == 1.0  # one occupied cell
    assert not lidar_raster(GRID, np.zeros((0, 3), np.float32)).any()
    assert not lidar_raster(GRID, None).any()


def test_radar_doppler_is_ego_compensated_and_rasterised():
    # ego drives at 10 m/s; a static point ahead reads -10 m/s, a car ahead at +5 m/s reads -5 m/s
    T_br = np.eye(4)
    T_br[:3, 3] = [3.6, 0.0, 0.6]
    f32 = np.float32
    pts = np.array([[20.3, 0, 0], [30.3, 0, 0]], f32)
    scan = RadarScan(0, "radar_front", pts, np.array([-10.0, -5.0], f32), np.array([10.0, 10.0], f32))
    xyz, dop, los, rcs = radar_to_anchor([(scan, T_br, np.eye(4))], np.array([10.0, 0, 0]), 0.0)
    np.testing.assert_allclose(dop, [0.0, 5.0], atol=1e-5)
    np.testing.assert_allclose(xyz[:, 0], [23.9, 33.9], atol=1e-5)
    r = radar_raster(GRID, xyz, dop, los, rcs)
    assert r.shape == (RADAR_CHANNELS, *GRID.shape)
    row = int((33.9 + 51.2) / 0.8)
    assert r[1, row, 64] == pytest.approx(5.0) and r[3, row, 64] == pytest.approx(5.0)
    # a NaN return is dropped, not rasterised
    bad = RadarScan(0, "radar_front", np.array([[np.nan, 0, 0]], f32), np.zeros(1, f32), np.zeros(1, f32))
    assert len(radar_to_anchor([(bad, T_br, np.eye(4))], np.zeros(3), 0.0)[0]) == 0


def test_feature_at_a_known_pixel_lands_in_the_right_bev_cell(calibration):
    """Project a chosen BEV cell (at one lift height) with cv2 into the front camera, put a
    feature peak at that pixel, lift: the brightest BEV cell at that height is the chosen one."""
    intr = calibration.intrinsics["camera_front"]
    T = calibration.T_base_from("camera_front")
    grid, valid = camera_lift_grid(HEAD, T, intr)
    H, W = HEAD.shape
    xs, ys = HEAD.cell_centres()
    for (row, col), k in (((45, 36), 1), ((50, 28), 2), ((40, 34), 0)):
        p_base = np.array([xs[row, col], ys[row, col], HEAD.lift_heights_m[k], 1.0])
        p_cam = np.linalg.inv(T) @ p_base
        uv, _ = cv2.projectPoints(p_cam[None, :3], np.zeros(3), np.zeros(3), intr.K, intr.D)
        u, v = uv.ravel()
        assert 0 <= u < intr.width and 0 <= v < intr.height
        # a smooth peak at the pixel: the cell whose centre projects closest to it samples the most
        vv, uu = np.mgrid[0 : intr.height, 0 : intr.width].astype(np.float32)
        feat = np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / (2 * 2.0**2))[None, None].astype(np.float32)
        out = sample_to_bev(
            torch.from_numpy(feat), torch.from_numpy(grid[None]), torch.from_numpy(valid[None, None]), 4
        )  # (1, 1*K, H, W): channel k is height k
        lit = out[0, k].numpy()
        assert np.unravel_index(lit.argmax(), lit.shape) == (row, col)
        assert lit[row, col] > 0.9
    # cells behind the front camera are never valid
    assert not valid.reshape(4, H, W)[:, : H // 2 - 2].any()


def test_model_shapes_for_any_camera_count():
    model = BevFusionNet().eval()
    H, W = GRID.shape
    Ho, Wo = HEAD.shape
    for nc in (1, 2, 3):
        args = (
            torch.zeros(2, LIDAR_CHANNELS, H, W),
            torch.zeros(2, RADAR_CHANNELS, H, W),
            torch.zeros(2, nc, 3, 96, 160),
            torch.zeros(nc, 4 * Ho, Wo, 2),
            torch.zeros(2, nc, 4 * Ho, Wo),
            torch.ones(2, 3),
        )
        with torch.inference_mode():
            assert model(*args).shape == (2, HEAD_CHANNELS, Ho, Wo)


def test_targets_decode_back_to_the_boxes():
    centers = np.array([[12.3, -4.1, 0.8], [-20.7, 8.2, 1.6], [5.1, 30.3, 0.9]])
    sizes = np.array([[4.5, 1.9, 1.5], [10.0, 2.5, 3.2], [0.6, 0.6, 1.8]])
    yaw = np.array([0.3, -2.8, 1.4])
    labels = np.array([ObjectClass.CAR, ObjectClass.TRUCK, ObjectClass.PEDESTRIAN])
    vel = np.array([[5.0, 1.0], [-3.0, 0.5], [0.0, 1.2]])
    hm, idx, reg, mask = build_targets(HEAD, centers, sizes, yaw, labels, vel)
    Ho, Wo = HEAD.shape
    head = torch.full((1, HEAD_CHANNELS, Ho, Wo), 0.0)
    head[0, HM] = torch.logit(torch.from_numpy(hm).clamp(1e-4, 1 - 1e-4))
    flat = head[0, 5:].reshape(10, -1)
    for j in range(int(mask.sum())):
        flat[:, idx[j]] = torch.from_numpy(reg[j])
    det = decode(head, HEAD, 7, "base_link")
    assert len(det) == 3 and (det.sensors == SENSOR_BEV).all()
    order = np.argsort(det.centers[:, 0])
    want = np.argsort(centers[:, 0])
    np.testing.assert_allclose(det.centers[order], centers[want], atol=1e-4)
    np.testing.assert_allclose(det.sizes[order], sizes[want], rtol=1e-4)
    np.testing.assert_allclose(det.velocity[order], vel[want], atol=1e-4)
    np.testing.assert_allclose(np.cos(det.yaw[order] - yaw[want]), 1.0, atol=1e-6)
    assert list(det.labels[order]) == list(labels[want])
    # the loss of a perfect head is the heatmap's floor, and L1 terms vanish
    t = [torch.from_numpy(a)[None] for a in (hm, idx, reg, mask)]
    out = losses(head, *t)
    assert float(out["offset"]) < 1e-5 and float(out["velocity"]) < 1e-5
    assert CLASS_TO_INDEX[int(ObjectClass.UNKNOWN)] == -1


def test_count_in_boxes_ignores_ground_under_the_box():
    pts = np.array([[0.0, 0.0, 0.05], [0.0, 0.0, 1.0], [2.1, 0.0, 1.0], [0.0, 1.5, 1.0]])
    n = count_in_boxes(pts, np.array([[0.0, 0.0, 0.75]]), np.array([[4.0, 2.0, 1.5]]), np.array([0.0]), 0.2)
    assert list(n) == [1]


def _frames(calibration, which: str) -> BevInputs:
    cams = {}
    if "camera" in which:
        img = np.full((384, 640, 3), 90, np.uint8)
        cams = {"camera_front": CameraFrame(0, "camera_front", "camera_front", img)}
        if "bad" in which:  # a grayscale image where BGR is expected, and a camera with no calibration
            cams["camera_rear"] = CameraFrame(0, "camera_rear", "camera_rear", np.zeros((10, 10), np.uint8))
            cams["camera_x"] = CameraFrame(0, "nowhere", "camera_x", img)
    inp = BevInputs(1_000, cameras=cams, ego_known=True)
    if "lidar" in which:
        rng = np.random.default_rng(0)
        pts = rng.normal(0, 10, (5000, 3)).astype(np.float32)
        inp.lidar_xyz = np.zeros((0, 3), np.float32) if "empty" in which else pts
        if "nan" in which:
            inp.lidar_xyz[::3] = np.nan
    if "radar" in which:
        inp.radar_xyz = np.array([[20.0, 1.0, 0.5]], np.float32)
        inp.radar_doppler, inp.radar_los = np.array([3.0], np.float32), np.array([[1.0, 0.0]], np.float32)
        inp.radar_rcs = np.array([10.0], np.float32)
    return inp


@pytest.mark.parametrize(
    "which", ["", "lidar", "lidar-empty", "lidar-nan", "camera", "radar", "camera-bad", "lidar-camera-radar"]
)
def test_any_missing_or_broken_modality_gives_valid_detections(calibration, random_weights, which):
    cfg = BevDetectorConfig(weights=str(random_weights), device="cpu", score_threshold=0.0)
    det = BevDetector(calibration, ["camera_front", "camera_rear", "camera_x"], None, cfg)
    out = det.detect(_frames(calibration, which))
    assert out.frame_id == "base_link" and len(out) <= 200
    assert np.isfinite(out.centers).all() and np.isfinite(out.velocity).all()
    assert set(det.last_timing) == {"raster", "network", "decode"}


def test_onnx_export_matches_torch(random_weights, tmp_path):
    res = export_onnx(random_weights, tmp_path / "bev.onnx")
    assert (tmp_path / "bev.onnx").stat().st_size > 100_000
    assert res["max_abs_diff"] < 1e-3, res["checked_with"]
    assert np.abs(res["reference"]).max() > 1e-2  # a real output was compared, not zeros


def test_config_accepts_modes_and_rejects_bad_bev_settings():
    assert from_flat({"detection_mode": "both"})["detection_mode"] == "both"
    for bad in ({"detection_mode": "learned"}, {"bev.device": "tpu"}, {"bev.score_treshold": 0.2}):
        with pytest.raises(ConfigError):
            from_flat(bad)


@pytest.fixture(scope="module")
def short_bag(tmp_path_factory):
    from sensor_fusion.sim.recorder import record

    out = tmp_path_factory.mktemp("bev") / "urban_s7"
    record("urban", 7, 3.0, out)  # seed 7: not a training seed
    return out


def test_extract_train_and_resume(short_bag, tmp_path):
    cache = tmp_path / "cache" / "urban_s7.npz"
    n = extract_bag(short_bag, cache, GRID, (160, 96))
    assert n >= 10
    data = SampleSet([cache])
    assert len(data) == n and data.cam_grid.shape[0] == 2
    b = data.boxes(n - 1)
    assert len(b["centers"]) > 3 and (b["lidar_pts"] > 0).any() and b["cam"].any()
    cfg = TrainConfig(epochs=1, batch_size=4, log_every=1, checkpoint_every=2)
    work = tmp_path / "work"
    steps = -(-n // 4)
    meta = train(data, None, work, tmp_path / "w.pt", cfg)
    log_lines = (work / "train_log.jsonl").read_text().splitlines()
    assert len(log_lines) == steps and all(np.isfinite(json.loads(x)["total"]) for x in log_lines)
    assert meta["history"][-1]["step"] == steps
    # resuming a finished run trains nothing more and writes the same weights
    meta2 = train(data, None, work, tmp_path / "w2.pt", cfg)
    assert meta2["history"] == meta["history"]
    a, b2 = load_checkpoint(tmp_path / "w.pt")["model"], load_checkpoint(tmp_path / "w2.pt")["model"]
    assert all(torch.equal(a[k], b2[k]) for k in a)


def test_shipped_weights_and_model_card_facts():
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    meta = ckpt["meta"]
    assert DEFAULT_WEIGHTS.stat().st_size < 8_000_000
    train_seeds = {f.split("_s")[-1].split(".")[0] for f in meta["train_files"]}
    val_seeds = {f.split("_s")[-1].split(".")[0] for f in meta["val_files"]}
    assert train_seeds and val_seeds and not train_seeds & val_seeds
    assert meta["history"][-1]["val_det_ap"] > 0.3  # held-out AP at the end of training


def test_pipeline_runs_the_network_with_modalities_withheld(short_bag, tmp_path, repo):
    from sensor_fusion.bag.io import bag_topics
    from sensor_fusion.bag.offline import run_bag
    from sensor_fusion.eval.bags import evaluate_bags
    from sensor_fusion.sim.recorder import calibration_from_bag, scenario_from_bag

    d = scenario_from_bag(short_bag)["config"]["gps"]["datum"]
    for mode, withhold in (("bev", set()), ("bev", {"lidar", "radar"}), ("both", {"camera"})):
        cfg = from_flat({**load_params_file(repo / "config" / "fusion.yaml"), "detection_mode": mode})
        cfg.ego.datum = (d["lat_deg"], d["lon_deg"], d["alt_m"])
        out = tmp_path / f"{mode}_{'_'.join(sorted(withhold))}"
        s = run_bag(short_bag, cfg, calibration_from_bag(short_bag), out, withhold=withhold)
        assert s.frames >= 25
        topics = bag_topics(out)
        assert "/fusion_node/detections/bev" in topics
        assert ("/fusion_node/detections/lidar" in topics) == (mode == "both")
        if not withhold:
            res = evaluate_bags(short_bag, out)
            assert res["det_source"] == "bev" and res["det_ap"] > 0.2, res["det_ap"]


def test_cli_train_evaluate_export_and_run(short_bag, tmp_path, random_weights, capsys):
    """The subcommands a user types: train, evaluate-bev, export-onnx, run --detector --modalities."""
    from sensor_fusion.bag.io import bag_topics
    from sensor_fusion.cli import main

    work = tmp_path / "bevwork"
    (work / "bags").mkdir(parents=True)
    (work / "bags" / "urban_s7").symlink_to(short_bag)  # what `train` would simulate for seed 7
    weights = tmp_path / "w.pt"
    common = ["--workdir", str(work), "--scenarios", "urban", "--duration", "3"]
    ap, onnx, cam_only = tmp_path / "ap.json", tmp_path / "m.onnx", tmp_path / "cam_only"
    w = str(weights)
    for argv in (
        ["train", *common, "--train-seeds", "7", "--val-seeds", "", "--epochs", "1", "--out", w],
        ["evaluate-bev", *common, "--seeds", "7", "--every", "4", "--weights", w, "--json", str(ap)],
        ["export-onnx", "--weights", str(random_weights), "--out", str(onnx)],
        ["run", "--bag", str(short_bag), "--out", str(cam_only), "--detector", "bev", "--modalities=camera"],
    ):  # fmt: skip
        with pytest.raises(SystemExit) as ex:
            main(argv)
        assert ex.value.code == 0, argv
    assert load_checkpoint(weights)["meta"]["history"][-1]["epoch"] == 0
    rows = json.loads(ap.read_text())
    assert set(rows) == {
        "lidar",
        "camera",
        "radar",
        "lidar+camera",
        "lidar+radar",
        "camera+radar",
        "lidar+camera+radar",
    }
    assert onnx.stat().st_size > 100_000 and "max |onnx - torch|" in capsys.readouterr().out
    topics = bag_topics(cam_only)
    assert "/fusion_node/detections/bev" in topics and "/fusion_node/detections/lidar" not in topics
