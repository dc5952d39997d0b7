"""One pipeline output -> the (topic, message) pairs the node publishes and offline runs record."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_fusion.core.classes import SENSOR_LIDAR, SENSOR_RADAR
from sensor_fusion.core.types import Tracks
from sensor_fusion.ego.odom import EgoOutput
from sensor_fusion.perception.lidar import StructureMap
from sensor_fusion.pipeline import PipelineOutput
from sensor_fusion.ros import convert
from sensor_fusion.ros.outputs import (
    MARKERS,
    ODOMETRY,
    TIMING,
    TRACKS,
    detections_topic,
    odometry_message,
    output_messages,
)
from tests.ego.test_frame_ego import FakeEstimator
from tests.perception.test_frame_detector import boxes

STAMP = 2_000_000_000


def _tracks(n: int) -> Tracks:
    return Tracks(
        STAMP,
        "odom",
        ids=np.arange(1, n + 1),
        state=np.tile([10.0, 2.0, 3.0, 0.0], (n, 1)),
        cov=np.tile(np.eye(4), (n, 1, 1)),
        z=np.full(n, 0.8),
        sizes=np.tile([4.5, 1.8, 1.6], (n, 1)),
        yaw=np.zeros(n),
        labels=np.ones(n, np.int64),
        label_probs=np.full(n, 0.9),
        existence=np.full(n, 0.95),
        age_ns=np.full(n, 10**9),
        hits=np.full(n, 5),
        sensors=np.full(n, SENSOR_LIDAR, np.uint8),
        coasting=np.arange(n) % 2 == 1,
    )


def _output(ego: bool) -> PipelineOutput:
    dets = {
        "lidar": boxes([[10.0, 2.0]], SENSOR_LIDAR, frame_id="odom"),
        "radar_front": boxes([[30.0, -1.0], [40.0, 0.0]], SENSOR_RADAR, frame_id="odom"),
    }
    pose = FakeEstimator(speed=5.0).truth(STAMP) if ego else None
    return PipelineOutput(STAMP, _tracks(2), dets, pose, {"total": 0.01, "track": 0.002}, ["camera_rear"])


@pytest.mark.parametrize("ego", [True, False])
def test_messages_of_one_frame(ego):
    uuid_ns = b"12345678"
    msgs = output_messages(_output(ego), uuid_ns, "odom", "base_link")
    topics = [t for t, _ in msgs]
    want = [TRACKS, detections_topic("lidar"), detections_topic("radar_front")]
    assert topics == want + [TIMING]  # odometry has its own rate: odometry_message
    m = dict(msgs)
    assert [o.object_id.uuid.tobytes() for o in m[TRACKS].objects] == [
        convert.track_uuid(i, uuid_ns) for i in (1, 2)
    ]
    assert [o.coasting for o in m[TRACKS].objects] == [False, True]  # the tracker's flag, carried through
    assert len(m["detections/radar_front"].objects) == 2 and m["detections/lidar"].header.frame_id == "odom"
    assert m["detections/lidar"].header.stamp.sec == 2
    if ego:
        pose = _output(ego).ego
        topic, odo = odometry_message(EgoOutput(STAMP, pose, pose.position), "map", "base_link")
        assert topic == ODOMETRY and odo.header.frame_id == "map" and odo.child_frame_id == "base_link"
        assert odo.twist.twist.linear.x == pytest.approx(5.0)
    values = {kv.key: kv.value for kv in m[TIMING].values}
    assert values["missing"] == "camera_rear" and float(values["total"]) == 0.01


def test_markers_and_detections_are_optional():
    msgs = output_messages(_output(True), b"12345678", "odom", "base_link", markers=True, detections=False)
    topics = [t for t, _ in msgs]
    assert topics == [TRACKS, MARKERS, TIMING]
    assert len(dict(msgs)[MARKERS].markers) >= 2


def test_markers_show_the_structure_cells_flat_at_the_vehicle():
    """The LiDAR detector's structure cells go out as one CUBE_LIST in their frame, at the ego's
    height there; without cells, or without markers asked for, nothing of them."""
    out = _output(True)
    out.structure = StructureMap("odom", np.array([[10.25, -3.75], [-0.25, 40.75]]), 0.5)
    msgs = dict(output_messages(out, b"12345678", "odom", "base_link", markers=True, detections=False))
    cells = [m for m in msgs[MARKERS].markers if m.ns == "structure/cells"]
    assert len(cells) == 1
    (m,) = cells
    assert m.header.frame_id == "odom" and m.scale.x == m.scale.y == 0.5
    assert [(p.x, p.y, p.z) for p in m.points] == [(10.25, -3.75, 0.0), (-0.25, 40.75, 0.0)]
    assert m.pose.position.z == pytest.approx(float(out.ego.position[2]))
    # the next frame with the same map (the pipeline takes one a second) reuses its points
    again = dict(output_messages(out, b"12345678", "odom", "base_link", markers=True, detections=False))
    assert [m2 for m2 in again[MARKERS].markers if m2.ns == "structure/cells"][0].points is m.points
    out.structure = StructureMap("odom", np.empty((0, 2)), 0.5)
    msgs = dict(output_messages(out, b"12345678", "odom", "base_link", markers=True, detections=False))
    assert not [m for m in msgs[MARKERS].markers if m.ns == "structure/cells"]
