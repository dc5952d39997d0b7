"""eval/report.py: the results table and the BEV plot."""

from __future__ import annotations

import numpy as np

from sensor_fusion.eval.detection import evaluate_detection_ap
from sensor_fusion.eval.latency import latency_percentiles
from sensor_fusion.eval.mot import evaluate_tracking
from sensor_fusion.eval.report import bev_plot, format_table, merge_results
from tests.eval.common import CAR, PED, copy_as_tracks, world


def test_report_table_and_plot(tmp_path):
    truth = world(labels=np.array([CAR, PED]))
    pairs = list(zip(truth, copy_as_tracks(truth)))
    res = merge_results(
        evaluate_tracking(pairs),
        evaluate_detection_ap(pairs),
        {"latency": latency_percentiles({"fusion": [0.01, 0.02]})},
    )
    assert "mota" in res["per_class"]["car"] and "det_ap" in res["per_class"]["car"]
    text = format_table(res)
    assert "mota" in text and "det_ap" in text and "pedestrian" in text and "fusion" in text
    path = bev_plot(truth, [e for _, e in pairs], tmp_path / "bev.png", ego_xy=np.zeros((3, 2)), metrics=res)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
