"""rcmcl_ros: the ROS 2 side of rcmcl (conversions, sync, windowing, node, bags)."""
