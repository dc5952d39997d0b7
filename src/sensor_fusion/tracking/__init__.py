"""tracking layer (ROS-free: see docs/design.md)."""
