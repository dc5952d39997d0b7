"""The opt-in street-canyon weights (trained on the open and the static world, docs/bev.md) are a
drop-in replacement for the default: same architecture, grid and inputs, loadable by the detector.
The default is what its model card says: 0.6 of the open network plus 0.4 of session 21's street
network (``bev_fusion_street_s21.pt``, the opt-in before session 23)."""

from __future__ import annotations

import torch

from sensor_fusion.bev.config import BevDetectorConfig
from sensor_fusion.bev.detector import DEFAULT_WEIGHTS, BevDetector, load_checkpoint
from sensor_fusion.core.calibration import Calibration

STREET = DEFAULT_WEIGHTS.with_name("bev_fusion_street.pt")
STREET_S21 = DEFAULT_WEIGHTS.with_name("bev_fusion_street_s21.pt")
OPEN = DEFAULT_WEIGHTS.with_name("bev_fusion_open.pt")
OPEN_ROAD_VAL = ("urban", "highway", "intersection", "radar_clutter", "dense_traffic")


def test_street_weights_are_a_drop_in_for_the_default():
    default, street = load_checkpoint(DEFAULT_WEIGHTS), load_checkpoint(STREET)
    for key in ("arch", "grid", "image_wh", "output_stride"):
        assert street["meta"].get(key) == default["meta"].get(key), key
    assert street["model"].keys() == default["model"].keys()
    differ = [k for k in default["model"] if not torch.equal(default["model"][k], street["model"][k])]
    assert differ, "the street weights are a copy of the default"
    BevDetector(Calibration(), [], config=BevDetectorConfig(weights=str(STREET), device="cpu"))


def test_default_weights_are_the_documented_average_of_open_and_street():
    default, opened, street = (load_checkpoint(p) for p in (DEFAULT_WEIGHTS, OPEN, STREET_S21))
    meta = default["meta"]
    assert meta["averaged_from"] == [OPEN.name, STREET_S21.name]
    share = meta["street_share"]
    assert share == 0.4
    for k, t in default["model"].items():
        if t.is_floating_point():
            want = (1.0 - share) * opened["model"][k] + share * street["model"][k]
            torch.testing.assert_close(t, want, rtol=0, atol=1e-6, msg=k)
        else:
            assert torch.equal(t, street["model"][k]), k
    # the residuals (its boxes' covariances) are its own, measured on the open-road validation frames
    assert meta["val_files"] == [f"{s}_s201.npz" for s in OPEN_ROAD_VAL]
    assert meta["pos_std_m"] != opened["meta"]["pos_std_m"]
    BevDetector(Calibration(), [], config=BevDetectorConfig(weights=str(OPEN), device="cpu"))


def test_street_weights_are_the_documented_average_of_the_mix_network_and_its_fine_tune():
    """Session 23's opt-in: half the network trained on the whole mix, half its open-road fine-tune."""
    meta = load_checkpoint(STREET)["meta"]
    assert meta["averaged_from"] == ["mix_openft.pt", "bev_fusion_mix.pt"]
    assert meta["street_share"] == 0.5
    assert meta["val_files"] == [f"{s}_s201.npz" for s in OPEN_ROAD_VAL]
