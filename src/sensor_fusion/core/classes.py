"""Object class labels, shared by detectors, tracker, messages and evaluation.

Values equal ``sensor_fusion_msgs/ObjectClassification`` constants (which copy
Autoware's), so conversion at the ROS edge is an identity.
"""

from __future__ import annotations

from enum import IntEnum


class ObjectClass(IntEnum):
    UNKNOWN = 0
    CAR = 1
    TRUCK = 2
    BUS = 3
    TRAILER = 4
    MOTORCYCLE = 5
    BICYCLE = 6
    PEDESTRIAN = 7


NUM_CLASSES = len(ObjectClass)

# Bit mask of modalities that supported a detection or track (SensorSupport.msg).
SENSOR_LIDAR = 1
SENSOR_RADAR = 2
SENSOR_CAMERA = 4
SENSOR_BEV = 8
