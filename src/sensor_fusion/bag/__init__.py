"""bag layer (ROS-free: see DESIGN.md)."""
