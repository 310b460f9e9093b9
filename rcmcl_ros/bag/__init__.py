"""rosbag2 tools: read/write (rosbags), the demo bag, the player with /clock, offline evaluation and its
report, and the ground-truth / fault annotations bags carry."""
