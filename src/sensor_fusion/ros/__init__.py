"""ROS 2 edge: node, message conversion, markers, QoS, parameters, diagnostics."""
