"""perception layer (ROS-free: see DESIGN.md)."""
