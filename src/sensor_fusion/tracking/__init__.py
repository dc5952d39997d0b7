"""tracking layer (ROS-free: see DESIGN.md)."""
