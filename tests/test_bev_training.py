"""bev_training: sample generation on a process pool gives the same samples as the serial path, a
bag that cannot be made stops the command after its retry instead of shrinking the set, and the
subcommands a user types (train, evaluate-bev, export-onnx, run --detector bev)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sensor_fusion.bev.detector import load_checkpoint
from sensor_fusion.bev_training import (
    DR_LIDAR_MODELS,
    bag_list,
    bag_variant,
    ensure_samples,
    expand_scenario,
    make_samples,
    parse_seeds,
)
from sensor_fusion.sim.recorder import scenario_from_bag


def test_parse_seeds():
    assert parse_seeds("101-103,110") == [101, 102, 103, 110]


def test_variant_names():
    drawn = {expand_scenario("urban+dr", s) for s in range(100, 140)}
    assert drawn == {f"urban+static+{m}" for m in DR_LIDAR_MODELS}  # every model gets drawn
    assert expand_scenario("urban+dr", 7) == expand_scenario("urban+dr", 7)  # reproducible
    assert expand_scenario("urban_clutter", 7) == "urban_clutter"
    assert bag_variant("urban_clutter_s701") == ("urban_clutter", 701, None, None)
    assert bag_variant("dense_traffic+static+os1_128_s3") == ("dense_traffic", 3, True, "os1_128")
    assert bag_variant("urban+open+vlp16_s3") == ("urban", 3, False, "vlp16")
    assert bag_list(["urban", "parking_lot+dr@3-4"], [1, 2]) == [
        ("urban", 1),
        ("urban", 2),
        ("parking_lot+dr", 3),
        ("parking_lot+dr", 4),
    ]
    with pytest.raises(ValueError, match="unknown bag variant"):
        bag_variant("urban+foggy_s3")


def test_variant_bag_is_simulated_as_named(tmp_path):
    bag = tmp_path / "bags" / "highway+static+vlp16_s7"
    rec = make_samples(str(bag), str(tmp_path / "a.npz"), 1.5)
    assert rec["samples"] > 0
    cfg = scenario_from_bag(bag)["config"]
    assert cfg["world"]["static"]["enabled"] and cfg["lidar"]["model"] == "vlp16"
    make_samples(str(bag), str(tmp_path / "b.npz"), 1.5, drop_bag=True)
    assert (tmp_path / "b.npz").exists() and not bag.exists()


def test_pool_generation_matches_serial_and_reports_failures(tmp_path):
    pool_dir, serial_dir = tmp_path / "pool", tmp_path / "serial"
    # 'nosuch' is not a scenario: its task fails twice and the command stops, naming it
    failed = r"2 bag\(s\): nosuch_s7: attempt 1: .*unknown scenario.*\| attempt 2: .*; nosuch_s8: "
    with pytest.raises(SystemExit, match=failed):
        ensure_samples(pool_dir, bag_list(["urban", "nosuch"], [7, 8]), 1.5, workers=2)
    assert not (pool_dir / "bags" / "nosuch_s7").exists()  # a failed attempt leaves no bag behind
    files = ensure_samples(pool_dir, bag_list(["urban"], [7, 8]), 1.5, workers=2)  # cached: nothing to redo
    assert [f.name for f in files] == ["urban_s7.npz", "urban_s8.npz"] and all(f.exists() for f in files)
    # the serial path on the same bags extracts the same samples
    for name in ("urban_s7", "urban_s8"):
        shutil.copytree(pool_dir / "bags" / name, serial_dir / "bags" / name)
    serial = ensure_samples(serial_dir, bag_list(["urban"], [7, 8]), 1.5)
    for a, b in zip(files, serial):
        with np.load(a) as za, np.load(b) as zb:
            assert sorted(za.files) == sorted(zb.files)
            for k in za.files:
                np.testing.assert_array_equal(za[k], zb[k], err_msg=f"{a.name}:{k}")


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
