"""Vision beyond one image: box geometry, multi-object tracking and video pipelines."""
