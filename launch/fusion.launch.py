"""Launch the fusion node with a parameters file.

    ros2 launch sensor_fusion fusion.launch.py [params_file:=/path/fusion.yaml] [use_sim_time:=true]
        [rviz:=true]

The calibration file is a node parameter (``calibration_file`` in the params file; empty means
the installed config/calibration.yaml), so one params file fully describes a vehicle.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory("sensor_fusion")
    params_file = LaunchConfiguration("params_file")
    use_sim_time = LaunchConfiguration("use_sim_time")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=os.path.join(share, "config", "fusion.yaml"),
                description="ROS 2 parameters file for fusion_node",
            ),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="Use /clock (true when replaying bags)"
            ),
            DeclareLaunchArgument(
                "rviz", default_value="false", description="Also start RViz with fusion.rviz"
            ),
            Node(
                package="sensor_fusion",
                executable="fusion_node",
                name="fusion_node",
                output="screen",
                parameters=[
                    params_file,
                    {"use_sim_time": use_sim_time},
                ],
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                arguments=["-d", os.path.join(share, "config", "fusion.rviz")],
                parameters=[{"use_sim_time": use_sim_time}],
                condition=IfCondition(LaunchConfiguration("rviz")),
            ),
        ]
    )
