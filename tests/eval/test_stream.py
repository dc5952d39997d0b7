"""Scoring trackers on the detection stream: don't-care handling and the tracker configs."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.eval.stream import restrict_to_care, tracker_config
from tests.eval.common import frame


def in_front(xy: np.ndarray) -> np.ndarray:
    """The scored region: x > 0 (a half-plane stands in for the field of view)."""
    return np.asarray(xy).reshape(-1, 2)[:, 0] > 0.0


def test_dontcare_removes_tracks_of_dontcare_truth_and_outside_the_region():
    # truth: 1 cared for at (10, 0); 2 hidden at (20, 0); 3 outside the region at (-10, 0)
    truth = frame(0, [1, 2, 3], [[10.0, 0.0], [20.0, 0.0], [-10.0, 0.0]])
    care = np.array([True, False, False])
    # tracks: on 1, on 2, on 3, a ghost inside the region, a ghost outside it
    est = frame(0, [11, 12, 13, 14, 15], [[10.5, 0.0], [20.0, 0.5], [-10.0, 0.0], [30.0, 5.0], [-30.0, 0.0]])
    [(t, e)] = restrict_to_care([(truth, est)], [care], [in_front], 2.0)
    assert list(t.ids) == [1]
    assert list(e.ids) == [11, 14]  # the ghost inside the region stays a false positive


def test_fp_mode_counts_tracks_outside_the_view():
    truth = frame(0, [1, 2, 3], [[10.0, 0.0], [20.0, 0.0], [-10.0, 0.0]])
    care = np.array([True, False, False])
    est = frame(0, [11, 12, 13, 14, 15], [[10.5, 0.0], [20.0, 0.5], [-10.0, 0.0], [30.0, 5.0], [-30.0, 0.0]])
    [(t, e)] = restrict_to_care([(truth, est)], [care], [in_front], 2.0, outside="fp")
    assert list(t.ids) == [1]
    # object 3 has no label outside the view: its track is a false positive, as the far ghost;
    # the hidden object 2 inside the view stays don't-care
    assert list(e.ids) == [11, 13, 14, 15]
    with pytest.raises(ValueError, match="outside"):
        restrict_to_care([(truth, est)], [care], [in_front], 2.0, outside="ignore")


def test_a_track_takes_the_cared_truth_over_a_dontcare_neighbour():
    truth = frame(0, [1, 2], [[10.0, 0.0], [11.0, 0.0]])
    est = frame(0, [11], [[10.2, 0.0]])
    [(t, e)] = restrict_to_care([(truth, est)], [np.array([True, False])], [in_front], 2.0)
    assert list(e.ids) == [11]  # matched one-to-one to the nearer, cared-for object


def test_tracker_configs_from_the_shipped_files(repo):
    full = tracker_config(repo / "config" / "fusion.yaml")
    base = tracker_config(repo / "config" / "baseline.yaml")
    assert full.frame_id == base.frame_id == "odom"
    assert base.motion_model == "cv" and base.association == "iou3d" and base.max_age_s == 0.2
    assert full.association == "mahalanobis"
