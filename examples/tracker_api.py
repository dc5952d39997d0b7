"""Use the tracker as a library, without ROS or bags: feed your own detections (README, "Library API")."""

import numpy as np

from sensor_fusion.core.classes import ObjectClass
from sensor_fusion.core.types import Detections
from sensor_fusion.tracking.tracker import Tracker, TrackerConfig

tracker = Tracker(TrackerConfig(motion_model="imm"))  # frame_id defaults to "odom"
for k in range(30):  # your detector's boxes, 10 Hz, already in the fixed frame
    t = 1_000_000_000 + k * 100_000_000
    det = Detections(
        stamp_ns=t,
        frame_id="odom",
        centers=np.array([[10.0 + 0.8 * k, 2.0, 0.8]]),
        sizes=np.array([[4.5, 1.8, 1.6]]),
        yaw=np.zeros(1),
        labels=np.array([int(ObjectClass.CAR)]),
        scores=np.ones(1),
        velocity=np.full((1, 2), np.nan),
        pos_cov=np.tile(np.eye(2) * 0.04, (1, 1, 1)),
        sensors=np.ones(1, np.uint8),
    )
    tracks = tracker.step(t, det)
print(tracks.ids, tracks.centers.round(2), tracks.velocity.round(2))  # ids [1], ~[33.2 2. 0.8], ~[8. 0.]
