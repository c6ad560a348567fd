"""Poses and where they live: joint layouts and bone trees (``skeleton``), the pinhole camera
(``camera``), the keypoint and pose file formats (``keypoints``), and the procedural person
behind ``--demo`` (``procedural``)."""
