"""Measuring the cleaner: metrics, the paper's corruptions and detector faults, virtual
camera views of mocap, baselines, and the paper's Tables 1-4 (``skeletor evaluate``)."""
