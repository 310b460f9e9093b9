"""The procedural tri-modal action benchmark: performer, motion programs, ray-cast sensors, generator."""
