"""ego layer (ROS-free: see DESIGN.md)."""
