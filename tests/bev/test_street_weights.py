"""The opt-in street-canyon weights (fine-tuned on the static world, docs/bev.md) are a drop-in
replacement for the default: same architecture, grid and inputs, loadable by the detector."""

from __future__ import annotations

import torch

from sensor_fusion.bev.config import BevDetectorConfig
from sensor_fusion.bev.detector import DEFAULT_WEIGHTS, BevDetector, load_checkpoint
from sensor_fusion.core.calibration import Calibration

STREET = DEFAULT_WEIGHTS.with_name("bev_fusion_street.pt")


def test_street_weights_are_a_drop_in_for_the_default():
    default, street = load_checkpoint(DEFAULT_WEIGHTS), load_checkpoint(STREET)
    for key in ("arch", "grid", "image_wh", "output_stride"):
        assert street["meta"].get(key) == default["meta"].get(key), key
    assert street["model"].keys() == default["model"].keys()
    differ = [k for k in default["model"] if not torch.equal(default["model"][k], street["model"][k])]
    assert differ, "the street weights are a copy of the default"
    BevDetector(Calibration(), [], config=BevDetectorConfig(weights=str(STREET), device="cpu"))
