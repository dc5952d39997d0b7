"""eval layer (ROS-free: see DESIGN.md)."""
