"""Camera and body geometry: pinhole intrinsics and back-projection, person cropping,
point sampling, rotations, and the NTU-25 skeleton layout as data."""
