"""The cleaner: 2D keypoints -> uplift -> refiner -> a rigid, steady 3D skeleton, one frame at a
time (``stream``), the rig's bone lengths (``refined_lengths``), and ``skeletor clean`` (``cli``)."""
