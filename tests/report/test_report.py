"""The HTML report: its numbers agree with ``evaluate``, the page is self-contained, the CLI writes it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sensor_fusion.cli import main
from sensor_fusion.eval.bags import evaluate_bags
from sensor_fusion.report.data import collect, gps_outages, range_bin_names

NS = 1_000_000_000


@pytest.fixture(scope="module")
def run(fleet, fusion_batch):
    """(truth bag, tracks bag, evaluate result) of one fleet bag, from the batch's kept output."""
    truth, tracks = fleet / "urban_s1", fusion_batch[0] / "tracks" / "urban_s1"
    return truth, tracks, evaluate_bags(truth, tracks)


def test_report_data_agrees_with_evaluate(run):
    truth, tracks, res = run
    d = collect(truth, tracks, res)
    kinds = {k: int((d.events.kind == k).sum()) for k in ("MATCH", "SWITCH", "MISS", "FP")}
    assert kinds["SWITCH"] == res["idsw"]
    assert kinds["MISS"] == res["num_misses"] and kinds["FP"] == res["num_false_positives"]
    assert kinds["MATCH"] == res["num_matches"]
    # range bins partition the truth
    assert set(d.per_range) <= set(range_bin_names())
    assert sum(v["num_objects"] for v in d.per_range.values()) == res["num_objects"]
    assert all(-1.0 <= v["mota"] <= 1.0 and 0.0 <= v["recall"] <= 1.0 for v in d.per_range.values())
    # precision-recall ends where evaluate's det_recall (2 m, all estimates) is
    tp = sum(c["recall"][-1] * c["num_truth"] for c in d.pr.values() if len(c["recall"]))
    assert tp / sum(c["num_truth"] for c in d.pr.values()) == pytest.approx(res["det_recall"])
    # velocity errors: one per matched pair with both velocities known
    assert sum(len(v) for v in d.velocity_errors.values()) == res["num_velocity_pairs"]
    rmse = np.sqrt(np.mean(np.concatenate(list(d.velocity_errors.values())) ** 2))
    assert rmse == pytest.approx(res["velocity_rmse"])
    # ego error series: its RMSE is evaluate's
    s = d.ego_series
    assert np.sqrt(np.mean(s.position_error_m**2)) == pytest.approx(res["ego_position_rmse"])
    assert np.sqrt(np.mean(s.yaw_error_deg**2)) == pytest.approx(res["ego_yaw_rmse_deg"])
    assert "total" in d.latency_ms and len(d.latency_ms["total"]) == res["num_frames"]


def test_gps_outages_are_the_gaps_between_fixes():
    fixes = np.r_[np.arange(0, 10 * NS, NS // 5), np.arange(20 * NS, 30 * NS, NS // 5)]  # 5 Hz, 10 s gap
    spans = gps_outages(fixes, 0, 30 * NS)
    assert len(spans) == 1 and spans[0][0] == pytest.approx(9.8) and spans[0][1] == pytest.approx(20.0)
    assert gps_outages(np.arange(0, 30 * NS, NS // 5), 0, 30 * NS) == []
    assert gps_outages(np.array([], np.int64), 0, 5 * NS) == [(0.0, 5.0)]


def test_cli_writes_a_self_contained_page(run, tmp_path, capsys):
    truth, tracks, res = run
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--truth", str(truth), "--tracks", str(tracks), "--out", str(tmp_path / "r")])
    assert exit_.value.code == 0
    path = tmp_path / "r" / "report.html"
    assert f"report: {path}" in capsys.readouterr().out
    html = path.read_text()
    # every figure inline; nothing that a browser would fetch
    srcs = re.findall(r'\b(?:src|href)="([^"]*)"', html)
    assert srcs and all(s.startswith("data:") for s in srcs), [
        s[:40] for s in srcs if not s.startswith("data:")
    ]
    assert "<script" not in html and "@import" not in html and "url(" not in html
    assert (
        html.count("data:image/svg+xml;base64,") == 8
    )  # top view, timeline, 2 bars, PR, velocity, latency, ego
    for title in (
        "Top view",
        "Tracking by class and by range",
        "Latency per stage",
        "Ego state",
        "Diagnostics",
    ):
        assert title in html
    assert f"{res['mota']:.3f}" in html and "ID switch" in html
