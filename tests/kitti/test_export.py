"""export-kitti -> track-kitti -> evaluate-kitti end to end on a short generated bag."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from sensor_fusion.bag.io import read_messages
from sensor_fusion.cli import build_parser
from sensor_fusion.core.geometry import invert_transform, pose2d_to_transform
from sensor_fusion.eval.bags import objects_frame, odometry_poses
from sensor_fusion.kitti.coords import BoxFrame
from sensor_fusion.kitti.export import points_in_boxes
from sensor_fusion.kitti.formats import read_calib, read_tracking_file
from sensor_fusion.ros.convert import decode_lidar
from sensor_fusion.sim.detection_stream import DetectionStreamConfig
from sensor_fusion.sim.recorder import calibration_from_bag, record

pytest.importorskip("trackeval")

SMALL = {"lidar": {"beams": 32, "azimuth_resolution_deg": 0.4}, "cameras": {"names": ["camera_front"]}}


def run_cli(*argv: str) -> None:
    args = build_parser().parse_args(list(argv))
    assert args.func(args) == 0


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    d = tmp_path_factory.mktemp("kitti")
    cfg = d / "small.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    out = d / "bag"
    record("highway", 6, 3.0, out, overrides_file=str(cfg), detection_stream=DetectionStreamConfig())
    return out


@pytest.fixture(scope="module")
def exported(bag, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    run_cli("export-kitti", "--bag", str(bag), "--out", str(out), "--seq", "0003", "--det", "lidar")
    return out


def test_layout_calib_and_clouds(bag, exported):
    seq = exported / "velodyne" / "0003"
    bins = sorted(seq.glob("*.bin"))
    assert len(bins) == 29 and bins[0].name == "000000.bin"
    assert len(list((exported / "image_02" / "0003").glob("*.png"))) == 29
    assert (exported / "evaluate_tracking.seqmap.training").read_text() == "0003 empty 000000 000029\n"
    for _t, _mt, _ts, msg in read_messages(bag, ["/sensors/lidar/points"]):
        cloud, _ = decode_lidar(msg)
        pts = np.fromfile(bins[0], np.float32).reshape(-1, 4)
        np.testing.assert_array_equal(pts[:, :3], cloud.xyz)
        np.testing.assert_allclose(pts[:, 3], cloud.intensity / 255.0, rtol=1e-6)
        break
    cal = calibration_from_bag(bag)
    kc = read_calib(exported / "calib" / "0003.txt")
    T = invert_transform(cal.T_base_from("camera_front")) @ cal.T_base_from("lidar_top")
    np.testing.assert_allclose(kc.Tr_velo_to_cam, T[:3], atol=1e-12)
    np.testing.assert_allclose(kc.P2[:, :3], cal.intrinsics["camera_front"].K)
    np.testing.assert_array_equal(kc.R0_rect, np.eye(3))


def test_truth_round_trips_to_its_position(bag, exported):
    labels = read_tracking_file(exported / "label_02" / "0003.txt").objects
    assert labels.dont_care.any() or len(labels) > 0
    keep = labels.select(~labels.dont_care)
    assert len(keep) > 20 and set(keep.type) <= {"Car", "Truck", "Misc", "Pedestrian", "Cyclist"}
    truth = [objects_frame(m) for _t, _mt, _ts, m in read_messages(bag, ["/ground_truth/objects"])]
    poses = odometry_poses([m for _t, _mt, _ts, m in read_messages(bag, ["/ground_truth/odom"])])
    T_base_cam = calibration_from_bag(bag).T_base_from("camera_front")
    checked = 0
    for k, f in enumerate(truth):
        rows = keep.select(keep.frame == k)
        if not len(rows):
            continue
        i = int(np.searchsorted(poses.stamp_ns, f.stamp_ns))
        assert poses.stamp_ns[i] == f.stamp_ns
        T = pose2d_to_transform(poses.x[i], poses.y[i], poses.yaw[i]) @ T_base_cam
        c, s, y = BoxFrame(T).to_track(rows.loc, rows.dims, rows.ry)
        for j, tid in enumerate(rows.track_id):
            m = np.flatnonzero(f.ids == tid)[0]
            np.testing.assert_allclose(c[j], f.centers[m], atol=1e-3)  # within a millimetre
            np.testing.assert_allclose(s[j], f.sizes[m], atol=1e-3)
            assert abs(np.angle(np.exp(1j * (y[j] - f.yaw[m])))) < 1e-5
            checked += 1
    assert checked == len(keep)


def test_dontcare_rows(exported):
    labels = read_tracking_file(exported / "label_02" / "0003.txt").objects
    dc = labels.select(labels.dont_care)
    assert np.all(dc.track_id == -1) and np.all(dc.loc == -1000.0)
    assert np.all(dc.box2d[:, 2] > dc.box2d[:, 0])


def test_points_in_boxes():
    pts = np.array([[10.0, 0.0, 0.5], [10.0, 0.0, 0.1], [12.4, 0.0, 1.0], [10.0, 1.5, 1.0], [30.0, 0.0, 1.0]])
    n = points_in_boxes(
        pts,
        np.array([[10.0, 0.0, 0.75], [10.0, 0.0, 0.75]]),
        np.array([[4.5, 1.8, 1.5]] * 2),
        np.array([0.0, np.pi / 2]),
    )
    # box 1 along x: the point at 12.4 is within the 0.3 m margin, the one at 0.1 m height is ground
    assert list(n) == [2, 2]


def test_export_track_evaluate_end_to_end(bag, exported, tmp_path, capsys):
    out = tmp_path / "stream"
    run_cli(
        "export-kitti",
        "--bag",
        str(bag),
        "--out",
        str(out),
        "--seq",
        "0003",
        "--det",
        "stream",
        "--no-images",
    )
    assert not (out / "image_02").exists()
    dets = read_tracking_file(out / "det" / "0003.txt").objects
    assert (
        len(dets) > 30 and np.all((dets.score >= 0.1) & (dets.score <= 1.0)) and np.all(dets.track_id == -1)
    )
    res = tmp_path / "results"
    run_cli(
        "track-kitti", "--dets", str(out / "det"), "--out", str(res), "--calib", str(out / "calib"),
        "--image-width", "640", "--image-height", "384",
    )  # fmt: skip
    assert "frames/s tracking" in capsys.readouterr().out
    rows = read_tracking_file(res / "0003.txt").objects
    assert len(rows) > 20 and rows.frame.max() <= 28 and np.all(rows.track_id > 0)
    run_cli("evaluate-kitti", "--labels", str(out), "--results", str(res), "--similarity", "bev")
    table = capsys.readouterr().out
    assert "| car |" in table and "| pedestrian |" in table
    from sensor_fusion.kitti.evaluate import evaluate_kitti

    for sim in ("iou2d", "bev"):
        r = evaluate_kitti(out, res, similarity=sim)["car"]  # the results files load in TrackEval
        assert r["num_gt"] > 20 and r["num_tracks"] > 10
    r = evaluate_kitti(out, res, similarity="bev")["car"]
    assert r["recall"] > 0.3 and r["precision"] > 0.5 and r["hota"] > 0.3


def test_detect_kitti_on_the_exported_sweeps_matches_the_exporters_detector(bag, exported, tmp_path, capsys):
    """detect-kitti reads the .bin sweeps alone (KITTI layout, LiDAR lifted by its height) and
    finds what the exporter's detector found on the bag's own clouds; both layouts; a malformed
    sweep is skipped, not fatal."""
    h = float(calibration_from_bag(bag).T_base_from("lidar_top")[2, 3])
    out = tmp_path / "dets"
    size = ("--image-width", "640", "--image-height", "384")
    run_cli(
        "detect-kitti", "--velodyne", str(exported / "velodyne"), "--calib", str(exported / "calib"),
        "--out", str(out), "--sensor-height", f"{h}", *size,
    )  # fmt: skip
    assert "29 sweeps (0 skipped)" in capsys.readouterr().out
    mine = read_tracking_file(out / "0003.txt").objects
    ref = read_tracking_file(exported / "det" / "0003.txt").objects
    assert len(ref) > 30 and abs(len(mine) - len(ref)) <= 0.05 * len(ref)
    matched = 0
    for i in range(len(ref)):
        same = np.flatnonzero((mine.frame == ref.frame[i]) & (mine.type == ref.type[i]))
        if len(same) and np.min(np.linalg.norm(mine.loc[same] - ref.loc[i], axis=1)) < 0.05:
            matched += 1
    assert matched >= 0.95 * len(ref), (matched, len(ref), len(mine))
    assert np.all(mine.track_id == -1) and np.all((mine.score > 0) & (mine.score <= 1))

    flat = tmp_path / "object" / "velodyne"  # the object benchmark's layout, one bad sweep in it
    flat.mkdir(parents=True)
    for k in (0, 1):
        (flat / f"00000{k}.bin").write_bytes((exported / "velodyne" / "0003" / f"00000{k}.bin").read_bytes())
    (flat / "000002.bin").write_bytes(b"\x00" * 10)  # not whole points
    obj_out = tmp_path / "object" / "results"
    run_cli(
        "detect-kitti", "--velodyne", str(flat), "--calib", str(exported / "calib" / "0003.txt"),
        "--out", str(obj_out), "--sensor-height", f"{h}", *size,
    )  # fmt: skip
    assert "2 sweeps (1 skipped)" in capsys.readouterr().out
    lines = (obj_out / "000000.txt").read_text().split("\n")[:-1]
    assert len(lines) == int(np.sum(mine.frame == 0)) and all(len(line.split()) == 16 for line in lines)
    assert not (obj_out / "000002.txt").exists()
    bad_calib = tmp_path / "object" / "calib"  # per-sweep calibration files, one of them broken
    bad_calib.mkdir()
    for k in (0, 1):
        text = (exported / "calib" / "0003.txt").read_text()
        (bad_calib / f"00000{k}.txt").write_text(text if k == 0 else text.replace("P2:", "P9:"))
    run_cli(
        "detect-kitti", "--velodyne", str(flat), "--calib", str(bad_calib),
        "--out", str(tmp_path / "object" / "some"), "--sensor-height", f"{h}", *size,
    )  # fmt: skip
    assert "1 sweeps (2 skipped)" in capsys.readouterr().out
    run_cli(
        "detect-kitti", "--velodyne", str(flat), "--calib", str(exported / "calib" / "0003.txt"),
        "--out", str(tmp_path / "all"), "--sensor-height", f"{h}", "--all", *size,
    )  # fmt: skip
    every = (tmp_path / "all" / "000000.txt").read_text().split("\n")[:-1]
    assert len(every) > len(lines) and set(lines) <= set(every)  # boxes behind the camera too, -1 2D boxes


def test_tilted_poses_follow_the_truths_3d_attitude() -> None:
    """On graded roads (sim/terrain.py) labels go to the camera through the body's 3D pose: a 5 deg
    pitch at 30 m ahead is 2.6 m of height; planar odometry keeps the planar path (None)."""
    from types import SimpleNamespace as NS

    from scipy.spatial.transform import Rotation

    from sensor_fusion.eval.tf import tilted_pose_at

    def odom(stamp_ns: int, xyz, quat):
        return NS(
            header=NS(stamp=NS(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)),
            pose=NS(pose=NS(position=NS(x=xyz[0], y=xyz[1], z=xyz[2]),
                            orientation=NS(x=quat[0], y=quat[1], z=quat[2], w=quat[3]))),
        )  # fmt: skip

    flat = [odom(k * 10**8, (k, 0.0, 0.0), Rotation.from_euler("z", 0.1 * k).as_quat()) for k in range(3)]
    assert tilted_pose_at(flat) is None
    pitched = [
        odom(k * 10**8, (k, 0.0, 0.1 * k), Rotation.from_euler("ZY", [0.1 * k, -0.05 * k]).as_quat())
        for k in range(3)
    ]
    at = tilted_pose_at(pitched)
    T = at(5 * 10**7)  # halfway between the first two
    np.testing.assert_allclose(T[:3, 3], [0.5, 0.0, 0.05], atol=1e-12)
    # slerp and the Euler angles' own interpolation agree to second order
    np.testing.assert_allclose(T[:3, :3], Rotation.from_euler("ZY", [0.05, -0.025]).as_matrix(), atol=1e-3)
    ahead = T[:3, :3] @ [30.0, 0.0, 0.0]
    assert ahead[2] > 0.7  # nose up: 30 m ahead is higher
