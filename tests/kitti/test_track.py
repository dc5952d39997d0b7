"""track-kitti: the tracker library over KITTI-format detections."""

from __future__ import annotations

import logging
import math

import numpy as np

from sensor_fusion.kitti.coords import BoxFrame, project_boxes
from sensor_fusion.kitti.formats import KittiCalib, read_tracking_file
from sensor_fusion.kitti.track import (
    TrackOptions,
    camera_view,
    map_scores,
    track_directory,
    track_sequence,
)
from sensor_fusion.tracking.tracker import TrackerConfig

P2 = np.array([[721.5, 0.0, 609.6, 0.0], [0.0, 721.5, 172.9, 0.0], [0.0, 0.0, 1.0, 0.0]])


def ab3dmot_csv(n_frames=20, skip=(), logit=2.0) -> str:
    """Two cars driving away from the camera, 3 m left and right, 10 Hz, in AB3DMOT's CSV format."""
    lines = []
    for k in range(n_frames):
        for j, x in enumerate((-3.0, 3.0)):
            if (k, j) in skip:
                continue
            z = 10.0 + 0.5 * k + 5 * j
            loc = np.array([[x, 1.65, z]])
            box = project_boxes(P2, loc, np.array([[1.5, 1.8, 4.2]]), np.array([-math.pi / 2]), 1242, 375)[0][
                0
            ]
            lines.append(
                f"{k},2,{box[0]:.2f},{box[1]:.2f},{box[2]:.2f},{box[3]:.2f},{logit + j},1.5,1.8,4.2,"
                f"{x},1.65,{z},{-math.pi / 2},0.0"
            )
    return "\n".join(lines) + "\n"


def test_csv_sequence_keeps_ids_and_carries_boxes_and_scores(tmp_path):
    (tmp_path / "dets").mkdir()
    (tmp_path / "dets" / "0000.txt").write_text(ab3dmot_csv())
    res = track_directory(
        tmp_path / "dets", tmp_path / "out", TrackerConfig(frame_id="kitti"), TrackOptions()
    )
    r = res["0000"]
    assert r.score_map == "sigmoid" and r.frames == 20 and r.detections == 40
    out = read_tracking_file(tmp_path / "out" / "0000.txt").objects
    dets = read_tracking_file(tmp_path / "dets" / "0000.txt").objects
    assert len(np.unique(out.track_id)) == 2  # one id per car, kept through the sequence
    assert out.frame.min() <= 3 and out.frame.max() == 19
    assert set(out.type) == {"Car"}
    for i in range(len(out)):  # each row carries its own detection's 2D box and raw score
        same = (dets.frame == out.frame[i]) & np.all(np.abs(dets.box2d - out.box2d[i]) < 0.01, axis=1)
        assert same.sum() == 1
        assert out.score[i] == dets.score[same][0]
        np.testing.assert_allclose(out.loc[i], dets.loc[same][0], atol=0.5)  # the filtered 3D box


def test_coasting_track_box_is_projected_with_a_calib():
    dets = read_csv(ab3dmot_csv(skip={(12, 0)}))
    calib = KittiCalib(P2=P2)
    frame = BoxFrame.camera_ground()
    cfg = TrackerConfig(frame_id="kitti")
    res = track_sequence(dets, cfg, frame, TrackOptions(), "sigmoid", calib=calib).results
    rows = res.select(res.frame == 12)
    assert len(rows) == 2  # the missed car's track coasts and is still published
    coast = rows.select(rows.loc[:, 0] < 0)
    proj = project_boxes(P2, coast.loc, coast.dims, coast.ry, 1242, 375)[0]
    np.testing.assert_allclose(coast.box2d, proj, atol=0.01)
    # without a calib it keeps its last detection's box
    res = track_sequence(dets, cfg, frame, TrackOptions(), "sigmoid").results
    r11 = res.select((res.frame == 11) & (res.loc[:, 0] < 0))
    r12 = res.select((res.frame == 12) & (res.loc[:, 0] < 0))
    np.testing.assert_array_equal(r12.box2d, r11.box2d)


def read_csv(text: str):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "s.txt"
        p.write_text(text)
        return read_tracking_file(p).objects


def test_score_maps(caplog):
    np.testing.assert_allclose(map_scores(np.array([0.0, 2.0]), "sigmoid"), [0.5, 1 / (1 + math.exp(-2))])
    with caplog.at_level(logging.WARNING):
        out = map_scores(np.array([0.2, 8.3, -1.0]), "identity", "x.txt")
    np.testing.assert_array_equal(out, [0.2, 1.0, 0.0])
    assert "x.txt: 2 scores outside [0, 1]" in caplog.text and "sigmoid" in caplog.text
    # label_02-format detections default to identity
    dets = read_csv(ab3dmot_csv())
    assert len(dets) == 40


def test_empty_and_missing_frames(tmp_path):
    (tmp_path / "dets").mkdir()
    (tmp_path / "dets" / "0001.txt").write_text("")
    (tmp_path / "dets" / "0002.txt").write_text(ab3dmot_csv(n_frames=3))
    res = track_directory(
        tmp_path / "dets", tmp_path / "out", TrackerConfig(frame_id="kitti"), TrackOptions()
    )
    assert res["0001"].frames == 0 and (tmp_path / "out" / "0001.txt").read_text() == ""
    assert res["0002"].frames == 3


def test_camera_view_is_image_2s_field_of_view_in_the_tracking_frame():
    # KITTI's P2 (principal point left of the image centre) in the camera's ground plane: forward is +x
    v = camera_view(KittiCalib(P2=P2), BoxFrame.camera_ground(), (1242, 375), 120.0)
    left, right = math.atan(609.6 / 721.5), math.atan((1242 - 609.6) / 721.5)
    assert math.isclose(v.half_fov_rad, 0.5 * (left + right))
    assert math.isclose(v.axis_yaw, -0.5 * (right - left))  # image right is the tracking frame's -y
    assert v.origin_xy == (0.0, 0.0) and v.max_range_m == 120.0
    # camera 2 sits 0.06 m right of camera 0 (P2's fourth column is K t)
    shifted = P2.copy()
    shifted[0, 3] = -721.5 * 0.06
    v = camera_view(KittiCalib(P2=shifted), BoxFrame.camera_ground(), (1242, 375), 120.0)
    np.testing.assert_allclose(v.origin_xy, (0.0, -0.06), atol=1e-12)


def test_the_view_reaches_the_tracker_only_when_asked_for_and_with_a_calib(monkeypatch):
    """What the view does to existence is the tracker's (tests/tracking/test_coverage.py); here:
    track_sequence hands it to every step with --view and a calib, and nothing otherwise."""
    from sensor_fusion.kitti import track as kt

    seen: list = []
    step = kt.Tracker.step

    def spy(self, stamp_ns, detections, views=None):
        seen.append(views)
        return step(self, stamp_ns, detections, views)

    monkeypatch.setattr(kt.Tracker, "step", spy)
    dets, cfg, frame = (
        read_csv(ab3dmot_csv(n_frames=5)),
        TrackerConfig(frame_id="kitti"),
        BoxFrame.camera_ground(),
    )
    calib = KittiCalib(P2=P2)
    for opts, cal, want in (
        (TrackOptions(), calib, False),
        (TrackOptions(camera_view=True), None, False),
        (TrackOptions(camera_view=True), calib, True),
    ):
        seen.clear()
        out = track_sequence(dets, cfg, frame, opts, "sigmoid", calib=cal).results
        assert len(seen) == 5 and len(np.unique(out.track_id)) == 2
        if want:
            assert all(v == [camera_view(calib, frame, opts.image_size, opts.view_range_m)] for v in seen)
        else:
            assert all(v is None for v in seen)
