"""bag layer (ROS-free: see docs/design.md)."""
