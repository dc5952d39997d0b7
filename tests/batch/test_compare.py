"""batch-compare's logic on hand-made results: metric directions, gates, per-bag, missing and failed bags."""

from __future__ import annotations

import pytest

from sensor_fusion.batch.compare import CompareError, Gate, compare, verdict


def bags(**rows):
    return {name: {"status": "ok", **metrics} for name, metrics in rows.items()}


A = bags(x={"mota": 0.50, "idsw": 2, "velocity_rmse": 1.0}, y={"mota": 0.40, "idsw": 4, "velocity_rmse": 1.2})


def test_directions():
    assert verdict("mota", 0.5, 0.6) == "better" and verdict("mota", 0.5, 0.4) == "worse"
    assert verdict("idsw", 2, 1) == "better" and verdict("velocity_rmse", 1.0, 1.3) == "worse"
    assert verdict("hota", 0.3, 0.3) == "equal" and verdict("hota", None, 0.3) == "missing"


def test_mean_gate_uses_the_threshold_in_the_metrics_direction():
    b = bags(
        x={"mota": 0.48, "idsw": 3, "velocity_rmse": 0.9}, y={"mota": 0.39, "idsw": 4, "velocity_rmse": 1.1}
    )
    lines, ok = compare(A, b, [Gate("mota", 0.02)])  # mean -0.015: within
    assert ok and "RESULT: pass" in lines
    lines, ok = compare(A, b, [Gate("mota", 0.01)])
    assert not ok and any(line.startswith("  FAIL mota (mean)") for line in lines)
    lines, ok = compare(A, b, [Gate("idsw", 0.4)])  # +0.5 switches on average
    assert not ok
    lines, ok = compare(A, b, [Gate("velocity_rmse", 0.0)])  # lower: better, passes at 0
    assert ok
    text = "\n".join(lines)
    assert "better on: velocity_rmse" in text and "A (A) better on: mota, idsw" in text


def test_per_bag_gate_catches_one_bad_bag_the_mean_hides():
    b = bags(x={"mota": 0.60}, y={"mota": 0.31})  # mean +0.005, bag y -0.09
    assert compare(A, b, [Gate("mota", 0.05)], metrics=["mota"])[1]
    lines, ok = compare(A, b, [Gate("mota", 0.05)], per_bag=True, metrics=["mota"])
    assert not ok and any("FAIL mota (y)" in line for line in lines)


def test_a_bag_lost_by_b_or_a_missing_value_fails_the_gate():
    b = {**bags(x={"mota": 0.5}), "y": {"status": "failed"}}
    lines, ok = compare(A, b, [Gate("mota", 1.0)], metrics=["mota"])
    assert not ok and any("B failed on bags A scored: y" in line for line in lines)
    b = bags(x={"mota": None}, y={"mota": None})
    assert not compare(A, b, [Gate("mota", 1.0)], metrics=["mota"])[1]


def test_no_common_bag_or_unknown_metric_is_an_error():
    with pytest.raises(CompareError, match="no bag in common"):
        compare(A, bags(z={"mota": 0.1}))
    with pytest.raises(CompareError, match="unknown"):
        compare(A, A, [Gate("accuracy", 0.1)])
