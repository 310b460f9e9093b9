"""Per-person decisions: one window per tracked body, per-person crops, one batched forward for
everyone, the per-person ~/decision statuses and rviz markers (docs/PEOPLE.md)."""
