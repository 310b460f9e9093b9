"""NTU RGB+D 60/120 (downloaded by the user) -> clip shards: skeleton files, media, splits, classes."""
