"""Detectors: camera image -> 2D keypoints."""
