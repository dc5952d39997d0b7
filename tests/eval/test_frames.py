"""eval/frames.py: matching truth and output frames by stamp, with offsets and gaps."""

from __future__ import annotations

from sensor_fusion.eval.frames import match_frames
from sensor_fusion.eval.mot import evaluate_tracking
from tests.eval.common import MS, frame


def test_match_frames_offsets_and_gaps():
    truth = [frame(k * 100 * MS, [1], [[0, 0]]) for k in range(5)]
    stamps = [305 * MS, 3 * MS, 98 * MS, 150 * MS]  # unsorted; 200 and 400 have nothing within 10 ms
    est = [frame(s, [7], [[0, 0]]) for s in stamps]
    pairs = match_frames(truth, est, tolerance_ns=10 * MS)
    assert [t.stamp_ns for t, _ in pairs] == [t.stamp_ns for t in truth]
    assert [e.stamp_ns for _, e in pairs] == [3 * MS, 98 * MS, 200 * MS, 305 * MS, 400 * MS]
    assert [len(e) for _, e in pairs] == [1, 1, 0, 1, 0]
    # equidistant estimates: the earlier wins
    tie = match_frames([truth[1]], [frame(50 * MS, [1], [[0, 0]]), frame(150 * MS, [2], [[0, 0]])], 60 * MS)
    assert tie[0][1].ids.tolist() == [1]
    assert all(len(e) == 0 for _, e in match_frames(truth, [], 10 * MS))
    r = evaluate_tracking(pairs)
    assert r["num_misses"] == 2 and r["num_matches"] == 3
