"""ONNX export of the BEV network, checked against torch on the same inputs.

The graph takes the same six tensors as :class:`BevFusionNet` (the camera lift grid is an
input, so one exported file serves any rig) with dynamic batch and camera count. Decoding
(peaks, NMS) stays outside: it is cheap and integer-heavy, and deployments differ there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .detector import load_model
from .grid import LIDAR_CHANNELS, RADAR_CHANNELS, BevGrid
from .model import OUTPUT_STRIDE

INPUT_NAMES = ["lidar", "radar", "images", "cam_grid", "cam_valid", "present"]


def example_inputs(meta: dict, batch: int = 1, cameras: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    grid = BevGrid.from_dict(meta["grid"])
    H, W = grid.shape
    Ho, Wo = grid.coarse(OUTPUT_STRIDE).shape
    K = len(grid.lift_heights_m)
    w, h = meta["image_wh"]
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(batch, LIDAR_CHANNELS, H, W, generator=g),
        torch.rand(batch, RADAR_CHANNELS, H, W, generator=g),
        torch.rand(batch, cameras, 3, h, w, generator=g),
        torch.rand(cameras, K * Ho, Wo, 2, generator=g) * 2.2 - 1.1,
        (torch.rand(batch, cameras, K * Ho, Wo, generator=g) > 0.3).float(),
        torch.ones(batch, 3),
    )


def dynamic_axes() -> dict[str, dict[int, str]]:
    return {
        "lidar": {0: "batch"},
        "radar": {0: "batch"},
        "images": {0: "batch", 1: "cameras"},
        "cam_grid": {0: "cameras"},
        "cam_valid": {0: "batch", 1: "cameras"},
        "present": {0: "batch"},
        "head": {0: "batch"},
    }


def export_onnx(weights: str | Path, out: str | Path, opset: int = 18) -> dict:
    """Write ``out`` from the weights file and compare it with torch (see :func:`export_model`)."""
    model, meta = load_model(weights)
    return export_model(model, meta, out, opset)


def export_model(model: torch.nn.Module, meta: dict, out: str | Path, opset: int = 18) -> dict:
    """Write ``model``'s graph to ``out`` and compare it with torch on other inputs than the trace's
    (ONNX Runtime when installed: ``max_abs_diff``; else only the ONNX checker, diff NaN)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        example_inputs(meta),
        str(out),
        input_names=INPUT_NAMES,
        output_names=["head"],
        dynamic_axes=dynamic_axes(),
        opset_version=opset,
        # the TorchScript exporter: its graph keeps the batch axis dynamic on the output too, and it
        # exports in ~3 s here; torch 2.13's dynamo exporter pinned the output batch to 1 (25 s)
        dynamo=False,
    )
    # check on different inputs than the trace: batch 2, one camera (dynamic axes really work)
    check = example_inputs(meta, batch=2, cameras=1, seed=1)
    with torch.inference_mode():
        ref = model(*check).numpy()
    try:
        import onnxruntime as ort
    except ImportError:
        import onnx

        onnx.checker.check_model(str(out))
        return {"max_abs_diff": float("nan"), "checked_with": "onnx.checker (onnxruntime not installed)"}
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: a.numpy() for n, a in zip(INPUT_NAMES, check)})[0]
    diff = float(np.max(np.abs(got - ref)))
    return {
        "max_abs_diff": diff,
        "checked_with": f"onnxruntime {ort.__version__}",
        "reference": ref,
        "onnx": got,
    }
