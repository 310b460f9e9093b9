"""Clip data: the shard format every source writes (`shards.py`), the torch Dataset that reads it
(`dataset.py`), the NTU RGB+D readers (`ntu/`) and the procedural benchmark (`synthetic/`)."""
