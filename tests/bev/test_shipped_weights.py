"""The shipped weights (session 24: the network trained on the open and the static world, docs/bev.md)
and the open-road network kept beside them are drop-ins for each other: same architecture, grid and
inputs, both loadable by the detector. The default's meta names what it was averaged from."""

from __future__ import annotations

import torch

from sensor_fusion.bev.config import BevDetectorConfig
from sensor_fusion.bev.detector import DEFAULT_WEIGHTS, BevDetector, load_checkpoint
from sensor_fusion.core.calibration import Calibration

OPEN = DEFAULT_WEIGHTS.with_name("bev_fusion_open.pt")
OPEN_ROAD_VAL = ("urban", "highway", "intersection", "radar_clutter", "dense_traffic")


def test_open_road_weights_are_a_drop_in_for_the_default():
    default, opened = load_checkpoint(DEFAULT_WEIGHTS), load_checkpoint(OPEN)
    for key in ("arch", "grid", "image_wh", "output_stride", "classes"):
        assert opened["meta"].get(key) == default["meta"].get(key), key
    assert opened["model"].keys() == default["model"].keys()
    differ = [k for k in default["model"] if not torch.equal(default["model"][k], opened["model"][k])]
    assert differ, "the open-road weights are a copy of the default"
    BevDetector(Calibration(), [], config=BevDetectorConfig(weights=str(OPEN), device="cpu"))


def test_default_weights_are_the_documented_average_of_the_mix_network_and_its_fine_tune():
    """Half the network trained on the whole mix, half its open-road fine-tune, of the training run
    with --seed 1 (docs/bev.md's card: the best of three runs on the canyon's validation)."""
    meta = load_checkpoint(DEFAULT_WEIGHTS)["meta"]
    assert meta["averaged_from"] == ["s1_openft.pt", "s1_mix.pt"]
    assert meta["train"]["seed"] == 1
    assert meta["street_share"] == 0.5
    # the residuals (its boxes' covariances) are its own, measured on the open-road validation frames
    assert meta["val_files"] == [f"{s}_s201.npz" for s in OPEN_ROAD_VAL]
    assert meta["pos_std_m"] != load_checkpoint(OPEN)["meta"]["pos_std_m"]
