"""bev/export.py: the ONNX export gives the torch model's outputs."""

from __future__ import annotations

import numpy as np

from sensor_fusion.bev.export import export_onnx


def test_onnx_export_matches_torch(random_weights, tmp_path):
    res = export_onnx(random_weights, tmp_path / "bev.onnx")
    assert (tmp_path / "bev.onnx").stat().st_size > 100_000
    assert res["max_abs_diff"] < 1e-3, res["checked_with"]
    assert np.abs(res["reference"]).max() > 1e-2  # a real output was compared, not zeros
