"""The rclpy node: parameters, wiring, diagnostics, rviz gate markers, and the `watch` client."""
