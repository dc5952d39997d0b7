"""sync layer (ROS-free: see DESIGN.md)."""
