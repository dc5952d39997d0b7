"""evaluate-kitti: TrackEval's KITTI metrics on hand-made label and result files."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.kitti.evaluate import evaluate_kitti

pytest.importorskip("trackeval")

CAR_A = "Car 0 0 -1.57 {x1:.2f} 150.00 {x2:.2f} 250.00 1.50 1.80 4.20 {x:.3f} 1.65 {z:.3f} -1.57"
CAR_B = "Car 0 0 -1.57 {x1:.2f} 160.00 {x2:.2f} 240.00 1.50 1.80 4.20 {x:.3f} 1.65 {z:.3f} -1.57"


def car(frame: int, tid: int, k: int, which: str, score: float | None = None) -> str:
    """Car A at u 100-200 px, x -5 m; car B at u 600-700 px, x 5 m; both 20 m ahead, moving 0.1 m/frame."""
    if which == "A":
        row = CAR_A.format(x1=100 + 2 * k, x2=200 + 2 * k, x=-5.0 + 0.1 * k, z=20.0)
    else:
        row = CAR_B.format(x1=600 - 2 * k, x2=700 - 2 * k, x=5.0 - 0.1 * k, z=20.0)
    return f"{frame} {tid} {row}" + ("" if score is None else f" {score}")


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def labels(tmp_path):
    lines = []
    for k in range(10):
        lines += [car(k, 1, k, "A"), car(k, 2, k, "B")]
        # a DontCare region at u 900-1000
        lines.append(f"{k} -1 DontCare -1 -1 -10 900 150 1000 250 -1 -1 -1 -1000 -1000 -1000 -10")
    write(tmp_path / "labels" / "label_02" / "0000.txt", lines)
    return tmp_path / "labels"


@pytest.mark.parametrize("similarity", ["iou2d", "bev"])
def test_perfect_results(tmp_path, labels, similarity):
    res = [line for k in range(10) for line in (car(k, 7, k, "A", 0.9), car(k, 8, k, "B", 0.8))]
    write(tmp_path / "results" / "0000.txt", res)
    r = evaluate_kitti(labels, tmp_path / "results", similarity=similarity)["car"]
    assert r["mota"] == pytest.approx(1.0) and r["idf1"] == pytest.approx(1.0) and r["idsw"] == 0
    assert r["hota"] > 0.9 and r["num_gt"] == 20 and r["num_tracks"] == 20


@pytest.mark.parametrize("similarity", ["iou2d", "bev"])
def test_switch_false_positive_and_dontcare(tmp_path, labels, similarity):
    res = []
    for k in range(10):
        res += [car(k, 7 if k < 5 else 9, k, "A", 0.9), car(k, 8, k, "B", 0.8)]  # A changes id at frame 5
        # a ghost inside the DontCare region (ignored) and, in 3 frames, one in the open (a false positive)
        res.append(f"{k} 20 Car -1 -1 0 910 160 990 240 1.5 1.8 4.2 12.0 1.65 30.0 -1.57 0.5")
        if k < 3:
            res.append(f"{k} 21 Car -1 -1 0 300 160 380 240 1.5 1.8 4.2 -2.0 1.65 40.0 -1.57 0.5")
    write(tmp_path / "results" / "0000.txt", res)
    r = evaluate_kitti(labels, tmp_path / "results", similarity=similarity)["car"]
    assert r["idsw"] == 1
    assert r["mota"] == pytest.approx(1.0 - (1 + 3) / 20)
    assert r["precision"] == pytest.approx(20 / 23) and r["recall"] == pytest.approx(1.0)
    assert r["idf1"] < 1.0


def test_bev_matches_by_centre_distance(tmp_path, labels):
    # 2D boxes shifted off their objects (IoU 0) but 3D centres 1 m away: a match in bev, not in iou2d
    res = []
    for k in range(10):
        for line in (car(k, 7, k, "A", 0.9), car(k, 8, k, "B", 0.8)):
            f = line.split()
            f[6], f[8] = str(float(f[6]) + 300), str(float(f[8]) + 300)
            f[13] = str(float(f[13]) + 1.0)
            res.append(" ".join(f))
    write(tmp_path / "results" / "0000.txt", res)
    r2d = evaluate_kitti(labels, tmp_path / "results", similarity="iou2d")["car"]
    rbev = evaluate_kitti(labels, tmp_path / "results", similarity="bev")["car"]
    assert r2d["recall"] == 0.0 and rbev["recall"] == 1.0 and rbev["mota"] == pytest.approx(1.0)
    near = evaluate_kitti(labels, tmp_path / "results", similarity="bev", gate_m=0.5)["car"]
    assert near["recall"] == 0.0


def test_missing_results_and_malformed_lines(tmp_path, labels):
    write(tmp_path / "results" / "other.txt", ["garbage"])
    r = evaluate_kitti(labels, tmp_path / "results")["car"]  # 0000 has no results: all missed
    assert r["recall"] == 0.0 and r["num_tracks"] == 0
    res = [car(k, 7, k, "A", 0.9) for k in range(10)] + ["3 9 Car 1 2 3", "x y z"]
    write(tmp_path / "results" / "0000.txt", res)
    r = evaluate_kitti(labels, tmp_path / "results")["car"]
    assert r["recall"] == pytest.approx(0.5) and r["precision"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="similarity"):
        evaluate_kitti(labels, tmp_path / "results", similarity="iou3d")
    with pytest.raises(FileNotFoundError):
        evaluate_kitti(tmp_path / "nothing", tmp_path / "results")
    assert np.isfinite(r["hota"])
