"""Humanoid rig from cleaned 3D poses: the streaming rig solver, forward kinematics, BVH.

The stable API (what the live stream, the VMC sender, clients and ``export-bvh`` use)::

    from skeletor.rig import RigConfig, RigSolver, forward_kinematics, BONES, PARENTS, AXES

    solver = RigSolver(RigConfig())
    frame = solver.push(joints, confidence)        # (75, 3) camera-frame metres, (75,) -> RigFrame | None
    frame.hips_position                            # (3,) metres, rig world (AXES)
    frame.rotations                                # (B, 4) float32 local quaternions (x, y, z, w)
    frame.valid                                    # (B,) bool: observed this frame
    solver.rest_offsets                            # (B, 3) metres, each bone from its parent, rest T-pose
    forward_kinematics(solver.rest_offsets, frame.hips_position, frame.rotations)   # (B, 3) joints
    solver.rest_rig.landmarks(frame.hips_position, frame.rotations)                 # (75, 3) holistic75

``BONES`` are Unity ``HumanBodyBones`` names, ``PARENTS`` their parent indices (-1 for the
root, Hips). ``AXES`` states the rig world; :func:`to_unity` and :func:`to_bvh` convert it.
"""

from skeletor.rig.axes import AXES, CAMERA_TO_WORLD, camera_to_world, to_bvh, to_unity
from skeletor.rig.humanoid import BONE_INDEX, BONES, NUM_BONES, PARENTS, bone_index
from skeletor.rig.kinematics import RestRig, forward_kinematics, world_rotations
from skeletor.rig.solver import RigConfig, RigFrame, RigSolver

__all__ = [
    "AXES",
    "BONES",
    "BONE_INDEX",
    "CAMERA_TO_WORLD",
    "NUM_BONES",
    "PARENTS",
    "RestRig",
    "RigConfig",
    "RigFrame",
    "RigSolver",
    "bone_index",
    "camera_to_world",
    "forward_kinematics",
    "to_bvh",
    "to_unity",
    "world_rotations",
]
