"""core layer (ROS-free: see DESIGN.md)."""
