"""KITTI text formats: label_02, AB3DMOT's CSV, calib; malformed lines are reported and skipped."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.kitti.formats import (
    KittiCalib,
    KittiObjects,
    read_calib,
    read_tracking_file,
    sequence_files,
    write_calib,
    write_tracking_file,
)

AB3DMOT = """\
0,2,298.3125,165.1800,458.2292,293.4200,8.2981,1.9605,1.8137,4.7549,-4.5720,1.8435,13.5308,-2.1125,-1.7867
0,1,712.4,143.0,810.7,307.9,-1.5,1.89,0.48,1.20,1.84,1.47,8.41,0.01,-0.20
3,Cyclist,10,20,30,40,0.5,1.7,0.6,1.8,5.0,1.6,20.0,1.0,0.75
"""


def test_ab3dmot_csv(tmp_path):
    p = tmp_path / "0001.txt"
    p.write_text(AB3DMOT)
    r = read_tracking_file(p)
    o = r.objects
    assert r.bad_lines == 0 and r.ab3dmot_rows == 3 and len(o) == 3
    assert list(o.frame) == [0, 0, 3] and list(o.track_id) == [-1, -1, -1]
    assert list(o.type) == ["Car", "Pedestrian", "Cyclist"]
    assert list(o.labels) == [ObjectClass.CAR, ObjectClass.PEDESTRIAN, ObjectClass.BICYCLE]
    np.testing.assert_array_equal(o.box2d[0], [298.3125, 165.18, 458.2292, 293.42])
    np.testing.assert_array_equal(o.dims[0], [1.9605, 1.8137, 4.7549])  # h w l
    np.testing.assert_array_equal(o.loc[0], [-4.572, 1.8435, 13.5308])
    assert o.ry[0] == -2.1125 and o.alpha[0] == -1.7867
    assert o.score[0] == 8.2981 and o.score[1] == -1.5  # logits, unmapped


def test_label_format_with_and_without_score_and_dontcare(tmp_path):
    p = tmp_path / "0000.txt"
    p.write_text(
        "0 -1 DontCare -1 -1 -10.000000 219.31 188.49 245.50 218.56 "
        "-1000.0 -1000.0 -1000.0 -10.0 -1.0 -1.0 -1.0\n"
        "0 0 Van 0 0 -1.793451 296.744956 161.752147 455.226042 292.372804 2.000000 1.823255 4.433886 "
        "-4.552284 1.858523 13.410495 -2.115488\n"
        "1 5 Car 0 1 -1.79 296.7 161.7 455.2 292.3 2.0 1.82 4.43 -4.55 1.86 13.41 -2.11 0.87\n"
    )
    o = read_tracking_file(p).objects
    assert len(o) == 3 and list(o.dont_care) == [True, False, False]
    assert list(o.track_id) == [-1, 0, 5] and list(o.type) == ["DontCare", "Van", "Car"]
    assert o.labels[1] == ObjectClass.CAR  # vans track as cars
    assert np.isnan(o.score[:2]).all() and o.score[2] == 0.87
    assert o.occluded[2] == 1


def test_malformed_lines_are_reported_with_file_and_line_and_skipped(tmp_path, caplog):
    p = tmp_path / "0002.txt"
    good = "1 5 Car 0 1 -1.79 296.7 161.7 455.2 292.3 2.0 1.82 4.43 -4.55 1.86 13.41 -2.11 0.87"
    p.write_text(
        "\n".join(
            [
                good,
                "1 5 Car 0 1 -1.79 296.7",  # too few fields
                good.replace("13.41", "nan"),  # non-finite
                good.replace("13.41", "abc"),  # non-numeric
                good.replace("1 5 Car", "-1 5 Car"),  # negative frame
                good.replace("1 5 Car", "1.5 5 Car"),  # fractional frame
                good.replace("2.0 1.82 4.43", "2.0 -1.82 4.43"),  # negative size
                "0,7,1,2,3,4,0.5,1,1,1,0,0,5,0,0",  # unknown AB3DMOT type id
                "0,2,1,2,3,4,0.5,1,1,1,0,0,5,0",  # 14 CSV fields
                "",
                "# a comment",
                good.replace("1 5 Car", "2 5 Car"),
            ]
        )
    )
    with caplog.at_level(logging.WARNING, logger="sensor_fusion.kitti.formats"):
        r = read_tracking_file(p)
    assert r.bad_lines == 8 and list(r.objects.frame) == [1, 2]
    lines = sorted(int(rec.getMessage().split(":")[1]) for rec in caplog.records)
    assert lines == [2, 3, 4, 5, 6, 7, 8, 9]
    assert all(rec.getMessage().startswith(f"{p}:") for rec in caplog.records)


def test_binary_garbage_does_not_crash(tmp_path):
    p = tmp_path / "0003.txt"
    p.write_bytes(b"\xff\xfe\x00garbage\n\x80\x81 1 2\n")
    r = read_tracking_file(p)
    assert len(r.objects) == 0 and r.bad_lines == 2


def test_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    n = 20
    o = KittiObjects(
        frame=rng.integers(0, 5, n),
        track_id=rng.integers(1, 9, n),
        type=np.array(["Car", "Pedestrian"] * 10, object),
        truncated=np.full(n, -1.0),
        occluded=np.full(n, -1, np.int64),
        alpha=rng.uniform(-3, 3, n),
        box2d=rng.uniform(0, 1000, (n, 4)),
        dims=rng.uniform(0.5, 5, (n, 3)),
        loc=rng.uniform(-40, 40, (n, 3)),
        ry=rng.uniform(-3, 3, n),
        score=rng.uniform(0, 1, n),
    )
    write_tracking_file(tmp_path / "r.txt", o)
    back = read_tracking_file(tmp_path / "r.txt").objects
    order = np.argsort(o.frame, kind="stable")
    o = o.select(order)
    np.testing.assert_array_equal(back.frame, o.frame)
    np.testing.assert_array_equal(back.track_id, o.track_id)
    np.testing.assert_allclose(back.loc, o.loc, atol=5e-5)  # 0.1 mm
    np.testing.assert_allclose(back.dims, o.dims, atol=5e-5)
    np.testing.assert_allclose(back.ry, o.ry, atol=5e-7)
    np.testing.assert_allclose(back.score, o.score, atol=5e-7)


def test_calib_both_spellings_and_round_trip(tmp_path):
    P2 = np.arange(12.0).reshape(3, 4) + 1.0
    tr = (
        "7.533745e-03 -9.999714e-01 -6.166020e-04 -4.069766e-03 1.480249e-02 7.280733e-04 "
        "-9.998902e-01 -7.631618e-02 9.998621e-01 7.523790e-03 1.480755e-02 -2.717806e-01"
    )
    (tmp_path / "tracking.txt").write_text(
        "P0: 1 0 0 0 0 1 0 0 0 0 1 0\n"
        f"P2: {' '.join(str(v) for v in P2.ravel())}\n"
        "R_rect 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 "
        "-4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01\n"
        f"Tr_velo_cam {tr}\n"
        "Tr_imu_velo 1 0 0 0 0 1 0 0 0 0 1 0\n"
    )
    c = read_calib(tmp_path / "tracking.txt")
    np.testing.assert_array_equal(c.P2, P2)
    assert c.R0_rect[0, 0] == pytest.approx(0.9999239) and c.Tr_velo_to_cam[0, 1] == pytest.approx(-0.9999714)
    write_calib(tmp_path / "object.txt", c)
    text = (tmp_path / "object.txt").read_text()
    assert "R0_rect:" in text and "Tr_velo_to_cam:" in text and "Tr_imu_to_velo:" in text
    c2 = read_calib(tmp_path / "object.txt")
    for name in ("P2", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo"):
        np.testing.assert_allclose(getattr(c2, name), getattr(c, name), rtol=1e-12)
    (tmp_path / "bad.txt").write_text("P2: 1 2 3\n")
    with pytest.raises(ValueError, match="no valid P2"):
        read_calib(tmp_path / "bad.txt")
    assert isinstance(KittiCalib(P2=P2).T_rect_from_velo(), np.ndarray)


def test_sequence_files(tmp_path):
    for name in ("0001.txt", "0000.csv", "notes.md"):
        (tmp_path / name).write_text("")
    assert list(sequence_files(tmp_path)) == ["0000", "0001"]
    with pytest.raises(FileNotFoundError):
        sequence_files(tmp_path / "missing")
