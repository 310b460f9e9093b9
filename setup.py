"""ament_python package `rcmcl_ros`: installs both Python packages, rcmcl_core and rcmcl_ros."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "rcmcl_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["rcmcl_core", "rcmcl_core.*", "rcmcl_ros", "rcmcl_ros.*"]),
    package_data={"rcmcl_core": ["assets/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
    ],
    install_requires=["setuptools", "numpy", "pyyaml", "tqdm", "matplotlib"],
    zip_safe=False,
    maintainer="rcmcl maintainers",
    maintainer_email="rcmcl@example.org",
    description="Robust multi-modal action recognition (RCMCL) for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "rcmcl = rcmcl_core.cli:main",
            "rcmcl-ros = rcmcl_ros.__main__:main",
            "rcmcl_node = rcmcl_ros.__main__:node_main",
            "rcmcl_play = rcmcl_ros.__main__:play_main",
            "rcmcl_lifecycle_node = rcmcl_ros.__main__:lifecycle_node_main",
        ],
    },
)
