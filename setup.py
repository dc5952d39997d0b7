"""ament_python package definition (colcon) and pip-installable project (the .venv)."""

from glob import glob

from setuptools import find_packages, setup

package_name = "sensor_fusion"

setup(
    name=package_name,
    version="0.1.0",
    package_dir={"": "src"},
    packages=find_packages("src"),
    package_data={"sensor_fusion": ["models/*.pt", "models/*.json", "models/*.npz"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="sensor_fusion maintainers",
    maintainer_email="maintainers@sensor-fusion.dev",
    description="Real-time multimodal sensor fusion (camera, LiDAR, radar, IMU, GPS) for ROS 2.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "fusion_node = sensor_fusion.ros.node:main",
            "sensor-fusion = sensor_fusion.cli:main",
        ],
    },
)
