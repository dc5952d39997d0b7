"""eval/detection.py: detection AP on a hand-made curve, greedy matching, absent classes."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.eval.detection import evaluate_detection_ap
from tests.eval.common import CAR, PED, copy_as_tracks, frame, world


def _ap_hand(prec_at):
    """nuScenes AP from a precision function of recall: bins 0.11..1.00, minus 0.1, over 0.9."""
    r = np.linspace(0, 1, 101)[11:]
    return float(np.mean(np.clip(prec_at(r) - 0.1, 0, None)) / 0.9)


def test_ap_hand_made_curve():
    truth = [frame(0, [1, 2, 3], [[0, 0], [10, 0], [20, 0]])]
    # by score: TP (0 m), FP (nothing near), TP (0.3 m), TP at 2 m and 4 m only (1.5 m off)
    est = [frame(0, [1, 2, 3, 4], [[0, 0], [50, 0], [10, 0.3], [20, 1.5]], scores=[0.9, 0.8, 0.7, 0.6])]
    d = evaluate_detection_ap(list(zip(truth, est)))

    # tp = 1,0,1,1: recall 1/3,1/3,2/3,1 with precision 1,1/2,2/3,3/4 -> piecewise linear between
    # (1/3, 1/2), (2/3, 2/3), (1, 3/4); flat at 1 below recall 1/3
    def p_wide(r):
        return np.where(
            r < 1 / 3, 1.0, np.where(r < 2 / 3, 0.5 + (r - 1 / 3) * 0.5, 2 / 3 + (r - 2 / 3) * 0.25)
        )

    # tp = 1,0,1,0: recall stops at 2/3 (precision 0 beyond)
    def p_tight(r):
        return np.where(r < 1 / 3, 1.0, np.where(r < 2 / 3, 0.5 + (r - 1 / 3) * 0.5, 0.0))

    assert d["det_ap_2m"] == pytest.approx(_ap_hand(p_wide)) and d["det_ap_4m"] == d["det_ap_2m"]
    assert d["det_ap_0.5m"] == pytest.approx(_ap_hand(p_tight)) and d["det_ap_1m"] == d["det_ap_0.5m"]
    assert d["det_ap"] == pytest.approx((_ap_hand(p_wide) + _ap_hand(p_tight)) / 2)
    assert 0.3 < d["det_ap"] < 0.9
    assert d["det_precision"] == pytest.approx(3 / 4) and d["det_recall"] == 1.0
    # a confident false positive first costs precision everywhere; raising the true ones above it helps
    est[0].scores = np.array([0.9, 0.1, 0.7, 0.6])
    assert evaluate_detection_ap(list(zip(truth, est)))["det_ap_2m"] == pytest.approx(
        _ap_hand(lambda r: np.where(r < 1.0, 1.0, 0.75))
    )


def test_ap_greedy_takes_nearest_truth_and_no_double_match():
    truth = [frame(0, [1, 2], [[0, 0], [1.0, 0]])]
    # the best-scored estimate sits on truth 2; the second is nearer truth 2 than truth 1 but it is taken
    est = [frame(0, [1, 2], [[1.0, 0], [0.8, 0]], scores=[0.9, 0.8])]
    d = evaluate_detection_ap(list(zip(truth, est)), thresholds_m=(0.5, 1.0))
    assert d["det_ap_1m"] == pytest.approx(1.0)  # second matches truth 1 at 0.8 m
    # a match needs distance strictly below the threshold, as in nuScenes
    edge = [(frame(0, [1], [[0.0, 0.0]]), frame(0, [1], [[0.6, 0.8]], scores=[0.9]))]  # 1 m off
    assert evaluate_detection_ap(edge, thresholds_m=(1.0,))["det_ap"] == 0.0
    assert evaluate_detection_ap(edge, thresholds_m=(1.0 + 1e-9,))["det_ap"] == pytest.approx(1.0)
    # at 0.5 m: tp = 1,0 -> recall 1/2,1/2 with precision 1,1/2; as in nuScenes (np.interp over repeated
    # recall), the bin exactly at recall 0.5 takes the last precision there, 1/2
    expected = _ap_hand(lambda r: np.where(r < 0.495, 1.0, np.where(r < 0.505, 0.5, 0.0)))
    assert d["det_ap_0.5m"] == pytest.approx(expected)


def test_ap_absent_class_is_nan_and_skipped():
    truth = world()
    d = evaluate_detection_ap(list(zip(truth, copy_as_tracks(truth))), classes=[CAR, PED])
    assert np.isnan(d["per_class"]["pedestrian"]["det_ap"])
    assert d["det_ap"] == pytest.approx(1.0)


def test_precision_and_recall_at_the_operating_point_leave_ap_alone():
    """P/R count the boxes from ``pr_min_score`` (what the tracker takes); AP every box. Matching
    runs in score order, so a low box never takes a truth object from a higher one."""
    truth = [frame(0, [1, 2, 3], [[0, 0], [10, 0], [20, 0]])]
    # by score: TP, FP, TP (0.3 m), then below 0.3 an FP and a TP for the third object
    est = [frame(0, [1, 2, 3, 4, 5], [[0, 0], [50, 0], [10, 0.3], [30, 0], [20, 0]])]
    est[0].scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    pairs = list(zip(truth, est))
    every, operating = evaluate_detection_ap(pairs), evaluate_detection_ap(pairs, pr_min_score=0.3)
    assert every["det_precision"] == pytest.approx(3 / 5) and every["det_recall"] == 1.0
    assert operating["det_precision"] == pytest.approx(2 / 3)
    assert operating["det_recall"] == pytest.approx(2 / 3)
    assert operating["per_class"]["car"]["det_precision"] == pytest.approx(2 / 3)
    assert operating["det_ap"] == every["det_ap"]
    # a score exactly at the operating point counts
    at = evaluate_detection_ap(pairs, pr_min_score=0.2)
    assert at["det_precision"] == pytest.approx(2 / 4) and at["det_recall"] == pytest.approx(2 / 3)
