"""bev layer (ROS-free: see DESIGN.md)."""
