"""ego layer (ROS-free: see docs/design.md): IMU + GPS error-state Kalman filter and LiDAR deskew."""

from .config import EgoConfig, EgoConfigError
from .deskew import DeskewError, deskew_points
from .estimator import EgoEstimator
from .pose import EgoPose

__all__ = ["DeskewError", "EgoConfig", "EgoConfigError", "EgoEstimator", "EgoPose", "deskew_points"]
