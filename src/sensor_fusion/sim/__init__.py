"""sim layer (ROS-free: see DESIGN.md)."""
