"""bev/train.py: samples extracted from a bag train, log and resume to the same weights."""

from __future__ import annotations

import json

import numpy as np
import torch

from sensor_fusion.bev.dataset import SampleSet
from sensor_fusion.bev.detector import load_checkpoint
from sensor_fusion.bev.grid import INTENSITY_CHANNEL, BevGrid
from sensor_fusion.bev.model import OUTPUT_STRIDE
from sensor_fusion.bev.train import TrainConfig, _draw_intensity_gain, batch, train
from sensor_fusion.bev_training import extract_bag

GRID = BevGrid()
HEAD = GRID.coarse(OUTPUT_STRIDE)


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


def test_fine_tune_starts_from_given_weights(short_bag, tmp_path, random_weights):
    cache = tmp_path / "urban_s7.npz"
    extract_bag(short_bag, cache, GRID, (160, 96))
    data = SampleSet([cache])
    # a vanishing learning rate: the parameters stay those it started from (seed 1: a random
    # start would differ from the fixture, which is seed 0)
    cfg = TrainConfig(epochs=1, batch_size=4, lr=1e-9, seed=1, init_weights=str(random_weights))
    train(data, None, tmp_path / "work", tmp_path / "w.pt", cfg)
    init, tuned = load_checkpoint(random_weights)["model"], load_checkpoint(tmp_path / "w.pt")["model"]
    params = [k for k in init if "running" not in k and "num_batches" not in k]
    assert all(torch.allclose(init[k], tuned[k], atol=1e-6) for k in params)
    assert (tmp_path / "work" / "epoch_0.pt").exists()  # each epoch's weights, to pick one by validation


def test_intensity_augmentation_draws_and_touches_only_the_intensity_channel(short_bag, tmp_path):
    cfg = TrainConfig(intensity_drop_prob=0.2, intensity_gain_prob=0.5, intensity_gain_max=3.0)
    g = _draw_intensity_gain(np.random.default_rng(0), 20_000, cfg)
    assert abs((g == 0).mean() - 0.2) < 0.02 and abs((g == 1).mean() - 0.3) < 0.02
    scaled = g[(g != 0) & (g != 1)]
    assert scaled.min() >= 1 / 3 - 1e-9 and scaled.max() <= 3 + 1e-9 and abs(np.log(scaled).mean()) < 0.05
    assert _draw_intensity_gain(np.random.default_rng(0), 4, TrainConfig()) is None  # off by default

    extract_bag(short_bag, tmp_path / "s.npz", GRID, (160, 96))
    data = SampleSet([tmp_path / "s.npz"])
    idx = np.array([0, 1])
    present, keep = np.ones((2, 3), np.float32), np.ones((2, data.cam_grid.shape[0]), np.float32)
    plain, _ = batch(data, idx, present.copy(), keep.copy(), torch.device("cpu"))
    aug, _ = batch(data, idx, present.copy(), keep.copy(), torch.device("cpu"), np.array([0.0, 2.0]))
    lid, lid_aug = plain[0].numpy(), aug[0].numpy()
    assert lid[:, INTENSITY_CHANNEL].max() > 0  # the generator's clouds carry intensity
    assert (lid_aug[0, INTENSITY_CHANNEL] == 0).all()
    np.testing.assert_allclose(lid_aug[1, INTENSITY_CHANNEL], 2 * lid[1, INTENSITY_CHANNEL], rtol=1e-6)
    other = [c for c in range(lid.shape[1]) if c != INTENSITY_CHANNEL]
    np.testing.assert_array_equal(lid_aug[:, other], lid[:, other])
