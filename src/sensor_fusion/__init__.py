"""sensor_fusion: real-time multimodal sensor fusion for ROS 2 (camera, LiDAR, radar, IMU, GPS)."""

__version__ = "0.1.0"
