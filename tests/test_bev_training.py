"""bev_training: sample generation on a process pool gives the same samples as the serial path,
and a bag that cannot be made stops the command after its retry instead of shrinking the set."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from sensor_fusion.bev_training import ensure_samples, parse_seeds


def test_parse_seeds():
    assert parse_seeds("101-103,110") == [101, 102, 103, 110]


def test_pool_generation_matches_serial_and_reports_failures(tmp_path):
    pool_dir, serial_dir = tmp_path / "pool", tmp_path / "serial"
    # 'nosuch' is not a scenario: its task fails twice and the command stops, naming it
    failed = r"2 bag\(s\): nosuch_s7: attempt 1: .*unknown scenario.*\| attempt 2: .*; nosuch_s8: "
    with pytest.raises(SystemExit, match=failed):
        ensure_samples(pool_dir, ["urban", "nosuch"], [7, 8], 1.5, workers=2)
    assert not (pool_dir / "bags" / "nosuch_s7").exists()  # a failed attempt leaves no bag behind
    files = ensure_samples(pool_dir, ["urban"], [7, 8], 1.5, workers=2)  # cached: nothing to redo
    assert [f.name for f in files] == ["urban_s7.npz", "urban_s8.npz"] and all(f.exists() for f in files)
    # the serial path on the same bags extracts the same samples
    for name in ("urban_s7", "urban_s8"):
        shutil.copytree(pool_dir / "bags" / name, serial_dir / "bags" / name)
    serial = ensure_samples(serial_dir, ["urban"], [7, 8], 1.5)
    for a, b in zip(files, serial):
        with np.load(a) as za, np.load(b) as zb:
            assert sorted(za.files) == sorted(zb.files)
            for k in za.files:
                np.testing.assert_array_equal(za[k], zb[k], err_msg=f"{a.name}:{k}")
