"""conversions -> sync -> window -> model -> Decision without a ROS graph: the part of the node that thinks
(shared by the live node and the offline bag evaluation)."""
