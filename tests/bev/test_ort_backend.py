"""The BEV network on ONNX Runtime (``bev.backend: auto`` on the CPU): the same detections as torch,
a damaged cached graph is made again, and a graph that cannot be made leaves the network on torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sensor_fusion.bev import ort_backend
from sensor_fusion.bev.config import BevDetectorConfig
from sensor_fusion.bev.detector import BevDetector
from sensor_fusion.bev.inputs import BevInputs
from sensor_fusion.core.types import CameraFrame

CAMERAS = ["camera_front", "camera_rear"]


def _frame() -> BevInputs:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (384, 640, 3), dtype=np.uint8)
    inp = BevInputs(1_000, cameras={"camera_front": CameraFrame(0, "camera_front", "camera_front", img)})
    inp.ego_known = True
    inp.lidar_xyz = np.concatenate(
        [rng.normal([12.0, 3.0, 0.7], [1.5, 0.6, 0.4], (800, 3)), rng.normal(0, 15, (4000, 3))]
    ).astype(np.float32)
    return inp


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSOR_FUSION_CACHE", str(tmp_path))
    return tmp_path


def _detector(calibration, backend: str, weights) -> BevDetector:
    cfg = BevDetectorConfig(weights=str(weights), device="cpu", backend=backend, score_threshold=0.0)
    return BevDetector(calibration, CAMERAS, None, cfg)


def test_onnxruntime_computes_what_torch_computes(calibration, random_weights, cache):
    ort_det = _detector(calibration, "auto", random_weights)
    torch_det = _detector(calibration, "torch", random_weights)
    assert ort_det.backend == "onnxruntime" and torch_det.backend == "torch"
    assert len(list(cache.glob("bev_*.onnx"))) == 1
    args = ort_det.tensors(_frame())
    with torch.inference_mode():
        ref = torch_det.model(*args)
    got = ort_det._net(*args)
    assert got.shape == ref.shape
    assert float((got - ref).abs().max()) < 1e-4


def test_shipped_weights_find_the_same_boxes_on_either_backend(calibration, cache):
    low = {"device": "cpu", "score_threshold": 0.02}  # enough boxes to compare
    a = BevDetector(calibration, CAMERAS, None, BevDetectorConfig(**low)).detect(_frame())
    b = BevDetector(calibration, CAMERAS, None, BevDetectorConfig(**low, backend="torch")).detect(_frame())
    assert len(a) == len(b) > 0
    oa, ob = np.lexsort(a.centers.T[:2]), np.lexsort(b.centers.T[:2])
    np.testing.assert_allclose(a.centers[oa], b.centers[ob], atol=1e-3)
    np.testing.assert_array_equal(a.labels[oa], b.labels[ob])


def test_a_damaged_cached_graph_is_made_again(calibration, random_weights, cache):
    _detector(calibration, "auto", random_weights)
    (path,) = cache.glob("bev_*.onnx")
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as by a full disk
    det = _detector(calibration, "auto", random_weights)
    assert det.backend == "onnxruntime" and path.stat().st_size > 100_000
    assert np.isfinite(det.detect(_frame()).centers).all()


def test_a_graph_that_cannot_be_made_leaves_torch(calibration, random_weights, cache, monkeypatch, caplog):
    def broken(*_a, **_k):
        raise RuntimeError("exporter failed")

    monkeypatch.setattr(ort_backend, "_export", broken)
    det = _detector(calibration, "auto", random_weights)
    assert det.backend == "torch"
    assert "stays on torch" in caplog.text and "exporter failed" in caplog.text
    assert len(det.detect(_frame())) >= 0
